"""`genlab arith export`: a text-input run's whole answerer as a file other programs load without genlab.

    model_path, sidecar = export_run("runs/t2t", fmt="pt2")        # runs/t2t/export/answerer.pt2 + .json

    # elsewhere, with torch only (the sidecar holds the vocabulary and the query layout):
    answer = torch.export.load("answerer.pt2").module()
    tokens = answer(query_tokens)                                   # int64 (N, 5) -> int64 (N, 3)

The exported module is `Answerer`: query tokens (N, query_len) -> greedy answer tokens
(N, answer_len), every step of the greedy decoding inside, the answer always `answer_len` tokens
long (blank-padded, in reading order); text2img runs give the answer cells instead, float
(N, answer_len, 28, 28) in [0, 1]. Image-input runs are not exported: their input is handwriting
read by the glyph classifier, which `genlab arith ask --image` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from genlab import __version__
from genlab.arith.config import ArithConfig
from genlab.arith.model import ArithModel
from genlab.arith.problem import ArithSpec
from genlab.arith.runs import KIND, load_config, load_model
from genlab.core.errors import GenlabError
from genlab.core.export import MAX_BATCH, check_format, export_module
from genlab.core.paths import atomic_write_json
from genlab.core.rundir import RunDir

CHAR_NAMES = {"+": "plus", "-": "minus", "*": "times", " ": "blank"}


class Answerer(nn.Module):
    """query tokens (N, query_len) int64 -> answer tokens (N, answer_len) int64 (or answer cells)."""

    def __init__(self, model: ArithModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, query: torch.Tensor) -> torch.Tensor:
        m = self.model
        logits = m.decode(m.encode(m.embed_query(query)))  # greedy: no target
        return logits.argmax(-1) if m.spec.output_kind == "text" else torch.sigmoid(logits)


def export_run(
    run: RunDir | Path | str, fmt: str = "pt2", out: Path | str | None = None, checkpoint: str = "best"
) -> tuple[Path, Path]:
    """Export the run's answerer to `out` (default RUN/export/answerer.FMT) and its JSON sidecar beside
    it; `checkpoint` is "best", "last" or one kept by --keep-every ("step_001500"). Returns both paths."""
    check_format(fmt)  # before the model is loaded
    run = run if isinstance(run, RunDir) else RunDir.open(run, KIND)
    config = load_config(run)
    if config.task.startswith("img"):
        raise GenlabError(
            f"{run.path} is a {config.task} run: export covers text-input runs (text2text, text2img); "
            "image queries need the glyph classifier, which `genlab arith ask --image` uses"
        )
    model = load_model(run, run.weights_name(checkpoint))
    spec = config.spec
    path = Path(out) if out else run.path / "export" / f"answerer.{fmt}"
    example = torch.from_numpy(spec.encode([example_query(spec)] * 2, spec.query_len))  # (2, query_len)
    export_module(Answerer(model), example, path, fmt, ("query", "answer"))
    sidecar = atomic_write_json(
        path.with_suffix(".json"), describe(run, config, model, path, fmt, checkpoint)
    )
    return path, sidecar


def example_query(spec: ArithSpec) -> str:
    """'81+24' as the run writes it (' 81+24'-style padding), within its operand range."""
    return spec.pad_query(min(81, spec.max_int), spec.ops[0], min(24, spec.max_int))


def describe(
    run: RunDir, config: ArithConfig, model: ArithModel, path: Path, fmt: str, checkpoint: str
) -> dict[str, Any]:
    """The sidecar: the vocabulary, how a query becomes tokens and how the answer reads back."""
    spec = config.spec
    vocab = list(spec.vocab)
    example = example_query(spec)
    text_out = model.spec.output_kind == "text"
    answer: dict[str, Any] = {"name": "answer", "dtype": "int64" if text_out else "float32"}
    if text_out:
        answer |= {
            "shape": ["N", spec.answer_len],
            "range": [0, len(vocab) - 1],
            "reads": "vocabulary[token] for each token, joined, blanks stripped: '105', '-48'",
        }
    else:
        answer |= {
            "shape": ["N", spec.answer_len, 28, 28],
            "range": [0.0, 1.0],
            "reads": "one 28x28 MNIST-style cell per answer character, white on black, in reading order",
        }
    return {
        "file": path.name,
        "format": fmt,
        "what": f"the {config.task} answerer: query tokens in, the greedy answer out "
        f"({spec.answer_len} {'tokens' if text_out else 'cells'}, every decoding step inside)",
        "inputs": [
            {
                "name": "query",
                "shape": ["N", spec.query_len],
                "dtype": "int64",
                "range": [0, len(vocab) - 1],
                "layout": spec.layout,
                "example": {"query": example, "tokens": spec.encode([example], spec.query_len)[0].tolist()},
                "writes": (
                    f"each operand right-aligned in {spec.operand_len} characters, the operator between: "
                    f"{example!r}"
                    if spec.layout == "aligned"
                    else f"'a op b' blank-padded on the right to {spec.query_len} characters: {example!r}"
                ),
            }
        ],
        "outputs": [answer],
        "batch": {"min": 1, "max": MAX_BATCH},
        "vocabulary": vocab,
        "labels": [CHAR_NAMES.get(c, c) for c in vocab],
        "blank": spec.blank,
        "query_len": spec.query_len,
        "answer_len": spec.answer_len,
        "max_int": spec.max_int,
        "ops": spec.ops,
        "load": f"torch.export.load({path.name!r}).module()(tokens)"
        if fmt == "pt2"
        else f"onnxruntime.InferenceSession({path.name!r}).run(None, {{'query': tokens}})[0]",
        "run": {"path": str(run.path), "kind": run.kind, "task": config.task, "checkpoint": checkpoint},
        "genlab_version": __version__,
        "torch_version": torch.__version__,
    }
