"""Sweeps in parallel: worker processes, and several sweep commands splitting one folder."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys

from genlab.arith.config import ArithConfig
from genlab.arith.sweep import Cell, claim, run_sweep
from genlab.core.rundir import RunDir

GRID = {"tasks": ["text2text"], "fracs": [0.5, 0.3], "enc_layers": [1, 2], "seeds": [0]}
TINY = {"max_int": 9, "hidden": 16, "batch_size": 32, "epochs": 2, "eval_every": 1, "threads": 1}


def table(path) -> list[dict[str, str]]:
    with open(path / "results.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if k != "train_seconds"} for row in csv.DictReader(fh)]


def test_two_workers_give_the_same_table_as_one(tmp_path):
    run_sweep(tmp_path / "serial", **GRID, **TINY)
    run_sweep(tmp_path / "parallel", **GRID, **TINY, workers=2)
    assert table(tmp_path / "serial") == table(tmp_path / "parallel")
    assert len(table(tmp_path / "parallel")) == 4


def test_two_sweep_commands_at_once_train_every_cell_exactly_once(tmp_path):
    script = (
        "from genlab.arith.sweep import run_sweep; "
        f"run_sweep({str(tmp_path / 'shared')!r}, **{GRID!r}, **{TINY!r})"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    assert sum(err.count(": training") for _, err in outputs) == 4
    for cell in (tmp_path / "shared").glob("text2text-*"):
        stops = [r for r in RunDir(cell).metrics() if r.get("type") == "stop"]
        assert len(stops) == 1, cell
    assert len(table(tmp_path / "shared")) == 4


def test_a_claim_left_by_a_dead_process_is_taken_over(tmp_path):
    cell = Cell(tmp_path / "cell", ArithConfig.for_task("text2text"))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )

    (tmp_path / ".cell.claim").write_text(f"{socket.gethostname()} {dead.stdout.strip()}")
    token = claim(cell)
    assert token is not None and claim(cell) is None  # ours now, and nobody else's


def test_per_fraction_and_per_task_options_layer_over_the_sweeps_own(tmp_path):
    from genlab.arith.sweep import sweep_cells

    cells = sweep_cells(
        tmp_path, ["text2text", "img2text"], [0.5, 0.1], [1], [1], [0],
        task_overrides={"img2text": {"steps": 50}}, overrides={"steps": 1000, "hidden": 64},
        frac_overrides={0.5: {"steps": 1600}},
    )  # fmt: skip
    got = {(c.config.task, c.config.train_frac): (c.config.steps, c.config.hidden) for c in cells}
    assert got == {
        ("text2text", 0.5): (1600, 64),
        ("text2text", 0.1): (1000, 64),
        ("img2text", 0.5): (50, 64),
        ("img2text", 0.1): (50, 64),
    }


def test_arch_cells_limit_one_model_kind_to_the_cells_named(tmp_path):
    from genlab.arith.sweep import sweep_cells

    cells = sweep_cells(
        tmp_path, ["text2text"], [0.5, 0.1], [1, 2], [1], [0], None, {"steps": 10},
        archs=["transformer", "gru"], arch_cells={"transformer": [(0.5, 2)]},
    )  # fmt: skip
    got = [(c.config.arch, c.config.train_frac, c.config.enc_layers) for c in cells]
    assert got == [("transformer", 0.5, 2)] + [("gru", f, e) for f in (0.5, 0.1) for e in (1, 2)]
    assert cells[0].path.name == "text2text-frac0.5-enc2-dec1-seed0-transformer"
