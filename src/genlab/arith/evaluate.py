"""Honest evaluation of arithmetic runs: exact-match accuracy on the run's own test queries.

"Accuracy" is always the whole answer right. For image outputs the answer cells are read back
into text by the glyph classifier (read-back accuracy); per-character accuracy is reported
beside it and labelled as such. Image test queries are written with test-pool handwriting,
which the model never saw in training.
"""

from __future__ import annotations

import re
import warnings
import zlib
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from genlab.arith.glyphs import classifier_for, glyph_banks, read_cells
from genlab.arith.inference import answer_tokens, attention_maps, predict, render_cells, scores, to_input
from genlab.arith.model import Seq2SeqSpec, build_model, read_query_cells
from genlab.arith.plots import plot_attention, plot_examples
from genlab.arith.problem import ArithSpec, GlyphBank, apply_op, queries_of, strip
from genlab.arith.runs import KIND, load_config, load_model, task_data
from genlab.core.errors import GenlabError
from genlab.core.grid import save_image
from genlab.core.paths import atomic_write, atomic_write_json
from genlab.core.rundir import RunDir

TEST_RENDER_SEED = 2024


def evaluate_arith(run: RunDir | str, device: str = "cpu", examples: int = 12) -> dict[str, Any]:
    """Score a run on its test queries; write evaluation.json, test_predictions.npz, figures/examples.png."""
    run = run if isinstance(run, RunDir) else RunDir.open(run, KIND)
    config = load_config(run)
    data = task_data(config, run)
    model = load_model(run, device=device)
    q, idx = data.queries, data.split.test
    qtok, true = q.query_tokens[idx], q.answer_tokens[idx]
    in_image, out_image = model.spec.input_kind == "image", model.spec.output_kind == "image"
    cells = render_cells(qtok, data.test_bank, config.seed + TEST_RENDER_SEED) if in_image else None
    classifier = classifier_for(config) if (in_image or out_image) else None
    x = to_input(model, qtok, cells)
    if in_image:  # read every query cell once: the model's input, and what the reader made of it
        x = read_query_cells(model, x, device)
    preds = predict(model, x, device=device, cell_probs=in_image)
    pred_tokens = answer_tokens(model, preds, classifier)
    acc, char = scores(pred_tokens, true)
    result: dict[str, Any] = {
        "task": config.task,
        "train_frac": config.train_frac,
        "test_queries": int(len(idx)),
        "accuracy": acc,
        "char_accuracy": char,
        "accuracy_means": "exact match of the whole answer"
        + (" as read back by the glyph classifier" if out_image else ""),
    }
    saved: dict[str, np.ndarray] = {"idx": idx, "pred_tokens": pred_tokens}
    if data.mnist_source:
        result["mnist_source"] = data.mnist_source
    if out_image:
        if config.answer_style == "prototype":
            target = data.train_bank.prototypes()[true].astype(np.float32) / 255
            result["pixel_mse_against"] = "the prototype image of each true answer character"
        else:
            seed = config.seed + TEST_RENDER_SEED + 1
            target = render_cells(true, data.test_bank, seed).astype(np.float32) / 255
            result["pixel_mse_against"] = "test-pool handwriting of the true answer"
        result["readback_accuracy"] = acc
        result["readback_char_accuracy"] = char
        result["pixel_mse"] = float(((preds - target) ** 2).mean())
    if in_image:
        if config.finetune_cnn:
            query_read = read_cells(classifier, cells.reshape(-1, 28, 28)).reshape(qtok.shape)
        else:  # the frozen cell CNN is the glyph classifier: its reading is already computed
            query_read = x.argmax(-1).numpy()
        saved["query_read"] = query_read
        result["query_cells_read_correctly"] = float((query_read == qtok).all(-1).mean())
    if classifier is not None:
        result["glyph_classifier_test_accuracy"] = classifier_for(config, with_info=True)[1]["test_accuracy"]

    def write_npz(tmp) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **saved)

    atomic_write(run.path / "test_predictions.npz", write_npz)
    result["examples_figure"] = str(
        plot_examples(
            run.figures_dir / "examples.png",
            _example_rows(config, q, idx, pred_tokens, cells, preds if out_image else None, examples),
            f"{config.task} on unseen test queries: {acc:.2%} exact match"
            + (" (read back)" if out_image else ""),
        )
    )
    atomic_write_json(run.path / "evaluation.json", result)
    scalars = {k: v for k, v in result.items() if not isinstance(v, str)}
    # "type" says what the record is, as every metrics.jsonl line does; "event" is what older readers look for
    run.append_metrics({"type": "eval", "event": "evaluate", **scalars})
    return result


def _example_rows(config, q, idx, pred_tokens, cells, pred_images, n: int) -> list[dict[str, Any]]:
    """A seeded mix of examples: mostly random ones, plus up to a third that are mistakes."""
    spec = config.spec
    rng = np.random.default_rng(config.seed)
    wrong = np.flatnonzero((pred_tokens != q.answer_tokens[idx]).any(-1))
    n_wrong = min(len(wrong), n // 3)
    chosen = list(rng.choice(wrong, n_wrong, replace=False)) if n_wrong else []
    others = np.setdiff1d(np.arange(len(idx)), chosen)
    chosen += list(rng.choice(others, min(n - n_wrong, len(others)), replace=False))
    predicted = spec.decode(pred_tokens[chosen])
    rows = []
    for k, i in enumerate(chosen):
        rows.append(
            {
                "query": q.query_text[idx[i]].strip(),
                "query_image": strip(cells[i]) if cells is not None else None,
                "true": q.answer_text[idx[i]].strip(),
                "pred": predicted[k].strip() or "(blank)",
                "pred_image": strip(pred_images[i]) if pred_images is not None else None,
                "correct": predicted[k] == q.answer_text[idx[i]],
            }
        )
    return rows


def read_query_image(path: str | Path | BinaryIO, cells: int, name: str | None = None) -> np.ndarray:
    """A photo or scan of a whole query -> float (cells, 28, 28) in [0, 1], MNIST-style.

    The image is split into `cells` equal cells side by side (any size; it is resized to a
    28 x 28*cells strip). Dark writing on a light background is inverted to MNIST's white on black.
    `path` may be an open binary file; `name` is how error messages call it (default `--image PATH`).
    """

    name = name or f"--image {path}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                gray = img.convert("L").resize((28 * cells, 28), Image.LANCZOS)
    except FileNotFoundError:
        raise GenlabError(f"{name}: no such file") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise GenlabError(
            f"{name} is far too large to be a photo of a query ({Image.MAX_IMAGE_PIXELS // 2:,} "
            "pixels at most); use a smaller image"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise GenlabError(
            f"{name} is not a readable image ({exc.__class__.__name__}); use a PNG or JPEG"
        ) from None
    strip_img = np.asarray(gray, dtype=np.float32) / 255  # (28, 28*cells)
    border = np.concatenate([strip_img[0], strip_img[-1], strip_img[:, 0], strip_img[:, -1]])
    if border.mean() > 0.5:
        strip_img = 1.0 - strip_img
    return strip_img.reshape(28, cells, 28).transpose(1, 0, 2).copy()


def align_cells(cells: np.ndarray, read: str, spec: ArithSpec) -> np.ndarray:
    """Move a user's cells into the run's layout: '5+24 ' written left to right becomes ' 5+24'.

    `read` is what the glyph classifier sees in each cell; when it is not a well-formed query the
    cells are returned unchanged (and the model answers what it sees).
    """
    match = re.fullmatch(r"\s*(\d+)\s*([+\-*])\s*(\d+)\s*", read)
    if spec.layout != "aligned" or not match:
        return cells
    width = spec.operand_len
    a, b = range(match.start(1), match.end(1)), range(match.start(3), match.end(3))
    if len(a) > width or len(b) > width:
        return cells
    order = [None] * (width - len(a)) + list(a) + [match.start(2)] + [None] * (width - len(b)) + list(b)
    blank = np.zeros_like(cells[0])
    return np.stack([blank if i is None else cells[i] for i in order])


class Answerer:
    """One arith run loaded once, answering queries without writing anything (ask_arith, genlab serve).

    `answer(query="81+24")` writes a typed query as the run expects it (text, or test-pool
    handwriting for image-input runs); `answer(cells=...)` takes a user's cells, float (Tq, 28, 28)
    in [0, 1] (from `read_query_image`). Not thread-safe: callers serialize calls per instance.
    """

    def __init__(self, run: RunDir | str | Path, device: str = "cpu") -> None:
        self.run = run if isinstance(run, RunDir) else RunDir.open(run, KIND)
        self.config = load_config(self.run)
        self.spec = self.config.spec
        self.device = device
        self.model = load_model(self.run, device=device)
        self.in_image = self.model.spec.input_kind == "image"
        self.out_image = self.model.spec.output_kind == "image"
        needs_reader = self.in_image or self.out_image
        self.classifier = classifier_for(self.config) if needs_reader else None

    @cached_property
    def handwriting(self) -> tuple[GlyphBank, str]:
        """The test-pool handwriting (never trained on) typed queries are written with, and its source."""
        config = self.config
        _, test_bank, source = glyph_banks(
            self.spec, config.mnist, config.seed, config.handwriting_test_frac, config.shared_handwriting
        )
        return test_bank, source

    def read(self, cells: np.ndarray) -> str:
        """The glyph classifier's reading of float cells (L, 28, 28), one character per cell."""
        return self.spec.decode(read_cells(self.classifier, torch.from_numpy(cells))[None])[0]

    def answer(self, query: str | None = None, cells: np.ndarray | None = None) -> dict[str, Any]:
        """{"query", "answer", ...} with arrays: "query_cells" float (Tq, 28, 28), the cells the model
        read (image-input runs), and "answer_cells" float (Ta, 28, 28), its drawn answer (image outputs)."""
        result, x = self.model_input(query, cells)
        spec = self.spec
        pred = predict(self.model, x, device=self.device)
        if self.out_image:
            result["answer_cells"] = pred[0]
            result["answer"] = spec.decode(answer_tokens(self.model, pred, self.classifier))[0].strip()
            result["answer_means"] = "what the glyph classifier reads in the generated image"
        else:
            result["answer"] = spec.decode(pred)[0].strip()
        return result

    def model_input(
        self, query: str | None = None, cells: np.ndarray | None = None
    ) -> tuple[dict[str, Any], torch.Tensor]:
        """A typed query or a user's cells as the model reads them: ({"query", ...}, a batch of one)."""
        spec = self.spec
        result: dict[str, Any] = {}
        if cells is not None:
            if not self.in_image:
                raise GenlabError(f"{self.run.path} is a {self.config.task} run: it reads text queries")
            read = self.read(cells)
            cells = align_cells(cells, read, spec)
            result["query"] = read.replace(" ", "")
            result["query_read_by_glyph_classifier"] = read
        else:
            a, op, b = spec.parse(query or "")
            text = spec.pad_query(a, op, b)
            result["query"] = f"{a}{op}{b}"
            result["true_answer"] = str(int(apply_op(np.array([a]), np.array([op]), np.array([b]))[0]))
            tokens = spec.encode([text], spec.query_len)
            if self.in_image:
                bank, result["mnist_source"] = self.handwriting
                cells_u8 = bank.render(tokens, np.random.default_rng(zlib.crc32(text.encode())))[0]
                cells = cells_u8.astype(np.float32) / 255
        if cells is not None:
            result["query_cells"] = cells
            return result, torch.from_numpy(cells)[None]  # (1, Tq, 28, 28)
        return result, torch.from_numpy(tokens)


def ask_arith(
    run: RunDir | str,
    query: str | None = None,
    image: str | Path | None = None,
    out_png: str | Path | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Answer one query with a trained run.

    Text-input runs take `query` ('81+24'); image-input runs write the query with test-pool
    handwriting, or read `image` (a strip of cells). Image answers are saved as a PNG and read
    back by the glyph classifier. Returns {"query", "answer", and the PNG paths written}.
    """

    answerer = Answerer(run, device)
    run, spec = answerer.run, answerer.spec
    if image is not None and not answerer.in_image:
        raise GenlabError(f"{run.path} is a {answerer.config.task} run: it reads text queries, not --image")
    cells = read_query_image(image, spec.query_len) if image is not None else None
    result = answerer.answer(query, cells)
    query_cells, answer_cells = result.pop("query_cells", None), result.pop("answer_cells", None)
    if image is None and query_cells is not None:  # the handwriting the typed query was written in
        path = run.samples_dir / f"ask-query-{_slug(spec.pad_query(*spec.parse(query or '')))}.png"
        result["query_png"] = _save_cells(query_cells, path)
    if answer_cells is not None:
        path = Path(out_png) if out_png else run.samples_dir / f"ask-answer-{_slug(result['query'])}.png"
        result["answer_png"] = _save_cells(answer_cells, path)
    return result


def length_test(
    run: RunDir | str | Path, max_int: int, n: int = 2000, seed: int = 0, device: str = "cpu"
) -> dict[str, Any]:
    """Longer operands than the run was trained on: exact match on `n` random queries with operands
    up to `max_int`, at least one of them above the run's --max-int (e.g. trained on 0..99, asked
    about three-digit numbers). The same weights read the longer query and write a longer answer;
    a recurrent model can, the transformer cannot (its position embeddings exist only for the
    trained lengths), and nothing in training asked for it, so this measures what carries over."""
    run = run if isinstance(run, RunDir) else RunDir.open(run, KIND)
    config = load_config(run)
    if config.task.startswith("img"):
        raise GenlabError(f"{run.path} is a {config.task} run: the length test covers text-input runs")
    if max_int <= config.max_int:
        raise GenlabError(f"--length-test {max_int}: use a range beyond the run's --max-int {config.max_int}")
    stored = Seq2SeqSpec.from_stored(run.config["model"])
    if stored.arch == "transformer":
        raise GenlabError(
            f"{run.path} is a transformer: its learned position embeddings cover only the query and answer "
            "lengths it was trained on, so it cannot read longer queries"
        )
    longer = ArithSpec(max_int, config.ops, config.layout)
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, max_int + 1, (2, n))
    small = np.maximum(a, b) <= config.max_int  # at least one operand beyond the trained range
    a[small] = rng.integers(config.max_int + 1, max_int + 1, int(small.sum()))
    queries = queries_of(longer, a, np.array(list(config.ops))[rng.integers(0, len(config.ops), n)], b)
    spec = replace(stored, query_len=longer.query_len, answer_len=longer.answer_len)
    model = build_model(spec)
    run.load_into(model, "model", device)
    model.eval()
    preds = predict(model, torch.from_numpy(queries.query_tokens), device=device)
    classifier = classifier_for(config) if spec.output_kind == "image" else None
    acc, char = scores(answer_tokens(model, preds, classifier), queries.answer_tokens)
    return {
        "task": config.task,
        "trained_max_int": config.max_int,
        "tested_max_int": max_int,
        "queries": n,
        "accuracy": acc,
        "char_accuracy": char,
        "accuracy_means": f"exact match on queries with an operand in {config.max_int + 1}..{max_int}, "
        f"a range the model never saw (trained on 0..{config.max_int})",
    }


# queries whose answers need a carry or a borrow (and one that needs none), per operator
ATTENTION_QUERIES = {"+": ("47+58", "81+24", "9+95"), "-": ("41-89", "90-7", "52-18"), "*": ("12*34",)}


def attention_figure(
    run: RunDir | str | Path,
    queries: list[str] | None = None,
    out: str | Path | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Where each answer character looks in the query: one heat map per query (default: a few with
    carries and borrows) in RUN/figures/attention.png. Returns {"figure", "queries": [...]}."""
    answerer = Answerer(run, device)
    spec, model = answerer.spec, answerer.model
    queries = queries or default_attention_queries(spec)
    panels = []
    for query in queries:
        result, x = answerer.model_input(query)
        predicted, weights = attention_maps(model, x, device)
        answer = spec.decode(answer_tokens(model, predicted, answerer.classifier))[0]
        panels.append(
            {
                "text": result["query"],
                "query": spec.pad_query(*spec.parse(query)),
                "answer": answer,
                "weights": weights[0],
                "right": answer.strip() == result["true_answer"],
                "true": result["true_answer"],
            }
        )
    path = Path(out) if out else answerer.run.figures_dir / "attention.png"
    arch = model.spec.arch if model.spec.arch == "transformer" else f"{model.spec.arch} + Luong attention"
    plot_attention(path, panels, f"{answerer.config.task}, {arch}: where each answer character looks")
    return {
        "figure": str(path),
        "queries": [{k: p[k] for k in ("text", "query", "answer", "right", "true")} for p in panels],
    }


def default_attention_queries(spec: ArithSpec) -> list[str]:
    """A few queries per operator, most of them with a carry or a borrow in the units column: the
    fixed ones where they are in range, else drawn (seeded) from the range."""
    rng = np.random.default_rng(0)
    queries = []
    for op in spec.ops:
        chosen = [q for q in ATTENTION_QUERIES[op] if _fits(spec, q)]
        for _ in range(200):
            if len(chosen) >= 2:
                break
            a, b = (int(v) for v in rng.integers(0, spec.max_int + 1, 2))
            carries = {"+": a % 10 + b % 10 >= 10, "-": a % 10 < b % 10, "*": a % 10 * (b % 10) >= 10}[op]
            if carries and f"{a}{op}{b}" not in chosen:
                chosen.append(f"{a}{op}{b}")
        queries += chosen
    return queries


def _fits(spec: ArithSpec, query: str) -> bool:
    try:
        spec.parse(query)
    except GenlabError:
        return False
    return True


def _save_cells(cells: np.ndarray, path: Path) -> str:
    """Float cells (L, 28, 28) in [0, 1] -> one PNG strip, enlarged 4x; returns its path."""
    return str(save_image(np.rint(strip(cells) * 255).astype(np.uint8), path, scale=4))


def _slug(text: str) -> str:
    return "".join({"+": "plus", "-": "minus", "*": "times"}.get(c, c) for c in text.strip()).replace(
        " ", "_"
    )
