"""How good handwritten answers are: realism, diversity and style, measured in the digits space.

The `digits` feature space is the glyph reader's penultimate layer (genlab.arith.glyphs), the same
space the image metrics call `digits`. Three measures of a run's generated answer digits:

- realism: FID of generated digits against real test-pool digits, beside the real-vs-real floor
  (the same number of train-pool digits against the same test-pool digits), so a value near the
  floor means the writing is as close to the test writers as other real writers are. The generated
  digits are drawn in the test pool's mix of digits: answers hold far more 1s than a pool of
  handwriting does (every sum from 100 up starts with one), and an FID between two different
  mixes of digits measures the mix as much as the writing (real handwriting in the answers' mix
  scores far above the floor). The answers' own mix is kept beside it, as `fid_answer_mix`;
- diversity: the mean pairwise feature distance between drawings of the same digit, averaged over
  the digits, beside the same figure for real test-pool digits (identical drawings give 0);
- style (img2img): two measures of handwriting that do not depend on which digit is written,
  slant and stroke thickness, compared between each answer and its own query, and between each
  answer and a random other query.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genlab.arith.glyphs import GlyphClassifier
from genlab.arith.problem import GlyphBank
from genlab.core.feature_distances import fid, mean_pairwise_distance

REALISM_DIGITS = 1000  # at most this many digits on each side of the FID
DIVERSITY_PER_DIGIT = 100  # drawings per digit in the mean pairwise distance


@torch.inference_mode()
def digit_features(
    reader: GlyphClassifier, cells: np.ndarray | torch.Tensor, batch: int = 1000
) -> np.ndarray:
    """Cells (N, 28, 28), uint8 or float in [0, 1] -> (N, D) digits-space features."""
    x = torch.as_tensor(cells)
    x = x.float().div(255) if x.dtype == torch.uint8 else x.float()
    x = x.reshape(-1, 1, 28, 28)
    reader.eval()
    parts = [reader.features(x[i : i + batch]) for i in range(0, len(x), batch)]
    return torch.cat(parts).numpy() if parts else np.zeros((0, reader.encoder.feature_dim), np.float32)


def bank_digits(bank: GlyphBank) -> tuple[np.ndarray, np.ndarray]:
    """A bank's handwritten digits (uint8 (N, 28, 28)) and their labels (N,)."""
    labels = bank.labels()
    keep = labels < 10
    return bank.images[keep], labels[keep]


def per_digit_diversity(features: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """Mean over the digits present (twice or more) of the mean pairwise distance of up to
    DIVERSITY_PER_DIGIT drawings of that digit."""
    rng = np.random.default_rng(seed)
    values = []
    for digit in range(10):
        rows = np.flatnonzero(labels == digit)
        if len(rows) < 2:
            continue
        rows = rng.permutation(rows)[:DIVERSITY_PER_DIGIT]
        values.append(mean_pairwise_distance(features[rows]))
    return float(np.mean(values)) if values else float("nan")


def handwriting_quality(
    generated: np.ndarray,
    labels: np.ndarray,
    reader: GlyphClassifier,
    train_bank: GlyphBank,
    test_bank: GlyphBank,
    seed: int = 0,
) -> dict[str, Any]:
    """Realism and diversity of generated digit cells (N, 28, 28) float in [0, 1], labelled (N,)
    with the digit each should be (answers' true characters; non-digits are left out)."""
    rng = np.random.default_rng(seed)
    is_digit = labels < 10
    generated, labels = generated[is_digit], labels[is_digit]
    test_images, test_labels = bank_digits(test_bank)
    train_images, train_labels = bank_digits(train_bank)
    answered = np.flatnonzero(np.isin(test_labels, labels))  # a digit never answered is left out
    n = min(REALISM_DIGITS, len(generated), len(answered), len(train_images))
    real_rows = rng.permutation(answered)[:n]
    pick = rows_in_mix(labels, test_labels[real_rows], rng)
    real_rows = real_rows[: len(pick)]  # fewer only where some digit was answered too rarely
    floor_rows = rows_in_mix(train_labels, test_labels[real_rows], rng)
    as_answered = rng.permutation(len(generated))[: len(pick)]
    gen_features = digit_features(reader, generated[pick])
    real_features = digit_features(reader, test_images[real_rows])
    floor_features = digit_features(reader, train_images[floor_rows])
    realism = fid(real_features, gen_features)
    floor = fid(real_features, floor_features)
    answer_mix = fid(real_features, digit_features(reader, generated[as_answered]))
    diversity = per_digit_diversity(gen_features, labels[pick], seed)
    real_diversity = per_digit_diversity(real_features, test_labels[real_rows], seed)
    n = len(pick)
    return {
        "digits": int(n),
        "fid_digits": realism,
        "fid_floor": floor,
        "fid_over_floor": realism / floor if floor > 0 else float("inf"),
        "fid_answer_mix": answer_mix,
        "diversity": diversity,
        "diversity_real": real_diversity,
        "diversity_share_of_real": diversity / real_diversity if real_diversity > 0 else float("nan"),
        "means": (
            f"{n} generated answer digits, drawn in the test pool's mix of digits, against {n} real "
            f"test-pool digits in the digits feature space; the floor is {n} real train-pool digits "
            "against the same test-pool digits; fid_answer_mix: generated digits in the answers' own mix "
            "(far more 1s), which real handwriting would not score near the floor either; diversity is "
            "the mean pairwise feature distance between drawings of the same digit"
        ),
    }


def answer_mix_note(quality: dict[str, Any]) -> str:
    """'; F in the answers' own mix of digits, ...' where the evaluation has it (older ones lack it)."""
    if "fid_answer_mix" not in quality:
        return ""
    return (
        f"; {quality['fid_answer_mix']:.1f} in the answers' own mix of digits, far more 1s, which real "
        "handwriting would not score near the floor either"
    )


def rows_in_mix(labels: np.ndarray, reference: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows of `labels` drawn without repeats so that their digits come in the proportions of
    `reference` (as many rows as `reference` has, fewer where some digit is too rare in `labels`)."""
    digits, wanted = np.unique(reference, return_counts=True)
    available = np.array([(labels == d).sum() for d in digits])
    scale = min(1.0, float((available / wanted).min()))
    counts = np.floor(wanted * scale).astype(int)
    return np.concatenate(
        [rng.permutation(np.flatnonzero(labels == d))[:k] for d, k in zip(digits, counts, strict=True)]
    )


def style_measures(cells: np.ndarray) -> np.ndarray:
    """Slant and stroke thickness of cells (N, 28, 28) float in [0, 1] -> (N, 2).

    Slant: the shear of the ink's second moments (mu11 / mu02), how far the strokes lean.
    Thickness: twice the inked area over its outline length, the width of a stroke of that area
    and outline. Neither depends much on which digit is written, unlike area or width."""
    x = np.asarray(cells, np.float64)
    ys, xs = np.mgrid[0:28, 0:28].astype(np.float64)
    mass = x.sum((1, 2)) + 1e-8
    cy = (x * ys).sum((1, 2)) / mass
    cx = (x * xs).sum((1, 2)) / mass
    dy, dx = ys[None] - cy[:, None, None], xs[None] - cx[:, None, None]
    mu11 = (x * dx * dy).sum((1, 2)) / mass
    mu02 = (x * dy * dy).sum((1, 2)) / mass + 1e-8
    ink = x > 0.5
    area = ink.sum((1, 2))
    outline = (ink[:, 1:] != ink[:, :-1]).sum((1, 2)) + (ink[:, :, 1:] != ink[:, :, :-1]).sum((1, 2))
    thickness = 2.0 * area / np.maximum(outline, 1)
    return np.stack([mu11 / mu02, thickness], -1)


def query_style_closeness(
    query_cells: np.ndarray,
    query_is_digit: np.ndarray,
    answer_cells: np.ndarray,
    answer_is_digit: np.ndarray,
    seed: int = 0,
) -> dict[str, Any]:
    """How much closer in style each answer is to its own query than to a random other query.

    Each side's style is the mean (slant, thickness) of its digit cells, both measures scaled by
    their spread over the queries; the distance is Euclidean. `*_cells` (N, L, 28, 28) float,
    `*_is_digit` (N, L) bool."""

    def mean_style(cells: np.ndarray, is_digit: np.ndarray) -> np.ndarray:
        measures = style_measures(cells.reshape(-1, 28, 28)).reshape(*cells.shape[:2], 2)
        weight = is_digit[..., None].astype(np.float64)
        return (measures * weight).sum(1) / np.maximum(weight.sum(1), 1)

    query, answer = mean_style(query_cells, query_is_digit), mean_style(answer_cells, answer_is_digit)
    scale = query.std(0) + 1e-8
    query, answer = query / scale, answer / scale
    order = np.random.default_rng(seed).permutation(len(query))
    other = np.empty_like(order)
    other[order] = np.roll(order, 1)  # one cycle through all queries: never a query against itself
    own = np.linalg.norm(answer - query, axis=1)
    random = np.linalg.norm(answer - query[other], axis=1)
    return {
        "queries": int(len(query)),
        "distance_to_own_query": float(own.mean()),
        "distance_to_random_query": float(random.mean()),
        "own_over_random": float(own.mean() / random.mean()) if random.mean() > 0 else float("nan"),
        "closer_to_own_query": float((own < random).mean()),
        "means": (
            "distance in (slant, stroke thickness), each scaled by its spread over the queries, between "
            "the answer's digits and its query's digits, against another random query's digits"
        ),
    }
