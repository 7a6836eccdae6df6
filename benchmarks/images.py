"""Image models: training throughput at 64x64, achieved GFLOP/s, and the default runs on CryptoPunks.

    flock /tmp/genlab-cpu.lock .venv/bin/python -m benchmarks.images            # everything (~20 min)
    .venv/bin/python -m benchmarks.images --skip-train                            # throughput only

Throughput: one full training step (forward, backward, optimizer; for the GAN a discriminator and
a generator update) on random 64x64x3 batches of 64, timed after warm-up. FLOPs per step are
counted by torch's FlopCounterMode on the same step (convolutions and matmuls, forward and
backward), so GFLOP/s is directly comparable with the machine's measured fp32 matmul rate.

Default runs: `train_images` with the defaults of each model on punks (32x32), timed end to end,
into runs/bench-images/MODEL, and the time to generate 1,000 images from each; then, when genlab's
evaluation is available, FID/KID/precision/recall in the punks attribute-classifier feature space
beside the real-vs-real floor.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import RESULTS_DIR, matmul_gflops, write_results
from genlab.core.rundir import RunDir
from genlab.images.config import ImageTrainConfig
from genlab.images.runs import generate, split_indices
from genlab.images.train import ImageTrainer, train_images

RUNS = Path("runs/bench-images")
SPEED_CASES = [
    ("cae", {}),
    ("vae", {}),
    ("gan", {}),
    ("gan", {"base_width": 64, "latent_dim": 100, "max_width": 512}),  # the classic DCGAN widths
    ("diffusion", {}),
]
MODELS = ("cae", "vae", "gan", "diffusion")


def _trainer(model: str, overrides: dict[str, Any], tmp: Path, batch: int = 64) -> ImageTrainer:
    cfg = ImageTrainConfig(
        model=model, data="bench", size=64, channels=3, batch_size=batch, **overrides
    ).resolved()
    images = np.random.default_rng(0).integers(0, 256, (batch * 2, 64, 64, 3), dtype=np.uint8)
    train_idx, test_idx = split_indices(len(images), 0.0, 0)
    cfg.extra.update(train_idx=train_idx, test_idx=test_idx)
    run = RunDir.create(tmp / f"{model}-{len(list(tmp.iterdir()))}", f"images-{model}", {})
    return ImageTrainer(cfg, run, images, torch.device("cpu"))


def throughput(model: str, overrides: dict[str, Any], tmp: Path, steps: int = 6) -> dict[str, Any]:
    trainer = _trainer(model, overrides, tmp)
    x = torch.rand(64, 3, 64, 64)
    for _ in range(2):
        trainer.train_step(x)
    with FlopCounterMode(display=False) as counter:
        trainer.train_step(x)
    flops = counter.get_total_flops()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(x)
    seconds = (time.perf_counter() - start) / steps
    params = sum(p.numel() for p in trainer.model.parameters())
    cfg = trainer.cfg
    name = f"{model.upper()} w{cfg.base_width}" + ("" if model == "diffusion" else f" z{cfg.latent_dim}")
    return {
        "case": f"{name} step @64x64 b64",
        "params (M)": params / 1e6,
        "GFLOP/image": flops / 64 / 1e9,
        "images/s": 64 / seconds,
        "GFLOP/s": flops / seconds / 1e9,
    }


def default_run(model: str, evaluate: bool, eval_n: int) -> dict[str, Any]:
    out = RUNS / model
    if out.exists():
        import shutil

        shutil.rmtree(out)
    start = time.perf_counter()
    run = train_images(ImageTrainConfig(model=model, data="punks"), out)
    wall = time.perf_counter() - start
    cfg = run.config
    epochs = [r for r in run.metrics() if r.get("type") == "epoch"]
    work = cfg.get("work_size") or cfg["size"]
    works_at = f" (works at {work}x{work})" if work != cfg["size"] else ""
    row: dict[str, Any] = {
        "case": f"{model.upper()} default on punks {cfg['size']}x{cfg['size']}{works_at}",
        "epochs": cfg["epochs"],
        "steps": epochs[-1]["step"],
        "train wall (s)": wall,
    }
    # sampling: a diffusion model runs its sampler (--sample-steps network calls or more) per image
    start = time.perf_counter()
    generate(run.path, n=1000, seed=0)
    row["sample s / 1000"] = time.perf_counter() - start
    if model in ("cae", "vae"):
        from genlab.images.figures import reconstruction_figure

        _, scores = reconstruction_figure(run)
        row["held-out MSE"], row["held-out PSNR (dB)"] = scores["mse"], scores["psnr"]
    if evaluate:
        try:
            from genlab.images.evaluate import evaluate_run
        except ImportError:
            return row
        record = evaluate_run(run.path, "punks", n=eval_n, seed=0, figure=False)
        row.update(
            {
                "FID": record["fid"],
                "FID floor": record["floor_fid"],
                "KID": record["kid"],
                "precision": record["precision"],
                "recall": record["recall"],
            }
        )
        if model == "diffusion" and (cfg.get("autoguidance") or 1) > 1:  # what autoguidance adds
            plain = evaluate_run(run.path, "punks", n=eval_n, seed=0, figure=False, autoguidance=1.0)
            row["FID / recall, autoguidance off"] = f"{plain['fid']:.4g} / {plain['recall']:.3g}"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-train", action="store_true", help="Only the throughput rows.")
    parser.add_argument("--no-eval", action="store_true", help="Skip FID/KID/precision/recall.")
    parser.add_argument("--eval-n", type=int, default=5000, help="Images per side for the metrics.")
    parser.add_argument(
        "--only",
        default="",
        help="comma list of models (e.g. diffusion) to re-measure; the other rows are kept from the last run",
    )
    args = parser.parse_args()
    only = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = sorted(set(only) - set(MODELS))
    if unknown:
        parser.error(f"--only {','.join(unknown)}: use models among {', '.join(MODELS)}")
    import tempfile

    from genlab.core.progress import set_quiet

    set_quiet(True)
    matmul = matmul_gflops()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model, overrides in SPEED_CASES:
            if only and model not in only:
                continue
            row = throughput(model, overrides, Path(tmp))
            row["% of matmul"] = 100 * row["GFLOP/s"] / matmul
            rows.append(row)
            print(row, flush=True)
    if not args.skip_train:
        for model in only or MODELS:
            rows.append(default_run(model, evaluate=not args.no_eval, eval_n=args.eval_n))
            print(rows[-1], flush=True)
    rows = merge_with_previous(rows, only)
    columns = ["measured", "case", "params (M)", "GFLOP/image", "images/s", "GFLOP/s", "% of matmul"]
    columns += ["epochs", "steps", "train wall (s)", "sample s / 1000", "held-out MSE", "held-out PSNR (dB)"]
    columns += ["FID", "FID floor", "KID", "precision", "recall", "FID / recall, autoguidance off"]
    columns = [c for c in columns if any(c in r for r in rows)]
    notes = (
        f"fp32 matmul on this machine: {matmul:.0f} GFLOP/s (1024x1024, `benchmarks.common.matmul_gflops`). "
        "Step rows: one full training step on random 64x64x3 batches of 64; FLOPs counted with "
        "torch's FlopCounterMode (forward + backward), GFLOP/image = FLOPs per step / 64. "
        "Default rows: `genlab images train --model M --data punks` with no other option, wall time "
        "including data loading and per-epoch sample grids; sample s / 1000: `generate` of 1,000 images "
        "(diffusion: its default sampler and steps); MSE/PSNR over the 500 held-out punks; "
        "FID/KID/precision/recall in the punks attribute-classifier feature space against real punks, "
        "the floor being real-vs-real between two disjoint halves. measured: the day of the row (a run "
        "with --only keeps the other models' rows from the run before)."
    )
    write_results(
        "images",
        "Image models: throughput at 64x64 and default training on CryptoPunks",
        rows,
        columns,
        notes,
        command=" ".join(["flock /tmp/genlab-cpu.lock .venv/bin/python -m benchmarks.images", *sys.argv[1:]]),
    )


def merge_with_previous(rows: list[dict[str, Any]], only: list[str]) -> list[dict[str, Any]]:
    """With --only, this run's rows in place of the last run's rows of those models; every row
    carries the day it was measured."""
    today = time.strftime("%Y-%m-%d")
    rows = [{"measured": today, **r} for r in rows]
    path = RESULTS_DIR / "images.json"
    if not only or not path.exists():
        return rows
    previous = json.loads(path.read_text())
    day = str(previous.get("machine", {}).get("date", ""))[:10]
    fresh = {r["case"] for r in rows}
    merged = []
    for old in previous["rows"]:
        if old["case"] in fresh:
            merged.append(next(r for r in rows if r["case"] == old["case"]))
        elif not any(old["case"].startswith(m.upper() + " ") for m in only):
            merged.append({"measured": day, **old})
    return merged + [r for r in rows if r["case"] not in {m["case"] for m in merged}]


if __name__ == "__main__":
    main()
