"""What a conditional image model is asked for: the condition space of a run, and parsing requests.

A condition is one vector per image, (K,) float32:

    labels      one-hot over the source's K classes (MNIST digits, fashion-mnist classes, the
                subfolders of a folder, the labels of an .npz)
    attributes  multi-hot over the source's K attributes (the 92 CryptoPunks attributes: the type,
                one of male, female, zombie, ape, alien, and the accessories)

Every conditional model also learns to draw with the all-zero vector, "no condition": training
shows a share of images without theirs (`--condition-dropout`). That is what classifier-free
guidance needs, and it is what a conditional run draws when nobody asks for anything, so every
image command works on a conditional run as it does on a plain one.

Requests name what they want: `--label 7` (a class name or number), `--attrs "Zombie,Cap"`
(attribute names, matched case-insensitively, spaces, dashes and underscores ignored: "Blonde Bob"
is blondeBob). An attribute set asks for exactly those attributes and no others, as in the data,
where each punk's vector lists everything it wears.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import numpy as np

from genlab.core.errors import GenlabError

PUNK_TYPES = ("male", "female", "zombie", "ape", "alien")


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).lower()


@dataclass(frozen=True)
class ConditionSpace:
    """The K names a run's conditions are made of, and whether one (labels) or several (attributes)
    are on at once."""

    kind: str  # "labels" or "attributes"
    names: tuple[str, ...]

    @property
    def dim(self) -> int:
        return len(self.names)

    @property
    def types(self) -> list[int]:
        """Indices of the CryptoPunks types among the attributes (empty for other sources)."""
        keys = [_key(n) for n in self.names]
        return [keys.index(t) for t in PUNK_TYPES if t in keys] if self.kind == "attributes" else []

    def vectors(self, labels: np.ndarray) -> np.ndarray:
        """The source's labels, class ids (N,) or multi-hot (N, K), as condition vectors (N, K)."""
        if self.kind == "labels":
            out = np.zeros((len(labels), self.dim), dtype=np.float32)
            out[np.arange(len(labels)), labels.astype(np.int64)] = 1.0
            return out
        return labels.astype(np.float32)

    def groups(self, vectors: np.ndarray) -> np.ndarray:
        """Each image's class (labels) or punk type (attributes) as an index (N,); -1 for none."""
        columns = list(range(self.dim)) if self.kind == "labels" else self.types
        if not columns:
            return np.full(len(vectors), -1, np.int64)
        picked = vectors[:, columns]
        return np.where(picked.max(1) > 0.5, np.asarray(columns)[picked.argmax(1)], -1)

    def balance_weights(self, vectors: np.ndarray, power: float) -> np.ndarray:
        """Sampling weights (N,) proportional to frequency(group)^-power, normalised to mean 1."""
        groups = self.groups(vectors)
        values, counts = np.unique(groups, return_counts=True)
        share = dict(zip(values.tolist(), (counts / len(groups)).tolist(), strict=True))
        weights = np.array([1.0 if g < 0 else share[g] ** -power for g in groups.tolist()])
        return weights / weights.mean()

    def index(self, name: str, what: str) -> int:
        """The index of one name, or a one-line error that lists the close ones."""
        keys = [_key(n) for n in self.names]
        key = _key(name)
        if key in keys:
            return keys.index(key)
        if self.kind == "labels" and key.isdigit() and int(key) < self.dim and name not in self.names:
            return int(key)
        close = difflib.get_close_matches(key, keys, n=4, cutoff=0.6)
        hint = (
            f"did you mean {', '.join(self.names[keys.index(c)] for c in close)}?"
            if close
            else f"this run knows {_some(self.names)}"
        )
        raise GenlabError(f"unknown {what} {name!r}: {hint}")

    def label(self, spec: str) -> np.ndarray:
        """`--label 7` / `--label Sneaker` -> the one-hot vector (K,)."""
        if self.kind != "labels":
            raise GenlabError(
                f"this run is conditioned on attributes, not class labels: ask with --attrs (e.g. "
                f"--attrs {self.names[self.types[0]] if self.types else self.names[0]!r})"
            )
        vector = np.zeros(self.dim, dtype=np.float32)
        vector[self.index(spec.strip(), "label")] = 1.0
        return vector

    def attrs(self, spec: str) -> np.ndarray:
        """`--attrs "Zombie,Cap"` -> the multi-hot vector (K,) with exactly those attributes on."""
        if self.kind != "attributes":
            raise GenlabError("this run is conditioned on class labels, not attributes: ask with --label")
        names = [part.strip() for part in spec.split(",") if part.strip()]
        if not names:
            raise GenlabError(f"--attrs {spec!r} names no attribute: give a comma list such as 'Zombie,Cap'")
        vector = np.zeros(self.dim, dtype=np.float32)
        for name in names:
            vector[self.index(name, "attribute")] = 1.0
        if self.types and not vector[self.types].any():
            raise GenlabError(
                f"--attrs {spec!r} names no type: add one of {', '.join(self.names[i] for i in self.types)}"
            )
        if self.types and vector[self.types].sum() > 1:
            raise GenlabError(f"--attrs {spec!r} names two types: a punk has one of them")
        return vector

    def request(self, spec: str) -> np.ndarray:
        """A label or an attribute list, whichever this run takes."""
        return self.label(spec) if self.kind == "labels" else self.attrs(spec)

    def describe(self, vector: np.ndarray) -> str:
        """'zombie, cap' for a vector (K,); 'no condition' for the zero vector."""
        on = [self.names[i] for i in np.flatnonzero(np.asarray(vector) > 0.5)]
        return ", ".join(on) if on else "no condition"

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "names": list(self.names)}

    @classmethod
    def from_extra(cls, extra: dict[str, object]) -> ConditionSpace | None:
        """The condition space a run's config.json records (extra["condition"]), or None."""
        stored = extra.get("condition")
        if not isinstance(stored, dict):
            return None
        return cls(str(stored["kind"]), tuple(str(n) for n in stored["names"]))  # type: ignore[union-attr]


def _some(names: tuple[str, ...], most: int = 12) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def condition_space(
    kind: str, labels: np.ndarray | None, names: list[str] | None, data: str
) -> ConditionSpace:
    """The condition space of `--condition kind` on a source with these labels, or a one-line error
    naming what the source lacks."""
    if labels is None:
        raise GenlabError(
            f"--condition {kind}: {data!r} has no labels (a folder needs at least two subfolders, one per "
            "class; an .npz needs a 'labels' array): train with --condition none"
        )
    if kind == "labels":
        if labels.ndim != 1:
            raise GenlabError(
                f"--condition labels: {data!r} has multi-label attributes, not one class per image: "
                "use --condition attributes"
            )
        count = int(labels.max()) + 1
        named = names if names is not None and len(names) == count else [str(i) for i in range(count)]
        return ConditionSpace("labels", tuple(named))
    if kind == "attributes":
        if labels.ndim != 2:
            raise GenlabError(
                f"--condition attributes: {data!r} has one class label per image, not attributes: "
                "use --condition labels"
            )
        count = labels.shape[1]
        named = (
            names if names is not None and len(names) == count else [f"attribute {i}" for i in range(count)]
        )
        return ConditionSpace("attributes", tuple(named))
    raise GenlabError(f"--condition {kind}: use none, labels or attributes")


def seen_in(vectors: np.ndarray, request: np.ndarray) -> int:
    """How many of the data's condition vectors (N, K) hold every attribute of `request` (K,)."""
    wanted = np.asarray(request) > 0.5
    return int(((vectors[:, wanted] > 0.5).all(axis=1)).sum())
