"""Arithmetic seq2seq: quality and speed of every task at its defaults, plus a split/depth sweep.

    .venv/bin/python -m benchmarks.arith                      # everything, serially
    .venv/bin/python -m benchmarks.arith --sweep-workers 2 --seeds 0,1 --archs gru,transformer
    .venv/bin/python -m benchmarks.arith --tasks text2text --no-sweep

Writes benchmarks/results/arith.json/.md (defaults per task, dataset build time) and
arith_sweep.json/.md (the sweep), regenerates their sections of benchmarks/RESULTS.md, and puts
the headline rows into the README's arithmetic section (between markers), never typed by hand.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS_DIR, write_results
from genlab.arith.config import DEFAULT_SWEEP

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# the exact match (image answers: read back) genlab aims at on unseen test queries at 50% train
TARGETS = {"text2text": 0.999, "img2text": 0.98, "text2img": 0.99, "img2img": 0.97}


def dataset_build_seconds(repeats: int = 3) -> float:
    """Best-of-N time to build all 20,000 queries as text and as handwriting (queries and answers)."""
    from genlab.arith.problem import ArithSpec, GlyphBank, all_queries
    from genlab.core.mnist import load_mnist

    mnist = load_mnist("auto", seed=0)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        spec = ArithSpec()
        q = all_queries(spec)
        bank = GlyphBank.build(spec, mnist.images, mnist.labels, seed=0)
        rng = np.random.default_rng(0)
        bank.render(q.query_tokens, rng), bank.render(q.answer_tokens, rng)
        best = min(best, time.perf_counter() - start)
    return best


def bench_tasks(
    tasks: list[str],
    work: Path,
    time_budget: float | None = None,
    trained: dict[str, Path] | None = None,
    seeds: tuple[int, ...] = (0,),
    archs: tuple[str, ...] = ("gru",),
    arch_tasks: tuple[str, ...] = ("text2text",),
) -> list[dict]:
    """One row per task, model and seed at its defaults (models other than the GRU only for
    `arch_tasks`); `trained` maps a task to a finished, evaluated run at exactly those settings (the
    sweep's cell, seed 0), which is scored instead of training the same model again."""
    from genlab.arith.glyphs import load_glyph_classifier
    from genlab.arith.problem import needs_images

    rows = []
    if not any(needs_images(t) for t in tasks):  # text only: the reader's row is kept from before
        return _task_rows(tasks, work, time_budget, trained, seeds, archs, arch_tasks)
    start = time.perf_counter()
    _, info = load_glyph_classifier()
    glyph_seconds = time.perf_counter() - start
    rows.append(
        {
            "task": "glyph classifier",
            "setting": f"width {info.get('width', 16)}, {info.get('features', 128)} features",
            "train_frac": None,
            "exact_match_%": round(100 * info["test_accuracy"], 2),
            "per_char_%": round(100 * info["digit_test_accuracy"], 2),
            "read_back_%": None,
            "target_%": None,
            "epochs": info["epochs"],
            "wall_s": info.get("train_seconds", round(glyph_seconds, 1)),
            "note": "13-way cell accuracy on the test handwriting pool (per_char = digits only); "
            "trained once and cached (wall_s = its training)",
        }
    )
    return rows + _task_rows(tasks, work, time_budget, trained, seeds, archs, arch_tasks)


def _task_rows(
    tasks: list[str],
    work: Path,
    time_budget: float | None,
    trained: dict[str, Path] | None,
    seeds: tuple[int, ...],
    archs: tuple[str, ...],
    arch_tasks: tuple[str, ...] = ("text2text",),
) -> list[dict]:
    from genlab.arith.config import ArithConfig
    from genlab.arith.evaluate import evaluate_arith
    from genlab.arith.runs import KIND
    from genlab.arith.train import train_arith
    from genlab.core.mnist import load_mnist
    from genlab.core.rundir import RunDir

    rows = []
    combos = [(t, a, s) for t in tasks for a in archs for s in seeds if a == "gru" or t in arch_tasks]
    for task, arch, seed in combos:
        config = ArithConfig.for_task(task, time_budget=time_budget, seed=seed, arch=arch)
        setting = (
            (f"{time_budget:g} s budget" if time_budget else "defaults")
            + (f", --arch {arch}" if arch != "gru" else "")
            + (f", seed {seed}" if seed else "")
        )
        if trained and task in trained and arch == "gru" and seed == 0:
            run = RunDir.open(trained[task], KIND)
            result = json.loads((run.path / "evaluation.json").read_text())
        else:
            out = work / f"{task}-{arch}-seed{seed}{'-budget' if time_budget else ''}"
            shutil.rmtree(out, ignore_errors=True)
            run = train_arith(config, out)
            result = evaluate_arith(run)
        last = [m for m in run.metrics() if "train_loss" in m][-1]
        image_out = "readback_accuracy" in result
        rows.append(
            {
                "task": task,
                "setting": setting,
                "train_frac": config.train_frac,
                "exact_match_%": round(100 * result["accuracy"], 2),
                "per_char_%": round(100 * result["char_accuracy"], 2),
                "read_back_%": round(100 * result["readback_accuracy"], 2) if image_out else None,
                "target_%": 100 * TARGETS[task],
                "epochs": last["epoch"],
                "wall_s": round(last["seconds"], 1),
                "note": "; ".join(
                    n
                    for n in (
                        load_mnist(config.mnist).source.split(" (")[0] + " handwriting, unseen writers"
                        if task != "text2text"
                        else "",
                        "the sweep's 50% cell" if trained and task in trained else "",
                        "validated every epoch (earlier genlab)" if "eval_every" not in run.config else "",
                    )
                    if n
                ),
            }
        )
    return rows


def merge_with_previous(rows: list[dict]) -> list[dict]:
    """Keep earlier rows of tasks this run did not measure; a re-measured task drops all its old rows
    (its budget rows were trained with the defaults of their day)."""
    path = RESULTS_DIR / "arith.json"
    if not path.exists():
        return rows
    old = json.loads(path.read_text())["rows"]
    fresh_tasks = {r["task"] for r in rows}
    kept = [r for r in old if r["task"] not in fresh_tasks]
    order = ["glyph classifier", "text2text", "img2text", "text2img", "img2img"]
    merged = kept + rows
    merged.sort(
        key=lambda r: (
            not str(r.get("setting", "")).startswith("defaults") and r["task"] != "glyph classifier",
            order.index(r["task"]) if r["task"] in order else 99,
        )
    )
    return merged


def sweep_budget(work: Path = Path("/tmp/genlab-bench-arith")) -> float | None:
    """The per-cell training budget the last sweep ran with (read from its runs' configs)."""

    for config in sorted((work / "sweep").glob("*/config.json")):
        return json.loads(config.read_text())["config"].get("time_budget")
    return None


def update_readme(task_rows: list[dict], sweep_md: str | None) -> None:
    """Replace the generated block of the README's arithmetic section."""
    if not README.exists():
        return
    start, end = "<!-- arith-results:start -->", "<!-- arith-results:end -->"
    text = README.read_text()
    if start not in text:
        return
    lines = [
        "| task | exact match (test) | per character | epochs | training s |",
        "|---|---|---|---|---|",
    ]
    for r in task_rows:
        if r["task"] == "glyph classifier" or not r["setting"].startswith("defaults"):
            continue
        suffix = " (read back)" if r["read_back_%"] is not None else ""
        variant = r["setting"].removeprefix("defaults").removeprefix(", ")
        lines.append(
            f"| {r['task']} at {r['train_frac']:g} train{f' ({variant})' if variant else ''} | "
            f"{r['exact_match_%']:.2f}%{suffix} | "
            f"{r['per_char_%']:.2f}% | {r['epochs']} | {r['wall_s']:.0f} |"
        )
    block = (
        "Measured by `python -m benchmarks.arith` on this repository's reference machine (2 CPU cores):\n\n"
    )
    block += "\n".join(lines) + "\n"
    if sweep_md:
        budget = sweep_budget()
        block += (
            "\nSweep (`genlab arith sweep`; exact match on unseen test queries"
            + (f"; {budget:g} s of training per cell" if budget else "")
            + "):\n\n"
            + sweep_md
            + "\n"
        )
    before, rest = text.split(start, 1)
    current, after = rest.split(end, 1)
    if not sweep_md and "\nSweep (" in current:  # no sweep ran: keep the table of the last one that did
        block += "\nSweep (" + current.split("\nSweep (", 1)[1].rstrip("\n") + "\n"
    README.write_text(before + start + "\n" + block + end + after)


def validated_every_epoch_note(sweep_dir: Path) -> str:
    """Cells trained before `eval_every` existed validated after every epoch: same model, slower."""
    old = sorted(
        c.parent.name
        for c in sweep_dir.glob("*/config.json")
        if "eval_every" not in json.loads(c.read_text())["config"]
    )
    if not old:
        return ""
    return (
        f" {len(old)} cell(s) were trained by an earlier genlab that validated after every epoch instead of "
        f"every 50 steps (same settings otherwise; their train_s include that validation): {', '.join(old)}."
    )


def default_cells(sweep_dir: Path, tasks: list[str], fracs: list[float], enc: list[int]) -> dict[str, Path]:
    """The sweep's runs that trained a task exactly at its defaults (50% train, default depth, seed 0)."""
    from genlab.arith.config import ArithConfig
    from genlab.arith.sweep import sweep_cell_name

    cells = {}
    for task in tasks:
        defaults = ArithConfig.for_task(task)
        if defaults.train_frac in fracs and defaults.enc_layers in enc:
            name = sweep_cell_name(task, defaults.train_frac, defaults.enc_layers, defaults.dec_layers, 0)
            if (sweep_dir / name / "evaluation.json").exists():
                cells[task] = sweep_dir / name
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="text2text,img2text,text2img,img2img")
    parser.add_argument("--work", default="/tmp/genlab-bench-arith")
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--sweep-tasks", default=",".join(DEFAULT_SWEEP.tasks))
    parser.add_argument("--sweep-fracs", default=",".join(f"{f:g}" for f in DEFAULT_SWEEP.fracs))
    parser.add_argument("--sweep-enc-layers", default=",".join(map(str, DEFAULT_SWEEP.enc_layers)))
    parser.add_argument("--sweep-budget", type=float, default=None, help="training seconds per sweep cell")
    parser.add_argument(
        "--budget", type=float, default=None, help="also train every task within this many seconds"
    )
    parser.add_argument("--seeds", default="0", help="seeds of the per-task rows, e.g. 0,1")
    parser.add_argument("--archs", default="gru", help="models of the per-task rows, e.g. gru,transformer")
    parser.add_argument(
        "--arch-tasks",
        default="text2text",
        help="tasks whose per-task rows also train the --archs besides gru",
    )
    parser.add_argument(
        "--sweep-workers",
        type=int,
        default=1,
        help="sweep cells trained at once (one thread each); above 1 the per-task rows train on their own",
    )
    args = parser.parse_args()
    work = Path(args.work)
    command = "python -m benchmarks.arith " + " ".join(
        f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}")
        for k, v in vars(args).items()
        if v not in (None, False) and k != "work"
    )
    trained: dict[str, Path] = {}
    sweep_md = None
    if args.no_sweep:
        previous = Path(args.work) / "sweep" / "results.md"
        if previous.exists():  # keep the README's sweep table from the last sweep that ran
            sweep_md = "\n".join(line for line in previous.read_text().splitlines() if line.startswith("|"))
    else:
        from genlab.arith.sweep import run_sweep

        sweep_tasks = args.sweep_tasks.split(",")
        sweep_fracs = [float(f) for f in args.sweep_fracs.split(",")]
        sweep_enc = [int(e) for e in args.sweep_enc_layers.split(",")]
        sweep_start = time.perf_counter()
        result = run_sweep(
            work / "sweep",
            tasks=sweep_tasks,
            fracs=sweep_fracs,
            enc_layers=sweep_enc,
            time_budget=args.sweep_budget,
            workers=args.sweep_workers,
        )
        sweep_wall = time.perf_counter() - sweep_start
        sweep_rows = [
            {
                "task": s["task"],
                "train_frac": s["train_frac"],
                "enc_layers": s["enc_layers"],
                "dec_layers": s["dec_layers"],
                "exact_match_%": round(100 * s["accuracy_mean"], 2),
                "per_char_%": round(100 * s["char_accuracy_mean"], 2),
                "train_s": round(s["train_seconds_mean"], 1),
            }
            for s in result["summary"]
        ]
        write_results(
            "arith_sweep",
            "Arithmetic sweep: train fraction x encoder depth",
            sweep_rows,
            notes="Produced by `genlab arith sweep` (via run_sweep); figure: results/arith_sweep.png. "
            + (
                f"{args.sweep_workers} cells trained at once, one thread each, so train_s is a cell's time "
                "beside the others, not alone; "
                if args.sweep_workers > 1
                else "Cells trained one at a time; "
            )
            + f"the sweep's wall time (this call, finished cells skipped): {sweep_wall:.0f} s."
            + validated_every_epoch_note(work / "sweep"),
            command=command,
        )
        shutil.copyfile(result["figure"], RESULTS_DIR / "arith_sweep.png")
        sweep_md = re.sub(r"^# .*\n\n", "", Path(result["md"]).read_text()).strip()
        sweep_md = "\n".join(line for line in sweep_md.splitlines() if line.startswith("|"))
        if (
            not args.sweep_budget and args.sweep_workers == 1
        ):  # a cell at 50% train and the task's depth *is* the default run
            trained = default_cells(work / "sweep", sweep_tasks, sweep_fracs, sweep_enc)
    tasks = [t for t in args.tasks.split(",") if t]
    seeds = tuple(int(x) for x in args.seeds.split(","))
    archs = tuple(args.archs.split(","))
    arch_tasks = tuple(args.arch_tasks.split(","))
    rows = bench_tasks(tasks, work, trained=trained, seeds=seeds, archs=archs, arch_tasks=arch_tasks)
    if args.budget:
        rows += bench_tasks(tasks, work, time_budget=args.budget)[1:]
    measured = len(rows)
    rows = merge_with_previous(rows)
    if tasks:  # a sweep-only run leaves the per-task section as the run that measured it wrote it
        build = dataset_build_seconds()
        kept_note = (
            f" {len(rows) - measured} row(s) for tasks this command did not re-measure are kept from the "
            "previous run of this script."
            if len(rows) > measured
            else ""
        )
        notes = (
            f"Building all 20,000 queries as text and handwriting (queries and answers): {build:.3f} s. "
            "Exact match = the whole answer right on test queries never trained on; image outputs are read "
            "back by the glyph classifier; image inputs use handwriting never seen in training. wall_s = "
            "training including the validation every eval_every (50) steps." + kept_note
        )
        write_results(
            "arith",
            "Arithmetic seq2seq at the default settings",
            rows,
            [
                "task",
                "setting",
                "train_frac",
                "exact_match_%",
                "per_char_%",
                "read_back_%",
                "target_%",
                "epochs",
                "wall_s",
                "note",
            ],
            notes=notes,
            command=command,
        )
    update_readme(rows, sweep_md)


if __name__ == "__main__":
    main()
