"""A kill at any write of a training run leaves something that resumes bit for bit.

Every file genlab writes goes through one rename (`genlab.core.paths.atomic_write`). These tests
make the Nth rename of a tiny training "kill" the process, in turn for every N, once just before
the rename and once just after it, then continue the run as a user would (`--resume` when it has
a checkpoint, else train it again) and compare its weights with an uninterrupted run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from genlab.arith.config import ArithConfig
from genlab.arith.train import train_arith
from genlab.core import paths
from genlab.core.rundir import RunDir
from genlab.images.config import ImageTrainConfig
from genlab.images.train import train_images


class Killed(BaseException):
    """Stands in for SIGKILL: no `except Exception` catches it."""


def kill_at_rename(monkeypatch: pytest.MonkeyPatch, n: int, after: bool) -> None:
    calls = {"n": 0}
    real = os.replace

    def replace(src, dst):
        calls["n"] += 1
        if calls["n"] == n and not after:
            raise Killed
        real(src, dst)
        if calls["n"] == n and after:
            raise Killed

    monkeypatch.setattr(paths.os, "replace", replace)


def count_renames(monkeypatch: pytest.MonkeyPatch, train) -> int:
    calls = {"n": 0}
    real = os.replace

    def replace(src, dst):
        calls["n"] += 1
        real(src, dst)

    monkeypatch.setattr(paths.os, "replace", replace)
    train(resume=False)
    monkeypatch.setattr(paths.os, "replace", real)
    return calls["n"]


def same_weights(a: Path, b: Path) -> bool:
    x, y = load_file(str(a)), load_file(str(b))
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def check_every_kill(tmp_path, monkeypatch, make_train) -> None:
    make_train(tmp_path / "warm-up")(resume=False)  # data caches written once, before counting
    reference = tmp_path / "reference"
    total = count_renames(monkeypatch, make_train(reference))
    assert total >= 6
    for n in range(1, total + 1):
        for after in (False, True):
            out = tmp_path / f"kill-{n}-{'after' if after else 'before'}"
            train = make_train(out)
            kill_at_rename(monkeypatch, n, after)
            with pytest.raises(Killed):
                train(resume=False)
            monkeypatch.undo()
            resumable = (out / "config.json").exists() and RunDir(out).has_checkpoint()
            train(resume=resumable)
            assert not list(out.glob(".*.tmp")), n
            for name in ("last", "model"):
                assert same_weights(reference / f"{name}.safetensors", out / f"{name}.safetensors"), (
                    n,
                    after,
                )


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "tiny.npy"
    np.save(path, rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8))
    return str(path)


def test_a_kill_at_any_write_of_an_image_run_resumes_bit_for_bit(tmp_path, monkeypatch, image_file):
    def make_train(out: Path):
        def train(resume: bool) -> None:
            config = ImageTrainConfig(
                model="vae", data=image_file, size=16, latent_dim=4, base_width=4, batch_size=16,
                epochs=2, threads=1,
            )  # fmt: skip
            train_images(config, out, resume=resume)

        return train

    check_every_kill(tmp_path, monkeypatch, make_train)


def test_a_kill_at_any_write_of_an_arith_run_resumes_bit_for_bit(tmp_path, monkeypatch):
    def make_train(out: Path):
        def train(resume: bool) -> None:
            config = ArithConfig.for_task(
                "text2text", max_int=9, hidden=16, embed_dim=8, batch_size=32, epochs=3, train_frac=0.5,
                eval_every=1, val_size=20,
            )  # fmt: skip
            train_arith(config, out, resume=resume)

        return train

    check_every_kill(tmp_path, monkeypatch, make_train)
