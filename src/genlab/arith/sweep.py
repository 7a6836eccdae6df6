"""Sweeps: train and evaluate a grid of arithmetic runs (task x train fraction x depth x seed).

Finished cells are skipped, interrupted ones resumed; the results table (CSV and markdown) and the
figure are written once at the end.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import socket
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.arith.config import DEFAULT_SWEEP, TASKS, ArithConfig
from genlab.arith.evaluate import evaluate_arith
from genlab.arith.plots import plot_sweep
from genlab.arith.problem import needs_images
from genlab.arith.runs import KIND, load_config
from genlab.arith.train import train_arith
from genlab.core.errors import GenlabError
from genlab.core.paths import atomic_write_csv, atomic_write_text
from genlab.core.progress import say, set_quiet
from genlab.core.rundir import RunDir

# Published results of the assignment reports, drawn as reference markers in sweep figures.
# (task, train fraction or None when the reports do not state it, low %, high %)
REPORTED = [
    ("text2text", 0.5, 99.34, 99.34),
    ("text2text", 0.25, 97.36, 97.36),
    ("text2text", 0.1, 72.94, 72.94),
    ("img2text", None, 92.5, 95.8),
    ("text2img", None, 68.0, 68.0),
]


def sweep_cell_name(task: str, frac: float, enc: int, dec: int, seed: int, arch: str = "gru") -> str:
    suffix = "" if arch == "gru" else f"-{arch}"  # the GRU cells keep the names they always had
    return f"{task}-frac{frac:g}-enc{enc}-dec{dec}-seed{seed}{suffix}"


HANDWRITING_OPTIONS = (
    "mnist", "shared_handwriting", "handwriting_test_frac", "augment", "finetune_cnn", "reading",
    "answer_style", "glyph_epochs", "glyph_width", "glyph_features",
)  # fmt: skip


def settings_changed(trained: ArithConfig, wanted: ArithConfig) -> str:
    """'glyph_width 16 -> 64, ...' for the options a finished run differs in ('' when none); options
    a text2text run never uses (handwriting, glyph classifier) do not count."""
    old, new = asdict(trained), asdict(wanted)
    ignored = {"device", "threads", *(() if needs_images(wanted.task) else HANDWRITING_OPTIONS)}
    return ", ".join(f"{k} {old[k]} -> {new[k]}" for k in new if k not in ignored and old[k] != new[k])


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: its folder and its config."""

    path: Path
    config: ArithConfig


def sweep_cells(
    out: Path,
    tasks: Sequence[str],
    fracs: Sequence[float],
    enc_layers: Sequence[int],
    dec_layers: Sequence[int],
    seeds: Sequence[int],
    task_overrides: dict[str, dict[str, Any]] | None,
    overrides: dict[str, Any],
    archs: Sequence[str] = DEFAULT_SWEEP.archs,
    frac_overrides: dict[float, dict[str, Any]] | None = None,
    arch_cells: Mapping[str, Collection[tuple[float, int]]] | None = None,
) -> list[Cell]:
    for task in tasks:
        if task not in TASKS:
            raise GenlabError(f"unknown task {task!r} in --tasks: choose from {', '.join(TASKS)}")
    cells = []
    for task, arch, frac, enc, dec, seed in itertools.product(
        tasks, archs, fracs, enc_layers, dec_layers, seeds
    ):
        if arch_cells and arch in arch_cells and (frac, enc) not in arch_cells[arch]:
            continue
        options = {"train_frac": frac, "enc_layers": enc, "dec_layers": dec, "seed": seed, "arch": arch,
                   **overrides, **(frac_overrides or {}).get(frac, {}),
                   **(task_overrides or {}).get(task, {})}  # fmt: skip
        path = out / sweep_cell_name(task, frac, enc, dec, seed, arch)
        cells.append(Cell(path, ArithConfig.for_task(task, **options)))
    return cells


def claim(cell: Cell) -> Path | None:
    """Claim a cell before training it, atomically (O_EXCL), so that workers and machines sharing
    the sweep folder never train one cell twice. A claim left by a dead process on this machine is
    taken over; returns the claim file, or None when another live process holds the cell."""
    path = cell.path.parent / f".{cell.path.name}.claim"
    me = f"{socket.gethostname()} {os.getpid()}"
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            host, _, pid = path.read_text(errors="replace").partition(" ")
            if host == socket.gethostname() and pid.strip().isdigit() and not _alive(int(pid)):
                path.unlink(missing_ok=True)  # its process is gone: take the cell over
                continue
            return None
        os.write(fd, me.encode())
        os.close(fd)
        return path
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def train_cell(cell: Cell, label: str) -> None:
    """Train (or resume) and evaluate one cell, unless it is finished already."""
    path, config = cell.path, cell.config
    if (path / "evaluation.json").exists():
        changed = settings_changed(load_config(RunDir.open(path, KIND)), config)
        kept = (
            f" (kept although trained with other settings: {changed}; delete the folder to train it again)"
            if changed
            else ""
        )
        say(f"{label} {path.name}: done already, skipped{kept}")
        return
    resumable = RunDir(path).has_checkpoint() and (path / "config.json").exists()
    say(f"{label} {path.name}: " + ("resuming" if resumable else "training"))
    if resumable:
        run = train_arith(config, path, resume=True, changed=("device", "threads"))
    else:
        run = train_arith(config, path)
    if run.writes:
        evaluate_arith(run)


def work_through(cells: list[Cell], label: str = "") -> list[Cell]:
    """Train every cell this process can claim, in order; returns the cells others hold."""
    held = []
    for n, cell in enumerate(cells, 1):
        if (cell.path / "evaluation.json").exists():
            train_cell(cell, f"{label}[{n}/{len(cells)}]")
            continue
        token = claim(cell)
        if token is None:
            held.append(cell)
            continue
        try:
            train_cell(cell, f"{label}[{n}/{len(cells)}]")
        finally:
            token.unlink(missing_ok=True)
    return held


def _worker(cells: list[Cell], device: str, threads: int, label: str) -> None:
    torch.set_num_threads(threads)
    set_quiet(True)
    work_through([Cell(c.path, replace(c.config, device=device)) for c in cells], label)


def wait_for(cells: list[Cell], poll: float = 2.0) -> None:
    """Cells another process or machine claimed: wait until each is evaluated, taking over any
    whose claim disappears unfinished (its process died elsewhere)."""
    pending = list(cells)
    while pending:
        pending = work_through(pending)
        pending = [c for c in pending if not (c.path / "evaluation.json").exists()]
        if pending:
            time.sleep(poll)


def run_sweep(
    out: Path | str,
    tasks: Sequence[str] = DEFAULT_SWEEP.tasks,
    fracs: Sequence[float] = DEFAULT_SWEEP.fracs,
    enc_layers: Sequence[int] = DEFAULT_SWEEP.enc_layers,
    dec_layers: Sequence[int] = DEFAULT_SWEEP.dec_layers,
    seeds: Sequence[int] = DEFAULT_SWEEP.seeds,
    archs: Sequence[str] = DEFAULT_SWEEP.archs,
    epochs: int | None = None,
    steps: int | None = None,
    time_budget: float | None = None,
    task_overrides: dict[str, dict[str, Any]] | None = None,
    frac_overrides: dict[float, dict[str, Any]] | None = None,
    workers: int = 1,
    devices: Sequence[str] | None = None,
    arch_cells: Mapping[str, Collection[tuple[float, int]]] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Train and evaluate every cell of the grid into `out/CELL/`; finished cells are skipped,
    interrupted ones resumed. `frac_overrides` adds options for one train fraction's cells on top of
    the others, and `task_overrides` for one task's on top of those; `arch_cells` limits a model
    kind to the (train fraction, encoder layers) cells it names. With `workers` > 1, cells train
    in that many processes at once (on CPU one thread each; `devices` are handed out in turn). Cells
    are claimed atomically, so several sweep commands (on several machines sharing `out`) split one
    sweep. Writes out/results.csv (one row per cell), out/results.md (mean and spread over seeds) and
    out/figures/sweep.png once every cell is done. Returns the rows and the paths written."""

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if workers < 1:
        raise GenlabError(f"--workers {workers}: use 1 or more")
    schedule = {"epochs": epochs, "steps": steps, "time_budget": time_budget}
    cells = sweep_cells(
        out, tasks, fracs, enc_layers, dec_layers, seeds, task_overrides, {**schedule, **overrides}, archs,
        frac_overrides, arch_cells,
    )  # fmt: skip
    if workers == 1 and not devices:
        held = work_through(cells)
    else:
        _run_workers(cells, workers, list(devices or []))
        held = [c for c in cells if not (c.path / "evaluation.json").exists()]
    if held:
        say(f"waiting for {len(held)} cell(s) that another sweep process is training ...")
        wait_for(held)
    rows = [_row(cell) for cell in cells]
    summary = summarize_sweep(rows)
    csv_path = atomic_write_csv(out / "results.csv", rows)
    table_md = sweep_markdown(summary)
    md_path = atomic_write_text(
        out / "results.md",
        "# Arithmetic sweep\n\nExact-match accuracy on unseen test queries (image outputs: read back by the "
        "glyph classifier); mean ± spread (standard deviation) over seeds.\n\n" + table_md + "\n",
    )
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    figure = plot_sweep(figures / "sweep.png", summary, REPORTED)
    return {
        "rows": rows,
        "summary": summary,
        "table_md": table_md,
        "csv": str(csv_path),
        "md": str(md_path),
        "figure": str(figure),
    }


def summarize_sweep(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds for every (task, fraction, depth) cell."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        key = (r["task"], r.get("arch", "gru"), r["train_frac"], r["enc_layers"], r["dec_layers"])
        groups.setdefault(key, []).append(r)
    summary = []
    for (task, arch, frac, enc, dec), members in groups.items():
        acc = np.array([m["accuracy"] for m in members])
        char = np.array([m["char_accuracy"] for m in members])
        secs = np.array([m["train_seconds"] for m in members], dtype=float)
        summary.append(
            {
                "task": task,
                "arch": arch,
                "train_frac": frac,
                "enc_layers": enc,
                "dec_layers": dec,
                "seeds": len(members),
                "accuracy_mean": float(acc.mean()),
                "accuracy_std": float(acc.std()),
                "char_accuracy_mean": float(char.mean()),
                "readback": members[0]["readback"],
                "train_seconds_mean": float(secs.mean()),
            }
        )
    return summary


def sweep_markdown(summary: list[dict[str, Any]]) -> str:
    lines = [
        "| task | model | train frac | enc layers | dec layers | seeds | exact match % | per-char % "
        "| read back | train s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        spread = f" ± {100 * s['accuracy_std']:.2f}" if s["seeds"] > 1 else ""
        lines.append(
            f"| {s['task']} | {s.get('arch', 'gru')} | {s['train_frac']:g} | {s['enc_layers']} | "
            f"{s['dec_layers']} | {s['seeds']} | "
            f"{100 * s['accuracy_mean']:.2f}{spread} | {100 * s['char_accuracy_mean']:.2f} | "
            f"{s['readback']} | {s['train_seconds_mean']:.0f} |"
        )
    return "\n".join(lines)


def _run_workers(cells: list[Cell], workers: int, devices: list[str]) -> None:
    """Cells in `workers` processes (spawned: a clean torch in each), one CPU thread each unless
    they have a device of their own. Every worker walks the whole grid and claims what is free."""
    context = multiprocessing.get_context("spawn")
    threads = 1 if not devices else max(1, torch.get_num_threads() // workers)
    procs = []
    for w in range(workers):
        device = devices[w % len(devices)] if devices else "cpu"
        order = cells[w:] + cells[:w]  # start at different cells; claims keep them apart
        procs.append(context.Process(target=_worker, args=(order, device, threads, f"worker {w + 1} ")))
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    failed = [w + 1 for w, proc in enumerate(procs) if proc.exitcode != 0]
    if failed:
        raise GenlabError(
            f"sweep worker(s) {', '.join(map(str, failed))} failed (their error is above); rerun the same "
            "command to resume the unfinished cells"
        )


def _row(cell: Cell) -> dict[str, Any]:
    config = cell.config
    result = json.loads((cell.path / "evaluation.json").read_text())
    epochs_done = [m for m in RunDir(cell.path).metrics() if "train_loss" in m]
    return {
        "task": config.task,
        "arch": config.arch,
        "train_frac": config.train_frac,
        "enc_layers": config.enc_layers,
        "dec_layers": config.dec_layers,
        "seed": config.seed,
        "accuracy": result["accuracy"],
        "char_accuracy": result["char_accuracy"],
        "readback": "yes" if "readback_accuracy" in result else "no",
        "epochs": epochs_done[-1]["epoch"] if epochs_done else 0,
        "train_seconds": epochs_done[-1]["seconds"] if epochs_done else float("nan"),
    }
