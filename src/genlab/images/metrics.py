"""Sample-quality metrics on feature vectors: FID, KID, precision/recall, plus reconstruction and
attribute-frequency distances.

Every function here takes features that were already extracted (float arrays or tensors of shape
(N, D)), so one extraction pass feeds FID, KID, precision/recall and the real-vs-real noise floor.
That is also why these are written here rather than taken from torchmetrics' FID/KID modules,
which want to own the image -> feature step; the tests check these numbers against torchmetrics'
own formulas, against scipy, and against closed forms.

FID itself lives in genlab.core.feature_distances (the arithmetic models' handwriting answers use
it too) and is re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from genlab.core.feature_distances import (  # noqa: F401  (FID is part of the image metrics' API)
    FewSamplesWarning,
    as_features,
    fid,
    frechet_distance,
    gaussian_stats,
)


def _as_tensor(x: np.ndarray | torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", dtype)
    return torch.as_tensor(np.asarray(x), dtype=dtype)


# -- KID ---------------------------------------------------------------------------------------


def polynomial_mmd2(x: torch.Tensor, y: torch.Tensor, degree: int = 3, coef: float = 1.0) -> float:
    """Unbiased MMD^2 with the kernel k(a, b) = (a.b / D + coef)^degree (Bińkowski et al. 2018).

    The diagonals of k(x, x) and k(y, y) are left out, which is what makes it unbiased: its
    expectation is 0 when x and y come from the same distribution, and it can be negative.
    """
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError("KID needs at least 2 samples on each side")
    gamma = 1.0 / x.shape[1]
    k_xx = (x @ x.T * gamma + coef) ** degree
    k_yy = (y @ y.T * gamma + coef) ** degree
    k_xy = (x @ y.T * gamma + coef) ** degree
    term_xx = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    term_yy = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return float(term_xx + term_yy - 2 * k_xy.mean())


def kid(
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    subset_size: int = 1000,
    max_subsets: int = 10,
    seed: int = 0,
) -> tuple[float, float | None]:
    """Kernel Inception Distance (in whatever feature space): (mean, standard error).

    Both sets are shuffled and cut into `max_subsets` disjoint blocks of up to `subset_size` (fewer
    blocks only when there would be fewer than 2 samples per block); the unbiased MMD^2 of each
    block pair is independent of the others, so their mean is unbiased and std/sqrt(blocks) is an
    honest standard error (None when there is only one block). Subsets drawn with replacement, as
    some libraries do, share samples and make the spread across them understate the error.
    """
    x, y = _as_tensor(real), _as_tensor(fake)
    n = min(len(x), len(y))
    blocks = max(1, min(max_subsets, n // 2))
    size = min(subset_size, n // blocks)
    generator = torch.Generator().manual_seed(seed)
    x = x[torch.randperm(len(x), generator=generator)[: blocks * size]]
    y = y[torch.randperm(len(y), generator=generator)[: blocks * size]]
    values = torch.tensor(
        [polynomial_mmd2(xb, yb) for xb, yb in zip(x.split(size), y.split(size), strict=True)],
        dtype=torch.float64,
    )
    stderr = float(values.std(unbiased=True) / math.sqrt(blocks)) if blocks > 1 else None
    return float(values.mean()), stderr


# -- precision and recall ------------------------------------------------------------------------


def knn_radii(features: torch.Tensor, k: int = 3, chunk: int = 1024) -> torch.Tensor:
    """Distance from each point to its k-th nearest neighbour in the same set (itself excluded)."""
    if len(features) <= k:
        raise ValueError(f"k-NN radii with k={k} need more than {k} samples, got {len(features)}")
    radii = []
    for rows in features.split(chunk):
        distances = torch.cdist(rows, features)  # (chunk, N)
        # the k+1 smallest include the point itself at distance 0
        radii.append(distances.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def _inside_manifold(
    queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor, chunk: int = 1024
) -> torch.Tensor:
    """For each query: is it within the k-NN ball of at least one of `points`? (bool (Q,))"""
    inside = []
    for rows in queries.split(chunk):
        distances = torch.cdist(rows, points)  # (chunk, P)
        inside.append((distances <= radii[None, :]).any(dim=1))
    return torch.cat(inside)


def precision_recall(
    real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = 3, chunk: int = 1024
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN manifolds.

    Precision: the share of generated samples inside the real manifold (the union of balls around
    real samples reaching their k-th nearest real neighbour): are the samples realistic?
    Recall: the share of real samples inside the generated manifold: is the data's variety covered?
    """
    x, y = _as_tensor(real, torch.float32), _as_tensor(fake, torch.float32)
    real_radii, fake_radii = knn_radii(x, k, chunk), knn_radii(y, k, chunk)
    precision = _inside_manifold(y, x, real_radii, chunk).double().mean()
    recall = _inside_manifold(x, y, fake_radii, chunk).double().mean()
    return float(precision), float(recall)


# -- reconstruction ------------------------------------------------------------------------------


def reconstruction_error(originals: torch.Tensor, reconstructions: torch.Tensor) -> tuple[float, float]:
    """(mean squared error, PSNR in dB) for images in [0, 1].

    MSE is averaged over pixels, channels and images; PSNR = 10 log10(1 / MSE) is computed per
    image and then averaged (the usual convention), with the MSE floored at 1e-10 (100 dB).
    """
    if originals.shape != reconstructions.shape:
        raise ValueError(f"shapes differ: {tuple(originals.shape)} vs {tuple(reconstructions.shape)}")
    per_image = (originals.double() - reconstructions.double()).pow(2).flatten(1).mean(dim=1)  # (N,)
    psnr = 10 * torch.log10(1.0 / per_image.clamp_min(1e-10))
    return float(per_image.mean()), float(psnr.mean())


# -- attribute frequencies -----------------------------------------------------------------------


@dataclass
class AttributeComparison:
    """How often each attribute is predicted on real and on generated images."""

    names: list[str]
    real: np.ndarray  # (A,) frequency in [0, 1]
    fake: np.ndarray  # (A,)

    @property
    def mean_abs_diff(self) -> float:
        """Mean over attributes of |f_real - f_fake| (total variation per attribute)."""
        return float(np.abs(self.real - self.fake).mean())

    @property
    def max_abs_diff(self) -> tuple[str, float]:
        i = int(np.argmax(np.abs(self.real - self.fake)))
        return self.names[i], float(abs(self.real[i] - self.fake[i]))

    def to_dict(self) -> dict[str, object]:
        name, gap = self.max_abs_diff
        return {
            "attr_mean_abs_diff": self.mean_abs_diff,
            "attr_max_abs_diff": gap,
            "attr_max_abs_diff_name": name,
            "attr_freq_real": dict(zip(self.names, map(float, self.real), strict=True)),
            "attr_freq_fake": dict(zip(self.names, map(float, self.fake), strict=True)),
        }


def attribute_frequencies(
    real_probs: np.ndarray | torch.Tensor,
    fake_probs: np.ndarray | torch.Tensor,
    names: list[str],
    threshold: float = 0.5,
) -> AttributeComparison:
    """Compare attribute frequencies predicted by the same classifier on real and generated images.

    Both sides go through the same classifier, so its own errors largely cancel: the question is
    whether the generator makes zombies, apes, aliens and hats as often as the data has them.
    """
    real = (as_features(real_probs) >= threshold).mean(axis=0)
    fake = (as_features(fake_probs) >= threshold).mean(axis=0)
    if len(names) != len(real) or len(real) != len(fake):
        raise ValueError(f"{len(names)} names for {len(real)} real and {len(fake)} fake attributes")
    return AttributeComparison(list(names), real, fake)
