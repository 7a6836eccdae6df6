"""Shared convolutional building blocks: `conv_net` halves the image down to 4x4, `deconv_net` doubles
a 4x4 map back up to the image size, and `PixelArtResize` moves pixel art between the size the loader
enlarged it to and its own pixels.

Depth follows from the image size (log2(size / 4) stride-2 stages), widths from a base width that
doubles at each stage (capped by `max_width`), so the same builder serves 16, 32, 64 and 128 pixels;
a work size such as the punks' own 24 pixels halves down to its first odd map (3x3).
Every stage is a 4x4 kernel with stride 2 and padding 1 (the DCGAN recipe), which halves or doubles
the map exactly and avoids the checkerboard of odd kernels.
"""

from __future__ import annotations

import torch
from torch import nn

from genlab.core.errors import GenlabError
from genlab.images.data import pixel_art_enlarge_index, pixel_art_source_index

NORMS = ("batch", "instance", "none")
ACTIVATIONS = ("relu", "leaky_relu", "elu", "silu")


def halvings(size: int) -> int:
    """Stride-2 stages from `size` pixels down to 4x4 (the supported sizes) or, for a work size such as
    the punks' own 24 pixels, to the first odd map."""
    stages = 0
    while size > 4 and size % 2 == 0:
        size, stages = size // 2, stages + 1
    return stages


def bottom_size(size: int) -> int:
    """The side of the smallest map: 4 for the supported sizes, 3 for 24 pixels."""
    return size >> halvings(size)


def stage_widths(size: int, base_width: int, max_width: int = 512) -> list[int]:
    """Output widths of the stages of `conv_net` from the image inwards, e.g. 32 -> [w, 2w, 4w]."""
    return [min(base_width * 2**i, max_width) for i in range(halvings(size))]


class PixelArtResize(nn.Module):
    """Pixel art between the size the loader enlarged it to and its own pixels, both exact.

    Shrinking (to_size < from_size) keeps one pixel of each block the loader copied; enlarging copies
    each pixel into its block the way the loader does (`data._fit_array`); equal sizes pass through.
    The indices are buffers that are not saved, so runs from before a model had this load unchanged."""

    def __init__(self, from_size: int, to_size: int) -> None:
        super().__init__()
        self.from_size, self.to_size = from_size, to_size
        if to_size < from_size:
            index = pixel_art_source_index(from_size, to_size)
        elif to_size > from_size:
            index = pixel_art_enlarge_index(to_size, from_size)
        else:
            index = None
        self.register_buffer("index", None if index is None else torch.from_numpy(index), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(..., from_size, from_size) -> (..., to_size, to_size)."""
        if self.index is None:
            return images
        return images.index_select(-2, self.index).index_select(-1, self.index)

    def extra_repr(self) -> str:
        return f"{self.from_size} -> {self.to_size}"


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise GenlabError(f"unknown normalization {kind!r}: use one of {', '.join(NORMS)}")


def _activation(kind: str) -> nn.Module:
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "leaky_relu":
        return nn.LeakyReLU(0.2, inplace=True)
    if kind == "elu":
        return nn.ELU(inplace=True)
    if kind == "silu":
        return nn.SiLU(inplace=True)
    raise GenlabError(f"unknown activation {kind!r}: use one of {', '.join(ACTIVATIONS)}")


def conv_net(
    size: int,
    in_channels: int,
    base_width: int = 32,
    max_width: int = 512,
    norm: str = "batch",
    activation: str = "leaky_relu",
    dropout: float = 0.0,
    spectral: bool = False,
) -> nn.Sequential:
    """(N, in_channels, size, size) -> (N, widths[-1], 4, 4) (3x3 from 24 pixels).

    The first stage has no normalization (DCGAN: normalizing the raw pixels only hurts).
    `spectral` wraps every conv in spectral normalization, the usual Lipschitz control for
    discriminators; it is normally combined with norm="none".
    """
    widths = stage_widths(size, base_width, max_width)
    layers: list[nn.Module] = []
    channels = in_channels
    for i, width in enumerate(widths):
        conv = nn.Conv2d(channels, width, 4, 2, 1, bias=norm == "none" or i == 0)
        layers.append(nn.utils.parametrizations.spectral_norm(conv) if spectral else conv)
        if i > 0:
            layers.append(_norm(norm, width))
        layers.append(_activation(activation))
        if dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        channels = width
        # (N, width, size / 2**(i+1), size / 2**(i+1))
    return nn.Sequential(*layers)


def deconv_net(
    size: int,
    out_channels: int,
    base_width: int = 32,
    max_width: int = 512,
    norm: str = "batch",
    activation: str = "relu",
    dropout: float = 0.0,
) -> nn.Sequential:
    """(N, widths[-1], 4, 4) (3x3 to 24 pixels) -> (N, out_channels, size, size), the mirror of `conv_net`.

    The last stage has no normalization or activation: the caller picks the output function
    (sigmoid for [0,1] pixels or logits, tanh for a GAN's [-1,1]).
    """
    widths = stage_widths(size, base_width, max_width)[::-1]  # e.g. [4w, 2w, w]
    layers: list[nn.Module] = []
    for i, width in enumerate(widths):
        last = i == len(widths) - 1
        out = out_channels if last else widths[i + 1]
        layers.append(nn.ConvTranspose2d(width, out, 4, 2, 1, bias=last or norm == "none"))
        if not last:
            layers.append(_norm(norm, out))
            layers.append(_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout2d(dropout))
        # (N, out, 2 * bottom_size * 2**i, ...)
    return nn.Sequential(*layers)


def top_width(size: int, base_width: int, max_width: int = 512) -> int:
    """Channels of the smallest map between `conv_net` and `deconv_net`."""
    return stage_widths(size, base_width, max_width)[-1]


def with_condition(x: torch.Tensor, c: torch.Tensor | None, cond_dim: int) -> torch.Tensor:
    """x (N, D) with the condition (N, cond_dim) appended; None is the zero condition; no-op if cond_dim 0."""
    if not cond_dim:
        return x
    if c is None:
        c = x.new_zeros(len(x), cond_dim)
    return torch.cat([x, c.to(x.dtype)], dim=1)
