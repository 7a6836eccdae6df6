"""`evaluate_run` and `genlab images evaluate` on tiny runs made here."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from genlab.cli import app
from genlab.core.errors import GenlabError
from genlab.images.config import ImageTrainConfig
from genlab.images.evaluate import evaluate_run, format_table
from genlab.images.features import INCEPTION_ENV, punks_extractor
from genlab.images.punks_classifier import PunksClassifierConfig, PunksTrainConfig
from genlab.images.train import train_images

TINY = {"size": 16, "epochs": 1, "max_steps": 2, "base_width": 8, "latent_dim": 8, "batch_size": 16}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A barely trained VAE on punks, and a GAN on a small array of coloured squares."""
    root = tmp_path_factory.mktemp("eval-runs")
    rng = np.random.default_rng(0)
    squares = np.zeros((80, 16, 16, 3), np.uint8)
    for i in range(80):
        y, x = rng.integers(0, 8, size=2)
        squares[i, y : y + 8, x : x + 8] = rng.integers(64, 256, size=3)
    np.save(root / "squares.npy", squares)
    vae = train_images(ImageTrainConfig(model="vae", data="punks", **TINY), root / "vae")
    gan = train_images(ImageTrainConfig(model="gan", data=str(root / "squares.npy"), **TINY), root / "gan")
    return {"vae": vae.path, "gan": gan.path}


def test_evaluate_run_scores_a_vae_in_punks_features_beside_the_floor(runs):
    tiny = PunksTrainConfig(epochs=1, limit=600, model=PunksClassifierConfig(width=8, feature_dim=16))
    record = evaluate_run(runs["vae"], punks_extractor(config=tiny), n=150, seed=1)

    assert record["eval"] is True and record["features"] == "punks" and record["n"] == 150
    assert record["feature_accuracy"] > 0.5 and 0 <= record["feature_macro_f1"] <= 1
    # two steps of training make blobs, not punks: the model is far above the real-vs-real floor
    assert record["fid"] > 3 * record["floor_fid"] >= 0
    assert record["kid"] > record["floor_kid"]
    assert 0 <= record["precision"] <= 1 and record["floor_recall"] > record["recall"]
    assert record["floor_attr_mean_abs_diff"] < record["attr_mean_abs_diff"]
    assert set(record["attr_freq_real"]) >= {"zombie", "ape", "alien", "any hat"}
    assert record["recon_mse"] > 0 and record["recon_psnr"] > 0 and record["recon_n"] == 500

    saved = [json.loads(line) for line in (runs["vae"] / "metrics.jsonl").read_text().splitlines()]
    assert saved[-1]["eval"] is True and saved[-1]["fid"] == pytest.approx(record["fid"])
    assert "attr_freq_real" not in saved[-1]  # per-attribute detail lives in eval_punks.json
    details = json.loads((runs["vae"] / saved[-1]["details"]).read_text())
    assert details["attr_freq_fake"] == record["attr_freq_fake"] and details["extractor"]["n_train"] == 510
    assert (runs["vae"] / "figures" / "metrics.png").stat().st_size > 10_000
    table = format_table(record)
    assert "real vs real (floor)" in table and "reconstruction PSNR" in table and "any hat" not in table


def test_evaluate_command_prints_a_table_and_writes_the_figure(runs):
    result = CliRunner().invoke(
        app, ["images", "evaluate", str(runs["gan"]), "--features", "pixels", "--n", "500"]
    )
    assert result.exit_code == 0, result.output
    assert "WEAK pixels features" in result.output and "FID" in result.output
    assert "reconstruction" not in result.output  # a GAN has no encoder
    last = json.loads((runs["gan"] / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["features"] == "pixels" and last["feature_weak"] is True
    assert last["n"] == 40  # 80 images: two halves of 40, and 40 generated to match
    assert any("two disjoint halves of 40" in w for w in last["warnings"])
    assert (runs["gan"] / "figures" / "metrics.png").exists()


def test_evaluate_rejects_unknown_spaces_and_missing_inception(runs, monkeypatch):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["images", "evaluate", str(runs["gan"]), "--features", "vgg"])
    assert isinstance(result.exception, GenlabError) and "use one of" in str(result.exception)
    result = runner.invoke(app, ["images", "evaluate", str(runs["gan"]), "--features", "inception"])
    assert isinstance(result.exception, GenlabError) and "--inception-weights" in str(result.exception)
    with pytest.raises(GenlabError, match="too small"):
        evaluate_run(runs["gan"], "pixels", n=3)


def test_missing_inception_weights_are_one_red_line(runs):
    env = {k: v for k, v in os.environ.items() if k != INCEPTION_ENV}
    proc = subprocess.run(
        [sys.executable, "-m", "genlab", "images", "evaluate", str(runs["gan"]), "--features", "inception"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --features inception needs Inception-v3 weights")


def test_auto_picks_the_feature_space_that_fits_the_data(runs, monkeypatch, tmp_path):
    from genlab.images.cli import _auto_features

    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    assert _auto_features(runs["vae"], None) == "punks"
    assert _auto_features(runs["gan"], None) == "pixels"  # an array of squares: no trained space fits
    assert _auto_features(runs["gan"], tmp_path / "inception.pth") == "inception"
    monkeypatch.setenv(INCEPTION_ENV, str(tmp_path / "inception.pth"))
    assert _auto_features(runs["gan"], None) == "inception"
