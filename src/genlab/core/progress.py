"""Progress bars that show on a terminal and stay silent in logs, tests and with --quiet."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
_QUIET = False


def set_quiet(quiet: bool) -> None:
    global _QUIET
    _QUIET = quiet


def progress(iterable: Iterable[T] | None = None, **kwargs: Any) -> tqdm:
    disable = _QUIET or not sys.stderr.isatty()
    return tqdm(iterable, disable=disable, dynamic_ncols=True, leave=False, **kwargs)


def say(message: str) -> None:
    """A status line for the user (stderr, so piped stdout stays clean); silent with --quiet."""
    if not _QUIET:
        print(message, file=sys.stderr, flush=True)
