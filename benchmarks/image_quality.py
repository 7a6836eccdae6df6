"""Sample quality of the default CAE, VAE, GAN and diffusion model on CryptoPunks, in genlab's punks
feature space, beside the real-vs-real noise floor.

    .venv/bin/python -m benchmarks.image_quality [--runs DIR] [--n 10000] [--only gan]

Uses the default runs that benchmarks/images.py trained (runs/bench-images/MODEL) or `genlab demo`
trained (runs/demo/images-MODEL) when they exist and were trained with this genlab's defaults, or
those in --runs DIR (DIR/MODEL or DIR/images-MODEL); otherwise it first trains them with the
defaults into runs/bench-images/MODEL.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import HERE, merge_rows, trained_as, write_results

MODELS = ("cae", "vae", "gan", "diffusion")
DEFAULT_RUNS = HERE.parent / "runs" / "bench-images"


def find_or_train(model: str, runs: list[Path]) -> tuple[Path, str]:
    """A trained default punks run for `model`: (path, how it was obtained)."""
    from genlab.core.rundir import RunDir
    from genlab.images.config import ImageTrainConfig
    from genlab.images.train import train_images

    for folder in runs:
        for path in (folder / model, folder / f"images-{model}"):
            if (path / "model.safetensors").exists() and (path / "config.json").exists():
                if trained_as(RunDir(path).config, ImageTrainConfig(model=model, data="punks")):
                    return path, f"existing run {_shown(path)}"
    path = DEFAULT_RUNS / model
    start = time.perf_counter()
    defaults = ImageTrainConfig(model=model, data="punks")
    if (path / "config.json").exists() and not trained_as(RunDir(path).config, defaults):
        shutil.rmtree(path)  # trained with other defaults: not to be resumed
    train_images(defaults, path, resume=(path / "state.pt").exists())
    return path, f"trained with defaults here in {time.perf_counter() - start:.0f} s"


def _shown(path: Path) -> str:
    root, full = HERE.parent.resolve(), path.resolve()
    return str(full.relative_to(root)) if full.is_relative_to(root) else str(full)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=Path, action="append", help="folder holding images-MODEL runs")
    parser.add_argument("--n", type=int, default=10000, help="generated images (capped at half the data)")
    parser.add_argument(
        "--only",
        default="",
        help="comma list of models (e.g. gan) to re-measure; the other rows are kept from the last run",
    )
    args = parser.parse_args()
    only = [m.strip() for m in args.only.split(",") if m.strip()]
    if unknown := sorted(set(only) - set(MODELS)):
        parser.error(f"--only {','.join(unknown)}: use models among {', '.join(MODELS)}")

    from genlab.images.evaluate import evaluate_run
    from genlab.images.features import get_extractor

    folders = args.runs or [DEFAULT_RUNS, HERE.parent / "runs" / "demo"]
    start = time.perf_counter()
    extractor = get_extractor("punks")  # trains the attribute classifier on first use
    classifier_seconds = time.perf_counter() - start
    rows: list[dict[str, Any]] = []
    for model in [m for m in MODELS if not only or m in only]:
        path, origin = find_or_train(model, folders)
        start = time.perf_counter()
        record = evaluate_run(path, extractor, n=args.n)
        rows.append(
            {
                "model": model.upper(),
                "n": record["n"],
                "FID": record["fid"],
                "FID floor": record["floor_fid"],
                "KID": record["kid"],
                "KID s.e.": record["kid_se"],
                "KID floor": record["floor_kid"],
                "precision": record["precision"],
                "recall": record["recall"],
                "P/R floor": f"{record['floor_precision']:.3f} / {record['floor_recall']:.3f}",
                "attr. |diff|": record["attr_mean_abs_diff"],
                "attr. floor": record["floor_attr_mean_abs_diff"],
                "PSNR dB": record.get("recon_psnr"),
                "eval s": round(time.perf_counter() - start, 1),
                "run": origin,
            }
        )
    info = extractor.info
    notes = (
        f"Feature space: {extractor.description}; {info['n_train']:,} training / {info['n_heldout']:,} "
        f"held-out punks, balanced accuracy {info['balanced_accuracy']:.3f}, exact match "
        f"{info['exact_match']:.3f}, {info.get('train_seconds', 0):.0f} s to train "
        f"(this call: {classifier_seconds:.0f} s including loading; 0 when cached). "
        "Floor = the same metric between two disjoint halves of the real punks, at the same sample size "
        "and against the same reference half as the model; a model can at best reach it. KID s.e. from 10 "
        "disjoint blocks. Precision/recall: k=3 nearest-neighbour manifolds. attr. |diff| = mean over the "
        "92 attributes (+ 'any hat') of |frequency in generated - frequency in real|, both as predicted by "
        "the classifier. PSNR: reconstruction of the run's held-out punks (CAE/VAE). measured: the day of "
        "the row (a run with --only keeps the other models' rows from the run before)."
    )
    rows = merge_rows("image_quality", rows, lambda r: r["model"], [m.upper() for m in MODELS])
    columns = ["measured", *[c for c in rows[-1] if c != "measured"]]
    write_results(
        "image_quality",
        "Image model quality (CryptoPunks, punks features)",
        rows,
        columns,
        notes=notes,
        command=" ".join([".venv/bin/python -m benchmarks.image_quality", *sys.argv[1:]]),
    )


if __name__ == "__main__":
    main()
