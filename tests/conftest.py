"""Shared test set-up: an isolated genlab cache per test session, and a seeded RNG per test."""

from __future__ import annotations

import os

import pytest
import torch

# set in each process of a parallel run (pytest -n); its workers share the cores, one thread each
WORKER = os.environ.get("PYTEST_XDIST_WORKER")


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory):
    """Never read or write the user's ~/.cache/genlab from tests. Parallel workers (pytest -n) share
    one cache, so that what one trains (a glyph reader, a punks classifier) the other reuses."""
    if WORKER:
        path = tmp_path_factory.getbasetemp().parent / "genlab-cache"
        path.mkdir(exist_ok=True)
    else:
        path = tmp_path_factory.mktemp("genlab-cache")
    old = os.environ.get("GENLAB_CACHE")
    os.environ["GENLAB_CACHE"] = str(path)
    os.environ.pop("GENLAB_MNIST", None)
    yield path
    if old is None:
        os.environ.pop("GENLAB_CACHE", None)
    else:
        os.environ["GENLAB_CACHE"] = old


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)
    torch.set_num_threads(1 if WORKER else min(2, os.cpu_count() or 1))
