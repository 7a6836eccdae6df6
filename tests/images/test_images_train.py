"""Training image models end to end on tiny data: learning, exact resume, divergence, Ctrl-C."""

from __future__ import annotations

import json
import math
import signal

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from genlab.core.errors import GenlabError
from genlab.images import train as train_mod
from genlab.images.config import ImageTrainConfig
from genlab.images.runs import generate, heldout_images, load_trained, reconstruct, to_float
from genlab.images.train import train_images


def blobs(n: int = 96, size: int = 16, seed: int = 0) -> np.ndarray:
    """Coloured rectangles on a plain background: structured enough for an autoencoder to learn."""
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.uint8)
    images[:] = rng.integers(0, 256, (n, 1, 1, 3))
    for i in range(n):
        y, x = rng.integers(0, size // 2, 2)
        h, w = rng.integers(3, size // 2, 2)
        images[i, y : y + h, x : x + w] = rng.integers(0, 256, 3)
    return images


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "blobs.npy"
    np.save(path, blobs())
    return str(path)


def tiny(model: str, data: str, **overrides) -> ImageTrainConfig:
    # one thread: tiny convolutions gain nothing from two, and lose a lot on a busy machine
    values = dict(
        model=model, data=data, size=16, latent_dim=8, base_width=8, batch_size=16, epochs=2, threads=1
    )
    values.update(overrides)
    return ImageTrainConfig(**values)


def test_cae_cuts_its_reconstruction_error_several_fold(tmp_path, data_file):
    cfg = tiny("cae", data_file, epochs=1, lr=3e-3, test_frac=0.1)
    untrained = train_images(cfg, tmp_path / "start")
    test = to_float(heldout_images(untrained))
    before = (reconstruct(untrained, test) - test).pow(2).mean().item()
    run = train_images(tiny("cae", data_file, epochs=60, lr=3e-3, test_frac=0.1), tmp_path / "cae")
    steps = run.metrics()[-1]["step"]
    assert steps >= 300
    after = (reconstruct(run, test) - test).pow(2).mean().item()
    assert after < before / 4, (before, after)


def test_every_model_trains_and_samples(tmp_path, data_file):
    for model in ("cae", "vae", "gan"):
        run = train_images(tiny(model, data_file), tmp_path / model)
        assert run.stop_reason == "done"
        assert sorted(p.name for p in run.samples_dir.iterdir()) == ["epoch_001.png", "epoch_002.png"]
        assert (run.figures_dir / "losses.png").stat().st_size > 5000
        epochs = [r for r in run.metrics() if r["type"] == "epoch"]
        assert [r["epoch"] for r in epochs] == [1, 2]
        images = generate(run, n=5, seed=3)
        assert images.shape == (5, 3, 16, 16) and 0 <= images.min() and images.max() <= 1
        assert torch.equal(images, generate(run, n=5, seed=3))  # same seed, same images
        model_, cfg = load_trained(run)
        assert cfg.model == model and not model_.training
        assert json.loads((run.path / "config.json").read_text())["config"]["extra"]["n_images"] == 96


@pytest.mark.parametrize(
    ("model", "d_aug"), [("vae", "none"), ("gan", "none"), ("gan", "color,translation,cutout")]
)
def test_resume_continues_exactly_where_it_stopped(tmp_path, data_file, model, d_aug):
    whole = train_images(tiny(model, data_file, d_augment=d_aug), tmp_path / "whole")
    # stop mid-epoch (5 steps per epoch here), then resume to the end
    part = train_images(tiny(model, data_file, max_steps=3, d_augment=d_aug), tmp_path / "part")
    assert part.stop_reason == "max_steps"
    state = part.load_state()
    assert (state["epoch"], state["batch"], state["step"]) == (0, 3, 3)
    again = train_images(tiny(model, data_file, max_steps=3, d_augment=d_aug), tmp_path / "part", resume=True)
    assert again.stop_reason == "max_steps" and again.load_state()["step"] == 3  # no extra step
    resumed = train_images(tiny(model, data_file, d_augment=d_aug), tmp_path / "part", resume=True)
    assert resumed.stop_reason == "done"
    a, b = load_file(str(whole.weights_path("last"))), load_file(str(resumed.weights_path("last")))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    steps = [r["step"] for r in resumed.metrics() if r["type"] == "train"]
    assert steps == sorted(steps) and steps == [r["step"] for r in whole.metrics() if r["type"] == "train"]


def test_a_cosine_schedule_falls_from_lr_to_zero_and_resumes_exactly(tmp_path, data_file):
    def cfg(**more):
        return tiny("gan", data_file, epochs=4, lr=1e-3, lr_d=5e-4, lr_schedule="cosine", log_every=1, **more)

    whole = train_images(cfg(), tmp_path / "whole")
    total = 4 * 5  # 91 training images, batches of 16
    logged = [(r["step"], r["lr"]) for r in whole.metrics() if r["type"] == "train"]
    assert [step for step, _ in logged] == list(range(1, total + 1))
    for step, lr in logged:  # the record of step k is the rate step k trained with
        assert lr == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * (step - 1) / total)))
    assert logged[0][1] == pytest.approx(1e-3) and logged[-1][1] < 1e-5
    generator, discriminator = whole.load_state()["optimizers"]
    assert discriminator["param_groups"][0]["lr"] == pytest.approx(0.5 * generator["param_groups"][0]["lr"])

    train_images(cfg(max_steps=7), tmp_path / "part")
    resumed = train_images(cfg(), tmp_path / "part", resume=True)
    a, b = load_file(str(whole.weights_path("last"))), load_file(str(resumed.weights_path("last")))
    for key in a:
        assert torch.equal(a[key], b[key]), key
    with pytest.raises(GenlabError, match="--lr-schedule linear: use one of constant, cosine"):
        tiny("vae", data_file, lr_schedule="linear").resolved()


def test_resume_can_extend_the_number_of_epochs(tmp_path, data_file):
    run = train_images(tiny("cae", data_file, epochs=1), tmp_path / "run")
    run = train_images(tiny("cae", data_file, epochs=3), tmp_path / "run", resume=True)
    assert [r["epoch"] for r in run.metrics() if r["type"] == "epoch"] == [1, 2, 3]
    assert run.config["epochs"] == 3


def test_training_twice_into_one_run_is_refused(tmp_path, data_file):
    train_images(tiny("cae", data_file, epochs=1), tmp_path / "run")
    with pytest.raises(GenlabError, match="--resume"):
        train_images(tiny("cae", data_file, epochs=1), tmp_path / "run")


def test_divergence_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(
    tmp_path, data_file, monkeypatch
):
    real_step = train_mod.ImageTrainer.train_step

    def step_that_blows_up(self, x, c=None):
        stats = real_step(self, x, c)
        return {**stats, "loss": math.nan} if self.step == 7 else stats

    monkeypatch.setattr(train_mod.ImageTrainer, "train_step", step_that_blows_up)
    out = tmp_path / "run"
    with pytest.raises(GenlabError, match=r"diverged: loss became nan at step 8.*epoch 1"):
        train_images(tiny("vae", data_file), out)
    from genlab.core.rundir import RunDir

    run = RunDir.open(out)
    assert run.load_state()["step"] == 5  # the end of epoch 1, the last good point
    weights = run.load_weights("last")
    assert all(torch.isfinite(w).all() for w in weights.values() if w.is_floating_point())
    monkeypatch.setattr(train_mod.ImageTrainer, "train_step", real_step)
    assert train_images(tiny("vae", data_file), out, resume=True).stop_reason == "done"


def test_ctrl_c_saves_and_exits_cleanly(tmp_path, data_file, monkeypatch):
    real_step = train_mod.ImageTrainer.train_step

    def step_then_ctrl_c(self, x, c=None):
        stats = real_step(self, x, c)
        if self.step == 2:  # the third step: Ctrl-C arrives while it runs
            signal.raise_signal(signal.SIGINT)
        return stats

    monkeypatch.setattr(train_mod.ImageTrainer, "train_step", step_then_ctrl_c)
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the suite runs as a background job
    run = train_images(tiny("cae", data_file), tmp_path / "run")
    assert run.stop_reason == "interrupted"
    assert run.load_state()["step"] == 3 and run.has_weights("model")
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is restored


def test_time_budget_stops_and_saves_a_resumable_run(tmp_path, data_file):
    run = train_images(tiny("cae", data_file, time_budget=1e-6), tmp_path / "run")
    assert run.stop_reason == "time_budget"
    assert run.load_state()["step"] == 1 and run.has_weights("model")
    assert train_images(tiny("cae", data_file), tmp_path / "run", resume=True).stop_reason == "done"
