"""Differentiable discriminator augmentation: what each operation does, and that gradients pass."""

from __future__ import annotations

import pytest
import torch

from genlab.core.errors import GenlabError
from genlab.images.config import parse_d_augment
from genlab.images.d_augment import d_augment


def test_parse_names_the_unknown_operation():
    assert parse_d_augment("none") == ()
    assert parse_d_augment("color, translation") == ("color", "translation")
    with pytest.raises(GenlabError, match="'blur'"):
        parse_d_augment("color,blur")


def test_no_operations_is_the_identity():
    x = torch.rand(3, 3, 8, 8)
    assert torch.equal(d_augment(x, ()), x)


def test_translation_moves_each_image_by_whole_pixels_with_zero_fill():
    torch.manual_seed(0)
    x = torch.rand(16, 3, 16, 16) + 1  # strictly positive, so zero fill is visible
    y = d_augment(x, ("translation",))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    shifts = set()
    for i in range(len(x)):
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(y[i], padded[i, :, 2 + dy : 18 + dy, 2 + dx : 18 + dx])
        ]
        assert len(matches) == 1
        shifts.add(matches[0])
    assert len(shifts) > 3  # drawn per image


def test_cutout_zeroes_one_half_side_square_and_keeps_the_rest():
    torch.manual_seed(0)
    x = torch.rand(8, 3, 16, 16) + 1
    y = d_augment(x, ("cutout",))
    zero = (y == 0).all(1)  # (N, H, W)
    assert torch.equal(zero.sum((1, 2)), torch.full((8,), 64))
    assert torch.equal(y[~zero.unsqueeze(1).expand_as(y)], x[~zero.unsqueeze(1).expand_as(x)])


def test_colour_changes_images_and_gradients_reach_the_input():
    torch.manual_seed(0)
    x = (torch.rand(8, 3, 16, 16) * 2 - 1).requires_grad_(True)
    y = d_augment(x, ("color", "translation", "cutout"))
    assert y.shape == x.shape and not torch.allclose(y, x)
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
