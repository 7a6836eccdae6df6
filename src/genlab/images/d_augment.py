"""Differentiable augmentation of everything the GAN discriminator sees (Zhao et al., 2020).

A discriminator on 10,000 small images quickly learns to tell real from fake by details the
generator cannot yet match, and then gives the generator almost no useful gradient. Showing it
randomly shifted, recoloured and cut-out versions of *both* real and generated images (the same
kinds of change, drawn independently per image) makes its job harder without changing what it
learns to be real: the generator is never asked to draw shifted or recoloured punks, because the
same transformations are applied to its images and gradients flow back through them.

Unlike `genlab.images.augment` (which changes the training data), every operation here is a
differentiable function of the images, and it is applied to fakes as well.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_augment(x: torch.Tensor, ops: tuple[str, ...], translation: float = 0.125) -> torch.Tensor:
    """Augment a batch (N, C, H, W) in [-1, 1], one random draw per image; differentiable in `x`.

    color: brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5] (in the [-1, 1] range).
    translation: up to `translation` of the side in whole pixels, zero (mid-grey) fill.
    cutout: one zero square of half the side per image, at a random place.
    """
    n, c = x.shape[:2]
    if "color" in ops:
        x = x + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)
        if c > 1:
            mean = x.mean(1, keepdim=True)
            x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean
        mean = x.mean((1, 2, 3), keepdim=True)
        x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean
    if "translation" in ops:
        x = _translate(x, translation)
    if "cutout" in ops:
        x = _cutout(x)
    return x


def _translate(x: torch.Tensor, frac: float) -> torch.Tensor:
    n, _, h, w = x.shape
    sh, sw = max(1, round(h * frac)), max(1, round(w * frac))
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) + dy  # source row for each output row
    cols = torch.arange(w, device=x.device).view(1, 1, w) + dx
    padded = F.pad(x, (1, 1, 1, 1))  # a zero border; out-of-range sources read it
    rows = (rows + 1).clamp(0, h + 1).expand(n, h, w)
    cols = (cols + 1).clamp(0, w + 1).expand(n, h, w)
    flat = (rows * (w + 2) + cols).view(n, 1, h * w).expand(-1, x.shape[1], -1)
    return padded.flatten(2).gather(2, flat).view_as(x)


def _cutout(x: torch.Tensor) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = h // 2, w // 2
    top = torch.randint(0, h - ch + 1, (n, 1, 1), device=x.device)
    left = torch.randint(0, w - cw + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)
