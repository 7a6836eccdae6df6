"""Error analysis rules on hand-checked cases, `genlab arith errors` on a tiny run, and a tiny sweep."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

from genlab.arith.error_analysis import classify_error, has_borrow, has_carry, parse_answer
from genlab.cli import app

runner = CliRunner()
TINY = [
    "--max-int", "20", "--hidden", "32", "--batch-size", "64", "--no-augment",
    "--glyph-epochs", "1", "--glyph-width", "16", "--glyph-features", "128",
]  # fmt: skip


def test_carry_and_borrow_on_hand_checked_cases():
    assert has_carry(19, 1) and has_carry(5, 5) and not has_carry(12, 13) and not has_carry(90, 9)
    assert has_borrow(20, 1) and has_borrow(31, 19) and has_borrow(12, 5)
    assert not has_borrow(19, 5) and not has_borrow(5, 3)
    assert has_borrow(1, 20)  # 1-20 = -(20-1): borrows
    assert list(has_carry(np.array([19, 11]), np.array([1, 1]))) == [True, False]


@pytest.mark.parametrize(
    "true, predicted, kind",
    [
        (7, "6", "off by one"),  # '12-5' answered '6'
        (7, "  7", "correct"),
        (-48, "-38", "off by ten"),
        (105, "-105", "sign"),
        (-1, "1-2", "invalid"),
        (3, "-", "invalid"),
        (3, "   ", "invalid"),
        (50, "73", "other"),
    ],
)
def test_error_kinds(true, predicted, kind):
    assert classify_error(true, predicted) == kind


def test_parse_answer():
    assert parse_answer(" -48") == -48 and parse_answer("1-2") is None and parse_answer("") is None


@pytest.fixture(scope="module")
def tiny_i2t(tmp_path_factory):
    out = tmp_path_factory.mktemp("err") / "i2t"
    result = runner.invoke(
        app, ["arith", "train", "--task", "img2text", "--out", str(out), *TINY, "--epochs", "1"]
    )
    assert result.exit_code == 0, result.output
    return out


def test_errors_command_writes_tables_and_figures(tiny_i2t):
    result = runner.invoke(app, ["arith", "errors", str(tiny_i2t)])
    assert result.exit_code == 0, result.output
    figures = tiny_i2t / "figures"
    for name in (
        "errors.md",
        "errors_by_operator.csv",
        "errors_by_carry_borrow.csv",
        "errors_heatmap.png",
        "errors_breakdown.png",
        "errors_misreading_vs_arithmetic.csv",
    ):
        assert (figures / name).exists(), name
    text = (figures / "errors.md").read_text()
    assert "by carry borrow" in text and "misreading vs arithmetic" in text
    assert "misread" in result.output


def test_analyze_errors_counts_add_up(tiny_i2t):
    from genlab.arith.error_analysis import analyze_errors

    result = analyze_errors(tiny_i2t)
    kinds = {row["kind"]: row["errors"] for row in result["tables"]["error_kinds"]}
    assert sum(kinds.values()) == result["errors"]
    by_op = result["tables"]["by_operator"]
    assert sum(row["queries"] for row in by_op) == result["test_queries"]
    assert (
        result["errors_with_misread_query"] + result["arithmetic_errors_on_read_queries"] == result["errors"]
    )
    # the tables' CSV files read back with the csv module, quotes (the repr'd characters) included
    for name, rows in result["tables"].items():
        with open(tiny_i2t / "figures" / f"errors_{name}.csv", newline="") as fh:
            read = list(csv.DictReader(fh))
        assert read == [{k: str(v) for k, v in row.items()} for row in rows], name


def test_sweep_runs_skips_finished_cells_and_writes_table_and_plot(tmp_path):
    args = [
        "arith",
        "sweep",
        "--out",
        str(tmp_path),
        "--tasks",
        "text2text",
        "--fracs",
        "0.3,0.5",
        "--enc-layers",
        "1,2",
        "--epochs",
        "1",
    ]
    import genlab.arith.train as train_arith_module

    original = train_arith_module.ArithConfig.for_task

    def tiny_config(task, **kw):  # the sweep's own options plus tiny model sizes for the test
        return original(task, **kw, max_int=12, hidden=16, batch_size=64)

    train_arith_module.ArithConfig.for_task = staticmethod(tiny_config)
    try:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        with open(tmp_path / "results.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == 4 and {row["train_frac"] for row in rows} == {"0.3", "0.5"}
        assert (tmp_path / "results.md").exists() and (tmp_path / "figures" / "sweep.png").exists()
        stamp = (tmp_path / "text2text-frac0.3-enc1-dec1-seed0" / "evaluation.json").stat().st_mtime_ns
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert (
            tmp_path / "text2text-frac0.3-enc1-dec1-seed0" / "evaluation.json"
        ).stat().st_mtime_ns == stamp
        assert "| text2text | gru | 0.5 | 2 | 1 | 1 |" in (tmp_path / "results.md").read_text()
        result = runner.invoke(app, [*args[:-1], "2"])  # other settings: kept, and the user is told
        assert result.exit_code == 0, result.output
        assert result.output.count("trained with other settings: epochs 1 -> 2; delete the folder") == 4
        assert (
            tmp_path / "text2text-frac0.3-enc1-dec1-seed0" / "evaluation.json"
        ).stat().st_mtime_ns == stamp
    finally:
        train_arith_module.ArithConfig.for_task = original


def test_sweep_compares_only_the_settings_a_task_uses():
    from genlab.arith.config import ArithConfig
    from genlab.arith.sweep import settings_changed

    narrow = {"glyph_width": 16, "glyph_features": 128}
    assert (
        settings_changed(ArithConfig.for_task("text2text", **narrow), ArithConfig.for_task("text2text")) == ""
    )
    changed = settings_changed(ArithConfig.for_task("img2text", **narrow), ArithConfig.for_task("img2text"))
    assert changed == "glyph_width 16 -> 64, glyph_features 128 -> 256"
    assert "lr 0.003 -> 0.01" in settings_changed(
        ArithConfig.for_task("text2text", lr=3e-3), ArithConfig.for_task("text2text")
    )
