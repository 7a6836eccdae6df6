"""What every training loop shares: the divergence guard, and the plain optimizer step."""

from __future__ import annotations

import math

import torch
from torch import nn


class Diverged(Exception):
    """A loss or a weight became non-finite; the message says which and at what step."""


def check_finite_loss(name: str, value: float, step: int) -> None:
    if not math.isfinite(value):
        raise Diverged(f"{name} became {value} at step {step}")


def check_finite_weights(model: nn.Module, step: int) -> None:
    """Raise Diverged when any weight is NaN or infinite: a loss can stay finite while weights blow up."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise Diverged(f"weight {name} became non-finite by step {step}")


def optimizer_step(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> None:
    """zero_grad, backward, step (and the schedule's step): one plain update, as the readers train."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
