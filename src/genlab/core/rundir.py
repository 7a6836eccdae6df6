"""A run directory is the unit of work: everything to rebuild, resume, evaluate and report a model.

    runs/NAME/
      config.json          kind, format, genlab version and the resolved config
      model.safetensors    weights used for inference (safetensors: loading runs no code)
      last.safetensors     weights at the resume point (a safetensors copy for inference)
      state.pt             the resume point as one file: weights, optimizer, step and RNG state,
                           loaded with weights_only=True
      metrics.jsonl        one JSON record per line, each with a "type"
      samples/ figures/    images written during training and evaluation
      checkpoints/         epoch_###.safetensors / step_######.safetensors kept by --keep-every N
      tb/                  TensorBoard event files, with --tensorboard (metrics.jsonl stays the record)
      .lock                held by the process that trains the run

Every file is written atomically. The resume point is one file (state.pt, written after
last.safetensors), so a kill at any instant leaves a consistent checkpoint: resume reads weights and
state from the same file. A training process holds an exclusive lock on the run; reading commands
(sample, evaluate, report) never take it.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

try:
    import fcntl

    HAVE_FLOCK = True
except ImportError:  # Windows: runs are not locked there
    HAVE_FLOCK = False

import torch
from safetensors.torch import load_file, save_file

from genlab import __version__
from genlab.core.errors import GenlabError
from genlab.core.paths import atomic_write, atomic_write_json, atomic_write_text

FORMAT = 1


TRAINING_RECORDS = ("train", "epoch", "validation")
# digits of the numbered checkpoints kept by --keep-every: checkpoints/epoch_012, checkpoints/step_001500
NUMBER_WIDTH = {"epoch": 3, "step": 6}


class RunDir:
    writes = True  # False for the read-only view other data-parallel ranks hold (ReplicaRun)

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None

    # -- creating and opening -------------------------------------------------------------

    @classmethod
    def create(cls, path: Path | str, kind: str, config: dict[str, Any], lock: bool = False) -> RunDir:
        """Start a new run; refuses to overwrite a run that already holds weights or a checkpoint.

        With `lock`, the training lock is taken before anything is checked or written (trainers)."""
        run = cls(path)
        if run.path.exists() and not run.path.is_dir():
            raise GenlabError(f"--out {run.path} is a file, not a folder: choose another --out")
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GenlabError(
                f"cannot create the run folder {run.path} ({exc.strerror}): choose another --out"
            ) from None
        if lock:
            run.lock()
        # a run with a resume point, or one that finished, is kept; one killed before its first
        # checkpoint holds nothing to continue from and starts again
        finished = run.has_weights() and (run.path / "metrics.jsonl").exists() and run.stop_reason is not None
        if (run.path / "config.json").exists() and (run.has_checkpoint() or finished):
            run.unlock()
            raise GenlabError(
                f"{run.path} already holds a trained run: pass --resume to continue it, "
                "or choose another --out"
            )
        try:
            (run.path / "metrics.jsonl").unlink(missing_ok=True)
            run.write_config(kind, config)
        except OSError as exc:
            run.unlock()
            raise GenlabError(
                f"cannot write into {run.path} ({exc.strerror}): choose another --out"
            ) from None
        except BaseException:
            run.unlock()
            raise
        return run

    @classmethod
    def open(cls, path: Path | str, kind: str | tuple[str, ...] | None = None) -> RunDir:
        run = cls(path)
        if not run.path.is_dir():
            raise GenlabError(f"run {run.path} does not exist: train one first (it is the --out you gave)")
        config_file = run.path / "config.json"
        if not config_file.exists():
            raise GenlabError(f"{run.path} is not a genlab run: it has no config.json")
        try:
            meta = json.loads(config_file.read_text())
        except json.JSONDecodeError as exc:
            raise GenlabError(f"{config_file} is not valid JSON ({exc})") from None
        if meta.get("format", 0) > FORMAT:
            raise GenlabError(
                f"{run.path} was written by a newer genlab (format {meta['format']}); "
                "upgrade genlab to open it"
            )
        if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
            raise GenlabError(f"{config_file} is damaged (no config in it): train the run again")
        kinds = (kind,) if isinstance(kind, str) else kind
        if kinds and meta.get("kind") not in kinds:
            raise GenlabError(
                f"{run.path} is a {meta.get('kind')!r} run, not {' or '.join(kinds)}: "
                "use the command for that kind of model"
            )
        return run

    # -- the training lock ------------------------------------------------------------------

    def lock(self) -> RunDir:
        """Take the run's exclusive training lock, or fail with the process that holds it.

        The lock is an OS file lock on `.lock`, so it is released when the process exits, however it
        exits: a lock left by a dead process is simply taken over. Leftover temporary files of an
        interrupted write are removed once the lock is held.
        """
        if not HAVE_FLOCK or self._lock_fd is not None:
            return self
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise GenlabError(
                f"{self.path} is being trained by {holder}: wait for it to finish or stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} ({' '.join(sys.argv[:3])})".encode(), 0)
        self._lock_fd = fd
        self._remove_stale_temporaries()
        return self

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _remove_stale_temporaries(self) -> None:
        for folder in (self.path, self.path / "samples", self.path / "figures", self.path / "checkpoints"):
            if folder.is_dir():
                for tmp in folder.glob(".*.tmp"):
                    tmp.unlink(missing_ok=True)

    def write_config(self, kind: str, config: dict[str, Any]) -> None:
        meta = {
            "format": FORMAT,
            "kind": kind,
            "genlab_version": __version__,
            "torch_version": torch.__version__,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            "config": config,
        }
        atomic_write_json(self.path / "config.json", meta)

    @property
    def meta(self) -> dict[str, Any]:
        path = self.path / "config.json"
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise GenlabError(f"{path} cannot be read ({exc}): train the run again") from None

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def config(self) -> dict[str, Any]:
        return self.meta["config"]

    # -- weights and training state -------------------------------------------------------

    def weights_path(self, name: str = "model") -> Path:
        return self.path / f"{name}.safetensors"

    def has_weights(self, name: str = "model") -> bool:
        return self.weights_path(name).exists()

    def save_weights(
        self, module_or_state: torch.nn.Module | dict[str, torch.Tensor], name: str = "model"
    ) -> Path:
        state = (
            module_or_state.state_dict() if isinstance(module_or_state, torch.nn.Module) else module_or_state
        )
        # safetensors refuses shared or non-contiguous storage; clone makes each tensor its own
        tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
        return atomic_write(self.weights_path(name), lambda tmp: save_file(tensors, str(tmp)))

    def load_weights(
        self, name: str = "model", device: str | torch.device = "cpu"
    ) -> dict[str, torch.Tensor]:
        path = self.weights_path(name)
        if not path.exists():
            raise GenlabError(
                f"{self.path} has no {path.name}: the run was not trained to the end of an epoch"
            )
        try:
            return load_file(str(path), device=str(device))
        except Exception as exc:
            raise GenlabError(f"{path} is damaged ({exc}); retrain or restore it") from None

    def load_into(
        self, model: torch.nn.Module, name: str = "model", device: str | torch.device = "cpu"
    ) -> None:
        """Load saved weights into `model`; weights of another layout (a run written by an older genlab
        whose model has since changed) get a one-line error instead of torch's key listing."""
        self.load_state_into(model, self.load_weights(name, device), self.weights_path(name).name)

    def load_state_into(self, model: torch.nn.Module, weights: dict[str, torch.Tensor], source: str) -> None:
        """`model.load_state_dict(weights)`, with a one-line error when they do not fit."""
        try:
            model.load_state_dict(weights)
        except RuntimeError:
            raise GenlabError(
                f"{self.path / source} does not fit this genlab's {type(model).__name__} (trained by an "
                "earlier version, or another kind of model?): train it again into a new folder"
            ) from None

    def has_checkpoint(self) -> bool:
        return (self.path / "state.pt").exists()

    def save_checkpoint(self, model: torch.nn.Module, state: dict[str, Any]) -> None:
        """The resume point: last.safetensors, then state.pt holding the same weights.

        state.pt is the unit resume reads (weights and state from one atomically written file), so a
        kill between the two writes leaves a consistent checkpoint either way.
        """
        tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
        self.save_weights(tensors, "last")
        atomic_write(self.path / "state.pt", lambda tmp: torch.save({**state, "weights": tensors}, tmp))

    def load_state(self) -> dict[str, Any] | None:
        """The resume point's state (step, optimizer, RNG, ...) without its weights."""
        checkpoint = self.load_checkpoint()
        return None if checkpoint is None else checkpoint[1]

    def load_checkpoint(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """(weights, state) of the resume point, or None when the run has none."""
        path = self.path / "state.pt"
        if not path.exists():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise GenlabError(
                f"{path} cannot be loaded safely ({type(exc).__name__}): it is damaged or not a genlab "
                "checkpoint; train the run again into a new folder"
            ) from None
        if not isinstance(state, dict):
            raise GenlabError(f"{path} is not a genlab checkpoint: train the run again into a new folder")
        weights = state.pop("weights", None)
        if weights is None:  # runs written before checkpoints held their weights
            weights = self.load_weights("last")
        return weights, state

    # -- numbered checkpoints (--keep-every) --------------------------------------------------

    def save_numbered(self, model: torch.nn.Module, unit: str, number: int, every: int) -> Path | None:
        """Keep checkpoints/{unit}_{number}.safetensors (epoch_012, step_001500: weights only, for
        sampling and evaluation) at the first call at or past each multiple of `every` since the last
        one kept: epochs 2, 4, 6 with every 2; for steps, the first checkpoint after each 500 with
        every 500. `every` 0 keeps none. The resume point stays state.pt. Returns the path written."""
        if every <= 0 or number < every:
            return None
        kept = [n for u, n in self._numbered() if u == unit and n < number]
        if kept and number // every <= max(kept) // every:
            return None
        return self.save_weights(model, f"checkpoints/{unit}_{number:0{NUMBER_WIDTH[unit]}d}")

    def numbered_checkpoints(self) -> list[str]:
        """The labels of the kept numbered checkpoints, oldest first: ['epoch_002', 'epoch_004']."""
        return [f"{u}_{n:0{NUMBER_WIDTH[u]}d}" for u, n in self._numbered()]

    def _numbered(self) -> list[tuple[str, int]]:
        folder = self.path / "checkpoints"
        found = (re.fullmatch(r"(epoch|step)_(\d+)", p.stem) for p in folder.glob("*.safetensors"))
        return sorted((m[1], int(m[2])) for m in found if m)

    def weights_name(self, checkpoint: str = "best") -> str:
        """The weights of `checkpoint` as a name for load_weights / load_into: 'best' (model), 'last',
        or a kept label such as 'epoch_012' (or 'epoch_12'); an unknown label is a one-line error
        that lists the run's checkpoints."""
        if checkpoint in ("best", "last"):
            return "model" if checkpoint == "best" else "last"
        match = re.fullmatch(r"(epoch|step)_?(\d+)", checkpoint.strip())
        if match:
            name = f"checkpoints/{match[1]}_{int(match[2]):0{NUMBER_WIDTH[match[1]]}d}"
            if self.has_weights(name):
                return name
        available = [c for c, n in (("best", "model"), ("last", "last")) if self.has_weights(n)]
        available += self.numbered_checkpoints()
        raise GenlabError(
            f"{self.path} has no checkpoint {checkpoint!r}: use "
            + (f"one of {', '.join(available)}" if available else "a trained run")
            + " (numbered ones are kept by training with --keep-every N)"
        )

    # -- metrics and outputs ------------------------------------------------------------

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Append one record as one write; a line cut short by a kill is closed first, so it can
        never run into (and damage) the next record."""
        line = (json.dumps(record, default=float) + "\n").encode()
        fd = os.open(self.path / "metrics.jsonl", os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line
            os.write(fd, line)
        finally:
            os.close(fd)

    def metrics(self) -> list[dict[str, Any]]:
        """Every record; damaged lines are skipped with one warning that names them."""
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return []
        records, damaged = [], []
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            if isinstance(record, dict):
                records.append(record)
            else:
                damaged.append(number)
        if damaged:
            lines = ", ".join(map(str, damaged[:5])) + (" ..." if len(damaged) > 5 else "")
            print(f"warning: {path} line {lines} is damaged and was skipped", file=sys.stderr)
        return records

    @property
    def stop_reason(self) -> str | None:
        """Why the last training stopped ('done', 'max_steps', 'interrupted', ...), from metrics.jsonl."""
        stops = [r for r in self.metrics() if r.get("type") == "stop"]
        return stops[-1].get("reason") if stops else None

    def trim_metrics(self, step: int) -> None:
        """Drop training records written after the checkpoint at `step` (e.g. before a kill), so a
        resumed run never repeats a step in its curves."""
        kept = [
            r
            for r in self.metrics()
            if not (r.get("type") in TRAINING_RECORDS or "train_loss" in r) or r.get("step", 0) <= step
        ]
        atomic_write_text(
            self.path / "metrics.jsonl", "".join(json.dumps(r, default=float) + "\n" for r in kept)
        )

    @property
    def samples_dir(self) -> Path:
        path = self.path / "samples"
        path.mkdir(exist_ok=True)
        return path

    @property
    def figures_dir(self) -> Path:
        path = self.path / "figures"
        path.mkdir(exist_ok=True)
        return path


class ReplicaRun(RunDir):
    """The run as seen by data-parallel ranks other than 0: it reads like the run, writes nothing.

    Only rank 0 writes a run directory; the other ranks train the same model on other shards of
    each batch and hand it their run object of this class, so the loops need no rank checks.
    """

    def write_config(self, kind: str, config: dict[str, Any]) -> None:
        pass

    def save_weights(self, module_or_state: Any, name: str = "model") -> Path:
        return self.weights_path(name)

    def save_checkpoint(self, model: torch.nn.Module, state: dict[str, Any]) -> None:
        pass

    def append_metrics(self, record: dict[str, Any]) -> None:
        pass

    def trim_metrics(self, step: int) -> None:
        pass

    def lock(self) -> RunDir:
        return self

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    @property
    def figures_dir(self) -> Path:
        return self.path / "figures"
