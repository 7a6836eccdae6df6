"""Numbered checkpoints: `--keep-every N` keeps epoch_### (images) / step_###### (arith) weights beside
best and last, and `sample`, `interpolate`, `evaluate` pick one with `--checkpoint`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from typer.testing import CliRunner

from genlab.cli import app
from genlab.core.errors import GenlabError
from genlab.core.rundir import RunDir
from genlab.images.runs import generate, load_trained

runner = CliRunner()
TINY = ["--size", "16", "--latent-dim", "4", "--base-width", "4", "--batch-size", "8", "--threads", "1"]


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    rng = np.random.default_rng(1)
    images = np.repeat(rng.integers(0, 256, (40, 1, 1, 3), dtype=np.uint8), 16, axis=1).repeat(16, axis=2)
    images[:, 4:12, 4:12] = rng.integers(0, 256, (40, 1, 1, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("data") / "squares.npy"
    np.save(path, images)
    return str(path)


@pytest.fixture(scope="module")
def vae(tmp_path_factory, data_file):
    out = tmp_path_factory.mktemp("runs") / "vae"
    invoke("images", "train", "--model", "vae", "--data", data_file, "--out", out, "--epochs", "4",
           "--keep-every", "2", *TINY)  # fmt: skip
    return out


def test_a_run_dir_keeps_a_numbered_checkpoint_at_each_multiple(tmp_path):
    run = RunDir(tmp_path)
    model = nn.Linear(2, 2)
    kept = [n for n in range(1, 8) if run.save_numbered(model, "epoch", n, every=2)]
    assert kept == [2, 4, 6]
    # steps come at validations, not at multiples: the first checkpoint past each multiple is kept
    kept = [n for n in (300, 550, 900, 1100, 1650, 1700) if run.save_numbered(model, "step", n, every=500)]
    assert kept == [550, 1100, 1650]
    assert run.numbered_checkpoints() == [
        "epoch_002", "epoch_004", "epoch_006", "step_000550", "step_001100", "step_001650",
    ]  # fmt: skip
    assert run.save_numbered(model, "epoch", 8, every=0) is None
    assert not list((tmp_path / "checkpoints").glob(".*.tmp"))  # written atomically


def test_checkpoint_names_resolve_and_an_unknown_one_lists_the_run_s_checkpoints(tmp_path):
    run = RunDir(tmp_path)
    model = nn.Linear(2, 2)
    run.save_weights(model, "model")
    run.save_weights(model, "last")
    run.save_numbered(model, "epoch", 12, every=4)
    assert run.weights_name("best") == "model"
    assert run.weights_name("last") == "last"
    assert run.weights_name("epoch_012") == run.weights_name("epoch_12") == "checkpoints/epoch_012"
    with pytest.raises(
        GenlabError, match=r"no checkpoint 'epoch_013': use one of best, last, epoch_012"
    ) as err:
        run.weights_name("epoch_013")
    assert "\n" not in str(err.value)


def test_keep_every_keeps_epoch_checkpoints_beside_best_and_last(vae):
    kept = sorted(p.name for p in (vae / "checkpoints").iterdir())
    assert kept == ["epoch_002.safetensors", "epoch_004.safetensors"]
    assert (vae / "model.safetensors").exists() and (vae / "last.safetensors").exists()
    # the epoch-4 checkpoint holds the weights training ended with; the epoch-2 one earlier weights
    last = load_file(str(vae / "last.safetensors"))
    four = load_file(str(vae / "checkpoints" / "epoch_004.safetensors"))
    two = load_file(str(vae / "checkpoints" / "epoch_002.safetensors"))
    assert all(torch.equal(last[k], four[k]) for k in last)
    assert not all(torch.equal(last[k], two[k]) for k in last)


def test_sample_interpolate_and_evaluate_take_a_checkpoint(vae):
    out = invoke("images", "sample", vae, "--n", "4", "--checkpoint", "epoch_002").output
    assert "samples_seed0_epoch_002.png" in out
    assert (vae / "figures" / "samples_seed0_epoch_002.png").exists()
    early = generate(load_trained(vae, checkpoint="epoch_002")[0], 4, seed=0)
    assert not torch.equal(early, generate(load_trained(vae, checkpoint="last")[0], 4, seed=0))
    invoke("images", "interpolate", vae, "--pairs", "1", "--steps", "3", "--checkpoint", "last")
    assert (vae / "figures" / "interpolate_slerp_last.png").exists()
    invoke("images", "evaluate", vae, "--features", "pixels", "--n", "16", "--checkpoint", "epoch_004")
    record = [r for r in RunDir(vae).metrics() if r.get("type") == "eval"][-1]
    assert record["checkpoint"] == "epoch_004"


def test_an_unknown_checkpoint_is_one_line_naming_the_available_ones(vae):
    result = runner.invoke(app, ["images", "sample", str(vae), "--checkpoint", "epoch_003"])
    assert isinstance(result.exception, GenlabError)
    assert "use one of best, last, epoch_002, epoch_004" in str(result.exception)


def test_keep_every_refuses_a_negative_number(tmp_path, data_file):
    with pytest.raises(GenlabError, match="--keep-every -1"):
        invoke("images", "train", "--data", data_file, "--out", tmp_path / "r", "--keep-every", "-1", *TINY)


def test_arith_keeps_a_step_checkpoint_at_the_first_validation_past_each_multiple(tmp_path):
    out = tmp_path / "t2t"
    invoke("arith", "train", "--task", "text2text", "--out", out, "--max-int", "20", "--hidden", "16",
           "--batch-size", "64", "--train-frac", "0.5", "--epochs", "6", "--eval-every", "1",
           "--keep-every", "10")  # fmt: skip
    run = RunDir(out)
    validated = [r["step"] for r in run.metrics() if r.get("type") == "validation"]  # once an epoch
    due = [next(s for s in validated if s >= m) for m in range(10, validated[-1] + 1, 10)]
    assert run.numbered_checkpoints() == [f"step_{s:06d}" for s in sorted(set(due))]
    assert len(due) >= 3
    label = run.numbered_checkpoints()[-1]
    assert run.weights_name(label.replace("_0000", "_")) == f"checkpoints/{label}"
