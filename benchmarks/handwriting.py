"""Handwriting answers (`--answer-style handwriting`): read-back, realism, diversity and style.

    .venv/bin/python -m benchmarks.handwriting                 # text2img and img2img, about 20 min on 2 cores
    .venv/bin/python -m benchmarks.handwriting --tasks img2img      # one task; the other keeps its row

Trains each image-answer task at 50% train, seed 0, at its defaults with `--answer-style
handwriting` (and the given peak learning rate), evaluates it on its unseen test queries, and writes
benchmarks/results/handwriting.json/.md and its section of RESULTS.md.

Goals (issue #20): text2img read back >= 99%, digits-space FID within 3x of the real-vs-real floor,
diversity >= 80% of real MNIST's; img2img read back >= 95%.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import HERE, RESULTS_DIR, machine, write_results

RUNS = HERE.parent / "runs" / "bench-handwriting"
TASKS = ("text2img", "img2img")
TARGET_READ_BACK = {"text2img": 0.99, "img2img": 0.95}


def bench(task: str, lr: float | None) -> dict[str, Any]:
    from genlab.arith.config import ArithConfig
    from genlab.arith.evaluate import evaluate_arith
    from genlab.arith.train import train_arith

    overrides: dict[str, Any] = {"answer_style": "handwriting", "seed": 0}
    if lr is not None:
        overrides["lr"] = lr
    config = ArithConfig.for_task(task, **overrides)
    out = RUNS / task
    shutil.rmtree(out, ignore_errors=True)
    run = train_arith(config, out)
    result = evaluate_arith(run)
    last = [m for m in run.metrics() if "train_loss" in m][-1]
    quality = result["handwriting"]
    style = result.get("style") or {}
    return {
        "task": task,
        "train_frac": config.train_frac,
        "lr": config.lr,
        "steps": last.get("step"),
        "read_back_%": round(100 * result["readback_accuracy"], 2),
        "target_%": 100 * TARGET_READ_BACK[task],
        "per_char_%": round(100 * result["char_accuracy"], 2),
        "digits FID": round(quality["fid_digits"], 1),
        "floor": round(quality["fid_floor"], 2),
        "FID / floor": round(quality["fid_over_floor"], 2),
        "FID in the answers' mix": round(quality["fid_answer_mix"], 1),
        "diversity % of real": round(100 * quality["diversity_share_of_real"], 1),
        "style own/random": round(style["own_over_random"], 3) if style else None,
        "closer to own query": round(style["closer_to_own_query"], 3) if style else None,
        "train s": round(last["seconds"], 1),
        "style KL weight": config.style_kl,
        "measured": machine()["date"],
    }


def real_handwriting(seed: int) -> dict[str, Any]:
    """The same measures on real handwriting of text2img's test answers: what a writer as good as the
    real ones would score (read back: unseen test-pool writers; realism and diversity: train-pool
    writers, whom the floor also takes, against the test pool)."""
    from genlab.arith.config import ArithConfig
    from genlab.arith.glyphs import classifier_for, read_cells
    from genlab.arith.handwriting import handwriting_quality
    from genlab.arith.inference import render_cells, scores
    from genlab.arith.runs import task_data

    config = ArithConfig.for_task("text2img", answer_style="handwriting", seed=seed)
    data = task_data(config)
    reader = classifier_for(config)
    true = data.queries.answer_tokens[data.split.test]
    unseen = render_cells(true, data.test_bank, config.seed)
    read = read_cells(reader, unseen.reshape(-1, 28, 28)).reshape(true.shape)
    accuracy, per_char = scores(read, true)
    written = render_cells(true, data.train_bank, config.seed).reshape(-1, 28, 28).astype("float32") / 255
    quality = handwriting_quality(written, true.reshape(-1), reader, data.train_bank, data.test_bank, seed)
    return {
        "task": "real handwriting of text2img's answers" + (f" (seed {seed})" if seed else ""),
        "train_frac": config.train_frac,
        "read_back_%": round(100 * accuracy, 2),
        "per_char_%": round(100 * per_char, 2),
        "digits FID": round(quality["fid_digits"], 1),
        "floor": round(quality["fid_floor"], 2),
        "FID / floor": round(quality["fid_over_floor"], 2),
        "FID in the answers' mix": round(quality["fid_answer_mix"], 1),
        "diversity % of real": round(100 * quality["diversity_share_of_real"], 1),
        "measured": machine()["date"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tasks", default=",".join(TASKS), help="the tasks to measure; the others keep their last row"
    )
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the task's)")
    args = parser.parse_args()
    rows = [bench(t.strip(), args.lr) for t in args.tasks.split(",") if t.strip()]
    rows += [real_handwriting(seed) for seed in (0, 1)]
    earlier = RESULTS_DIR / "handwriting.json"
    if earlier.exists():  # tasks not measured this time keep their last row (each row says when)
        measured = {row["task"] for row in rows}
        stored = json.loads(earlier.read_text())
        kept = [r for r in stored["rows"] if r["task"] not in measured]
        for row in kept:
            row.setdefault("measured", stored["machine"]["date"])
        rows = sorted(rows + kept, key=lambda r: TASKS.index(r["task"]) if r["task"] in TASKS else len(TASKS))
    notes = (
        "50% train, seed 0, unseen test queries. read back: the whole answer read right by the glyph "
        "classifier. digits FID: up to 1,000 generated answer digits, drawn in the test pool's mix of "
        "digits, against real test-pool digits in the digits feature space; floor: real train-pool "
        "digits against the same test-pool digits. FID in the answers' mix: the generated digits as the "
        "answers hold them (far more 1s), the realism measure before 2026-12-07, which real handwriting "
        "does not come near the floor in either (last rows). The last rows: real handwriting of text2img's "
        "test answers (read back: unseen test-pool writers; FID and diversity: train-pool writers). "
        "diversity: mean pairwise feature distance between drawings of the same digit, as a share of "
        "real MNIST's. style (img2img, --keep-style): distance in (slant, thickness) from the answer to "
        "its own query over the distance to a random other query (< 1: written like its query)."
    )
    write_results(
        "handwriting",
        "Handwriting answers (--answer-style handwriting)",
        rows,
        list(dict.fromkeys(k for r in rows for k in r)),
        notes=notes,
        command=" ".join([".venv/bin/python -m benchmarks.handwriting", *sys.argv[1:]]),
    )


if __name__ == "__main__":
    Path(RUNS).mkdir(parents=True, exist_ok=True)
    main()
