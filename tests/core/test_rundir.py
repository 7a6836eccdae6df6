import json

import numpy as np
import pytest
import torch

from genlab.core.device import pick_device
from genlab.core.errors import GenlabError
from genlab.core.rundir import FORMAT, RunDir
from genlab.core.seeding import rng_state, seed_everything, set_rng_state


def test_weights_round_trip_through_safetensors(tmp_path):
    model = torch.nn.Linear(3, 2)
    run = RunDir.create(tmp_path / "run", "cae", {"latent_dim": 8})
    run.save_weights(model)
    loaded = run.load_weights()
    assert torch.equal(loaded["weight"], model.weight.detach())
    assert run.config == {"latent_dim": 8}
    assert not list(run.path.glob("*.tmp"))


def test_training_state_and_metrics_survive_reopen(tmp_path):
    run = RunDir.create(tmp_path / "run", "vae", {})
    opt = torch.optim.Adam(torch.nn.Linear(2, 2).parameters())
    run.save_state({"step": 7, "optimizer": opt.state_dict(), "rng": rng_state()})
    run.append_metrics({"epoch": 1, "loss": 0.5})
    again = RunDir.open(run.path, "vae")
    assert again.load_state()["step"] == 7
    assert again.metrics() == [{"epoch": 1, "loss": 0.5}]


def test_rng_state_restores_exactly():
    seed_everything(3)
    state = rng_state()
    first = (torch.rand(3), np.random.rand(3))
    set_rng_state(state)
    second = (torch.rand(3), np.random.rand(3))
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1])


def test_open_refuses_wrong_kind_newer_format_and_non_runs(tmp_path):
    run = RunDir.create(tmp_path / "run", "gan", {})
    with pytest.raises(GenlabError, match="is a 'gan' run, not vae"):
        RunDir.open(run.path, "vae")
    meta = json.loads((run.path / "config.json").read_text())
    meta["format"] = FORMAT + 1
    (run.path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(GenlabError, match="newer genlab"):
        RunDir.open(run.path)
    with pytest.raises(GenlabError, match="does not exist"):
        RunDir.open(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(GenlabError, match="no config.json"):
        RunDir.open(tmp_path / "plain")


def test_create_never_overwrites_a_trained_run(tmp_path):
    run = RunDir.create(tmp_path / "run", "cae", {})
    run.save_weights({"w": torch.ones(1)})
    with pytest.raises(GenlabError, match="--resume"):
        RunDir.create(run.path, "cae", {})
    assert run.load_weights()["w"].item() == 1.0


def test_device_choice():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(GenlabError, match="--device cpu"):
            pick_device("cuda")


def test_weights_of_another_model_layout_get_a_one_line_error(tmp_path):
    run = RunDir.create(tmp_path / "run", "cae", {"model": "cae"})
    run.save_weights(torch.nn.Linear(2, 2), "model")
    with pytest.raises(GenlabError) as err:
        run.load_into(torch.nn.Linear(3, 2), "model")
    message = str(err.value)
    assert "model.safetensors does not fit this genlab's Linear" in message
    assert "\n" not in message and "train it again" in message
