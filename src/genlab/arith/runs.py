"""An arithmetic run directory: its config, split, data and model, rebuilt from what it stores."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import torch

from genlab.arith.config import ArithConfig
from genlab.arith.glyphs import glyph_banks
from genlab.arith.model import ArithModel, Seq2SeqSpec, build_model
from genlab.arith.problem import QuerySplit, TaskData, all_queries, load_split, needs_images, split_queries
from genlab.core.errors import GenlabError
from genlab.core.rundir import RunDir

KIND = "arith"


def model_spec(config: ArithConfig) -> Seq2SeqSpec:
    spec = config.spec
    handwriting = config.answer_style == "handwriting" and config.task.endswith("img")
    image_input = config.task.startswith("img")
    return Seq2SeqSpec(
        input_kind="image" if image_input else "text",
        output_kind="image" if config.task.endswith("img") else "text",
        vocab_size=len(spec.vocab),
        query_len=spec.query_len,
        answer_len=spec.answer_len,
        hidden=config.hidden,
        embed_dim=config.embed_dim,
        enc_layers=config.enc_layers,
        dec_layers=config.dec_layers,
        arch=config.arch,
        decoder=config.decoder,
        dropout=config.dropout,
        reverse=config.reverse,
        reverse_answer=config.reverse_answer,
        attention=config.attention,
        aux_text=config.aux_text,
        cell_features=config.glyph_features,
        cnn_width=config.glyph_width,
        style_dim=config.style_dim if handwriting else 0,
        writers=config.writers if handwriting else 0,
        typical_writers=config.typical_writers if handwriting else 1.0,
        hard_reading=image_input and config.reading == "hard",
    )


# what runs saved before an option existed did: validated every epoch, wrote answers left to right,
# read cells with the width-16 glyph classifier as probabilities, used the notebook's query layout,
# no attention and no auxiliary character loss
LEGACY_CONFIG = {
    "eval_every": 1,
    "reverse_answer": False,
    "glyph_width": 16,
    "glyph_features": 128,
    "layout": "left",
    "attention": False,
    "aux_text": False,
    "patience": None,  # runs from before early stopping trained their whole schedule
    "style_adv": 0.0,  # handwriting runs from before the critic trained without one
    "reading": "soft",  # image-query runs from before hard reading fed the reader's probabilities
    "typical_writers": 1.0,  # handwriting runs drew new writers from their whole bank
    "drawn_queries": 0,  # handwriting runs drew the answers of every query in training
}


def load_config(run: RunDir) -> ArithConfig:
    stored = dict(run.config)
    stored.pop("model", None)
    stored.pop("resolved", None)
    stored = {**LEGACY_CONFIG, **stored}
    if "cell" in stored:  # runs from before the transformer named their recurrent cell "cell"
        stored["arch"] = stored.pop("cell")
    unknown = sorted(set(stored) - {f.name for f in fields(ArithConfig)})
    if unknown:
        raise GenlabError(
            f"{run.path / 'config.json'} has options this genlab does not know ({', '.join(unknown)}): "
            "it was written by another version; upgrade genlab or train the run again"
        )
    config = ArithConfig(**stored)
    try:
        config.validate()
    except GenlabError as exc:
        raise GenlabError(f"{run.path / 'config.json'} is not a valid arith run: {exc}") from None
    return config


def task_data(config: ArithConfig, run: RunDir | None = None) -> TaskData:
    """Queries, the split (the run's stored one when given) and the handwriting banks."""
    spec = config.spec
    queries = all_queries(spec)
    if run is not None and (run.path / "split.npz").exists():
        split = load_split(run.path / "split.npz")
    else:
        split = split_queries(len(queries), config.train_frac, config.seed, config.val_size)
    train_bank = test_bank = None
    source = None
    if needs_images(config.task):
        train_bank, test_bank, source = glyph_banks(
            spec, config.mnist, config.seed, config.handwriting_test_frac, config.shared_handwriting
        )
    return TaskData(queries, split, train_bank, test_bank, source)


def load_model(run: RunDir, name: str = "model", device: str | torch.device = "cpu") -> ArithModel:
    model = build_model(Seq2SeqSpec.from_stored(run.config["model"]))
    run.load_into(model, name, device)
    return model.to(device).eval()


# what a run's weights must share with the model they start (--init-from) to mean the same there
WARM_START_MATCH = (
    "arch",
    "hidden",
    "embed_dim",
    "enc_layers",
    "dec_layers",
    "decoder",
    "reverse",
    "reverse_answer",
    "attention",
    "aux_text",
    "max_int",
    "ops",
    "layout",
)


def warm_start(config: ArithConfig, split: QuerySplit) -> tuple[dict[str, torch.Tensor], str]:
    """The weights of the finished run `config.init_from` that start this run's model (loaded with
    strict=False before training), and a line that says what was taken; checked before anything
    is written.

    The source may answer the same way from another kind of query: a text model's token embedding
    becomes the image model's projection of the character each cell is read as, so text2img starts
    img2img and text2text starts img2text. The glyph reader stays this run's own; weights the
    source lacks (a handwriting head) start fresh. The source must have trained on exactly this
    run's split, or its weights would have seen this run's test queries.
    """
    assert config.init_from is not None
    where = f"--init-from {config.init_from}"
    run = RunDir.open(config.init_from, KIND)
    source = load_config(run)
    source_spec, spec = model_spec(source), model_spec(config)
    if source_spec.output_kind != spec.output_kind:
        raise GenlabError(
            f"{where} is a {source.task} run, which answers in {source_spec.output_kind}: "
            f"{config.task} answers in {spec.output_kind}; start from a run that answers the same way"
        )
    differ = [name for name in WARM_START_MATCH if getattr(source, name) != getattr(config, name)]
    if differ:
        shown = ", ".join(
            f"--{n.replace('_', '-')} {getattr(source, n)} (here {getattr(config, n)})" for n in differ
        )
        raise GenlabError(f"{where} was trained with {shown}: train this run with the same, or start fresh")
    stored = load_split(run.path / "split.npz")
    if not all(np.array_equal(getattr(stored, k), getattr(split, k)) for k in ("train", "val", "test")):
        raise GenlabError(
            f"{where} was trained on another split of the queries, so its weights have seen this run's "
            "test queries: start from a run with the same --train-frac, --seed and --val-size"
        )
    own = build_model(spec).state_dict()
    taken: dict[str, torch.Tensor] = {}
    for name, value in run.load_weights("model").items():
        if name.startswith("cell_encoder."):
            continue
        if name == "in_embed.weight" and "in_proj.weight" in own:
            name, value = "in_proj.weight", value.t().contiguous()
            taken["in_proj.bias"] = torch.zeros_like(own["in_proj.bias"])
        if name in own and own[name].shape == value.shape:
            taken[name] = value
    core = [n for n in own if n.startswith(("encoder.", "decoder.")) and n not in taken]
    if core:
        raise GenlabError(f"{where}: its weights do not fit this model ({core[0]}); start fresh")
    fresh = len(own) - len(taken) - sum(n.startswith("cell_encoder.") for n in own)
    rest = f", {fresh} start fresh" if fresh else ""
    return taken, f"started from {run.path} ({source.task}): {len(taken)} weight tensors taken{rest}"
