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
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(model.parameters())
    run.save_checkpoint(model, {"step": 7, "optimizer": opt.state_dict(), "rng": rng_state()})
    run.append_metrics({"epoch": 1, "loss": 0.5})
    again = RunDir.open(run.path, "vae")
    weights, state = again.load_checkpoint()
    assert state["step"] == 7 and torch.equal(weights["weight"], model.weight.detach())
    assert torch.equal(again.load_weights("last")["bias"], model.bias.detach())
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
    run.append_metrics({"type": "stop", "reason": "done", "step": 1})
    with pytest.raises(GenlabError, match="--resume"):
        RunDir.create(run.path, "cae", {})
    assert run.load_weights()["w"].item() == 1.0


def test_create_never_overwrites_a_run_that_can_be_resumed(tmp_path):
    run = RunDir.create(tmp_path / "run", "cae", {})
    run.save_checkpoint(torch.nn.Linear(1, 1), {"step": 3})
    with pytest.raises(GenlabError, match="--resume"):
        RunDir.create(run.path, "cae", {})


def test_a_run_killed_before_its_first_checkpoint_starts_again(tmp_path):
    run = RunDir.create(tmp_path / "run", "cae", {"old": 1})
    run.save_weights({"w": torch.ones(1)})  # best weights of a first epoch, killed before its checkpoint
    assert RunDir.create(run.path, "cae", {"new": 1}).config == {"new": 1}


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


def test_the_checkpoint_is_one_unit_even_when_last_safetensors_is_newer(tmp_path):
    run = RunDir.create(tmp_path / "run", "vae", {})
    model = torch.nn.Linear(2, 2)
    run.save_checkpoint(model, {"step": 1})
    old = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.weight.add_(1.0)
    run.save_weights(model, "last")  # a kill right after this rename: state.pt still the old unit
    weights, state = run.load_checkpoint()
    assert state["step"] == 1 and torch.equal(weights["weight"], old["weight"])


def test_a_second_trainer_gets_a_one_line_lock_error_naming_the_holder(tmp_path):
    run = RunDir.create(tmp_path / "run", "vae", {}, lock=True)
    with pytest.raises(GenlabError, match=r"is being trained by process \d+"):
        RunDir.open(run.path).lock()
    with pytest.raises(GenlabError, match="is being trained by"):
        RunDir.create(run.path, "vae", {}, lock=True)
    assert RunDir.open(run.path).config == {}  # reading still works while it trains
    run.unlock()
    RunDir.open(run.path).lock().unlock()  # free again once the holder lets go


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "run"
    code = (
        "import os; from genlab.core.rundir import RunDir; "
        f"RunDir.create({str(path)!r}, 'vae', {{}}, lock=True); os._exit(9)"
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    assert "process" in (path / ".lock").read_text()
    RunDir.open(path).lock().unlock()


def test_a_damaged_metrics_line_is_skipped_with_one_warning(tmp_path, capsys):
    run = RunDir.create(tmp_path / "run", "vae", {})
    run.append_metrics({"type": "train", "step": 1})
    with open(run.path / "metrics.jsonl", "a") as fh:
        fh.write('{"type": "train", "st')  # a kill mid-append
    run.append_metrics({"type": "train", "step": 2})  # starts on a line of its own
    assert [r["step"] for r in run.metrics()] == [1, 2]
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "metrics.jsonl line 2" in err


def test_trim_metrics_drops_training_records_past_the_checkpoint(tmp_path):
    run = RunDir.create(tmp_path / "run", "arith", {})
    for step in (10, 20, 30):
        run.append_metrics({"type": "validation", "step": step, "train_loss": 1.0})
    run.append_metrics({"type": "eval", "accuracy": 0.5})
    run.trim_metrics(20)
    assert [r.get("step") for r in run.metrics()] == [10, 20, None]


def test_leftover_temporary_files_are_removed_when_the_run_is_next_trained(tmp_path):
    run = RunDir.create(tmp_path / "run", "vae", {})
    (run.path / ".state.pt.abc123.tmp").write_bytes(b"half")
    RunDir.open(run.path).lock().unlock()
    assert not list(run.path.glob(".*.tmp"))


def test_an_unloadable_state_file_is_a_one_line_error(tmp_path):
    run = RunDir.create(tmp_path / "run", "vae", {})
    (run.path / "state.pt").write_bytes(b"not a torch file")
    with pytest.raises(GenlabError, match="state.pt cannot be loaded safely"):
        run.load_checkpoint()


def test_out_that_is_a_file_is_a_one_line_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(GenlabError, match="is a file, not a folder"):
        RunDir.create(tmp_path / "file", "vae", {})
