"""Every command meets a damaged run directory with one line and exit status 1, never a traceback.

A tiny image run and a tiny arithmetic run are trained once; each damage (truncated config,
missing or garbage weights, garbage state, garbage metrics) is applied to a fresh copy, and every
command that reads a run is run on it through `genlab.cli.main`, as the `genlab` script runs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from genlab.cli import app
from genlab.core.errors import GenlabError

runner = CliRunner()
IMAGE_TINY = ["--size", "16", "--latent-dim", "4", "--base-width", "4", "--batch-size", "8", "--threads", "1"]
ARITH_TINY = ["--max-int", "9", "--hidden", "16", "--batch-size", "32", "--epochs", "2", "--eval-every", "1"]


def ok_or_one_line(args: list[str]) -> None:
    result = runner.invoke(app, args)
    exc = result.exception
    assert exc is None or isinstance(exc, (GenlabError, SystemExit)), (args, repr(exc))
    if isinstance(exc, GenlabError):
        assert "\n" not in str(exc), str(exc)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    data = root / "squares.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, (40, 16, 16, 3), dtype=np.uint8))
    for args in (
        ["images", "train", "--model", "vae", "--data", str(data), "--out", str(root / "vae"),
         "--epochs", "1", *IMAGE_TINY],
        ["arith", "train", "--task", "text2text", "--out", str(root / "t2t"), *ARITH_TINY],
    ):  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    return root


def truncate_config(run: Path) -> None:
    text = (run / "config.json").read_text()
    (run / "config.json").write_text(text[: len(text) // 2])


def remove_weights(run: Path) -> None:
    (run / "model.safetensors").unlink()
    (run / "last.safetensors").unlink()


def garbage_weights(run: Path) -> None:
    (run / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    (run / "last.safetensors").write_bytes(b"garbage")


def garbage_state(run: Path) -> None:
    (run / "state.pt").write_bytes(b"PK\x03\x04 not really a zip")


def garbage_metrics(run: Path) -> None:
    (run / "metrics.jsonl").write_text('{"type": "epoch", "ep\n[1, 2]\nnot json at all\n')


DAMAGES = [truncate_config, remove_weights, garbage_weights, garbage_state, garbage_metrics]


def image_commands(run: Path, out: Path) -> list[list[str]]:
    r = str(run)
    return [
        ["images", "sample", r, "--n", "4", "--out", str(out / "s.png")],
        ["images", "reconstruct", r, "--n", "4", "--out", str(out / "r.png")],
        ["images", "interpolate", r, "--pairs", "1", "--steps", "3", "--out", str(out / "i.png")],
        ["images", "latent-map", r, "--n", "20", "--out", str(out / "m.png")],
        ["images", "progress", r, "--out", str(out / "p.png")],
        ["images", "evaluate", r, "--features", "pixels", "--n", "40"],
        ["images", "train", "--out", r, "--resume", "--epochs", "2"],
        ["report", r, "--out", str(out / "report.html")],
    ]


def arith_commands(run: Path, out: Path) -> list[list[str]]:
    r = str(run)
    return [
        ["arith", "evaluate", r],
        ["arith", "ask", r, "3+4"],
        ["arith", "errors", r],
        ["arith", "train", "--out", r, "--resume", "--epochs", "3"],
        ["report", r, "--out", str(out / "report.html")],
    ]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__)
def test_every_command_on_a_damaged_run_gives_one_line(trained, tmp_path, damage):
    for name, commands in (("vae", image_commands), ("t2t", arith_commands)):
        run = tmp_path / name
        shutil.copytree(trained / name, run)
        damage(run)
        for args in commands(run, tmp_path):
            ok_or_one_line(args)


def test_the_genlab_script_prints_one_red_line_and_exits_1(trained, tmp_path):
    run = tmp_path / "t2t"
    shutil.copytree(trained / "t2t", run)
    garbage_state(run)
    done = subprocess.run(
        [sys.executable, "-m", "genlab", "arith", "train", "--out", str(run), "--resume"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "state.pt" in done.stderr
