"""What a careless or hostile user meets: divergence, a second writer, extended resumes, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from genlab.cli import app
from genlab.core.errors import GenlabError
from genlab.core.rundir import RunDir

runner = CliRunner()
ARITH = ["--max-int", "9", "--hidden", "16", "--batch-size", "32", "--eval-every", "1"]
IMAGES = ["--size", "16", "--latent-dim", "4", "--base-width", "4", "--batch-size", "8", "--threads", "1"]


def fails_with(args: list[str], pattern: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert isinstance(result.exception, GenlabError), (result.output, repr(result.exception))
    message = str(result.exception)
    assert "\n" not in message
    assert pattern in message, message
    return message


def succeeds(args: list[str]) -> None:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, repr(result.exception))


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "images.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, (40, 16, 16, 3), dtype=np.uint8))
    return path


@pytest.fixture(scope="module")
def t2t(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "t2t"
    succeeds(["arith", "train", "--task", "text2text", "--out", out, "--epochs", "2", *ARITH])
    return out


def test_arith_divergence_stops_naming_the_step_and_keeps_no_nan_weights(tmp_path):
    out = tmp_path / "boom"
    message = fails_with(
        ["arith", "train", "--out", out, "--lr", "1e6", "--epochs", "3", "--train-frac", "0.5", *ARITH],
        "training diverged",
    )
    assert "step" in message
    for name in ("model", "last"):
        path = out / f"{name}.safetensors"
        if path.exists():
            assert all(torch.isfinite(t).all() for t in load_file(str(path)).values())


def test_image_runaway_weights_are_caught_even_when_the_loss_stays_finite(tmp_path, data_file):
    out = tmp_path / "vae"
    fails_with(
        ["images", "train", "--model", "vae", "--data", data_file, "--out", out, "--lr", "1e6",
         "--epochs", "3", *IMAGES],
        "training diverged",
    )  # fmt: skip
    for path in out.glob("*.safetensors"):
        assert all(torch.isfinite(t).all() for t in load_file(str(path)).values())


def test_a_second_writer_gets_the_lock_error(t2t):
    holder = RunDir.open(t2t).lock()
    try:
        fails_with(
            ["arith", "train", "--out", t2t, "--resume", "--epochs", "3"], "is being trained by process"
        )
        succeeds(["arith", "evaluate", t2t])  # reading works while it trains
    finally:
        holder.unlock()


def test_resume_with_more_steps_extends_the_run(tmp_path):
    out = tmp_path / "short"
    succeeds(["arith", "train", "--out", out, "--steps", "6", "--train-frac", "0.5", *ARITH])
    first = RunDir(out).load_state()["step"]  # whole epochs: at least 6 steps
    assert 6 <= first < 12
    succeeds(["arith", "train", "--out", out, "--resume", "--steps", "12"])
    assert RunDir(out).load_state()["step"] >= 12
    steps = [r["step"] for r in RunDir(out).metrics() if r.get("type") == "validation"]
    assert steps == sorted(set(steps))  # no step recorded twice
    fails_with(
        ["arith", "train", "--out", out, "--resume", "--hidden", "64"], "--resume cannot change --hidden"
    )


def test_ctrl_c_in_arith_training_says_what_it_kept(tmp_path, monkeypatch):
    import genlab.arith.inference as inference

    real, calls = inference.validation_metrics, {"n": 0}

    def interrupt_on_second(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(inference, "validation_metrics", interrupt_on_second)
    result = runner.invoke(app, ["arith", "train", "--out", str(tmp_path / "cut"), "--epochs", "3", *ARITH])
    assert result.exit_code != 0
    assert "interrupted: the checkpoint of step" in result.output and "--resume" in result.output


def test_an_operand_of_thousands_of_digits_is_one_line(t2t):
    fails_with(["arith", "ask", t2t, "9" * 5000 + "+1"], "out of range")


def test_a_decompression_bomb_is_one_line(tmp_path, monkeypatch):
    out = tmp_path / "i2t"
    succeeds(["arith", "train", "--task", "img2text", "--out", out, "--epochs", "1", "--no-augment",
              "--glyph-epochs", "1", "--glyph-width", "16", "--glyph-features", "128", *ARITH])  # fmt: skip
    Image.new("L", (200, 100), 255).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)
    fails_with(["arith", "ask", out, "--image", tmp_path / "big.png"], "far too large")


@pytest.mark.parametrize(
    "edit, pattern",
    [
        (lambda c: c["config"].update(arch="transistor"), "--arch 'transistor'"),
        (lambda c: c["config"].update(task="bogus"), "unknown task 'bogus'"),
    ],
)
def test_an_edited_arith_config_is_one_line(t2t, tmp_path, edit, pattern):
    import shutil

    run = tmp_path / "edited"
    shutil.copytree(t2t, run)
    meta = json.loads((run / "config.json").read_text())
    edit(meta)
    (run / "config.json").write_text(json.dumps(meta))
    fails_with(["arith", "evaluate", run], pattern)


def test_object_arrays_in_split_npz_are_one_line(t2t, tmp_path):
    import shutil

    run = tmp_path / "split"
    shutil.copytree(t2t, run)
    np.savez(run / "split.npz", train=np.array([object()], dtype=object), val=np.zeros(1), test=np.zeros(1))
    fails_with(["arith", "evaluate", run], "split.npz is damaged")


def test_bad_outputs_and_numbers_are_one_line(tmp_path, t2t, data_file):
    (tmp_path / "file").write_text("x")
    fails_with(["arith", "train", "--out", tmp_path / "file", *ARITH], "is a file, not a folder")
    fails_with(["report", t2t, "--out", tmp_path], "is a folder")
    fails_with(["report", t2t, "--out", tmp_path / "file" / "r.html"], "cannot write the report")
    fails_with(["arith", "train", "--out", tmp_path / "a", "--lr", "-1", *ARITH], "--lr -1")
    train_image = ["images", "train", "--data", data_file, "--out", tmp_path / "b", *IMAGES]
    fails_with([*train_image, "--latent-dim", "-3"], "--latent-dim -3")
    fails_with([*train_image, "--max-steps", "-1"], "--max-steps -1")
    fails_with([*train_image, "--epochs", "-1"], "--epochs -1")
    fails_with([*train_image, "--lr", "-1"], "--lr -1")


def test_an_invalid_train_frac_writes_nothing(tmp_path):
    fails_with(["arith", "train", "--out", tmp_path / "r", "--train-frac", "1.5", *ARITH], "--train-frac")
    assert not (tmp_path / "r" / "config.json").exists()


def test_an_unknown_image_model_in_config_is_named(tmp_path, data_file):
    out = tmp_path / "vae"
    succeeds(
        ["images", "train", "--model", "vae", "--data", data_file, "--out", out, "--epochs", "1", *IMAGES]
    )
    meta = json.loads((out / "config.json").read_text())
    meta["config"]["model"] = "transformer"
    (out / "config.json").write_text(json.dumps(meta))
    fails_with(["images", "sample", out], "unknown image model 'transformer'")


def test_resume_repairs_a_missing_best_model(t2t, tmp_path):
    import shutil

    run = tmp_path / "repair"
    shutil.copytree(t2t, run)
    (run / "model.safetensors").unlink()
    succeeds(["arith", "train", "--out", run, "--resume"])
    assert (run / "model.safetensors").exists()
