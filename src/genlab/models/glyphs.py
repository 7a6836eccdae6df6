"""A small CNN that reads one 28x28 cell: ten digits, the operators and the blank.

It has two jobs: as `GlyphClassifier` it reads generated answer images back into text (and its
penultimate layer is the `digits` feature space for image metrics); its convolutional trunk
(`CellEncoder`) is also the per-cell encoder of the image-input seq2seq models, which start from
the classifier's weights.
"""

from __future__ import annotations

import torch
from torch import nn

# The default reader. Per-digit accuracy on the 1,000 test-pool digits of the embedded MNIST subset:
# width 16 / 128 features / 20 epochs 99.1% (26 s on 2 cores), width 32 99.1-99.2%, width 64 / 256 /
# 15 epochs 99.4%, width 64 / 256 / 30 epochs 99.7% (238 s, trained once and cached). Image-input
# models see the query through it: all five cells of a test query are read right 96.6% -> 99.1%.
READER_WIDTH = 64
READER_FEATURES = 256
READER_EPOCHS = 30


class CellEncoder(nn.Module):
    """(N, 1, 28, 28) float in [0, 1] -> (N, feature_dim) features."""

    def __init__(self, feature_dim: int = READER_FEATURES, width: int = READER_WIDTH) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),  # width x 14 x 14
            nn.Conv2d(width, 2 * width, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 2*width x 7 x 7
            nn.Flatten(),
            nn.Dropout(0.25),
            nn.Linear(2 * width * 7 * 7, feature_dim),
            nn.ReLU(),  # feature_dim
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class GlyphClassifier(nn.Module):
    """(N, 1, 28, 28) -> logits (N, n_classes) over the arithmetic vocabulary."""

    def __init__(
        self, n_classes: int = 13, feature_dim: int = READER_FEATURES, width: int = READER_WIDTH
    ) -> None:
        super().__init__()
        self.encoder = CellEncoder(feature_dim, width)
        self.head = nn.Sequential(nn.Dropout(0.25), nn.Linear(feature_dim, n_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features (N, feature_dim), the `digits` feature space."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))
