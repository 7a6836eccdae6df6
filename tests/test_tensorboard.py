"""`--tensorboard`: event files in RUN/tb/ that mirror metrics.jsonl, or one line naming the extra."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from typer.testing import CliRunner

from genlab.cli import app
from genlab.core.errors import GenlabError
from genlab.core.rundir import RunDir
from genlab.core.tensorboard import TensorBoard

runner = CliRunner()
TINY = ["--size", "16", "--latent-dim", "4", "--base-width", "4", "--batch-size", "8", "--threads", "1"]
HAVE_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None
needs_tensorboard = pytest.mark.skipif(
    not HAVE_TENSORBOARD, reason="the tensorboard extra is not installed (pip install 'genlab[tensorboard]')"
)


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def events(folder):
    """(scalar tags -> [(step, value)], image tags -> [step]) read back with tensorboard itself."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    reader = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    reader.Reload()
    tags = reader.Tags()
    scalars = {t: [(e.step, e.value) for e in reader.Scalars(t)] for t in tags["scalars"]}
    return scalars, {t: [e.step for e in reader.Images(t)] for t in tags["images"]}


@pytest.fixture
def data_file(tmp_path):
    rng = np.random.default_rng(1)
    images = np.repeat(rng.integers(0, 256, (40, 1, 1, 3), dtype=np.uint8), 16, axis=1).repeat(16, axis=2)
    np.save(tmp_path / "squares.npy", images)
    return tmp_path / "squares.npy"


def test_off_it_writes_nothing(tmp_path):
    board = TensorBoard(tmp_path / "tb", enabled=False)
    board.scalars(1, {"loss": 0.5})
    board.image(1, "samples", np.zeros((4, 3, 8, 8)))
    assert not board.enabled and not (tmp_path / "tb").exists()


def test_without_the_package_it_is_one_line_naming_the_extra(tmp_path, data_file, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a)
    )
    for command in (
        ["images", "train", "--data", data_file, "--out", tmp_path / "img", "--tensorboard", *TINY],
        ["arith", "train", "--out", tmp_path / "t2t", "--max-int", "20", "--tensorboard"],
    ):
        with pytest.raises(
            GenlabError,
            match=r"--tensorboard needs the tensorboard package: pip install 'genlab\[tensorboard\]'",
        ):
            invoke(*command)
    assert not (tmp_path / "img").exists() and not (tmp_path / "t2t").exists()  # refused before any write


@needs_tensorboard
def test_an_image_run_mirrors_its_loss_records_and_each_epoch_s_samples(tmp_path, data_file):
    out = tmp_path / "gan"
    invoke("images", "train", "--model", "gan", "--data", data_file, "--out", out, "--epochs", "2",
           "--log-every", "2", "--tensorboard", "--keep-every", "2", *TINY)  # fmt: skip
    scalars, images = events(out / "tb")
    logged = [r for r in RunDir(out).metrics() if r.get("type") == "train"]
    assert [step for step, _ in scalars["train/loss_d"]] == [r["step"] for r in logged]
    assert [v for _, v in scalars["train/loss_d"]] == pytest.approx([r["loss_d"] for r in logged], rel=1e-6)
    epochs = [r["step"] for r in RunDir(out).metrics() if r.get("type") == "epoch"]
    assert images["samples"] == epochs and len(epochs) == 2
    assert (out / "checkpoints" / "epoch_002.safetensors").exists()


@needs_tensorboard
def test_an_arith_run_mirrors_its_validation_records(tmp_path):
    out = tmp_path / "t2t"
    invoke("arith", "train", "--task", "text2text", "--out", out, "--max-int", "20", "--hidden", "16",
           "--batch-size", "64", "--train-frac", "0.5", "--epochs", "2", "--eval-every", "1",
           "--tensorboard")  # fmt: skip
    scalars, _ = events(out / "tb")
    validations = [r for r in RunDir(out).metrics() if r.get("type") == "validation"]
    assert [(s, pytest.approx(v)) for s, v in scalars["validation/val_acc"]] == [
        (r["step"], r["val_acc"]) for r in validations
    ]
