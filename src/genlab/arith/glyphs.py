"""The glyph classifier: reads a 28x28 cell as one of the arithmetic characters.

Trained once per (MNIST source, seed, handwriting split) on the *train* handwriting pool plus drawn
operator glyphs and blanks, tested on the test pool, and cached in the genlab cache with its test
accuracy and a description of the data it saw. Used to read generated answer images back into
text, as the pretrained per-cell encoder of image-input models, and (its penultimate layer) as the
`digits` feature space of the image metrics.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genlab.arith.problem import ArithSpec, GlyphBank, augment_cells, split_handwriting
from genlab.core.cache import cache_key, cached_model
from genlab.core.mnist import load_mnist
from genlab.core.progress import progress, say
from genlab.core.training import optimizer_step

# The default reader; README (Arithmetic, Models) says what each width measured.
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


VERSION = 1


def glyph_banks(
    spec: ArithSpec, mnist_source: str = "auto", seed: int = 0, test_frac: float = 0.2, shared: bool = False
) -> tuple[GlyphBank, GlyphBank, str]:
    """Train- and test-pool glyph banks (disjoint handwriting) and the MNIST source description."""
    mnist = load_mnist(mnist_source, seed=seed)
    train_idx, test_idx = split_handwriting(mnist.labels, mnist.is_test, test_frac, seed, shared)
    train = GlyphBank.build(spec, mnist.images[train_idx], mnist.labels[train_idx], seed=seed)
    test = GlyphBank.build(spec, mnist.images[test_idx], mnist.labels[test_idx], seed=seed + 1)
    return train, test, mnist.source


def _as_float(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28) in [0, 1]."""
    return torch.from_numpy(images).float().div_(255).unsqueeze(1)


def train_glyph_classifier(
    train: GlyphBank,
    test: GlyphBank,
    n_classes: int,
    epochs: int = READER_EPOCHS,
    seed: int = 0,
    batch_size: int = 128,
    max_train: int | None = None,
    width: int = READER_WIDTH,
    features: int = READER_FEATURES,
) -> tuple[GlyphClassifier, dict[str, Any]]:
    """Train on the train bank with augmentation; report accuracy on the test bank."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    labels = train.labels()
    # blanks are one image in the bank; give them as many rows as an operator so they are learned
    blank_rows = np.full(int(train.counts[:-1].max() // 4), len(train.images) - 1)
    rows = np.concatenate([np.arange(len(train.images) - 1), blank_rows])
    if max_train is not None:
        rows = np.random.default_rng(seed).permutation(rows)[:max_train]
    x_all, y_all = _as_float(train.images[rows]), torch.from_numpy(labels[rows])
    model = GlyphClassifier(n_classes, features, width)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * ((len(rows) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.2)
    start = time.perf_counter()
    bar = progress(total=steps, desc="glyph classifier")
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(rows), generator=gen)
        for i in range(0, len(rows), batch_size):
            idx = order[i : i + batch_size]
            x = augment_cells(x_all[idx], gen)
            optimizer_step(F.cross_entropy(model(x), y_all[idx]), opt, sched)
            bar.update()
    bar.close()
    model.eval()
    test_labels = test.labels()
    preds = read_cells(model, test.images)
    correct = preds == test_labels
    digit = test_labels < 10
    info = {
        "test_accuracy": float(correct.mean()),
        "digit_test_accuracy": float(correct[digit].mean()),
        "train_images": int(len(rows)),
        "test_images": int(len(test_labels)),
        "epochs": epochs,
        "width": width,
        "features": features,
        "train_seconds": round(time.perf_counter() - start, 1),
    }
    return model, info


@torch.inference_mode()
def read_cells(
    model: GlyphClassifier, images: np.ndarray | torch.Tensor, batch_size: int = 1024
) -> np.ndarray:
    """Class index of every cell: uint8 (N, 28, 28) or float (N, 28, 28) in [0, 1] -> (N,) int64."""
    x = _as_float(images) if isinstance(images, np.ndarray) else images.float().reshape(-1, 1, 28, 28)
    model.eval()
    out = [model(x[i : i + batch_size]).argmax(-1) for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0, np.int64)


def load_glyph_classifier(
    mnist_source: str = "auto",
    seed: int = 0,
    spec: ArithSpec | None = None,
    test_frac: float = 0.2,
    epochs: int = READER_EPOCHS,
    max_train: int | None = None,
    width: int = READER_WIDTH,
    features: int = READER_FEATURES,
) -> tuple[GlyphClassifier, dict[str, Any]]:
    """The cached glyph classifier for this data, training it first if needed (README (Arithmetic,
    Models) says how long each width takes).

    Returns the model (eval mode; `model.features(x)` gives (N, features) features of (N,1,28,28)
    inputs in [0,1]) and `info`: classes, test accuracy, MNIST source and pool sizes.
    """
    spec = spec or ArithSpec()
    mnist = load_mnist(mnist_source, seed=seed)
    key = cache_key(
        "glyphs",
        VERSION,
        mnist.source,
        len(mnist),
        seed,
        test_frac,
        spec.vocab,
        epochs,
        max_train,
        width,
        features,
    )

    def train_reader() -> tuple[GlyphClassifier, dict[str, Any]]:
        train, test, source = glyph_banks(spec, mnist_source, seed, test_frac)
        model, info = train_glyph_classifier(
            train, test, len(spec.vocab), epochs, seed, max_train=max_train, width=width, features=features
        )
        info.update(
            {
                "classes": spec.vocab,
                "mnist_source": source,
                "seed": seed,
                "handwriting_test_frac": test_frac,
                "trained_on": "train handwriting pool + drawn operator glyphs + blanks, augmented",
                "tested_on": "test handwriting pool (disjoint writers' digits) + fresh glyphs + blank",
            }
        )
        say(
            f"glyph classifier: {info['test_accuracy']:.2%} on the test pool "
            f"({info['digit_test_accuracy']:.2%} on digits)"
        )
        return model, info

    minutes = "; about 4 minutes on 2 CPU cores" if width >= 64 else ""
    return cached_model(
        "glyphs",
        key,
        lambda info: GlyphClassifier(len(spec.vocab), features, width),
        train_reader,
        f"training the width-{width} glyph classifier on {mnist.source} (once, then cached{minutes})",
    )


@lru_cache(maxsize=4)
def _classifier(
    mnist: str, seed: int, max_int: int, ops: str, test_frac: float, epochs: int, width: int, features: int
) -> tuple[GlyphClassifier, dict[str, Any]]:
    return load_glyph_classifier(
        mnist, seed, ArithSpec(max_int, ops), test_frac, epochs, width=width, features=features
    )


def classifier_for(config: Any, with_info: bool = False) -> Any:
    """The glyph classifier matching a run's MNIST source, seed and handwriting split."""
    model, info = _classifier(
        config.mnist,
        config.seed,
        config.max_int,
        config.ops,
        config.handwriting_test_frac,
        config.glyph_epochs,
        config.glyph_width,
        config.glyph_features,
    )
    return (model, info) if with_info else model
