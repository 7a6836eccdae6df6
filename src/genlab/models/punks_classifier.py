"""A small multi-label CNN that recognises the 92 CryptoPunks attributes.

genlab trains it itself (see genlab.eval.features) and uses it twice: its penultimate layer is
the `punks` feature space for FID/KID/precision/recall, and its predictions count how often
generated punks have each attribute. Attributes sit at fixed places on the 24x24 face (hats on
top, mouths below), so the last convolution is flattened, not globally pooled, to keep where.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

NUM_ATTRIBUTES = 92
IMAGE_SIZE = 24


@dataclass
class PunksClassifierConfig:
    width: int = 16  # channels of the first convolution; doubled at each of the two downsamplings
    feature_dim: int = 128  # size of the penultimate layer: the feature space
    num_attributes: int = NUM_ATTRIBUTES

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class PunksClassifier(nn.Module):
    """(N, 3, 24, 24) RGB in [0, 1] -> 92 attribute logits; `features` gives the penultimate layer."""

    def __init__(self, config: PunksClassifierConfig | None = None) -> None:
        super().__init__()
        self.config = config or PunksClassifierConfig()
        w = self.config.width
        self.body = nn.Sequential(
            _block(3, w, 1),  # w x 24 x 24
            _block(w, 2 * w, 2),  # 2w x 12 x 12
            _block(2 * w, 2 * w, 1),
            _block(2 * w, 4 * w, 2),  # 4w x 6 x 6
        )
        self.embed = nn.Sequential(
            nn.Flatten(),
            nn.Linear(4 * w * 6 * 6, self.config.feature_dim),
            nn.ReLU(inplace=True),
        )  # (N, feature_dim)
        self.head = nn.Linear(self.config.feature_dim, self.config.num_attributes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (N, feature_dim) for images (N, 3, 24, 24) in [0, 1]."""
        return self.embed(self.body(x * 2 - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (N, num_attributes) logits
