"""The CryptoPunks attribute classifier: the model, its training, and its cached copy.

A small multi-label CNN that recognises the 92 CryptoPunks attributes.

genlab trains it itself (see genlab.images.features) and uses it twice: its penultimate layer is
the `punks` feature space for FID/KID/precision/recall, and its predictions count how often
generated punks have each attribute. Attributes sit at fixed places on the 24x24 face (hats on
top, mouths below), so the last convolution is flattened, not globally pooled, to keep where.

Train the CryptoPunks attribute classifier once, measure it on held-out punks, cache it.

The cache entry (genlab cache, `extractors/punks-KEY.safetensors` + `.json`) is keyed by the
training config and a hash of the punks data, and the JSON records the held-out accuracy, macro F1
and balanced accuracy and the data it was trained on, so every metric computed in this feature
space can say how good the space is. Attributes are very unbalanced (0.09% aliens, 60% male), so
mean accuracy alone flatters: a classifier that never predicts a rare attribute is 99% "accurate"
on it. Macro F1 and balanced accuracy count each attribute equally.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genlab.core.cache import cache_key, cached_model
from genlab.core.progress import progress, say
from genlab.core.training import optimizer_step
from genlab.images.config import PUNKS_PIXELS
from genlab.images.punks import DEFAULT_BACKGROUND, load_punks

NUM_ATTRIBUTES = 92
IMAGE_SIZE = PUNKS_PIXELS  # the classifier reads punks at their own pixels


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


FORMAT = 2  # 2: records feature_rms


@dataclass
class PunksTrainConfig:
    epochs: int = 12
    batch_size: int = 128
    lr: float = 2e-3
    heldout_frac: float = 0.15
    limit: int | None = None  # train and test on the first `limit` punks only (tests)
    seed: int = 0
    model: PunksClassifierConfig = field(default_factory=PunksClassifierConfig)


def _fingerprint(images: np.ndarray, labels: np.ndarray) -> str:
    digest = hashlib.sha256(images.tobytes())
    digest.update(labels.tobytes())
    return digest.hexdigest()[:16]


def _composite(rgba: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """RGBA (B, 4, H, W) in [0, 1] over per-image colours (B, 3) -> RGB (B, 3, H, W)."""
    alpha = rgba[:, 3:4]
    return rgba[:, :3] * alpha + background[:, :, None, None] * (1 - alpha)


def round_trip_32(rgb: torch.Tensor) -> torch.Tensor:
    """What a 32x32 model's data looks like to the extractor: 24 -> 32 nearest (as genlab's punks
    loader enlarges pixel art), then back to 24 antialiased (as the extractor resizes)."""
    up = F.interpolate(rgb, size=(32, 32), mode="nearest")
    return F.interpolate(
        up, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", antialias=True, align_corners=False
    )


def _augment(rgba: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random backgrounds, and for half the batch the 24 -> 32 -> 24 round trip.

    Generative models see punks composited on some background and usually at 32x32; the
    classifier must not care about either, or real and generated images would differ in its
    eyes for reasons that have nothing to do with the faces.
    """
    b = len(rgba)
    rgb = _composite(rgba, torch.rand(b, 3, generator=generator))
    half = b // 2
    if half:
        rgb[:half] = round_trip_32(rgb[:half])
    return rgb.clamp(0, 1)


def heldout_scores(probs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Mean attribute accuracy, exact-match rate, macro F1 and macro balanced accuracy.

    Macro averages run over the attributes that occur in `labels` at least once.
    """
    pred, truth = probs >= 0.5, labels.bool()
    tp = (pred & truth).sum(0).double()
    fp = (pred & ~truth).sum(0).double()
    fn = (~pred & truth).sum(0).double()
    tn = (~pred & ~truth).sum(0).double()
    present = (tp + fn) > 0
    f1 = 2 * tp / (2 * tp + fp + fn).clamp_min(1)
    balanced = (tp / (tp + fn).clamp_min(1) + tn / (tn + fp).clamp_min(1)) / 2
    return {
        "mean_accuracy": float((pred == truth).double().mean()),
        "exact_match": float((pred == truth).all(dim=1).double().mean()),
        "macro_f1": float(f1[present].mean()),
        "balanced_accuracy": float(balanced[present].mean()),
    }


def train_punks_classifier(config: PunksTrainConfig | None = None) -> tuple[PunksClassifier, dict[str, Any]]:
    """Train on a seeded split of the punks and score on the held-out part. Returns (model, info)."""
    config = config or PunksTrainConfig()
    data = load_punks()
    images, labels = data.images, data.labels
    if config.limit:
        images, labels = images[: config.limit], labels[: config.limit]
    rgba = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255  # (N, 4, 24, 24)
    targets = torch.from_numpy(labels).float()  # (N, 92)
    generator = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(len(rgba), generator=generator)
    n_test = max(1, int(round(len(rgba) * config.heldout_frac)))
    test_idx, train_idx = order[:n_test], order[n_test:]

    started = time.perf_counter()
    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG as it was
        torch.manual_seed(config.seed)
        model = PunksClassifier(config.model)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        steps_per_epoch = -(-len(train_idx) // config.batch_size)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch
        )
        bar = progress(total=config.epochs * steps_per_epoch, desc="punks attribute classifier")
        model.train()
        for _ in range(config.epochs):
            shuffled = train_idx[torch.randperm(len(train_idx), generator=generator)]
            for batch in shuffled.split(config.batch_size):
                x = _augment(rgba[batch], generator)  # (B, 3, 24, 24)
                loss = F.binary_cross_entropy_with_logits(model(x), targets[batch])
                optimizer_step(loss, optimizer, scheduler)
                bar.update()
                bar.set_postfix(loss=f"{loss.item():.4f}")
        bar.close()
    seconds = time.perf_counter() - started

    model.eval()
    background = torch.tensor(DEFAULT_BACKGROUND, dtype=torch.float32).div(255).expand(n_test, 3)
    test_rgb = _composite(rgba[test_idx], background)
    test_resized = round_trip_32(test_rgb)
    with torch.inference_mode():
        # the features' typical size on real punks, so the extractor can hand out unit-scale features
        feature_rms = float(model.features(test_rgb).pow(2).mean().sqrt())
        scores = heldout_scores(torch.sigmoid(model(test_rgb)), targets[test_idx])
        resized = heldout_scores(torch.sigmoid(model(test_resized)), targets[test_idx])
    info: dict[str, Any] = {
        **scores,
        "mean_accuracy_32px_round_trip": resized["mean_accuracy"],
        "macro_f1_32px_round_trip": resized["macro_f1"],
        "feature_rms": feature_rms,
        "n_train": len(train_idx),
        "n_heldout": n_test,
        "train_seconds": round(seconds, 2),
        "data": data.source,
        "data_fingerprint": _fingerprint(images, labels),
        "attributes": data.attributes,
        "config": asdict(config),
    }
    return model, info


def load_punks_classifier(config: PunksTrainConfig | None = None) -> tuple[PunksClassifier, dict[str, Any]]:
    """The cached classifier for this config and data, training (and caching) it on first use."""
    config = config or PunksTrainConfig()
    data = load_punks()
    images, labels = data.images, data.labels
    if config.limit:
        images, labels = images[: config.limit], labels[: config.limit]
    key = cache_key("punks-classifier", FORMAT, asdict(config), _fingerprint(images, labels))

    def train() -> tuple[PunksClassifier, dict[str, Any]]:
        model, info = train_punks_classifier(config)
        say(
            f"punks classifier: held-out mean attribute accuracy {info['mean_accuracy']:.4f}, "
            f"macro F1 {info['macro_f1']:.3f}, balanced accuracy {info['balanced_accuracy']:.3f} "
            f"({info['train_seconds']:.0f} s)"
        )
        return model, info

    return cached_model(
        "extractors",
        f"punks-{key}",
        lambda info: PunksClassifier(PunksClassifierConfig(**info["config"]["model"])),
        train,
        "training the CryptoPunks attribute classifier once (cached in {folder}) ...",
    )
