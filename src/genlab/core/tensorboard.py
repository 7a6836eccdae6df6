"""TensorBoard event files for a run (`--tensorboard`), a no-op when it is off.

    tb = TensorBoard(run.path / "tb", enabled=cfg.tensorboard)
    tb.scalars(step, {"loss": 0.12, "kl": 3.4}, "train")       # -> train/loss, train/kl
    tb.image(step, "samples", images)                          # a batch becomes one grid

The writer is torch.utils.tensorboard, which needs the optional `tensorboard` package
(`pip install genlab[tensorboard]`). metrics.jsonl stays the record of a run; the event files only
mirror it, so TensorBoard can watch a training live. Every write is flushed at once: a run killed
mid-epoch keeps what it logged.
"""

from __future__ import annotations

import importlib.util
import math
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from genlab.core.errors import GenlabError
from genlab.core.grid import make_grid

EXTRA_HINT = "pip install 'genlab[tensorboard]'"


def check_tensorboard() -> None:
    """A one-line error naming the extra when the tensorboard package is missing (cheap: no import)."""
    if importlib.util.find_spec("tensorboard") is None:
        raise GenlabError(f"--tensorboard needs the tensorboard package: {EXTRA_HINT}")


class TensorBoard:
    """Scalars and image grids into `log_dir` when `enabled`; every method is a no-op otherwise."""

    def __init__(self, log_dir: Path | str, enabled: bool = True) -> None:
        self.log_dir = Path(log_dir)
        self.writer: Any = None
        if not enabled:
            return
        check_tensorboard()
        # imported here: tensorboard is optional, and torch's wrapper imports it at once
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.log_dir))
        weakref.finalize(self, self.writer.close)

    @property
    def enabled(self) -> bool:
        return self.writer is not None

    def scalars(self, step: int, values: dict[str, Any], prefix: str = "") -> None:
        """One scalar per finite number in `values`, tagged `prefix/name`; strings, flags and the
        step itself (TensorBoard's x axis) are skipped."""
        if self.writer is None:
            return
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                continue
            if name == "step":
                continue
            self.writer.add_scalar(f"{prefix}/{name}" if prefix else name, value, step)
        self.writer.flush()

    def image(self, step: int, name: str, images: Any, ncols: int = 8) -> None:
        """A batch (N, C, H, W) / (N, H, W, C), float in [0, 1] or uint8, as one grid; or one
        (H, W, C) image."""
        if self.writer is None:
            return
        array = np.asarray(images)
        grid = make_grid(array, ncols=ncols) if array.ndim == 4 else array
        if grid.dtype != np.uint8:
            grid = np.rint(np.clip(grid, 0.0, 1.0) * 255).astype(np.uint8)
        if grid.shape[-1] == 1:  # grey: TensorBoard shows RGB
            grid = np.repeat(grid, 3, axis=-1)
        self.writer.add_image(name, grid, step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
