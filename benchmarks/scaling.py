"""Scale-out: processes x threads on the CPU, sweep workers, and (with CUDA) GPUs x precision x compile.

    .venv/bin/python -m benchmarks.scaling                 # CPU rows + a small sweep (~10 min on 2 cores)
    .venv/bin/python -m benchmarks.scaling --full-sweep    # the default 24-cell sweep, serial and --workers 2
    python -m benchmarks.scaling --gpu                     # on a CUDA machine: GAN throughput per GPU count

Every row runs the real `genlab ... train` command in fresh processes (under torch's launcher when
there is more than one) and reads the training time the run itself recorded, so process start-up
and data loading are not counted; images/s and steps/s are over the global batch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.common import matmul_gflops, write_results

IMAGE_STEPS = 30
ARITH_STEPS = 200


def genlab(args: list[str], nproc: int, threads: int, timeout: float = 1800) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    launcher = (
        [sys.executable, "-m", "genlab"]
        if nproc == 1
        else [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
              "-m", "genlab"]
    )  # fmt: skip
    done = subprocess.run(
        [*launcher, "--quiet", *args], capture_output=True, text=True, env=env, timeout=timeout
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")


def trained_seconds(run: Path) -> float:
    state = torch.load(run / "state.pt", map_location="cpu", weights_only=True)
    return float(state["elapsed"])


def image_row(
    model: str, size: int, nproc: int, threads: int, work: Path, extra: list[str]
) -> dict[str, Any]:
    data = work / f"random{size}.npy"
    if not data.exists():
        np.save(
            data, np.random.default_rng(0).integers(0, 256, (64 * (IMAGE_STEPS + 2), size, size, 3), np.uint8)
        )
    out = work / f"{model}-{size}-{nproc}x{threads}-{'-'.join(extra) or 'default'}"
    args = ["images", "train", "--model", model, "--data", str(data), "--out", str(out),
            "--size", str(size), "--batch-size", "64", "--max-steps", str(IMAGE_STEPS),
            "--threads", str(threads), "--test-frac", "0",
            *extra]  # fmt: skip
    genlab(args, nproc, threads)
    seconds = trained_seconds(out)
    return {"what": f"{model} {size}px", "processes": nproc, "threads": threads, "options": " ".join(extra),
            "images/s": 64 * IMAGE_STEPS / seconds}  # fmt: skip


def arith_row(nproc: int, threads: int, work: Path) -> dict[str, Any]:
    out = work / f"arith-{nproc}x{threads}"
    args = ["arith", "train", "--task", "text2text", "--out", str(out), "--steps", str(ARITH_STEPS),
            "--threads", str(threads), "--eval-every", "100000"]  # fmt: skip
    genlab(args, nproc, threads)
    seconds = trained_seconds(out)
    state = torch.load(out / "state.pt", map_location="cpu", weights_only=True)
    return {"what": "text2text", "processes": nproc, "threads": threads, "options": "",
            "steps/s": state["step"] / seconds}  # fmt: skip


def cpu_rows(work: Path) -> list[dict[str, Any]]:
    rows = []
    for model in ("cae", "vae", "gan"):
        for nproc, threads in ((1, 2), (2, 1)):
            rows.append(image_row(model, 64, nproc, threads, work, []))
    for nproc, threads in ((1, 2), (2, 1)):
        rows.append(arith_row(nproc, threads, work))
    return rows


def sweep_rows(work: Path, full: bool) -> list[dict[str, Any]]:
    grid = (
        []
        if full
        else ["--fracs", "0.5,0.25", "--enc-layers", "1,2", "--tasks", "text2text", "--steps", "300"]
    )
    rows = []
    for workers in (1, 2):
        out = work / f"sweep-{workers}"
        start = time.perf_counter()
        genlab(
            ["arith", "sweep", "--out", str(out), "--workers", str(workers), *grid], 1, 2, timeout=6 * 3600
        )
        what = "default sweep" if full else "4-cell text2text sweep (300 steps)"
        rows.append({"what": what, "processes": workers, "threads": 1 if workers > 1 else 2,
                     "options": f"--workers {workers}",
                     "wall s": time.perf_counter() - start})  # fmt: skip
    rows[1]["speed-up"] = rows[0]["wall s"] / rows[1]["wall s"]
    return rows


def gpu_rows(work: Path) -> list[dict[str, Any]]:
    rows = []
    gpus = torch.cuda.device_count()
    counts = sorted({1, gpus})
    for size in (64, 128):
        for precision in ("fp32", "bf16", "fp16"):
            for compile_ in (False, True):
                for n in counts:
                    extra = ["--device", "cuda", "--precision", precision] + (
                        ["--compile"] if compile_ else []
                    )
                    row = image_row("gan", size, n, 4, work, extra)
                    row["images/s per GPU"] = row["images/s"] / n
                    rows.append(row)
    return rows


def gpu_peak() -> dict[str, float]:
    peaks = {}
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        a = torch.randn(8192, 8192, device="cuda", dtype=dtype)
        for _ in range(3):
            a @ a
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(10):
            a @ a
        torch.cuda.synchronize()
        peaks[str(dtype).split(".")[-1]] = 2 * 8192**3 * 10 / (time.perf_counter() - start) / 1e12
    return peaks


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """Every key of every row, in first-seen order (rows measure different things)."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full-sweep", action="store_true", help="time the default 24-cell sweep (hours)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the sweep rows")
    parser.add_argument("--gpu", action="store_true", help="GPU rows only (needs CUDA)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="genlab-scaling-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.gpu:
        if not torch.cuda.is_available():
            raise SystemExit("--gpu needs a CUDA device")
        peaks = gpu_peak()
        rows = gpu_rows(work)
        note = "Dense matmul peak measured on this GPU (TFLOP/s): " + ", ".join(
            f"{k} {v:.0f}" for k, v in peaks.items()
        )
        title = "Scale-out on GPUs: GAN training throughput"
        write_results("scaling_gpu", title, rows, columns=columns(rows), notes=note,
                      command="python -m benchmarks.scaling --gpu")  # fmt: skip
        return
    rows = cpu_rows(work)
    if not args.no_sweep:
        rows += sweep_rows(work, args.full_sweep)
    note = (
        f"fp32 matmul on this machine: {matmul_gflops():.0f} GFLOP/s. Each row trains with the real command; "
        "times are the training time the run recorded (no process start-up, no data loading)."
    )
    command = "python -m benchmarks.scaling" + (" --full-sweep" if args.full_sweep else "")
    write_results("scaling", "Scale-out on the CPU: processes x threads, sweep workers", rows,
                  columns=columns(rows), notes=note, command=command)  # fmt: skip
    print(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
