"""Named sources behind `genlab data info`: one place that turns a name or path into arrays."""

from __future__ import annotations

from typing import Any

import numpy as np


def describe_source(source: str) -> tuple[dict[str, Any], np.ndarray]:
    """A printable summary of a source and its images (uint8, NHW or NHWC) for a grid."""
    if source == "mnist":
        from genlab.data.mnist import load_mnist

        mnist = load_mnist()
        counts = np.bincount(mnist.labels, minlength=10)
        split = (
            "none (one pool)"
            if mnist.is_test is None
            else f"{(~mnist.is_test).sum()} train / {mnist.is_test.sum()} test"
        )
        return _summary(
            mnist.images, mnist.source, labels=f"digits 0-9, per class {counts.tolist()}", split=split
        ), mnist.images
    if source == "punks":
        from genlab.data.punks import load_punks

        punks = load_punks()
        top = np.argsort(-punks.labels.sum(0))[:5]
        common = ", ".join(f"{punks.attributes[i]} {punks.labels[:, i].sum()}" for i in top)
        return _summary(
            punks.images, punks.source, labels=f"{len(punks.attributes)} attributes (most common: {common})"
        ), punks.rgb()
    raise NotImplementedError(source)


def _summary(images: np.ndarray, source: str, **extra: Any) -> dict[str, Any]:
    return {
        "source": source,
        "count": f"{len(images):,}",
        "shape": "x".join(str(d) for d in images.shape[1:]),
        "dtype": str(images.dtype),
        "range": f"{images.min()}..{images.max()}",
        **extra,
    }
