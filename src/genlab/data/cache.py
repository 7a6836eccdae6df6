"""Content-addressed cache of prepared arrays (`.npz`) under the genlab cache directory."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from genlab.paths import atomic_write, cache_dir


def cache_key(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (source fingerprint, size, channels, ...)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


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
