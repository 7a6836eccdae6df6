"""The CryptoPunks attribute classifier: the model, its training, and its cached copy.

A small multi-label CNN that recognises the 92 CryptoPunks attributes.

genlab trains it itself (see genlab.images.features) and uses it twice: its penultimate layer is
the `punks` feature space for FID/KID/precision/recall, and its predictions count how often
generated punks have each attribute. Attributes sit at fixed places on the 24x24 face (hats on
top, mouths below), so the last convolution is flattened, not globally pooled, to keep where.

Train the CryptoPunks attribute classifier once, measure it on held-out punks, cache it.

Reading what a conditional model drew is a job of its own, done by the *punks reader*: the same
classifier trained a few epochs further on punks at their own 24x24 pixels only (conditional
evaluation reads every image there) with the rare types drawn more often, so that it reads real
zombies, apes and one-pixel accessories (a mole, a smile) almost always. It is a separate cache
entry: the feature space, on which every FID in punks features rests, stays as it was.

The cache entry (genlab cache, `extractors/punks-KEY.safetensors` + `.json`) is keyed by the
training config and a hash of the punks data, and the JSON records the held-out accuracy, macro F1
and balanced accuracy and the data it was trained on, so every metric computed in this feature
space can say how good the space is. Attributes are very unbalanced (0.09% aliens, 60% male), so
mean accuracy alone flatters: a classifier that never predicts a rare attribute is 99% "accurate"
on it. Macro F1 and balanced accuracy count each attribute equally.
"""

from __future__ import annotations

import copy
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
from genlab.images.conditions import ConditionSpace
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


@dataclass
class PunksReaderConfig:
    """The punks reader: the attribute classifier `base`, trained `epochs` more at the punks' own
    pixels, each image drawn with weight frequency(type)^-type_balance."""

    base: PunksTrainConfig = field(default_factory=PunksTrainConfig)
    epochs: int = 6
    lr: float = 1e-3
    type_balance: float = 0.5


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


def _augment(rgba: torch.Tensor, generator: torch.Generator, round_trip: bool = True) -> torch.Tensor:
    """Random backgrounds, and (`round_trip`) for half the batch the 24 -> 32 -> 24 round trip.

    Generative models see punks composited on some background and usually at 32x32; the
    classifier must not care about either, or real and generated images would differ in its
    eyes for reasons that have nothing to do with the faces.
    """
    b = len(rgba)
    rgb = _composite(rgba, torch.rand(b, 3, generator=generator))
    half = b // 2 if round_trip else 0
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


def _punks(limit: int | None) -> tuple[Any, np.ndarray, np.ndarray]:
    """(the punks data, its first `limit` images (N, 24, 24, 4) uint8 and attributes (N, 92))."""
    data = load_punks()
    if limit:
        return data, data.images[:limit], data.labels[:limit]
    return data, data.images, data.labels


def _as_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """RGBA (N, 4, 24, 24) in [0, 1] and multi-hot float targets (N, 92)."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255, torch.from_numpy(labels).float()


def _split(n: int, config: PunksTrainConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Generator]:
    """(held-out indices, training indices, the generator that drew them and goes on drawing)."""
    generator = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(n, generator=generator)
    n_test = max(1, int(round(n * config.heldout_frac)))
    return order[:n_test], order[n_test:], generator


def _fit(
    model: PunksClassifier,
    rgba: torch.Tensor,
    targets: torch.Tensor,
    train_idx: torch.Tensor,
    generator: torch.Generator,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    round_trip: bool,
    draw_weights: torch.Tensor | None,
    desc: str,
) -> float:
    """Train `model` in place on `train_idx` with a one-cycle schedule; returns the seconds taken.

    Each epoch visits the training punks in a random order, or, with `draw_weights`, draws as many
    with replacement by those weights; `round_trip` sends half of each batch through 24 -> 32 -> 24."""
    started = time.perf_counter()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = -(-len(train_idx) // batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch
    )
    bar = progress(total=epochs * steps_per_epoch, desc=desc)
    model.train()
    for _ in range(epochs):
        if draw_weights is None:
            shuffled = train_idx[torch.randperm(len(train_idx), generator=generator)]
        else:
            shuffled = train_idx[
                torch.multinomial(draw_weights, len(train_idx), replacement=True, generator=generator)
            ]
        for batch in shuffled.split(batch_size):
            x = _augment(rgba[batch], generator, round_trip)  # (B, 3, 24, 24)
            loss = F.binary_cross_entropy_with_logits(model(x), targets[batch])
            optimizer_step(loss, optimizer, scheduler)
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.4f}")
    bar.close()
    model.eval()
    return time.perf_counter() - started


def _on_default_background(rgba: torch.Tensor) -> torch.Tensor:
    background = torch.tensor(DEFAULT_BACKGROUND, dtype=torch.float32).div(255).expand(len(rgba), 3)
    return _composite(rgba, background)


def train_punks_classifier(config: PunksTrainConfig | None = None) -> tuple[PunksClassifier, dict[str, Any]]:
    """Train on a seeded split of the punks and score on the held-out part. Returns (model, info)."""
    config = config or PunksTrainConfig()
    data, images, labels = _punks(config.limit)
    rgba, targets = _as_tensors(images, labels)
    test_idx, train_idx, generator = _split(len(rgba), config)
    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG as it was
        torch.manual_seed(config.seed)
        model = PunksClassifier(config.model)
        seconds = _fit(
            model,
            rgba,
            targets,
            train_idx,
            generator,
            epochs=config.epochs,
            lr=config.lr,
            batch_size=config.batch_size,
            round_trip=True,
            draw_weights=None,
            desc="punks attribute classifier",
        )

    test_rgb = _on_default_background(rgba[test_idx])
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
        "n_heldout": len(test_idx),
        "train_seconds": round(seconds, 2),
        "data": data.source,
        "data_fingerprint": _fingerprint(images, labels),
        "attributes": data.attributes,
        "config": asdict(config),
    }
    return model, info


def type_and_accessory_scores(
    probs: torch.Tensor, labels: torch.Tensor, attributes: list[str], min_frequency: float = 0.02
) -> dict[str, Any]:
    """How a reader reads real punks: each type's share read as that type (the most likely of the
    five), and the mean share of punks wearing an accessory (of those at least `min_frequency` of
    these punks wear) that it reads as worn, with how many of them it reads in 90% or more."""
    space = ConditionSpace("attributes", tuple(attributes))
    types = space.types
    truth_type = labels[:, types].argmax(1)
    read_type = probs[:, types].argmax(1)
    per_type = {}
    for j, k in enumerate(types):
        members = truth_type == j
        if bool((labels[:, k] > 0.5).any()):
            per_type[attributes[k]] = float((read_type[members] == j).double().mean())
    frequency = labels.mean(0)
    shown = []
    for k in range(len(attributes)):
        if k in types or float(frequency[k]) < min_frequency:
            continue
        wearing = labels[:, k] > 0.5
        shown.append(float((probs[wearing, k] >= 0.5).double().mean()))
    return {
        "type_read_back": per_type,
        "accessory_read_back_mean": float(np.mean(shown)) if shown else None,
        "accessories_at_90": int(sum(r >= 0.9 for r in shown)),
        "accessories_counted": len(shown),
    }


def load_punks_classifier(config: PunksTrainConfig | None = None) -> tuple[PunksClassifier, dict[str, Any]]:
    """The cached classifier for this config and data, training (and caching) it on first use."""
    config = config or PunksTrainConfig()
    _, images, labels = _punks(config.limit)
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


def train_punks_reader(config: PunksReaderConfig | None = None) -> tuple[PunksClassifier, dict[str, Any]]:
    """The punks reader (see the module docstring): the cached classifier `config.base` trained
    further on its own training punks, scored on its own held-out ones. Returns (model, info)."""
    config = config or PunksReaderConfig()
    base, base_info = load_punks_classifier(config.base)
    data, images, labels = _punks(config.base.limit)
    rgba, targets = _as_tensors(images, labels)
    test_idx, train_idx, generator = _split(len(rgba), config.base)
    space = ConditionSpace("attributes", tuple(data.attributes))
    weights = torch.from_numpy(space.balance_weights(labels[train_idx.numpy()], config.type_balance))
    model = copy.deepcopy(base)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.base.seed)
        seconds = _fit(
            model,
            rgba,
            targets,
            train_idx,
            generator,
            epochs=config.epochs,
            lr=config.lr,
            batch_size=config.base.batch_size,
            round_trip=False,
            draw_weights=weights,
            desc="punks reader",
        )
    test_rgb = _on_default_background(rgba[test_idx])
    with torch.inference_mode():
        probs = torch.sigmoid(model(test_rgb))
        base_probs = torch.sigmoid(base(test_rgb))
    info: dict[str, Any] = {
        **heldout_scores(probs, targets[test_idx]),
        **type_and_accessory_scores(probs, targets[test_idx], data.attributes),
        "base": {
            **heldout_scores(base_probs, targets[test_idx]),
            **type_and_accessory_scores(base_probs, targets[test_idx], data.attributes),
        },
        "n_train": len(train_idx),
        "n_heldout": len(test_idx),
        "train_seconds": round(seconds, 2),
        "data": data.source,
        "data_fingerprint": base_info["data_fingerprint"],
        "attributes": data.attributes,
        "config": asdict(config),
    }
    return model, info


def load_punks_reader(config: PunksReaderConfig | None = None) -> tuple[PunksClassifier, dict[str, Any]]:
    """The cached punks reader for this config and data, trained (and cached) on first use."""
    config = config or PunksReaderConfig()
    _, images, labels = _punks(config.base.limit)
    key = cache_key("punks-reader", FORMAT, asdict(config), _fingerprint(images, labels))

    def train() -> tuple[PunksClassifier, dict[str, Any]]:
        model, info = train_punks_reader(config)
        say(
            f"punks reader: held-out mean attribute accuracy {info['mean_accuracy']:.4f}, "
            f"accessories worn read in {info['accessory_read_back_mean']:.1%} "
            f"({info['train_seconds']:.0f} s)"
        )
        return model, info

    return cached_model(
        "extractors",
        f"punks-reader-{key}",
        lambda info: PunksClassifier(PunksClassifierConfig(**info["config"]["base"]["model"])),
        train,
        "training the punks reader once (cached in {folder}) ...",
    )
