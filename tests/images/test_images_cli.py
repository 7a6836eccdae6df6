"""`genlab images ...` commands, each run on a tiny run trained inside the test, as a user would."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from genlab.cli import app
from genlab.core.errors import GenlabError

runner = CliRunner()
TINY = ["--size", "16", "--latent-dim", "4", "--base-width", "4", "--batch-size", "8", "--threads", "1"]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    rng = np.random.default_rng(1)
    images = np.repeat(rng.integers(0, 256, (40, 1, 1, 3), dtype=np.uint8), 16, axis=1).repeat(16, axis=2)
    images[:, 4:12, 4:12] = rng.integers(0, 256, (40, 1, 1, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("data") / "squares.npy"
    np.save(path, images)
    return str(path)


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_file):
    root = tmp_path_factory.mktemp("runs")
    for model in ("cae", "vae", "gan"):
        invoke(
            "images",
            "train",
            "--model",
            model,
            "--data",
            data_file,
            "--out",
            root / model,
            "--epochs",
            3,
            *TINY,
        )
    return root


def png_size(path):
    with Image.open(path) as image:
        return image.size


@pytest.mark.parametrize("model", ["cae", "vae", "gan"])
def test_train_writes_a_complete_run(runs, model):
    run = runs / model
    for name in ("config.json", "model.safetensors", "last.safetensors", "state.pt", "metrics.jsonl"):
        assert (run / name).exists(), name
    assert sorted(p.name for p in (run / "samples").glob("epoch_*.png")) == [
        "epoch_001.png",
        "epoch_002.png",
        "epoch_003.png",
    ]
    assert png_size(run / "figures" / "losses.png")[0] > 400


@pytest.mark.parametrize("model", ["cae", "vae", "gan"])
def test_sample_writes_a_grid_and_single_images(runs, model, tmp_path):
    result = invoke("images", "sample", runs / model, "--n", 6, "--seed", 2, "--each", tmp_path / "each")
    grid = runs / model / "figures" / "samples_seed2.png"
    assert str(grid) in result.output and grid.exists()
    singles = sorted((tmp_path / "each").glob("*.png"))
    assert len(singles) == 6 and png_size(singles[0]) == (16, 16)
    invoke("images", "sample", runs / model, "--n", 4, "--out", tmp_path / "mine.png")
    assert (tmp_path / "mine.png").exists()


@pytest.mark.parametrize("model", ["vae", "gan"])
def test_sample_temperature_shrinks_the_prior_into_its_own_file(runs, model):
    invoke("images", "sample", runs / model, "--n", 4)
    result = invoke("images", "sample", runs / model, "--n", 4, "--temperature", 0.3)
    scaled = runs / model / "figures" / "samples_seed0_temp0.3.png"
    assert str(scaled) in result.output
    with Image.open(scaled) as a, Image.open(runs / model / "figures" / "samples_seed0.png") as b:
        assert a.size == b.size
        assert np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max() > 0


@pytest.mark.parametrize("model", ["cae", "vae"])
def test_reconstruct_prints_mse_and_psnr_and_writes_the_figure(runs, model):
    result = invoke("images", "reconstruct", runs / model)
    assert "held-out images: 2" in result.output and "MSE" in result.output and "PSNR" in result.output
    assert (runs / model / "figures" / "reconstructions.png").exists()
    record = [
        line for line in (runs / model / "metrics.jsonl").read_text().splitlines() if "reconstruction" in line
    ]
    assert record and '"psnr"' in record[-1]


def test_reconstruct_refuses_a_gan(runs):
    result = runner.invoke(app, ["images", "reconstruct", str(runs / "gan")])
    assert isinstance(result.exception, GenlabError) and "no encoder" in str(result.exception)


@pytest.mark.parametrize("model", ["cae", "vae", "gan"])
def test_interpolate_writes_strips_and_gifs(runs, model):
    invoke("images", "interpolate", runs / model, "--pairs", 2, "--steps", 5, "--mode", "linear", "--gif")
    figures = runs / model / "figures"
    assert (figures / "interpolate_linear.png").exists()
    with Image.open(figures / "interpolate_linear.gif") as gif:
        assert gif.n_frames == 5 + 3  # forwards, then back without repeating the ends
    assert (figures / "interpolate_linear_real.png").exists() == (model != "gan")


@pytest.mark.parametrize("model", ["vae", "gan"])
def test_latent_map_writes_a_tsne_figure(runs, model):
    invoke("images", "latent-map", runs / model, "--n", 30)
    assert png_size(runs / model / "figures" / "latent_map.png")[0] > 500


def test_progress_shows_first_middle_and_last_epoch(runs):
    result = invoke("images", "progress", runs / "gan")
    assert "progress.png" in result.output
    assert png_size(runs / "gan" / "figures" / "progress.png")[0] > 600


def test_train_vae_on_a_folder_of_pngs(tmp_path):
    folder = tmp_path / "pngs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    result = invoke("images", "train", "--data", folder, "--out", tmp_path / "run", "--epochs", 1, *TINY)
    assert "run:" in result.output
    import json

    config = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert config["model"] == "vae" and config["augment"] == "flip" and config["extra"]["n_images"] == 24


def test_a_punks_gan_at_their_own_pixels_trains_samples_and_exports(tmp_path):
    out = tmp_path / "gan24"
    tiny = ["--latent-dim", "4", "--base-width", "4", "--batch-size", "16", "--threads", "1"]
    invoke("images", "train", "--model", "gan", "--data", "punks", "--work-size", 24, "--out", out,
           "--max-steps", 2, *tiny)  # fmt: skip
    invoke("images", "sample", out, "--n", 4, "--each", tmp_path / "each")
    with Image.open(sorted((tmp_path / "each").glob("*.png"))[0]) as image:
        drawn = np.asarray(image)
    assert drawn.shape == (32, 32, 3)
    enlarge = ((np.arange(32) + 0.5) * 24 / 32).astype(int)  # the loader's nearest source pixel
    shrink = np.floor((np.arange(24) + 0.5) * 32 / 24).astype(int)
    assert np.array_equal(drawn, drawn[shrink][:, shrink][enlarge][:, enlarge])  # copied blocks only
    invoke("images", "interpolate", out, "--pairs", 1, "--steps", 3)


def test_user_errors_are_one_red_line(tmp_path, data_file):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "genlab",
            "images",
            "train",
            "--data",
            data_file,
            "--size",
            "24",
            "--out",
            tmp_path / "x",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: image size 24 is not supported")
    assert "Traceback" not in proc.stderr
    missing = runner.invoke(app, ["images", "sample", str(tmp_path / "nothing")])
    assert isinstance(missing.exception, GenlabError) and "does not exist" in str(missing.exception)


def test_grey_images_train_and_draw_every_figure(tmp_path):
    rng = np.random.default_rng(2)
    grey = np.zeros((30, 16, 16), np.uint8)
    for i, (y, x) in enumerate(rng.integers(0, 10, (30, 2))):
        grey[i, y : y + 6, x : x + 6] = 255
    np.save(tmp_path / "grey.npy", grey)
    out = tmp_path / "run"
    invoke(
        "images",
        "train",
        "--data",
        tmp_path / "grey.npy",
        "--channels",
        1,
        "--out",
        out,
        "--epochs",
        1,
        *TINY,
    )
    invoke("images", "sample", out, "--n", 4, "--each", tmp_path / "each")
    with Image.open(tmp_path / "each" / "sample_0000.png") as image:
        assert image.mode == "L" and image.size == (16, 16)
    invoke("images", "reconstruct", out)
    invoke("images", "interpolate", out, "--pairs", 1, "--steps", 3, "--gif")
    invoke("images", "latent-map", out, "--n", 12)
    invoke("images", "progress", out)
    assert len(list((out / "figures").glob("*.png"))) == 7
