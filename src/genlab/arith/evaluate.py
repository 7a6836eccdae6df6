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

from genlab.arith.config import check_typical_writers
from genlab.arith.glyphs import classifier_for, glyph_banks, read_cells
from genlab.arith.handwriting import answer_mix_note, handwriting_quality, query_style_closeness
from genlab.arith.inference import (
    answer_styles,
    answer_tokens,
    attention_maps,
    predict,
    read_rendered_cells,
    render_cells,
    scores,
    to_input,
)
from genlab.arith.model import Seq2SeqSpec, build_model
from genlab.arith.plots import plot_answer_styles, plot_attention, plot_examples
from genlab.arith.problem import ArithSpec, GlyphBank, apply_op, queries_of, strip, swapped_twins
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
    classifier = classifier_for(config) if (in_image or out_image) else None
    cells, cells_float, query_read = None, None, None
    if in_image:  # the model's input, as its reader reads the cells, and what it made of them
        cells, x = read_rendered_cells(model, qtok, data.test_bank, config.seed + TEST_RENDER_SEED, device)
        cells_float = torch.from_numpy(cells).float().div_(255)
        if config.finetune_cnn:
            query_read = read_cells(classifier, cells.reshape(-1, 28, 28)).reshape(qtok.shape)
        else:  # the frozen cell CNN is the glyph classifier: its reading is already computed
            query_read = x.argmax(-1).numpy()
    else:
        x = to_input(model, qtok, None)
    styles = answer_styles(
        model, len(idx), config.seed + TEST_RENDER_SEED + 2, config, cells_float, query_read
    )
    preds = predict(model, x, device=device, cell_probs=in_image, styles=styles)
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
    if config.swap_operands:  # a test query whose twin was trained on was, in effect, trained on
        trained = np.zeros(len(q), bool)
        trained[data.split.train] = True
        unseen = ~trained[swapped_twins(config.spec)[idx]]
        result["twin_unseen_queries"] = int(unseen.sum())
        result["accuracy_twin_unseen"] = scores(pred_tokens[unseen], true[unseen])[0]
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
    if model.spec.style_dim:
        result["handwriting"] = handwriting_quality(
            preds.reshape(-1, 28, 28),
            true.reshape(-1),
            classifier,
            data.train_bank,
            data.test_bank,
            config.seed,
        )
        result["handwriting"]["new_writers_from"] = (
            f"the style codes of {model.spec.writers} real train-pool drawings of each character"
            + typical_share(model.spec.typical_writers)
            if model.spec.writers
            else "the N(0, 1) prior"
        )
        if in_image:
            result["style"] = query_style_closeness(
                cells_float.numpy(), query_read < 10, preds, true < 10, config.seed
            )
            result["style"]["answers_written_in"] = "the query's style" if config.keep_style else "new styles"
        result["answer_styles_figure"] = str(
            answer_styles_figure(run, device=device, train_bank=data.train_bank)
        )
    if in_image:
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

    def answer(
        self, query: str | None = None, cells: np.ndarray | None = None, n: int = 1, seed: int = 0
    ) -> dict[str, Any]:
        """{"query", "answer", ...} with arrays: "query_cells" float (Tq, 28, 28), the cells the model
        read (image-input runs), and "answer_cells" float (Ta, 28, 28), its drawn answer (image outputs).

        Handwriting answers are drawn `n` times, seeded: "drawings" float (n, Ta, 28, 28) and
        "answers" (what the glyph classifier reads in each); "answer_cells" is the first of them."""
        result, x = self.model_input(query, cells)
        spec = self.spec
        styles = None
        if self.model.spec.style_dim:
            x = x.expand(n, *x.shape[1:])
            query_cells = reading = None
            if self.in_image:
                query_cells = torch.from_numpy(result["query_cells"])[None].expand(n, -1, -1, -1)
                reading = read_cells(self.classifier, query_cells[0]).reshape(1, -1).repeat(n, 0)
            styles = answer_styles(self.model, n, seed, self.config, query_cells, reading)
        pred = predict(self.model, x, device=self.device, styles=styles)
        if self.out_image:
            readings = [a.strip() for a in spec.decode(answer_tokens(self.model, pred, self.classifier))]
            result["answer_cells"] = pred[0]
            result["answer"] = readings[0]
            result["answer_means"] = "what the glyph classifier reads in the generated image"
            if styles is not None:
                result["drawings"], result["answers"] = pred, readings
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
    n: int = 1,
    seed: int = 0,
    typical_writers: float | None = None,
) -> dict[str, Any]:
    """Answer one query with a trained run.

    Text-input runs take `query` ('81+24'); image-input runs write the query with test-pool
    handwriting, or read `image` (a strip of cells). Image answers are saved as a PNG and read
    back by the glyph classifier. A handwriting run draws the answer `n` times (seeded by `seed`),
    one drawing per row of the PNG, its new writers from the run's own `--typical-writers` share
    unless `typical_writers` says otherwise. Returns {"query", "answer", and the PNG paths written}.
    """
    if n < 1:
        raise GenlabError(f"--n {n}: ask for 1 or more drawings")
    answerer = Answerer(run, device)
    run, spec = answerer.run, answerer.spec
    if typical_writers is not None:
        if not answerer.model.spec.writers:
            raise GenlabError(
                f"--typical-writers: {run.path} has no bank of writers to choose from (it was not trained "
                "with --answer-style handwriting and --writers); leave --typical-writers out"
            )
        check_typical_writers(typical_writers)
        answerer.model.spec.typical_writers = typical_writers
    if image is not None and not answerer.in_image:
        raise GenlabError(f"{run.path} is a {answerer.config.task} run: it reads text queries, not --image")
    cells = read_query_image(image, spec.query_len) if image is not None else None
    if n > 1 and not answerer.model.spec.style_dim:
        raise GenlabError(
            f"--n {n}: {run.path} draws one fixed answer (it was not trained with --answer-style "
            "handwriting), so every drawing would be the same; leave --n out"
        )
    result = answerer.answer(query, cells, n=n, seed=seed)
    query_cells, answer_cells = result.pop("query_cells", None), result.pop("answer_cells", None)
    drawings = result.pop("drawings", None)
    if drawings is not None and n > 1:
        answer_cells = drawings
    if image is None and query_cells is not None:  # the handwriting the typed query was written in
        path = run.samples_dir / f"ask-query-{_slug(spec.pad_query(*spec.parse(query or '')))}.png"
        result["query_png"] = _save_cells(query_cells, path)
    if answer_cells is not None:
        path = Path(out_png) if out_png else run.samples_dir / f"ask-answer-{_slug(result['query'])}.png"
        result["answer_png"] = _save_cells(answer_cells, path)
    return result


def typical_share(share: float) -> str:
    """', the 70% nearest the character's mean style' (nothing when every writer is drawn)."""
    return "" if share >= 1 else f", the {share:.0%} nearest the character's mean style"


def format_handwriting(result: dict[str, Any]) -> str:
    """The handwriting lines of an evaluation: realism, diversity and (img2img) style."""
    hw = result["handwriting"]
    lines = [
        f"handwriting realism: digits-space FID {hw['fid_digits']:.2f} against real test-pool digits "
        f"in the same mix of digits (real-vs-real floor {hw['fid_floor']:.2f}, {hw['fid_over_floor']:.1f}x; "
        f"{hw['digits']} digits)" + answer_mix_note(hw),
        f"handwriting diversity: {hw['diversity']:.2f} mean pairwise distance between drawings of the same "
        f"digit ({hw['diversity_share_of_real']:.0%} of real MNIST's {hw['diversity_real']:.2f})",
    ]
    if "style" in result:
        st = result["style"]
        lines.append(
            f"style: answers are closer in slant and stroke to their own query than to a random one in "
            f"{st['closer_to_own_query']:.0%} of queries (distance {st['distance_to_own_query']:.2f} vs "
            f"{st['distance_to_random_query']:.2f}; written in {st['answers_written_in']})"
        )
    if "new_writers_from" in hw:
        lines.append(f"new writers: drawn from {hw['new_writers_from']}")
    lines.append(f"answer styles: {result['answer_styles_figure']}")
    return "\n".join(lines)


STYLE_FIGURE_QUERIES = ("81+24", "47+58", "41-89")


def answer_styles_figure(
    run: RunDir | str | Path,
    query: str | None = None,
    n: int = 8,
    device: str = "cpu",
    train_bank: GlyphBank | None = None,
) -> Path:
    """RUN/figures/answer_styles.png: one query answered `n` times in handwriting, next to what the
    other two answer styles draw for it: the prototype images (what a prototype-style run is trained
    to draw) and the mean train-pool image of each character (what a random-style run's pixel loss
    is minimized by: the average of the handwriting it was shown). `train_bank`: the run's train-pool
    glyphs when the caller has them already (built from the run's config otherwise)."""
    answerer = Answerer(run, device)
    spec = answerer.spec
    query = query or next((q for q in STYLE_FIGURE_QUERIES if _fits(spec, q)), None)
    if query is None:
        a, b = spec.max_int, spec.max_int // 2
        query = f"{a}{spec.ops[0]}{b}"
    result = answerer.answer(query, n=n, seed=0)
    true = result["true_answer"]
    drawings = result.get("drawings", result["answer_cells"][None])
    rows = [
        (f"handwriting {k + 1}: {read!r}", cells, read == true)
        for k, (cells, read) in enumerate(
            zip(drawings, result.get("answers", [result["answer"]]), strict=True)
        )
    ]
    if train_bank is None:
        config = answerer.config
        train_bank = glyph_banks(
            spec, config.mnist, config.seed, config.handwriting_test_frac, config.shared_handwriting
        )[0]
    tokens = spec.encode([true.rjust(spec.answer_len)], spec.answer_len)[0]
    prototypes = train_bank.prototypes()[tokens].astype(np.float32) / 255
    means = np.stack(
        [
            train_bank.images[s : s + c].astype(np.float32).mean(0) / 255
            for s, c in zip(train_bank.starts[tokens], train_bank.counts[tokens], strict=True)
        ]
    )
    rows += [("prototype style", prototypes, True), ("random style's optimum", means, True)]
    path = answerer.run.figures_dir / "answer_styles.png"
    title = f"{result['query']} = {true}: {n} handwritten answers (seeds), and the other two styles"
    return plot_answer_styles(path, rows, title)


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
    """Float cells (L, 28, 28) in [0, 1] -> one PNG strip, enlarged 4x; (n, L, 28, 28) -> n strips,
    one under another. Returns its path."""
    strips = strip(cells).reshape(-1, cells.shape[-3] * 28)
    return str(save_image(np.rint(strips * 255).astype(np.uint8), path, scale=4))


def _slug(text: str) -> str:
    return "".join({"+": "plus", "-": "minus", "*": "times"}.get(c, c) for c in text.strip()).replace(
        " ", "_"
    )
