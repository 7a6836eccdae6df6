"""Tiny runs trained once per test session with the CLI, and one `genlab serve` over them on an
ephemeral loopback port, shared by the HTTP tests and the browser test."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from typer.testing import CliRunner

from genlab.cli import app
from genlab.serve.server import start_server

runner = CliRunner()
IMAGE_TINY = ["--size", "16", "--latent-dim", "4", "--base-width", "4", "--batch-size", "8", "--threads", "1"]
ARITH_TINY = [
    "--max-int", "20", "--hidden", "32", "--batch-size", "64", "--no-augment", "--epochs", "1",
    "--train-frac", "0.3", "--glyph-epochs", "1", "--glyph-width", "16", "--glyph-features", "128",
]  # fmt: skip


def invoke(*args) -> None:
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="session")
def squares(tmp_path_factory):
    """40 coloured squares on coloured backgrounds, 16x16, as a .npy a user would train on."""
    rng = np.random.default_rng(1)
    images = np.repeat(rng.integers(0, 256, (40, 1, 1, 3), dtype=np.uint8), 16, axis=1).repeat(16, axis=2)
    images[:, 4:12, 4:12] = rng.integers(0, 256, (40, 1, 1, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("data") / "squares.npy"
    np.save(path, images)
    np.savez(path.with_name("squares_labelled.npz"), images=images, labels=np.arange(40) % 2)
    return path


@pytest.fixture(scope="session")
def runs(tmp_path_factory, squares):
    """{"vae": a VAE run, "i2i": handwriting in and out, "t2t": text in and out, "diffusion": a
    conditional diffusion run (two classes) sampling in 3 steps}."""
    root = tmp_path_factory.mktemp("serve-runs")
    invoke("images", "train", "--model", "vae", "--data", squares, "--out", root / "vae", "--epochs", 2,
           "--test-frac", 0.2, *IMAGE_TINY)  # fmt: skip
    invoke("arith", "train", "--task", "img2img", "--out", root / "i2i", *ARITH_TINY)
    invoke("arith", "train", "--task", "text2text", "--out", root / "t2t", *ARITH_TINY)
    invoke("images", "train", "--model", "diffusion", "--data", squares.with_name("squares_labelled.npz"),
           "--condition", "labels", "--out", root / "diffusion",
           "--epochs", 1, "--test-frac", 0.2, "--sample-steps", 3, "--size", 16, "--base-width", 4,
           "--batch-size", 8, "--threads", 1)  # fmt: skip
    return {name: root / name for name in ("vae", "i2i", "t2t", "diffusion")}


@pytest.fixture(scope="session")
def server(runs):
    """`genlab serve vae i2i t2t diffusion` on a free loopback port, answering from a background thread."""
    server = start_server(list(runs.values()), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
