"""Whole-batch augmentation on tensors: random flips, small shifts, rotations and zooms.

One random draw per image, applied to the batch at once (a `torch.where` for flips, one
`affine_grid` + `grid_sample` for the geometric part), so augmenting costs a few milliseconds per
batch instead of a Python loop over images. Draws come from the global torch RNG, whose state a
checkpoint saves, so resumed training sees the same augmentations.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment_batch(
    x: torch.Tensor,
    ops: tuple[str, ...],
    shift: float = 0.0625,
    degrees: float = 8.0,
    zoom: float = 0.08,
) -> torch.Tensor:
    """Augment a float batch (N, C, H, W).

    flip: horizontal, with probability 1/2. shift: up to `shift` of the side, in whole pixels.
    rotate: up to +-`degrees`. zoom: scale in [1 - zoom, 1 + zoom]. Borders repeat the edge
    pixels. When only flips and shifts are asked for, pixels are moved exactly (nearest), so pixel
    art stays crisp; rotation or zoom resample bilinearly.
    """
    if not ops:
        return x
    n, _, h, w = x.shape
    if "flip" in ops:
        flip = torch.rand(n, device=x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    geometric = [op for op in ops if op != "flip"]
    if not geometric:
        return x
    angle = torch.zeros(n, device=x.device)
    scale = torch.ones(n, device=x.device)
    offset = torch.zeros(n, 2, device=x.device)
    if "rotate" in ops:
        angle = (torch.rand(n, device=x.device) * 2 - 1) * math.radians(degrees)
    if "zoom" in ops:
        scale = 1 + (torch.rand(n, device=x.device) * 2 - 1) * zoom
    if "shift" in ops:
        max_px = torch.tensor([max(1, round(shift * w)), max(1, round(shift * h))], device=x.device)
        pixels = torch.round((torch.rand(n, 2, device=x.device) * 2 - 1) * max_px)
        offset = pixels * 2 / torch.tensor([w, h], device=x.device)  # normalized coordinates span 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, offset[:, 0]], 1), torch.stack([sin, cos, offset[:, 1]], 1)], 1
    )  # (N, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    mode = "nearest" if geometric == ["shift"] else "bilinear"
    return F.grid_sample(x, grid, mode=mode, padding_mode="border", align_corners=False)
