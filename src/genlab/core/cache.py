"""The genlab cache: content-addressed prepared arrays (`.npz`) and models trained once (`cached_model`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.torch import load_file, save_file
from torch import nn

from genlab.core.paths import atomic_write, atomic_write_json, cache_dir
from genlab.core.progress import say


def cache_key(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (source fingerprint, size, channels, ...)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def array_digest(*arrays: np.ndarray) -> str:
    """A content hash of arrays (their bytes, shapes and dtypes), for cache keys."""
    h = hashlib.blake2b(digest_size=16)
    for array in arrays:
        h.update(np.ascontiguousarray(array).data)
        h.update(f"{array.shape}{array.dtype}".encode())
    return h.hexdigest()


def cache_path(kind: str, key: str) -> Path:
    return cache_dir() / kind / f"{key}.npz"


def load_cached(kind: str, key: str) -> dict[str, np.ndarray] | None:
    path = cache_path(kind, key)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except Exception:  # a damaged cache entry is rebuilt, never trusted
        path.unlink(missing_ok=True)
        return None


def save_cached(kind: str, key: str, arrays: dict[str, np.ndarray]) -> Path:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    return atomic_write(cache_path(kind, key), write)


def file_fingerprint(path: Path) -> str:
    """Cheap identity of a file: path, size and modification time."""
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def cached_model(
    kind: str,
    key: str,
    build: Callable[[dict[str, Any]], nn.Module],
    train: Callable[[], tuple[nn.Module, dict[str, Any]]],
    announce: str,
) -> tuple[nn.Module, dict[str, Any]]:
    """A model that is trained once and then cached: `kind/KEY.safetensors` + `kind/KEY.json`.

    `build(info)` makes an untrained model of the right shape from the stored info; `train()` trains
    one and returns it with its info (what it was trained on, how well it does). The JSON is written
    last, so its presence marks a complete entry; a damaged entry is retrained, never trusted.
    """
    folder = cache_dir() / kind
    weights, meta = folder / f"{key}.safetensors", folder / f"{key}.json"
    if weights.exists() and meta.exists():
        try:
            info = json.loads(meta.read_text())
            model = build(info)
            model.load_state_dict(load_file(str(weights)))
            return model.eval(), info
        except Exception:
            weights.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
    say(announce.format(folder=folder))
    model, info = train()
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    atomic_write(weights, lambda tmp: save_file(state, str(tmp)))
    atomic_write_json(meta, info)
    return model.eval(), info
