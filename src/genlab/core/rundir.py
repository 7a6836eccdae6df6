"""A run directory is the unit of work: everything to rebuild, resume, evaluate and report a model.

    runs/NAME/
      config.json          kind, format, genlab version and the resolved config
      model.safetensors    weights used for inference (safetensors: loading runs no code)
      last.safetensors     weights at the end of the last epoch (for resume)
      state.pt             optimizer, step and RNG state, loaded with weights_only=True
      metrics.jsonl        one JSON object per epoch or evaluation
      samples/ figures/    images written during training and evaluation

Every file is written atomically, so an interrupted run never leaves a corrupt checkpoint.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from genlab import __version__
from genlab.core.errors import GenlabError
from genlab.core.paths import atomic_write, atomic_write_json

FORMAT = 1


class RunDir:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    # -- creating and opening -------------------------------------------------------------

    @classmethod
    def create(cls, path: Path | str, kind: str, config: dict[str, Any]) -> RunDir:
        """Start a new run; refuses to overwrite a run that already holds weights."""
        run = cls(path)
        if (run.path / "config.json").exists() and run.has_weights():
            raise GenlabError(
                f"{run.path} already holds a trained run: pass --resume to continue it, "
                "or choose another --out"
            )
        run.path.mkdir(parents=True, exist_ok=True)
        (run.path / "metrics.jsonl").unlink(missing_ok=True)
        run.write_config(kind, config)
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
        kinds = (kind,) if isinstance(kind, str) else kind
        if kinds and meta.get("kind") not in kinds:
            raise GenlabError(
                f"{run.path} is a {meta.get('kind')!r} run, not {' or '.join(kinds)}: "
                "use the command for that kind of model"
            )
        return run

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
        return json.loads((self.path / "config.json").read_text())

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
        try:
            model.load_state_dict(self.load_weights(name, device))
        except RuntimeError:
            raise GenlabError(
                f"{self.weights_path(name)} does not fit this genlab's {type(model).__name__} (trained by an "
                "earlier version?): train it again into a new folder"
            ) from None

    def save_state(self, state: dict[str, Any]) -> Path:
        return atomic_write(self.path / "state.pt", lambda tmp: torch.save(state, tmp))

    def load_state(self) -> dict[str, Any] | None:
        path = self.path / "state.pt"
        if not path.exists():
            return None
        return torch.load(path, map_location="cpu", weights_only=True)

    # -- metrics and outputs ------------------------------------------------------------

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=float) + "\n")

    def metrics(self) -> list[dict[str, Any]]:
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

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
