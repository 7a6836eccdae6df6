"""How many CPU threads torch computes with: as many as there are cores nobody else is using.

torch's OpenMP threads meet at the end of every parallel region. When another process holds one
of the cores, the thread that shares it keeps the others waiting, and a training step runs several
times slower than with one thread fewer. So by default the trainers measure how busy the machine is
(from /proc/stat, minus this process's own use), take one thread per core that is free, and look
again at every validation, so a neighbour that starts or stops later is followed. `--threads N`
fixes the count. benchmarks/threads.py measures the choice, quiet and beside a busy neighbour.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import torch

MIN_WINDOW = 0.05  # seconds: a shorter look sees the scheduler's noise, not the machine


@dataclass
class _Sample:
    wall: float
    machine_busy: float  # CPU-seconds all processes spent busy (from /proc/stat)
    own: float  # CPU-seconds this process spent (all its threads)


def _sample() -> _Sample | None:
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None  # not Linux: keep torch's own choice
    ticks = os.sysconf("SC_CLK_TCK")
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    busy = (sum(values[:8]) - idle) / ticks
    times = os.times()
    return _Sample(time.monotonic(), busy, times.user + times.system)


def cores_used_by_others(start: _Sample, end: _Sample) -> float:
    """Cores' worth of work other processes did between two samples."""
    wall = max(end.wall - start.wall, 1e-6)
    return max(0.0, ((end.machine_busy - start.machine_busy) - (end.own - start.own)) / wall)


@dataclass
class ThreadChoice:
    """torch's CPU thread count for one training run: fixed (`requested`), or chosen and re-chosen
    from the cores that other processes leave free."""

    requested: int | None = None
    most: int = field(default_factory=torch.get_num_threads)  # torch's own default: the cores
    _last: _Sample | None = field(default=None, repr=False)

    def start(self, window: float = 0.1) -> ThreadChoice:
        if self.requested:
            torch.set_num_threads(self.requested)
            return self
        self._last = _sample()
        if self._last is not None:
            time.sleep(window)
            self.update()
        return self

    def update(self) -> int:
        """Look at the machine since the last look and set the thread count; returns it."""
        if self.requested or self._last is None:
            return torch.get_num_threads()
        now = _sample()
        if now is None or now.wall - self._last.wall < MIN_WINDOW:  # too short a look to judge by
            return torch.get_num_threads()
        free = (os.cpu_count() or 1) - cores_used_by_others(self._last, now)
        self._last = now
        wanted = max(1, min(self.most, round(free)))
        if wanted != torch.get_num_threads():
            torch.set_num_threads(wanted)
        return wanted
