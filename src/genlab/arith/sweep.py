"""Sweeps: train and evaluate a grid of arithmetic runs (task x train fraction x depth x seed).

Finished cells are skipped, interrupted ones resumed; the results table (CSV and markdown) and the
figure are written once at the end.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from genlab.arith.config import DEFAULT_SWEEP, TASKS, ArithConfig
from genlab.arith.evaluate import evaluate_arith
from genlab.arith.plots import plot_sweep
from genlab.arith.problem import needs_images
from genlab.arith.runs import KIND, load_config
from genlab.arith.train import train_arith
from genlab.core.errors import GenlabError
from genlab.core.paths import atomic_write_csv, atomic_write_text
from genlab.core.progress import say
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


def sweep_cell_name(task: str, frac: float, enc: int, dec: int, seed: int) -> str:
    return f"{task}-frac{frac:g}-enc{enc}-dec{dec}-seed{seed}"


HANDWRITING_OPTIONS = (
    "mnist", "shared_handwriting", "handwriting_test_frac", "augment", "finetune_cnn", "answer_style",
    "glyph_epochs", "glyph_width", "glyph_features",
)  # fmt: skip


def settings_changed(trained: ArithConfig, wanted: ArithConfig) -> str:
    """'glyph_width 16 -> 64, ...' for the options a finished run differs in ('' when none); options
    a text2text run never uses (handwriting, glyph classifier) do not count."""
    old, new = asdict(trained), asdict(wanted)
    ignored = {"device", *(() if needs_images(wanted.task) else HANDWRITING_OPTIONS)}
    return ", ".join(f"{k} {old[k]} -> {new[k]}" for k in new if k not in ignored and old[k] != new[k])


def run_sweep(
    out: Path | str,
    tasks: Sequence[str] = DEFAULT_SWEEP.tasks,
    fracs: Sequence[float] = DEFAULT_SWEEP.fracs,
    enc_layers: Sequence[int] = DEFAULT_SWEEP.enc_layers,
    dec_layers: Sequence[int] = DEFAULT_SWEEP.dec_layers,
    seeds: Sequence[int] = DEFAULT_SWEEP.seeds,
    epochs: int | None = None,
    steps: int | None = None,
    time_budget: float | None = None,
    task_overrides: dict[str, dict[str, Any]] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Train and evaluate every cell of the grid into `out/CELL/`; finished cells are skipped,
    interrupted ones resumed. `task_overrides` adds options for one task's cells on top of the
    others. Writes out/results.csv (one row per cell), out/results.md (mean and spread over seeds)
    and out/figures/sweep.png. Returns the rows and the paths written."""

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        if task not in TASKS:
            raise GenlabError(f"unknown task {task!r} in --tasks: choose from {', '.join(TASKS)}")
    rows = []
    grid = [
        (t, f, e, d, s) for t in tasks for f in fracs for e in enc_layers for d in dec_layers for s in seeds
    ]
    for n, (task, frac, enc, dec, seed) in enumerate(grid, 1):
        path = out / sweep_cell_name(task, frac, enc, dec, seed)
        done = path / "evaluation.json"
        options = {
            "train_frac": frac,
            "enc_layers": enc,
            "dec_layers": dec,
            "seed": seed,
            "epochs": epochs,
            "steps": steps,
            "time_budget": time_budget,
            **overrides,
            **(task_overrides or {}).get(task, {}),
        }
        config = ArithConfig.for_task(task, **options)
        if done.exists():
            changed = settings_changed(load_config(RunDir.open(path, KIND)), config)
            say(
                f"[{n}/{len(grid)}] {path.name}: done already, skipped"
                + (
                    f" (kept although trained with other settings: {changed}; delete the folder to "
                    "train it again)"
                    if changed
                    else ""
                )
            )
        else:
            resumable = (path / "state.pt").exists() and (path / "last.safetensors").exists()
            say(f"[{n}/{len(grid)}] {path.name}: " + ("resuming" if resumable else "training"))
            if resumable:
                run = train_arith(ArithConfig(), path, resume=True)
            else:
                if path.exists() and not (path / "model.safetensors").exists():
                    (path / "config.json").unlink(missing_ok=True)  # interrupted before its first epoch
                run = train_arith(config, path)
            evaluate_arith(run)
        result = json.loads(done.read_text())
        epochs_done = [m for m in RunDir(path).metrics() if "train_loss" in m]
        rows.append(
            {
                "task": task,
                "train_frac": frac,
                "enc_layers": enc,
                "dec_layers": dec,
                "seed": seed,
                "accuracy": result["accuracy"],
                "char_accuracy": result["char_accuracy"],
                "readback": "yes" if "readback_accuracy" in result else "no",
                "epochs": epochs_done[-1]["epoch"] if epochs_done else 0,
                "train_seconds": epochs_done[-1]["seconds"] if epochs_done else float("nan"),
            }
        )
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
        groups.setdefault((r["task"], r["train_frac"], r["enc_layers"], r["dec_layers"]), []).append(r)
    summary = []
    for (task, frac, enc, dec), members in groups.items():
        acc = np.array([m["accuracy"] for m in members])
        char = np.array([m["char_accuracy"] for m in members])
        secs = np.array([m["train_seconds"] for m in members], dtype=float)
        summary.append(
            {
                "task": task,
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
        "| task | train frac | enc layers | dec layers | seeds | exact match % | per-char % "
        "| read back | train s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        spread = f" ± {100 * s['accuracy_std']:.2f}" if s["seeds"] > 1 else ""
        lines.append(
            f"| {s['task']} | {s['train_frac']:g} | {s['enc_layers']} | {s['dec_layers']} | {s['seeds']} | "
            f"{100 * s['accuracy_mean']:.2f}{spread} | {100 * s['char_accuracy_mean']:.2f} | "
            f"{s['readback']} | {s['train_seconds_mean']:.0f} |"
        )
    return "\n".join(lines)
