"""What `genlab data info` prints about a source: one summary built from `load_images`."""

from __future__ import annotations

import numpy as np

from genlab.images.data import ImageSet


def describe(data: ImageSet) -> dict[str, str]:
    """A printable summary of an ImageSet: count, shape, dtype, value range, labels, skips, origin."""
    images = data.images
    summary = {
        "source": data.source,
        "count": f"{len(images):,}",
        "shape": "x".join(str(d) for d in images.shape[1:]) + " (height x width x channels)",
        "dtype": str(images.dtype),
        "range": f"{images.min()}..{images.max()}",
        "labels": describe_labels(data.labels, data.label_names),
    }
    if data.skipped:
        shown = "; ".join(data.skipped[:5]) + ("; ..." if len(data.skipped) > 5 else "")
        summary["skipped"] = f"{len(data.skipped)} unreadable file(s): {shown}"
    return summary


def describe_labels(labels: np.ndarray | None, names: list[str] | None) -> str:
    """Class counts for int labels, the most common attributes for multi-label ones."""
    if labels is None:
        return "none"
    if labels.ndim == 2:
        counts = labels.sum(0)
        top = np.argsort(-counts, kind="stable")[:5]
        common = ", ".join(f"{_name(names, i)} {counts[i]:,}" for i in top)
        return f"{labels.shape[1]} attributes per image (most common: {common})"
    counts = np.bincount(labels)
    per_class = ", ".join(f"{_name(names, i)}: {c:,}" for i, c in enumerate(counts))
    return f"{len(counts)} classes ({per_class})"


def _name(names: list[str] | None, i: int) -> str:
    return names[i] if names is not None and i < len(names) else str(i)
