"""Threads and OpenMP wait policy on a shared machine: training speed quiet and beside a busy neighbour.

    .venv/bin/python -m benchmarks.threads                  # text2text and GAN rows (~10 min on 2 cores)
    .venv/bin/python -m benchmarks.threads --settings default

On two cores, torch's OpenMP threads spin while they wait for each other; when another process
takes a core, every parallel region waits for the thread that lost it, and a step runs several
times slower. Each row trains with the real command in a fresh process (so the environment, e.g.
OMP_WAIT_POLICY, is read at start-up as it is for a user) and reads the training time the run
recorded; "busy neighbour" is one Python busy loop running for the whole row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.common import write_results

ARITH_STEPS = 200
IMAGE_STEPS = 30

# name -> (extra command-line options, extra environment); "default" is what a user gets
SETTINGS: dict[str, tuple[list[str], dict[str, str]]] = {
    "default": ([], {}),  # genlab's own choice
    "2 threads": (["--threads", "2"], {"OMP_WAIT_POLICY": "ACTIVE"}),
    "1 thread": (["--threads", "1"], {}),
    # OpenMP threads sleep instead of spinning while they wait
    "2 threads PASSIVE": (["--threads", "2"], {"OMP_WAIT_POLICY": "PASSIVE"}),
}


def run_genlab(args: list[str], env_extra: dict[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env.update(env_extra)
    done = subprocess.run(
        [sys.executable, "-m", "genlab", "--quiet", *args], capture_output=True, text=True, env=env
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")


def recorded(run: Path) -> tuple[float, int]:
    state = torch.load(run / "state.pt", map_location="cpu", weights_only=True)
    return float(state["elapsed"]), int(state["step"])


def workload_args(what: str, out: Path, work: Path) -> list[str]:
    if what == "text2text":
        return ["arith", "train", "--task", "text2text", "--out", str(out), "--steps", str(ARITH_STEPS),
                "--eval-every", "100000"]  # fmt: skip
    data = work / "random64.npy"
    if not data.exists():
        rng = np.random.default_rng(0)
        np.save(data, rng.integers(0, 256, (64 * (IMAGE_STEPS + 2), 64, 64, 3), np.uint8))
    return ["images", "train", "--model", what, "--data", str(data), "--out", str(out), "--size", "64",
            "--batch-size", "64", "--max-steps", str(IMAGE_STEPS), "--test-frac", "0"]  # fmt: skip


def row(what: str, setting: str, neighbour: bool, work: Path) -> dict[str, Any]:
    extra, env = SETTINGS[setting]
    out = work / f"{what}-{setting.replace(' ', '_')}-{int(neighbour)}"
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if neighbour else None
    try:
        run_genlab([*workload_args(what, out, work), *extra], env)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    seconds, steps = recorded(out)
    return {"what": f"{what} ({steps} steps)", "setting": setting,
            "machine": "with one busy neighbour" if neighbour else "quiet", "seconds": seconds}  # fmt: skip


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Each row's time against the quiet default of the same workload."""
    base = {r["what"]: r["seconds"] for r in rows if r["setting"] == "default" and r["machine"] == "quiet"}
    for r in rows:
        if r["what"] in base:
            r["x quiet default"] = r["seconds"] / base[r["what"]]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workloads", default="text2text,gan", help="text2text and/or image models")
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"from: {', '.join(SETTINGS)}")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="genlab-threads-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    rows = []
    for what in args.workloads.split(","):
        for neighbour in (False, True):
            for setting in settings:
                rows.append(row(what, setting, neighbour, work))
                print(json.dumps(rows[-1]), flush=True)
    add_ratios(rows)
    note = (
        "seconds = the training time the run recorded. 'default' is genlab's own thread choice; the "
        "target is at most 1.5x the quiet default beside one busy neighbour, and no slower when quiet."
    )
    write_results("threads", "Threads and wait policy: quiet and with one busy neighbour", rows,
                  notes=note, command="python -m benchmarks.threads")  # fmt: skip


if __name__ == "__main__":
    main()
