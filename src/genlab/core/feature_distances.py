"""Distances between two sets of feature vectors (N, D): the Fréchet distance of the Gaussians fitted
to them (FID, when the features are an image network's), and the mean pairwise distance within one
set (how varied it is).

Shared by the image metrics (genlab.images.metrics) and the arithmetic models' handwriting answers.
FID is always a real number: the trace of sqrt(S1 S2) is computed as the trace of the square root of
the symmetric PSD matrix S1^(1/2) S2 S1^(1/2), through two symmetric eigendecompositions, so there
is no complex square root to drop an imaginary part from.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch


class FewSamplesWarning(UserWarning):
    """Fewer samples than feature dimensions: the covariance is singular and FID is biased upwards."""


def as_features(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """(N, D) features as a float64 array; a one-line ValueError for any other shape."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    array = np.asarray(x, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"expected features of shape (N, D), got {array.shape}")
    return array


# -- FID ---------------------------------------------------------------------------------------


def gaussian_stats(features: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of (N, D) features, in float64."""
    array = as_features(features)
    if len(array) < 2:
        raise ValueError("need at least 2 samples for a covariance")
    return array.mean(axis=0), np.cov(array, rowvar=False).reshape(array.shape[1], array.shape[1])


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric PSD matrix; tiny negative eigenvalues from rounding become 0."""
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """d^2 = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians; real and >= 0.

    tr((S1 S2)^(1/2)) = tr((S1^(1/2) S2 S1^(1/2))^(1/2)): the two products have the same
    eigenvalues, and the second is symmetric PSD, so its eigenvalues are real and non-negative.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    root1 = _psd_sqrt(sigma1)
    inner = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((inner + inner.T) / 2)
    trace_sqrt = float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)
    return max(value, 0.0)  # rounding can leave -1e-12 for identical sets


def fid(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D) and (M, D).

    Warns (FewSamplesWarning) when either set has fewer samples than dimensions: the covariance
    is then rank-deficient and the value is dominated by estimation noise.
    """
    real, fake = as_features(real), as_features(fake)
    n, dim = min(len(real), len(fake)), real.shape[1]
    if n < dim:
        warnings.warn(
            f"FID from {n} samples in {dim} feature dimensions: the covariance is singular and FID "
            f"is biased upwards; use at least {dim} samples (ideally 10x more)",
            FewSamplesWarning,
            stacklevel=2,
        )
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))


def mean_pairwise_distance(features: np.ndarray | torch.Tensor) -> float:
    """Mean Euclidean distance between all pairs of distinct rows of (N, D) features; 0 for identical
    rows. Diversity: a set of drawings that are all alike scores near 0."""
    x = torch.as_tensor(as_features(features))
    if len(x) < 2:
        raise ValueError("need at least 2 samples for a pairwise distance")
    distances = torch.cdist(x, x)
    n = len(x)
    return float(distances.sum() / (n * (n - 1)))
