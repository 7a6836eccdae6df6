"""Image grids as PNG files, from uint8 arrays or float tensors, with no torchvision."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from genlab.core.paths import atomic_write


def to_uint8_nhwc(images: np.ndarray) -> np.ndarray:
    """Accept (N,H,W), (N,H,W,C) or (N,C,H,W) images, uint8 or float in [0,1]; return uint8 NHWC."""
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4:
        raise ValueError(f"expected a batch of images, got shape {array.shape}")
    if array.shape[1] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = array.transpose(0, 2, 3, 1)
    if array.dtype != np.uint8:
        array = np.rint(np.clip(array.astype(np.float32), 0.0, 1.0) * 255).astype(np.uint8)
    return array


def make_grid(images: np.ndarray, ncols: int | None = None, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile a batch into one uint8 (H, W, C) image, `ncols` wide (square-ish by default)."""
    batch = to_uint8_nhwc(images)
    n, h, w, c = batch.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), pad_value, np.uint8)
    for i in range(n):
        r, q = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        grid[y : y + h, x : x + w] = batch[i]
    return grid


def save_image(image: np.ndarray, path: Path | str, scale: int = 1) -> Path:
    """Write a uint8 (H,W[,C]) image; `scale` enlarges it with nearest-neighbour (for pixel art)."""
    array = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
    picture = Image.fromarray(array)
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    return atomic_write(path, lambda tmp: picture.save(tmp, format="PNG"))


def save_grid(
    images: np.ndarray, path: Path | str, ncols: int | None = None, scale: int | None = None
) -> Path:
    """Save a grid; small images are enlarged so that a grid is at least ~512 px wide."""
    grid = make_grid(images, ncols=ncols)
    if scale is None:
        scale = max(1, min(8, 512 // max(grid.shape[1], 1)))
    return save_image(grid, path, scale=scale)
