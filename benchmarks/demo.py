"""`make demo` as a new user runs it: a fresh clone, an empty genlab cache, set-up included, timed.

    .venv/bin/python -m benchmarks.demo --seeds 0,1,2     # three fresh clones, one after the other

Each seed gets its own `git clone` of this repository's committed HEAD (uncommitted changes are not
measured: the script says so) and its own empty GENLAB_CACHE, then `make demo SEED=N` runs in it. The
table gives the wall time of each run (venv set-up, every model, the report), the time of each part
as the report records it, and every model's headline number from the report's "At a glance" table.
Writes benchmarks/results/demo.json/.md and regenerates its section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from benchmarks.common import write_results

ROOT = Path(__file__).resolve().parent.parent


def fresh_clone(work: Path, seed: int) -> Path:
    clone = work / f"clone-seed{seed}"
    shutil.rmtree(clone, ignore_errors=True)
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    return clone


def run_make_demo(clone: Path, cache: Path, seed: int) -> tuple[float, Path]:
    """`make demo SEED=seed` in the clone with an empty cache; its wall seconds and the report."""
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    # as a new shell would have it: no virtual environment of ours, no genlab settings but the cache
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "GENLAB_"))}
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if ".venv" not in p)
    env["GENLAB_CACHE"] = str(cache)
    log = clone / "make-demo.log"
    start = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(
            ["make", "demo", f"SEED={seed}"], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    wall = time.perf_counter() - start
    text = log.read_text(errors="replace")
    if done.returncode != 0:
        raise SystemExit(f"make demo SEED={seed} failed (exit {done.returncode}); see {log}:\n{text[-3000:]}")
    found = re.findall(r"^report: (.+)$", text, re.MULTILINE)
    if not found:
        raise SystemExit(f"make demo SEED={seed} printed no report path; see {log}")
    return wall, Path(found[-1].strip())


def part_seconds(report: Path) -> dict[str, float]:
    """The report header's 'time: PART' rows."""
    html = report.read_text(encoding="utf-8")
    return {name: float(sec) for name, sec in re.findall(r"time: ([^<]+)</td><td[^>]*>([\d.]+) s<", html)}


def model_numbers(demo_out: Path, seed: int) -> dict[str, str]:
    """Every model's headline number, as the report's 'At a glance' table gives it."""
    from genlab.demo import DemoPlan
    from genlab.report import classify, summary_rows

    plan = DemoPlan(seed=seed)  # its folder names say which runs are this seed's
    runs = [demo_out / plan.folder_name(f"images-{model}") for model in DemoPlan.image_models]
    runs += [demo_out / plan.folder_name(f"images-{m}-{plan.condition}") for m in plan.conditional_models]
    runs = [p for p in runs if p.exists()]
    for folder in ("arith-splits", "arith-modalities"):
        runs += sorted(p.parent for p in (demo_out / plan.folder_name(folder)).glob("*/config.json"))
    image_runs, arith_runs, _ = classify(runs)
    shorter = {" on unseen test queries": "", " in punks features": ""}
    numbers = {}
    for row in summary_rows(image_runs, arith_runs):
        text = row["measured here"]
        for long, short in shorter.items():
            text = text.replace(long, short)
        numbers[row["model"]] = text
    return numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--work", default="/tmp/genlab-bench-demo")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    if dirty.strip():
        print("note: uncommitted changes are not in the clones; this measures the committed HEAD")
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    walls: dict[int, float] = {}
    parts: dict[int, dict[str, float]] = {}
    numbers: dict[int, dict[str, str]] = {}
    for seed in seeds:
        clone = fresh_clone(work, seed)
        wall, report = run_make_demo(clone, work / f"cache-seed{seed}", seed)
        walls[seed], parts[seed] = wall, part_seconds(report)
        numbers[seed] = model_numbers(report.parent, seed)
        print(f"seed {seed}: make demo took {wall:.0f} s; report {report}", flush=True)
    columns = ["what"] + [f"seed {s}" for s in seeds]
    rows = [{"what": "`make demo` wall s (fresh clone, empty cache, set-up included)",
             **{f"seed {s}": round(walls[s]) for s in seeds}}]  # fmt: skip
    for name in dict.fromkeys(n for s in seeds for n in parts[s]):
        rows.append({"what": f"part: {name} s", **{f"seed {s}": parts[s].get(name) for s in seeds}})
    for model in dict.fromkeys(m for s in seeds for m in numbers[s]):
        rows.append({"what": model, **{f"seed {s}": numbers[s].get(model) for s in seeds}})
    write_results(
        "demo",
        "`make demo` from a fresh clone: time and every model's number, per seed",
        rows,
        columns,
        notes=f"Commit {head.stdout.strip()}; runs one after the other on a quiet machine, each in its own "
        "clone with an empty GENLAB_CACHE (so every classifier and feature extractor is trained again). "
        "The budget is 900 s.",
        command="python -m benchmarks.demo --seeds " + args.seeds,
    )


if __name__ == "__main__":
    main()
