"""Arithmetic queries ('81+24' -> '105') as text tokens and as sequences of handwritten-digit images.

Everything is built by array indexing, never by a Python loop over queries:

- `ArithSpec` fixes the problem (largest operand, operators) and so the vocabulary and lengths.
- `all_queries(spec)` enumerates every query `i op j` with its answer, as strings and tokens.
- `split_queries` splits queries into train / validation / test; `split_handwriting` splits MNIST
  into disjoint train and test handwriting pools, so image test queries use unseen handwriting.
- `GlyphBank` holds, for every vocabulary character, a stack of 28x28 images (MNIST digits of that
  class, drawn '+', '-', '*' glyphs with random jitter, one blank cell) and renders token arrays of
  any shape into images with one fancy-indexing call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F

from genlab.core.errors import GenlabError
from genlab.core.paths import atomic_write

DIGITS = "0123456789"
BLANK = " "
CELL = 28


@dataclass(frozen=True)
class ArithSpec:
    """The problem: `i op j` for integers 0..max_int and the operators in `ops`."""

    max_int: int = 99
    ops: str = "+-"
    # "aligned": ' 5+24', each operand right-aligned in its own field as in written column
    # arithmetic, so a digit's position is its place value; "left": '5+24 ', the notebook's query
    # padded on the right
    layout: str = "aligned"

    def __post_init__(self) -> None:
        if self.layout not in ("left", "aligned"):
            raise GenlabError(f"query layout {self.layout!r}: use left or aligned")
        if self.max_int < 1:
            raise GenlabError(f"max_int must be at least 1, got {self.max_int}")
        if not self.ops or any(op not in "+-*" for op in self.ops) or len(set(self.ops)) != len(self.ops):
            raise GenlabError(f"ops {self.ops!r} must be a non-empty subset of '+-*'")

    @cached_property
    def vocab(self) -> str:
        """Digits, '+', '-' (answers can be negative), '*' when used, and the blank last."""
        return DIGITS + "+-" + ("*" if "*" in self.ops else "") + BLANK

    @property
    def blank(self) -> int:
        return len(self.vocab) - 1

    @property
    def operand_len(self) -> int:
        return len(str(self.max_int))

    @property
    def query_len(self) -> int:
        return 2 * self.operand_len + 1

    @cached_property
    def answer_len(self) -> int:
        lengths = [len(str(self.max_int + self.max_int)), len(str(-self.max_int))]
        if "*" in self.ops:
            lengths.append(len(str(self.max_int * self.max_int)))
        return max(lengths)

    def encode(self, strings: list[str] | np.ndarray, length: int) -> np.ndarray:
        """Strings of exactly `length` characters -> int64 tokens (N, length)."""
        joined = "".join(strings)
        if len(joined) != len(strings) * length:
            raise ValueError(f"every string must have {length} characters")
        raw = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(len(strings), length)
        table = np.full(256, -1, np.int64)
        table[np.frombuffer(self.vocab.encode(), np.uint8)] = np.arange(len(self.vocab))
        tokens = table[raw]
        if (tokens < 0).any():
            raise ValueError(f"characters outside the vocabulary {self.vocab!r}")
        return tokens

    def decode(self, tokens: np.ndarray) -> list[str]:
        """int tokens (N, L) -> strings (padding kept)."""
        chars = np.array(list(self.vocab))
        return ["".join(row) for row in chars[np.asarray(tokens)]]

    def pad_query(self, a: int, op: str, b: int) -> str:
        if self.layout == "aligned":
            width = self.operand_len
            return f"{a:>{width}}{op}{b:>{width}}"
        return f"{a}{op}{b}".ljust(self.query_len)

    def parse(self, text: str) -> tuple[int, str, int]:
        """A user's query such as '81+24' -> (81, '+', 24), or a one-line GenlabError."""
        ops = re.escape(self.ops)
        match = re.fullmatch(rf"\s*(\d+)\s*([{ops}])\s*(\d+)\s*", text or "")
        if not match:
            raise GenlabError(
                f"cannot read the query {text!r}: write two whole numbers 0..{self.max_int} "
                f"with one of {' '.join(self.ops)} between them, e.g. '81+24'"
            )
        digits = len(str(self.max_int))
        if max(len(match.group(1).lstrip("0")), len(match.group(3).lstrip("0"))) > digits:
            a = b = self.max_int + 1  # too long to be in range (and to turn into an int cheaply)
        else:
            a, b = int(match.group(1)), int(match.group(3))
        op = match.group(2)
        if a > self.max_int or b > self.max_int:
            raise GenlabError(
                f"query {text!r} is out of range: both numbers must be 0..{self.max_int} "
                "(the range the model was trained on)"
            )
        return a, op, b


def apply_op(a: np.ndarray, ops: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Vectorized i op j for op characters in an array."""
    return np.where(ops == "+", a + b, np.where(ops == "-", a - b, a * b))


@dataclass
class Queries:
    """Every query of a spec, in a fixed order (op-major, then i, then j)."""

    spec: ArithSpec
    a: np.ndarray  # (N,) int64
    op: np.ndarray  # (N,) '<U1'
    b: np.ndarray  # (N,)
    result: np.ndarray  # (N,) int64
    query_text: list[str]
    answer_text: list[str]
    query_tokens: np.ndarray  # (N, query_len) int64
    answer_tokens: np.ndarray  # (N, answer_len) int64

    def __len__(self) -> int:
        return len(self.a)


def all_queries(spec: ArithSpec = ArithSpec()) -> Queries:
    n = spec.max_int + 1
    op_idx, a, b = np.meshgrid(np.arange(len(spec.ops)), np.arange(n), np.arange(n), indexing="ij")
    a, b = a.ravel().astype(np.int64), b.ravel().astype(np.int64)
    return queries_of(spec, a, np.array(list(spec.ops))[op_idx.ravel()], b)


def swapped_twins(spec: ArithSpec) -> np.ndarray:
    """For every query of `all_queries(spec)`, the index of its operand-swapped twin (N,): `b+a` for
    `a+b`, `b-a` (whose answer is the negated one) for `a-b`, `b*a` for `a*b`. Training on twins is
    an augmentation that is exact for arithmetic."""
    n = spec.max_int + 1
    op_idx, a, b = np.meshgrid(np.arange(len(spec.ops)), np.arange(n), np.arange(n), indexing="ij")
    return (op_idx * n * n + b * n + a).ravel().astype(np.int64)


def queries_of(spec: ArithSpec, a: np.ndarray, op: np.ndarray, b: np.ndarray) -> Queries:
    """The queries `a op b` (int64 arrays, operator characters) laid out and tokenized for `spec`."""
    result = apply_op(a, op, b)
    qlen, alen = spec.query_len, spec.answer_len
    query_text = [
        spec.pad_query(x, o, y) for x, o, y in zip(a.tolist(), op.tolist(), b.tolist(), strict=True)
    ]
    answer_text = [str(r).rjust(alen) for r in result.tolist()]
    return Queries(
        spec,
        a,
        op,
        b,
        result,
        query_text,
        answer_text,
        spec.encode(query_text, qlen),
        spec.encode(answer_text, alen),
    )


@dataclass
class QuerySplit:
    train: np.ndarray  # query indices used for gradient steps
    val: np.ndarray  # held-out queries that choose the best checkpoint
    test: np.ndarray  # every other query: only ever evaluated


def split_queries(n: int, train_frac: float, seed: int = 0, val_size: int = 1000) -> QuerySplit:
    """Disjoint train / val / test query indices; val is taken from the non-training queries."""
    if not 0.0 < train_frac < 1.0:
        raise GenlabError(f"--train-frac must be between 0 and 1 (exclusive), got {train_frac}")
    order = np.random.default_rng(seed).permutation(n)
    n_train = max(1, int(round(train_frac * n)))
    rest = order[n_train:]
    n_val = min(val_size, len(rest) // 4)
    if len(rest) - n_val < 1:
        raise GenlabError(f"--train-frac {train_frac} leaves no test queries; use a smaller fraction")
    return QuerySplit(np.sort(order[:n_train]), np.sort(rest[:n_val]), np.sort(rest[n_val:]))


def split_handwriting(
    labels: np.ndarray,
    is_test: np.ndarray | None,
    test_frac: float = 0.2,
    seed: int = 0,
    shared: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the train and test handwriting pools (disjoint unless `shared`).

    A source with its own test split (full MNIST) keeps it; otherwise each digit class is split
    `test_frac` / rest with the seed.
    """
    everything = np.arange(len(labels))
    if shared:
        return everything, everything
    if is_test is not None:
        return everything[~is_test], everything[is_test]
    rng = np.random.default_rng(seed + 7919)
    test_parts = []
    for digit in range(10):
        members = everything[labels == digit]
        test_parts.append(rng.permutation(members)[: max(1, int(round(test_frac * len(members))))])
    test = np.sort(np.concatenate(test_parts))
    train = np.setdiff1d(everything, test)
    return train, test


def draw_glyphs(char: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` anti-aliased 28x28 uint8 drawings of '+', '-' or '*' with jittered strokes.

    Each stroke is a segment through a jittered centre; a pixel's intensity falls off linearly
    with its distance to the nearest segment, one pixel wide at the edge (anti-aliasing).
    """
    angles = {"+": [0.0, 90.0], "-": [0.0], "*": [0.0, 60.0, 120.0]}[char]
    centre = 13.5 + rng.uniform(-2.5, 2.5, size=(n, 1, 2))  # (n, 1, 2) x, y
    strokes = []
    for base in angles:
        theta = np.deg2rad(base + rng.uniform(-12, 12, size=(n, 1)))  # (n, 1)
        half = rng.uniform(5.0, 9.0, size=(n, 1))
        shift = rng.uniform(-1.0, 1.0, size=(n, 1, 2))  # strokes do not cross exactly in the middle
        direction = np.stack([np.cos(theta), np.sin(theta)], -1)  # (n, 1, 2)
        strokes.append(
            (centre + shift - half[..., None] * direction, centre + shift + half[..., None] * direction)
        )
    thickness = rng.uniform(1.6, 3.2, size=(n, 1, 1))
    ys, xs = np.mgrid[0:CELL, 0:CELL].astype(np.float32)
    pixels = np.stack([xs.ravel(), ys.ravel()], -1)[None]  # (1, 784, 2)
    best = np.full((n, CELL * CELL), np.inf, np.float32)
    for p0, p1 in strokes:
        p0, p1 = p0.astype(np.float32), p1.astype(np.float32)
        seg = p1 - p0  # (n, 1, 2)
        t = np.clip(((pixels - p0) * seg).sum(-1) / (seg * seg).sum(-1), 0, 1)  # (n, 784)
        nearest = p0 + t[..., None] * seg
        best = np.minimum(best, np.linalg.norm(pixels - nearest, axis=-1))
    intensity = np.clip(thickness[:, :, 0] / 2 + 0.5 - best, 0, 1)  # (n, 784)
    peak = rng.uniform(0.85, 1.0, size=(n, 1))  # MNIST strokes are near-white, not always 255
    return np.rint(intensity * peak * 255).astype(np.uint8).reshape(n, CELL, CELL)


@dataclass
class GlyphBank:
    """Images for every vocabulary character, grouped by class so rendering is one indexing call."""

    images: np.ndarray  # (M, 28, 28) uint8
    starts: np.ndarray  # (V,) first row of each character's images
    counts: np.ndarray  # (V,) how many images each character has

    @classmethod
    def build(
        cls,
        spec: ArithSpec,
        digits: np.ndarray,
        digit_labels: np.ndarray,
        seed: int = 0,
        glyphs_per_op: int = 500,
    ) -> GlyphBank:
        """MNIST digits of a handwriting pool, drawn operator glyphs and one blank cell."""
        rng = np.random.default_rng(seed)
        order = np.argsort(digit_labels, kind="stable")
        parts, counts = [digits[order]], list(np.bincount(digit_labels, minlength=10))
        if min(counts) == 0:
            raise GenlabError("the handwriting pool lacks some digit; use a larger MNIST source")
        for char in spec.vocab[10:-1]:
            parts.append(draw_glyphs(char, glyphs_per_op, rng))
            counts.append(glyphs_per_op)
        parts.append(np.zeros((1, CELL, CELL), np.uint8))
        counts.append(1)
        counts_arr = np.array(counts, np.int64)
        starts = np.concatenate([[0], np.cumsum(counts_arr)[:-1]])
        return cls(np.concatenate(parts), starts, counts_arr)

    def prototypes(self) -> np.ndarray:
        """One real image per character, uint8 (V, 28, 28): the one nearest its class's mean image."""
        protos = []
        for start, count in zip(self.starts.tolist(), self.counts.tolist(), strict=True):
            group = self.images[start : start + count].astype(np.float32)  # (count, 28, 28)
            mean = group.mean(0)
            protos.append(self.images[start + int(((group - mean) ** 2).sum((1, 2)).argmin())])
        return np.stack(protos)

    def labels(self) -> np.ndarray:
        """The class (vocabulary index) of every image in the bank."""
        return np.repeat(np.arange(len(self.counts)), self.counts)

    def pick(self, tokens: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Random bank rows for tokens of any shape (same shape, int64)."""
        tokens = np.asarray(tokens)
        return self.starts[tokens] + (rng.random(tokens.shape) * self.counts[tokens]).astype(np.int64)

    def render(self, tokens: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """tokens (..., L) -> uint8 images (..., L, 28, 28), each cell a random image of its class."""
        return self.images_at(self.pick(tokens, rng))

    def images_at(self, rows: np.ndarray) -> np.ndarray:
        """Bank rows of any shape -> uint8 images (..., 28, 28)."""
        # np.take on a 2-D view is several times faster than fancy indexing the 3-D stack
        flat = np.take(self.images.reshape(len(self.images), -1), rows.ravel(), axis=0)
        return flat.reshape(*rows.shape, CELL, CELL)


def strip(cells: np.ndarray) -> np.ndarray:
    """(..., L, 28, 28) cells -> (..., 28, 28*L): the query written left to right."""
    moved = np.moveaxis(cells, -3, -2)  # (..., 28, L, 28)
    return moved.reshape(*cells.shape[:-3], CELL, cells.shape[-3] * CELL)


def augment_cells(x, generator=None, strength: float = 1.0):
    """Random small affine warps of a batch of cells (N, 1, 28, 28) float, all in one call.

    Rotation up to 12 degrees, scale 0.88-1.1, shear up to 0.15 and shifts up to 2.5 pixels:
    handwriting varies this way, so a model that sees these warps reads unseen writers better.
    """

    n = x.shape[0]

    def u(lo: float, hi: float):
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    angle = torch.deg2rad(u(-12, 12) * strength)
    scale = 1 + u(-0.12, 0.1) * strength
    shear = u(-0.15, 0.15) * strength
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2.5 / 14) * strength
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin + shear, shift[:, 0]], -1), torch.stack([sin, cos, shift[:, 1]], -1)], 1
    )  # (N, 2, 3): maps output coordinates to input coordinates
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@dataclass
class TaskData:
    """Everything a run's data needs: all queries, its split, and the handwriting banks."""

    queries: Queries
    split: QuerySplit
    train_bank: GlyphBank | None
    test_bank: GlyphBank | None
    mnist_source: str | None


def needs_images(task: str) -> bool:
    return task != "text2text"


def save_split(path, split: QuerySplit) -> None:
    """Store the query split in a run so evaluation always uses the same test queries."""

    def write(tmp) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, train=split.train, val=split.val, test=split.test)

    atomic_write(path, write)


def load_split(path) -> QuerySplit:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return QuerySplit(npz["train"], npz["val"], npz["test"])
    except FileNotFoundError:
        raise GenlabError(f"{path} is missing: the run's query split was not saved; retrain it") from None
    except (ValueError, KeyError, OSError, EOFError) as exc:  # object arrays, missing keys, garbage
        raise GenlabError(f"{path} is damaged or not a genlab split ({exc}); retrain the run") from None
