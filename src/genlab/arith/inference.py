"""Answering with a trained arithmetic model: inputs, greedy answers, read-back, exact-match scores.

Shared by the training loop's validation callback and by the test-set evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from genlab.arith.config import ArithConfig
from genlab.arith.glyphs import GlyphClassifier, classifier_for, read_cells
from genlab.arith.model import ArithModel, read_query_cells
from genlab.arith.problem import GlyphBank, TaskData
from genlab.core.errors import GenlabError


def render_cells(tokens: np.ndarray, bank: GlyphBank, seed: int) -> np.ndarray:
    """Fixed handwriting for evaluation: uint8 (N, L, 28, 28), the same every time for a seed."""
    return bank.render(tokens, np.random.default_rng(seed))


def read_rendered_cells(
    model: ArithModel, tokens: np.ndarray, bank: GlyphBank, seed: int, device: Any
) -> tuple[np.ndarray, torch.Tensor]:
    """The handwriting `render_cells` draws for a seed, uint8 (N, L, 28, 28), and the model's reading
    of every cell (N, L, V). The reader sees each bank image once, however many queries use it: a
    test set draws its tens of thousands of cells from a few thousand images."""
    rows = bank.pick(tokens, np.random.default_rng(seed))  # the rows render_cells takes
    images = torch.from_numpy(bank.images).float().div_(255)
    probs = read_query_cells(model, images.view(1, -1, 28, 28), device)[0]  # (M, V)
    return bank.images_at(rows), probs[torch.from_numpy(rows)]


def to_input(model: ArithModel, tokens: np.ndarray, cells: np.ndarray | None) -> torch.Tensor:
    if model.spec.input_kind == "text":
        return torch.from_numpy(tokens)
    return torch.from_numpy(cells).float().div_(255)


@torch.inference_mode()
def predict(
    model: ArithModel,
    x: torch.Tensor,
    batch_size: int = 1000,
    device: Any = "cpu",
    cell_probs: bool = False,
    styles: torch.Tensor | None = None,
) -> np.ndarray:
    """Greedy answers for all inputs: tokens (N, Ta) int64, or images (N, Ta, 28, 28) float [0,1];
    `styles` (N, Z): the style code each handwriting answer is written in (from `answer_styles`)."""
    model.eval()
    parts = [
        model.predict(
            x[i : i + batch_size].to(device),
            cell_probs,
            None if styles is None else styles[i : i + batch_size],
        ).cpu()
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(parts).numpy()


def answer_styles(
    model: ArithModel,
    n: int,
    seed: int,
    config: ArithConfig,
    cells: torch.Tensor | None = None,
    cell_reading: np.ndarray | None = None,
) -> torch.Tensor | None:
    """The style codes (n, Z) `n` handwriting answers are written in, seeded: None for a model that
    does not write handwriting; with `config.keep_style` and the query cells (n, Tq, 28, 28) in
    [0, 1] given, the style of each query's digits (`cell_reading` (n, Tq): the glyph reader's
    class of each cell, digits are classes 0-9); else `n` new writers (`ArithModel.sample_styles`)."""
    if not model.spec.style_dim:
        return None
    generator = torch.Generator().manual_seed(seed)
    if cells is not None and config.keep_style and cell_reading is not None:
        return model.query_styles(cells, torch.from_numpy(np.asarray(cell_reading)), generator)
    return model.sample_styles(n, generator)


def answer_tokens(
    model: ArithModel, predictions: np.ndarray, classifier: GlyphClassifier | None
) -> np.ndarray:
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
    model: ArithModel, data: TaskData, config: ArithConfig, device: Any, cache: dict[str, Any] | None = None
) -> dict[str, float]:
    """Periodic check on the validation queries (unseen queries, train-pool handwriting).

    `cache` (one dict per training run) keeps the rendered queries and, while the cell CNN is frozen,
    their cell probabilities: the glyph reader is costly on the validation cells, and validation runs
    every `eval_every` steps.
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
        cache["cells"] = None if cells is None else torch.from_numpy(cells).float().div_(255)
    classifier = classifier_for(config) if model.spec.output_kind == "image" else None
    styles = None
    if model.spec.style_dim:  # the style encoder trains too: its codes of the query are taken anew
        if model.spec.writers:
            if "writer_pool" not in cache:
                bank = data.train_bank
                cache["writer_pool"] = (
                    torch.from_numpy(bank.images).float().div_(255),
                    torch.from_numpy(bank.labels()),
                )
            model.refresh_writers(*cache["writer_pool"], config.seed)
        cells = cache["cells"]
        if cells is not None and "reading" not in cache:
            cache["reading"] = read_cells(classifier, cells.reshape(-1, 28, 28)).reshape(cells.shape[:2])
        reading = cache.get("reading")
        styles = answer_styles(model, len(cache["true"]), config.seed + 99, config, cells, reading)
    preds = predict(model, cache["x"], device=device, cell_probs=cache["cell_probs"], styles=styles)
    acc, char = scores(answer_tokens(model, preds, classifier), cache["true"])
    return {"val_acc": acc, "val_char_acc": char}


def validator(data: TaskData, config: ArithConfig, device: Any) -> Callable[[ArithModel], dict[str, float]]:
    """The training loop's evaluation callback: `validate(model) -> {"val_acc", "val_char_acc"}`."""
    cache: dict[str, Any] = {}
    return lambda model: validation_metrics(model, data, config, device, cache)


@torch.inference_mode()
def attention_maps(model: ArithModel, x: torch.Tensor, device: Any = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Greedy answers for `x`, and where each answer position looked: (predictions, weights (N, Ta, Tq)),
    both axes of the weights in reading order (answer left to right, query left to right).

    The weights come from a teacher-forced pass on the model's own greedy answer, which gives the
    same outputs as greedy decoding: for the RNN its Luong attention, for the transformer the top
    decoder layer's cross-attention averaged over heads."""
    spec = model.spec
    if spec.arch != "transformer" and not spec.attention:
        raise GenlabError("this run was trained with --no-attention: it has no attention to show")
    model.eval()
    x = x.to(device)
    predicted = model.predict(x)
    model.attention_maps = []
    try:
        model(x, predicted)
        weights = model.attention_maps[-1]
    finally:
        model.attention_maps = None
    if spec.reverse_answer:
        weights = weights.flip(1)
    if spec.reverse:
        weights = weights.flip(2)
    return predicted.cpu().numpy(), weights.cpu().numpy()
