"""The diffusion / flow-matching family: its noise path, losses, samplers and inversion, on tiny shapes
and against the exact denoiser of Gaussian data (where every answer has a closed form); then every
image command on a tiny diffusion run trained here."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torch import nn
from typer.testing import CliRunner

from genlab.cli import app
from genlab.core.errors import GenlabError
from genlab.images.config import OBJECTIVES, ImageTrainConfig
from genlab.images.data import _fit_array
from genlab.images.diffusion import Diffusion, UNet, time_grid
from genlab.images.train import train_images

TINY = {"base_width": 4, "max_width": 16}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convolutions gain nothing from two threads, and lose a lot on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class GaussianOracle(nn.Module):
    """The exact denoiser for images whose pixels are independent N(mu, s^2) (in [-1, 1] units).

    With x_t = a x0 + sigma eps: E[x0 | x_t] = mu + a s^2 / V (x_t - a mu), E[eps | x_t] = sigma / V
    (x_t - a mu), V = a^2 s^2 + sigma^2; it returns what the objective asks the network for."""

    def __init__(self, model: Diffusion, mu: float, s: float) -> None:
        super().__init__()
        self.schedule, self.objective, self.mu, self.s = model.schedule, model.objective, mu, s

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, sigma = self.schedule(t.reshape(-1, 1, 1, 1))
        v = a**2 * self.s**2 + sigma**2
        x0 = self.mu + a * self.s**2 / v * (x - a * self.mu)
        eps = sigma / v * (x - a * self.mu)
        if self.objective == "flow":
            return eps - x0
        if self.objective == "eps":
            return eps
        return a * eps - sigma * x0


class Exact(nn.Module):
    """A "network" that is a given function of (x_t, t)."""

    def __init__(self, function) -> None:
        super().__init__()
        self.function = function

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.function(x, t)


def oracle_model(objective: str = "flow", mu: float = 0.3, s: float = 0.4, **kwargs) -> Diffusion:
    model = Diffusion(16, 1, objective=objective, **TINY, **kwargs).double()
    model.denoiser_ema = GaussianOracle(model, mu, s)
    return model


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_the_noise_path_starts_at_the_image_and_ends_at_pure_noise(objective):
    model = Diffusion(16, 3, objective=objective, **TINY)
    x0, eps = torch.rand(4, 3, 16, 16) * 2 - 1, torch.randn(4, 3, 16, 16)
    assert torch.allclose(model.noisy(x0, eps, torch.zeros(4)), x0)
    assert torch.allclose(model.noisy(x0, eps, torch.ones(4)), eps, atol=1e-6)
    alpha, sigma = model.schedule(torch.linspace(0, 1, 11))
    assert (alpha[1:] <= alpha[:-1]).all() and (sigma[1:] >= sigma[:-1]).all()  # ever more noise


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_a_perfect_prediction_gives_back_the_image_and_the_noise(objective):
    model = Diffusion(16, 3, objective=objective, **TINY).double()
    x0, eps = torch.rand(5, 3, 16, 16).double() * 2 - 1, torch.randn(5, 3, 16, 16).double()
    t = torch.tensor([0.0, 0.1, 0.5, 0.9, 0.99]).double()
    model.denoiser_ema = Exact(lambda x, tt: model.target(x0, eps, tt))  # the target itself
    x0_hat, eps_hat = model.predict(model.noisy(x0, eps, t), t)
    assert torch.allclose(x0_hat, x0, atol=1e-9)
    assert torch.allclose(eps_hat, eps, atol=1e-9)


def test_the_time_grid_runs_from_pure_noise_to_the_image():
    grid = time_grid(4)
    assert grid.tolist() == [1.0, 0.75, 0.5, 0.25, 0.0]
    with pytest.raises(GenlabError, match="at least 1 step"):
        time_grid(0)


@pytest.mark.parametrize("size", [16, 24, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_the_denoiser_keeps_the_image_shape_at_every_size(size, channels):
    net = UNet(size, channels, base_width=4, max_width=8, attention=size == 32)
    x = torch.randn(2, channels, size, size)
    assert net(x, torch.rand(2)).shape == x.shape


def test_a_pixel_art_denoiser_learns_the_own_pixels_and_draws_the_loaders_enlargement():
    model = Diffusion(32, 3, work_size=24, **TINY, sample_steps=2)
    own = np.random.default_rng(0).integers(0, 256, (3, 24, 24, 3), dtype=np.uint8)
    loaded = torch.from_numpy(_fit_array(own, 32, pixel_art=True)).permute(0, 3, 1, 2)  # as punks load
    assert torch.equal(model.shrink(loaded), torch.from_numpy(own).permute(0, 3, 1, 2))  # every pixel back
    assert model.latent_dim == 3 * 24 * 24
    drawn = model.sample(torch.randn(2, 3 * 24 * 24))
    assert drawn.shape == (2, 3, 32, 32)
    assert torch.equal(model.enlarge(model.shrink(drawn)), drawn)  # made of the loader's copied blocks
    states, guesses = model.trajectory(torch.randn(2, 3, 24, 24))
    assert states.shape == (3, 2, 3, 32, 32) and guesses.shape == (2, 2, 3, 32, 32)
    assert model.invert(drawn).shape == (2, 3, 24, 24)
    assert model.loss(loaded.float() / 255).item() > 0


def test_autoguidance_pushes_the_average_away_from_its_early_copy():
    torch.manual_seed(0)
    model = Diffusion(16, 3, **TINY, guide=True, autoguidance=3.0)
    x, t = torch.randn(2, 3, 16, 16), torch.rand(2)
    assert not model.guide_ready and model.sampling_net() is model.denoiser_ema  # nothing kept yet
    model.take_guide(4)
    assert model.guide_ready and int(model.guide_epoch) == 4
    for p, q in zip(model.denoiser_ema.parameters(), model.denoiser_guide.parameters(), strict=True):
        assert torch.equal(p, q) and not q.requires_grad
    with torch.no_grad():
        for p in model.denoiser_ema.parameters():
            p.add_(0.1 * torch.randn_like(p))
        early, final = model.denoiser_guide(x, t), model.denoiser_ema(x, t)
        assert torch.allclose(model.sampling_net()(x, t), early + 3.0 * (final - early), atol=1e-5)
        model.autoguidance = 1.0
        assert torch.equal(model.sampling_net()(x, t), final)
    assert "denoiser_guide.stem.weight" in model.state_dict() and "guide_epoch" in model.state_dict()


def test_a_new_denoiser_predicts_zero_and_its_average_starts_equal():
    model = Diffusion(16, 3, **TINY)
    x = torch.randn(2, 3, 16, 16)
    assert model.denoiser(x, torch.rand(2)).abs().max() == 0  # its last layer starts at zero
    for p, q in zip(model.denoiser.parameters(), model.denoiser_ema.parameters(), strict=True):
        assert torch.equal(p, q) and not q.requires_grad


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_the_training_loss_on_a_fixed_batch_falls(objective):
    torch.manual_seed(0)
    model = Diffusion(16, 3, objective=objective, base_width=16, max_width=32)
    images = torch.rand(4, 1, 1, 3).expand(4, 16, 16, 3).permute(0, 3, 1, 2).contiguous()  # flat colours
    x = images.repeat(4, 1, 1, 1)  # (16, 3, 16, 16)

    def held_out_loss() -> float:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(123)
            return float(sum(model.loss(x) for _ in range(8)) / 8)

    before = held_out_loss()
    opt = torch.optim.Adam(model.denoiser.parameters(), lr=3e-3)
    for _ in range(50):
        opt.zero_grad()
        model.loss(x).backward()
        opt.step()
    assert held_out_loss() < 0.7 * before


def test_logit_normal_noise_times_stay_inside_and_gather_mid_way():
    torch.manual_seed(0)
    uniform = Diffusion(16, 3, noise_times="uniform", **TINY).training_times(20_000, torch.device("cpu"))
    logit = Diffusion(16, 3, noise_times="logit-normal", **TINY).training_times(20_000, torch.device("cpu"))
    for t in (uniform, logit):
        assert 0 < t.min() and t.max() < 1 and abs(float(t.mean()) - 0.5) < 0.01
    middle = lambda t: float(((t > 0.25) & (t < 0.75)).float().mean())  # noqa: E731
    assert abs(middle(uniform) - 0.5) < 0.02 and middle(logit) > 0.65  # N(0, 1) within +-logit(0.75)
    assert ImageTrainConfig.from_dict({"model": "diffusion"}).noise_times == "uniform"  # as runs before it
    with pytest.raises(GenlabError, match="--noise-times beta"):
        ImageTrainConfig(model="diffusion", noise_times="beta").resolved()


def test_the_noise_centre_moves_the_median_noise_level_defaults_by_data_and_older_runs_keep_zero():
    torch.manual_seed(0)
    cpu = torch.device("cpu")
    for centre in (0.0, -0.5, 1.0):
        t = Diffusion(16, 3, noise_centre=centre, **TINY).training_times(20_000, cpu)
        assert 0 < t.min() and t.max() < 1
        assert abs(float(t.median()) - 1 / (1 + math.exp(-centre))) < 0.01  # sigmoid(m): half below
    assert ImageTrainConfig(model="diffusion", data="punks").resolved().noise_centre == -0.5
    assert ImageTrainConfig(model="diffusion", data="mnist").resolved().noise_centre == 0.0
    assert ImageTrainConfig(model="diffusion", data="some/folder").resolved().noise_centre == 0.0
    chosen = ImageTrainConfig(model="diffusion", data="punks", noise_centre=0.0).resolved().to_dict()
    assert ImageTrainConfig.from_dict(chosen).resolved().noise_centre == 0.0  # a stored 0 is a choice
    assert ImageTrainConfig.from_dict({"model": "diffusion", "data": "punks"}).noise_centre == 0.0
    gan = ImageTrainConfig(model="gan").resolved().to_dict()
    del gan["noise_centre"]  # a GAN stored before the option: the same settings as a new one
    assert ImageTrainConfig.from_dict(gan).noise_centre == ImageTrainConfig(model="gan").noise_centre


@pytest.mark.parametrize("sampler", ["heun", "euler"])
def test_a_deterministic_sampler_draws_the_same_images_from_the_same_noise(sampler):
    model = Diffusion(16, 3, **TINY, sample_steps=3)
    for p in model.denoiser_ema.parameters():
        p.data.normal_(0, 0.1)  # a denoiser that does something
    noise = torch.randn(3, 3, 16, 16)
    first, second = model.sample(noise, sampler=sampler), model.sample(noise.clone(), sampler=sampler)
    assert torch.equal(first, second)
    assert first.shape == (3, 3, 16, 16) and 0 <= first.min() and first.max() <= 1
    assert not torch.equal(first, model.sample(torch.randn(3, 3, 16, 16), sampler=sampler))


def test_the_stochastic_sampler_repeats_with_its_seed_and_differs_without_it():
    model = Diffusion(16, 3, **TINY, sample_steps=4, sampler="ddpm")
    noise = torch.randn(2, 3, 16, 16)

    def draw(seed: int) -> torch.Tensor:
        return model.sample(noise, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(draw(1), draw(1))
    assert not torch.equal(draw(1), draw(2))


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize(("sampler", "steps"), [("heun", 20), ("ddpm", 300)])
def test_with_the_exact_denoiser_the_samplers_draw_the_data_distribution(objective, sampler, steps):
    # the stochastic sampler's error shrinks only as 1 / steps (DDPM uses 1000); Heun's much faster
    mu, s = 0.2, 0.3  # pixels in [-1, 1] units, far enough inside that clipping is negligible
    model = oracle_model(objective, mu, s)
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(100, 1, 16, 16, generator=gen).double()
    x = model.sample(noise, steps=steps, sampler=sampler, generator=gen) * 2 - 1  # back to [-1, 1]
    assert x.mean().item() == pytest.approx(mu, abs=0.005)
    assert x.std().item() == pytest.approx(s, abs=0.01)


@pytest.mark.parametrize("objective", ["flow", "v"])
@pytest.mark.parametrize("sampler", ["heun", "euler"])
def test_inverting_an_image_and_sampling_the_noise_gives_the_image_back(objective, sampler):
    model = oracle_model(objective, sample_steps=8, sampler=sampler)
    gen = torch.Generator().manual_seed(0)
    images = (0.65 + 0.2 * torch.randn(6, 1, 16, 16, generator=gen).double()).clamp(0, 1)
    noise = model.invert(images, iterations=6)
    assert noise.shape == images.shape
    assert noise.std().item() == pytest.approx(1.0, abs=0.25)  # the noise looks like noise
    again = model.sample(noise)
    assert (again - images).abs().max().item() < 1e-3
    one_pass = model.sample(model.invert(images, iterations=1))  # plain DDIM inversion
    assert (one_pass - images).abs().max() > (again - images).abs().max()


def test_only_deterministic_samplers_invert_and_unknown_names_are_errors():
    model = Diffusion(16, 3, **TINY, sampler="ddpm")
    assert model.invert(torch.rand(1, 3, 16, 16), steps=2).shape == (1, 3, 16, 16)  # falls back to heun
    with pytest.raises(GenlabError, match="deterministic"):
        model.invert(torch.rand(1, 3, 16, 16), sampler="ddpm")
    with pytest.raises(GenlabError, match="unknown sampler"):
        Diffusion(16, 3, **TINY, sampler="dpm")
    with pytest.raises(GenlabError, match="unknown diffusion objective"):
        Diffusion(16, 3, **TINY, objective="score")


def test_the_trajectory_goes_from_noise_to_the_sample():
    model = Diffusion(16, 3, **TINY, sample_steps=5)
    for p in model.denoiser_ema.parameters():
        p.data.normal_(0, 0.1)
    noise = torch.randn(2, 3, 16, 16)
    states, guesses = model.trajectory(noise)
    assert states.shape == (6, 2, 3, 16, 16) and guesses.shape == (5, 2, 3, 16, 16)
    assert torch.equal(states[0], noise.add(1).mul(0.5).clamp(0, 1))
    assert torch.allclose(states[-1], model.sample(noise))


# -- every image command on a tiny diffusion run made here ------------------------------------

runner = CliRunner()
TINY_RUN = ["--size", 16, "--base-width", 8, "--batch-size", 8, "--threads", 1, "--sample-steps", 3]


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def squares(tmp_path_factory):
    rng = np.random.default_rng(1)
    images = np.repeat(rng.integers(0, 256, (40, 1, 1, 3), dtype=np.uint8), 16, axis=1).repeat(16, axis=2)
    images[:, 4:12, 4:12] = rng.integers(0, 256, (40, 1, 1, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("data") / "squares.npy"
    np.save(path, images)
    return str(path)


@pytest.fixture(scope="module")
def run(tmp_path_factory, squares):
    out = tmp_path_factory.mktemp("runs") / "diffusion"
    invoke(
        "images", "train", "--model", "diffusion", "--data", squares, "--out", out, "--epochs", 3, *TINY_RUN
    )
    return out


def png(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def test_training_writes_a_complete_run_with_a_sample_grid_per_epoch(run):
    for name in ("config.json", "model.safetensors", "last.safetensors", "state.pt", "metrics.jsonl"):
        assert (run / name).exists(), name
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == [f"epoch_00{i}.png" for i in (1, 2, 3)]
    assert png(run / "figures" / "losses.png").shape[1] > 400
    config = json.loads((run / "config.json").read_text())
    assert config["kind"] == "images-diffusion"
    assert config["config"]["latent_dim"] == 3 * 16 * 16 and config["config"]["objective"] == "flow"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["type"] == "epoch" and "test_loss" in r] == [1, 2, 3]


def test_sample_repeats_with_its_seed_and_takes_other_steps_and_samplers(run, tmp_path):
    invoke("images", "sample", run, "--n", 6, "--seed", 2, "--each", tmp_path / "each")
    first = png(run / "figures" / "samples_seed2.png")
    invoke("images", "sample", run, "--n", 6, "--seed", 2)
    assert np.array_equal(first, png(run / "figures" / "samples_seed2.png"))
    assert png(sorted((tmp_path / "each").glob("*.png"))[0]).shape == (16, 16, 3)
    invoke(
        "images", "sample", run, "--n", 4, "--steps", 2, "--sampler", "ddpm", "--out", tmp_path / "ddpm.png"
    )
    assert (tmp_path / "ddpm.png").exists()


def test_denoise_shows_noise_turning_into_the_sample(run):
    result = invoke("images", "denoise", run, "--n", 2, "--seed", 2)
    assert "denoise.png" in result.output
    assert png(run / "figures" / "denoise.png").shape[1] > 300


def test_denoise_refuses_a_model_that_draws_in_one_pass(tmp_path, squares):
    gan = ["--model", "gan", "--latent-dim", 4, "--max-steps", 1]
    invoke("images", "train", *gan, "--data", squares, "--out", tmp_path / "gan", *TINY_RUN[:-2])
    result = runner.invoke(app, ["images", "denoise", str(tmp_path / "gan")])
    assert isinstance(result.exception, GenlabError) and "step by step" in str(result.exception)


def test_reconstruct_interpolate_latent_map_and_progress_work_on_a_diffusion_run(run):
    result = invoke("images", "reconstruct", run)
    assert "held-out images: 2" in result.output and "PSNR" in result.output
    invoke("images", "interpolate", run, "--pairs", 2, "--steps", 4, "--gif")
    figures = run / "figures"
    assert (figures / "interpolate_slerp.png").exists() and (figures / "interpolate_slerp_real.gif").exists()
    invoke("images", "latent-map", run, "--n", 12)
    assert png(figures / "latent_map.png").shape[1] > 500
    invoke("images", "progress", run)
    assert (figures / "progress.png").exists()


def test_reconstruct_scores_only_the_first_held_out_images_when_asked(run):
    result = invoke("images", "reconstruct", run, "--scored", 1)
    assert "held-out images: 1" in result.output
    refused = runner.invoke(app, ["images", "reconstruct", str(run), "--scored", "0"])
    assert isinstance(refused.exception, GenlabError) and "--scored 0" in str(refused.exception)


def test_evaluate_scores_a_diffusion_run_beside_the_floor(run):
    result = invoke("images", "evaluate", run, "--features", "pixels", "--n", 16)
    assert "FID" in result.output and "diffusion run" in result.output


def test_resume_continues_a_diffusion_run_exactly(tmp_path, squares):
    def cfg(**overrides) -> ImageTrainConfig:
        values = dict(model="diffusion", data=squares, size=16, base_width=8, batch_size=8, epochs=2)
        return ImageTrainConfig(**values, sample_steps=2, threads=1, **overrides)

    whole = train_images(cfg(), tmp_path / "whole")
    part = train_images(cfg(max_steps=3), tmp_path / "part")
    assert part.stop_reason == "max_steps"
    resumed = train_images(cfg(), tmp_path / "part", resume=True)
    a, b = load_file(str(whole.weights_path("last"))), load_file(str(resumed.weights_path("last")))
    assert a.keys() == b.keys() and any("denoiser_ema" in key for key in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_a_diffusion_model_takes_no_latent_dim_and_checks_its_options():
    assert ImageTrainConfig(model="diffusion", size=16).resolved().latent_dim == 3 * 16 * 16
    with pytest.raises(GenlabError, match="noise of the shape it works at"):
        ImageTrainConfig(model="diffusion", latent_dim=8).resolved()
    with pytest.raises(GenlabError, match="--sampler dpm"):
        ImageTrainConfig(model="diffusion", sampler="dpm").resolved()
    with pytest.raises(GenlabError, match="--sample-steps 0"):
        ImageTrainConfig(model="diffusion", sample_steps=0).resolved()


def test_punks_are_modelled_at_their_own_pixels_and_other_work_sizes_are_refused():
    punks = ImageTrainConfig(model="diffusion", data="punks").resolved()
    assert (punks.size, punks.work_size, punks.latent_dim) == (32, 24, 3 * 24 * 24)
    assert ImageTrainConfig(model="diffusion", data="punks", size=16).resolved().work_size == 16
    assert ImageTrainConfig(model="diffusion", data="punks", work_size=32).resolved().work_size == 32
    assert ImageTrainConfig(model="diffusion", data="mnist").resolved().work_size == 32
    with pytest.raises(GenlabError, match="--work-size 20: use 32 or 24"):
        ImageTrainConfig(model="diffusion", data="punks", work_size=20).resolved()
    with pytest.raises(GenlabError, match="--work-size 24: use 32;"):
        ImageTrainConfig(model="diffusion", data="mnist", work_size=24).resolved()
    with pytest.raises(GenlabError, match="only the gan and diffusion models"):
        ImageTrainConfig(model="vae", data="punks", work_size=24).resolved()


def test_autoguidance_options_are_checked_and_runs_from_before_it_load_without_it():
    cfg = ImageTrainConfig(model="diffusion", data="punks", epochs=10).resolved()
    assert (cfg.autoguidance, cfg.guide_epoch) == (1.5, 2)
    conditional = ImageTrainConfig(model="diffusion", data="punks", condition="attributes").resolved()
    assert conditional.autoguidance == 1.0
    with pytest.raises(GenlabError, match="--autoguidance 0.5: use 1"):
        ImageTrainConfig(model="diffusion", autoguidance=0.5).resolved()
    with pytest.raises(GenlabError, match="--guide-epoch 9 comes after the last epoch"):
        ImageTrainConfig(model="diffusion", epochs=4, guide_epoch=9).resolved()
    with pytest.raises(GenlabError, match="belong to the diffusion model"):
        ImageTrainConfig(model="vae", autoguidance=2.0).resolved()
    old = {k: v for k, v in cfg.to_dict().items() if k not in ("work_size", "autoguidance", "guide_epoch")}
    old["size"] = 32
    before = ImageTrainConfig.from_dict(old)
    assert (before.work_size, before.autoguidance, before.guide_epoch) == (32, 1.0, None)


def test_training_keeps_the_early_copy_and_sample_and_evaluate_choose_the_weight(run, tmp_path):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r.get("guide_taken")] == [1]  # a fifth of 3 epochs, at least 1
    weights = load_file(str(run / "model.safetensors"))
    assert int(weights["guide_epoch"]) == 1
    invoke("images", "sample", run, "--n", 4, "--seed", 1, "--out", tmp_path / "guided.png")
    invoke("images", "sample", run, "--n", 4, "--seed", 1, "--autoguidance", 1)
    plain = png(run / "figures" / "samples_seed1_ag1.png")
    assert plain.shape == png(tmp_path / "guided.png").shape
    assert not np.array_equal(plain, png(tmp_path / "guided.png"))
    result = invoke("images", "evaluate", run, "--features", "pixels", "--n", 16, "--autoguidance", 1)
    assert "metrics_ag1.png" in result.output and (run / "figures" / "metrics_ag1.png").exists()
    assert json.loads((run / "eval_pixels_ag1.json").read_text())["autoguidance"] == 1.0
    invoke("images", "interpolate", run, "--pairs", 1, "--steps", 2, "--autoguidance", 1)
    assert (run / "figures" / "interpolate_slerp_ag1.png").exists()


def test_autoguidance_is_refused_where_there_is_no_early_copy(tmp_path, squares):
    out = tmp_path / "short"
    invoke(
        "images",
        "train",
        "--model",
        "diffusion",
        "--data",
        squares,
        "--out",
        out,
        "--max-steps",
        1,
        *TINY_RUN,
    )
    refused = runner.invoke(app, ["images", "sample", str(out), "--autoguidance", "2"])
    assert isinstance(refused.exception, GenlabError) and "--guide-epoch" in str(refused.exception)
    invoke("images", "sample", str(out), "--n", 2)  # the run's own weight: silently off until taken


def test_a_punks_run_works_at_their_own_pixels_in_every_command(tmp_path):
    out = tmp_path / "punks"
    tiny = ["--base-width", 4, "--max-width", 8, "--batch-size", 16, "--threads", 1, "--sample-steps", 2]
    invoke(
        "images", "train", "--model", "diffusion", "--data", "punks", "--out", out, "--max-steps", 2, *tiny
    )
    config = json.loads((out / "config.json").read_text())["config"]
    assert (config["size"], config["work_size"], config["latent_dim"]) == (32, 24, 3 * 24 * 24)
    invoke("images", "sample", out, "--n", 4, "--each", tmp_path / "each")
    drawn = png(sorted((tmp_path / "each").glob("*.png"))[0])
    assert drawn.shape == (32, 32, 3)
    enlarge = ((np.arange(32) + 0.5) * 24 / 32).astype(int)  # the loader's nearest source pixel
    shrink = np.floor((np.arange(24) + 0.5) * 32 / 24).astype(int)
    assert np.array_equal(drawn, drawn[shrink][:, shrink][enlarge][:, enlarge])  # copied blocks only
    result = invoke("images", "reconstruct", out, "--n", 2, "--scored", 2)
    assert "held-out images: 2" in result.output
    invoke("images", "interpolate", out, "--pairs", 1, "--steps", 3)
    assert (out / "figures" / "interpolate_slerp_real.png").exists()
