"""The default thread count follows the cores that other processes leave free."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from genlab.core import threads as threads_mod
from genlab.core.threads import ThreadChoice, _Sample, cores_used_by_others


@pytest.fixture(autouse=True)
def keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_other_processes_work_is_the_machine_minus_this_process():
    start, end = _Sample(0.0, 10.0, 3.0), _Sample(2.0, 14.0, 6.0)  # 2 s: 4 CPU-s busy, 3 of them ours
    assert cores_used_by_others(start, end) == pytest.approx(0.5)
    assert cores_used_by_others(end, _Sample(3.0, 14.5, 7.0)) == 0.0  # never below zero


def test_a_busy_neighbour_takes_a_thread_and_giving_the_core_back_returns_it(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    samples = iter([_Sample(0, 0, 0), _Sample(1, 0.1, 0.0), _Sample(2, 2.0, 0.95), _Sample(3, 3.9, 2.85)])
    monkeypatch.setattr(threads_mod, "_sample", lambda: next(samples))
    choice = ThreadChoice(most=2).start(window=0)
    assert torch.get_num_threads() == 2  # quiet
    assert choice.update() == 1 and torch.get_num_threads() == 1  # someone else took a core
    assert choice.update() == 2  # the 1.9 CPU-s of that second were ours: the neighbour left


def test_requested_threads_are_kept_whatever_the_machine_does(monkeypatch):
    monkeypatch.setattr(threads_mod, "_sample", lambda: pytest.fail("a fixed count needs no look"))
    choice = ThreadChoice(requested=1).start()
    assert torch.get_num_threads() == 1 and choice.update() == 1


def test_without_proc_stat_torch_keeps_its_own_choice(monkeypatch):
    monkeypatch.setattr(threads_mod, "_sample", lambda: None)
    before = torch.get_num_threads()
    assert ThreadChoice().start().update() == before


@pytest.mark.skipif(not os.path.exists("/proc/stat") or (os.cpu_count() or 1) < 2, reason="Linux, 2+ cores")
def test_a_real_busy_loop_is_seen():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it start
        choice = ThreadChoice(most=os.cpu_count()).start(window=0.5)
        assert torch.get_num_threads() <= os.cpu_count() - 1
        time.sleep(0.5)
        assert choice.update() <= os.cpu_count() - 1
    finally:
        busy.kill()
        busy.wait()
