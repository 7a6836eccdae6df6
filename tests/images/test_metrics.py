"""FID, KID, precision/recall, reconstruction and attribute distances against closed forms,
scipy and torchmetrics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from genlab.images.metrics import (
    FewSamplesWarning,
    attribute_frequencies,
    fid,
    frechet_distance,
    gaussian_stats,
    kid,
    polynomial_mmd2,
    precision_recall,
    reconstruction_error,
)


def _random_cov(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def _scipy_fid(mu1, s1, mu2, s2) -> float:
    """The textbook formula with scipy's general matrix square root."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    assert np.abs(np.imag(covmean)).max() < 1e-6
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * np.real(covmean)))


def test_fid_of_a_sample_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(500, 16))
    value = fid(x, x)
    assert isinstance(value, float)
    assert 0.0 <= value < 1e-8


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    # for commuting (diagonal) covariances, FID = |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    expected = 1.0 + 0.0 + 4.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 0.5) ** 2
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_matches_scipy_and_torchmetrics_on_full_covariances():
    from torchmetrics.image.fid import _compute_fid

    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    s1, s2 = _random_cov(rng, 8), _random_cov(rng, 8)
    ours = frechet_distance(mu1, s1, mu2, s2)
    assert ours == pytest.approx(_scipy_fid(mu1, s1, mu2, s2), rel=1e-9)
    theirs = _compute_fid(*(torch.from_numpy(t) for t in (mu1, s1, mu2, s2)))
    assert ours == pytest.approx(float(theirs), rel=1e-9)


def test_fid_between_two_gaussian_samples_approaches_the_closed_form():
    rng = np.random.default_rng(2)
    d = 4
    mu1, mu2 = np.zeros(d), np.array([0.5, -0.5, 0.0, 1.0])
    s1, s2 = _random_cov(rng, d), _random_cov(rng, d)
    x = rng.multivariate_normal(mu1, s1, size=40000)
    y = rng.multivariate_normal(mu2, s2, size=40000)
    exact = _scipy_fid(mu1, s1, mu2, s2)
    assert fid(x, y) == pytest.approx(exact, rel=0.05)


def test_fid_stays_real_and_warns_with_fewer_samples_than_dimensions():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(20, 64)), rng.normal(size=(20, 64)) + 0.5
    with pytest.warns(FewSamplesWarning, match="20 samples in 64 feature dimensions"):
        value = fid(x, y)
    assert isinstance(value, float) and np.isfinite(value) and value > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fid(rng.normal(size=(100, 8)), rng.normal(size=(100, 8)))  # enough samples: no warning


def test_gaussian_stats_are_the_unbiased_mean_and_covariance():
    x = np.random.default_rng(4).normal(size=(50, 3))
    mu, sigma = gaussian_stats(torch.from_numpy(x).float())
    np.testing.assert_allclose(mu, x.mean(0), atol=1e-6)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), atol=1e-6)


def test_polynomial_mmd_matches_torchmetrics():
    from torchmetrics.image.kid import poly_mmd

    rng = torch.Generator().manual_seed(5)
    x, y = (
        torch.randn(60, 10, generator=rng, dtype=torch.float64),
        torch.randn(60, 10, generator=rng).double(),
    )
    assert polynomial_mmd2(x, y + 0.3) == pytest.approx(float(poly_mmd(x, y + 0.3)), rel=1e-10)


def test_kid_is_unbiased_on_a_toy_case():
    # same distribution: the unbiased estimate averages to 0 even from tiny samples, while the biased
    # (diagonal-included) V-statistic would stay clearly positive
    rng = torch.Generator().manual_seed(6)
    values, biased = [], []
    for _ in range(300):
        x, y = torch.randn(10, 3, generator=rng).double(), torch.randn(10, 3, generator=rng).double()
        values.append(polynomial_mmd2(x, y))
        k = lambda a, b: (a @ b.T / 3 + 1) ** 3  # noqa: E731
        biased.append(float(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()))
    values_t = torch.tensor(values)
    stderr = values_t.std() / len(values) ** 0.5
    assert abs(values_t.mean()) < 3 * stderr
    assert np.mean(biased) > 10 * stderr

    # different distributions: small-sample estimates average to the large-sample value
    def pair(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(n, 3, generator=rng).double(), torch.randn(n, 3, generator=rng).double() + 0.5

    small = [polynomial_mmd2(*pair(10)) for _ in range(400)]
    large = polynomial_mmd2(*pair(3000))
    small_t = torch.tensor(small)
    assert abs(small_t.mean() - large) < 3 * small_t.std() / len(small) ** 0.5 + 0.01 * large


def test_kid_reports_mean_and_standard_error_over_disjoint_blocks():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(400, 5)), rng.normal(size=(400, 5))
    same, same_se = kid(x, y, subset_size=40)
    shifted, shifted_se = kid(x, y + 1.0, subset_size=40)
    assert same_se is not None and shifted_se is not None
    assert abs(same) < 3 * same_se
    assert shifted > 10 * shifted_se > 0
    assert kid(x[:3], y[:3]) == (
        pytest.approx(polynomial_mmd2(torch.tensor(x[:3]), torch.tensor(y[:3]))),
        None,
    )


def test_precision_recall_identical_sets_are_one_and_disjoint_sets_zero():
    x = torch.randn(300, 8)
    assert precision_recall(x, x.clone()) == (1.0, 1.0)
    precision, recall = precision_recall(x, x + 100.0)
    assert precision == 0.0 and recall == 0.0


def test_precision_recall_separate_fidelity_from_coverage():
    # "generated" samples cover only one of two real clusters: realistic (precision ~1), half the
    # variety (recall ~0.5)
    g = torch.Generator().manual_seed(8)
    real = torch.cat([torch.randn(300, 4, generator=g), torch.randn(300, 4, generator=g) + 20])
    fake = torch.randn(600, 4, generator=g)
    precision, recall = precision_recall(real, fake, chunk=128)
    assert precision > 0.9
    assert 0.4 < recall < 0.55


def test_precision_recall_match_a_brute_force_numpy_version():
    rng = np.random.default_rng(9)
    real, fake = rng.normal(size=(120, 3)), rng.normal(size=(90, 3)) * 1.5 + 0.3
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=-1)
    d_ff = np.linalg.norm(fake[:, None] - fake[None], axis=-1)
    d_fr = np.linalg.norm(fake[:, None] - real[None], axis=-1)
    r_real, r_fake = np.sort(d_rr, axis=1)[:, 3], np.sort(d_ff, axis=1)[:, 3]
    expected_p = (d_fr <= r_real[None]).any(1).mean()
    expected_r = (d_fr.T <= r_fake[None]).any(1).mean()
    p, r = precision_recall(real, fake, k=3, chunk=16)
    assert p == pytest.approx(expected_p, abs=1e-9) and r == pytest.approx(expected_r, abs=1e-9)


def test_reconstruction_error_gives_mse_and_psnr():
    x = torch.zeros(4, 3, 8, 8)
    y = x + 0.1
    mse, psnr = reconstruction_error(x, y)
    assert mse == pytest.approx(0.01)
    assert psnr == pytest.approx(20.0)
    assert reconstruction_error(x, x)[1] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="shapes differ"):
        reconstruction_error(x, y[:2])


def test_attribute_frequencies_count_predictions_on_both_sides():
    names = ["zombie", "hat"]
    real = np.array([[0.9, 0.1], [0.1, 0.8], [0.2, 0.7], [0.1, 0.2]])  # zombie 1/4, hat 2/4
    fake = np.array([[0.1, 0.9], [0.1, 0.8], [0.2, 0.7], [0.1, 0.6]])  # zombie 0/4, hat 4/4
    comparison = attribute_frequencies(real, fake, names)
    np.testing.assert_allclose(comparison.real, [0.25, 0.5])
    np.testing.assert_allclose(comparison.fake, [0.0, 1.0])
    assert comparison.mean_abs_diff == pytest.approx(0.375)
    assert comparison.max_abs_diff == ("hat", pytest.approx(0.5))
    assert comparison.to_dict()["attr_freq_fake"] == {"zombie": 0.0, "hat": 1.0}
