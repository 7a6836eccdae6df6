"""Honest evaluation of arithmetic runs: exact-match accuracy on the run's own test queries.

"Accuracy" is always the whole answer right. For image outputs the answer cells are read back
into text by the glyph classifier (read-back accuracy); per-character accuracy is reported
beside it and labelled as such. Image test queries are written with test-pool handwriting,
which the model never saw in training.
"""

from __future__ import annotations

import json
import re
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.data.arithmetic import ArithSpec, GlyphBank, TaskData, apply_op, strip
from genlab.errors import GenlabError
from genlab.eval.glyphs import load_glyph_classifier, read_cells
from genlab.models.glyphs import GlyphClassifier
from genlab.models.seq2seq import Seq2Seq
from genlab.paths import atomic_write, atomic_write_json
from genlab.train.rundir import RunDir

TEST_RENDER_SEED = 2024


@lru_cache(maxsize=4)
def _classifier(
    mnist: str, seed: int, max_int: int, ops: str, test_frac: float, epochs: int, width: int, features: int
) -> tuple[GlyphClassifier, dict[str, Any]]:
    return load_glyph_classifier(
        mnist, seed, ArithSpec(max_int, ops), test_frac, epochs, width=width, features=features
    )


def classifier_for(config: Any, with_info: bool = False) -> Any:
    """The glyph classifier matching a run's MNIST source, seed and handwriting split."""
    model, info = _classifier(
        config.mnist,
        config.seed,
        config.max_int,
        config.ops,
        config.handwriting_test_frac,
        config.glyph_epochs,
        config.glyph_width,
        config.glyph_features,
    )
    return (model, info) if with_info else model


def render_cells(tokens: np.ndarray, bank: GlyphBank, seed: int) -> np.ndarray:
    """Fixed handwriting for evaluation: uint8 (N, L, 28, 28), the same every time for a seed."""
    return bank.render(tokens, np.random.default_rng(seed))


def to_input(model: Seq2Seq, tokens: np.ndarray, cells: np.ndarray | None) -> torch.Tensor:
    if model.spec.input_kind == "text":
        return torch.from_numpy(tokens)
    return torch.from_numpy(cells).float().div_(255)


@torch.inference_mode()
def predict(
    model: Seq2Seq, x: torch.Tensor, batch_size: int = 1000, device: Any = "cpu", cell_probs: bool = False
) -> np.ndarray:
    """Greedy answers for all inputs: tokens (N, Ta) int64, or images (N, Ta, 28, 28) float [0,1]."""
    model.eval()
    parts = [
        model.predict(x[i : i + batch_size].to(device), cell_probs).cpu()
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(parts).numpy()


@torch.inference_mode()
def read_query_cells(
    model: Seq2Seq, cells: torch.Tensor, device: Any, batch_size: int = 1024
) -> torch.Tensor:
    """Images (N, Tq, 28, 28) in [0, 1] -> the model's cell probabilities (N, Tq, V)."""
    model.eval()
    flat = cells.reshape(-1, 1, 28, 28)
    probs = [
        model.read_cells(flat[i : i + batch_size].to(device)).cpu() for i in range(0, len(flat), batch_size)
    ]
    return torch.cat(probs).view(*cells.shape[:2], -1)


def answer_tokens(model: Seq2Seq, predictions: np.ndarray, classifier: GlyphClassifier | None) -> np.ndarray:
    """Predicted answers as tokens: directly for text outputs, read back for image outputs."""
    if model.spec.output_kind == "text":
        return predictions
    n, length = predictions.shape[:2]
    return read_cells(classifier, torch.from_numpy(predictions).reshape(-1, 28, 28)).reshape(n, length)


def scores(pred: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    """(exact-match accuracy, per-character accuracy) of token arrays (N, L)."""
    if len(true) == 0:
        return float("nan"), float("nan")
    right = pred == true
    return float(right.all(-1).mean()), float(right.mean())


def validation_metrics(
    model: Seq2Seq, data: TaskData, config: Any, device: Any, cache: dict[str, Any] | None = None
) -> dict[str, float]:
    """Periodic check on the validation queries (unseen queries, train-pool handwriting).

    `cache` (one dict per training run) keeps the rendered queries and, while the cell CNN is frozen,
    their cell probabilities: the width-64 reader spends seconds on the 5,000 validation cells, and
    validation runs every `eval_every` steps.
    """
    cache = {} if cache is None else cache
    if "x" not in cache:
        idx = data.split.val
        q = data.queries
        cells = None
        if model.spec.input_kind == "image":
            cells = render_cells(q.query_tokens[idx], data.train_bank, config.seed + 99)
        cache["x"] = to_input(model, q.query_tokens[idx], cells)
        cache["true"] = q.answer_tokens[idx]
        cache["cell_probs"] = model.spec.input_kind == "image" and not config.finetune_cnn
        if cache["cell_probs"]:
            cache["x"] = read_query_cells(model, cache["x"], device)
    classifier = classifier_for(config) if model.spec.output_kind == "image" else None
    preds = predict(model, cache["x"], device=device, cell_probs=cache["cell_probs"])
    acc, char = scores(answer_tokens(model, preds, classifier), cache["true"])
    return {"val_acc": acc, "val_char_acc": char}


def evaluate_arith(run: RunDir | str, device: str = "cpu", examples: int = 12) -> dict[str, Any]:
    """Score a run on its test queries; write evaluation.json, test_predictions.npz, figures/examples.png."""
    from genlab.train.arith import KIND, load_config, load_model, task_data
    from genlab.viz.arith import plot_examples

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
    run.append_metrics({"event": "evaluate", **{k: v for k, v in result.items() if not isinstance(v, str)}})
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


def load_evaluation(run: RunDir) -> dict[str, Any] | None:
    path = run.path / "evaluation.json"
    return json.loads(path.read_text()) if path.exists() else None


def read_query_image(path: str | Path, cells: int) -> np.ndarray:
    """A photo or scan of a whole query -> float (cells, 28, 28) in [0, 1], MNIST-style.

    The image is split into `cells` equal cells side by side (any size; it is resized to a
    28 x 28*cells strip). Dark writing on a light background is inverted to MNIST's white on black.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            gray = img.convert("L").resize((28 * cells, 28), Image.LANCZOS)
    except FileNotFoundError:
        raise GenlabError(f"--image {path}: no such file") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise GenlabError(
            f"--image {path} is not a readable image ({exc.__class__.__name__}); use a PNG or JPEG"
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
    from genlab.train.arith import KIND, load_config, load_model
    from genlab.viz.grid import save_image

    run = run if isinstance(run, RunDir) else RunDir.open(run, KIND)
    config = load_config(run)
    spec = config.spec
    model = load_model(run, device=device)
    result: dict[str, Any] = {}
    in_image, out_image = model.spec.input_kind == "image", model.spec.output_kind == "image"
    classifier = classifier_for(config) if (in_image or out_image) else None
    if image is not None:
        if not in_image:
            raise GenlabError(f"{run.path} is a {config.task} run: it reads text queries, not --image")
        cells = read_query_image(image, spec.query_len)
        read = spec.decode(read_cells(classifier, torch.from_numpy(cells))[None])[0]
        cells = align_cells(cells, read, spec)
        result["query"] = read.replace(" ", "")
        result["query_read_by_glyph_classifier"] = read
        x = torch.from_numpy(cells)[None]  # (1, Tq, 28, 28)
    else:
        a, op, b = spec.parse(query or "")
        text = spec.pad_query(a, op, b)
        result["query"] = f"{a}{op}{b}"
        result["true_answer"] = str(int(apply_op(np.array([a]), np.array([op]), np.array([b]))[0]))
        tokens = spec.encode([text], spec.query_len)
        if in_image:
            from genlab.eval.glyphs import glyph_banks

            _, test_bank, source = glyph_banks(
                spec, config.mnist, config.seed, config.handwriting_test_frac, config.shared_handwriting
            )
            result["mnist_source"] = source
            cells_u8 = test_bank.render(tokens, np.random.default_rng(zlib.crc32(text.encode())))[0]
            path = run.samples_dir / f"ask-query-{_slug(text)}.png"
            result["query_png"] = str(save_image(strip(cells_u8), path, scale=4))
            x = torch.from_numpy(cells_u8).float().div_(255)[None]
        else:
            x = torch.from_numpy(tokens)
    pred = predict(model, x, device=device)
    if out_image:
        path = Path(out_png) if out_png else run.samples_dir / f"ask-answer-{_slug(result['query'])}.png"
        result["answer_png"] = str(save_image(np.rint(strip(pred[0]) * 255).astype(np.uint8), path, scale=4))
        tokens_out = answer_tokens(model, pred, classifier)
        result["answer"] = spec.decode(tokens_out)[0].strip()
        result["answer_means"] = "what the glyph classifier reads in the generated image"
    else:
        result["answer"] = spec.decode(pred)[0].strip()
    return result


def _slug(text: str) -> str:
    return "".join({"+": "plus", "-": "minus", "*": "times"}.get(c, c) for c in text.strip()).replace(
        " ", "_"
    )
