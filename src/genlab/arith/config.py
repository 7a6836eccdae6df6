"""The arithmetic models' options: one field per `genlab arith train` option, each default once.

`ArithConfig.for_task(task)` fills in the per-task defaults (TASK_DEFAULTS); the command line is
derived from these fields (genlab.arith.cli), and the resolved config is written to the run's
config.json. README (Arithmetic) says what each default measured.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from genlab.core.errors import GenlabError
from genlab.core.options import COMPILE_HELP, PRECISION_HELP, THREADS_HELP, option

if TYPE_CHECKING:
    from genlab.arith.problem import ArithSpec

TASKS = ("text2text", "img2text", "text2img", "img2img")
ANSWER_STYLES = ("prototype", "random", "handwriting")
# the default glyph reader (genlab.arith.glyphs): conv width, feature size, training epochs
READER_WIDTH = 64
READER_FEATURES = 256
READER_EPOCHS = 30


def check_typical_writers(share: float) -> None:
    if not 0 < share <= 1:
        raise GenlabError(f"--typical-writers {share:g}: use a share in (0, 1] (1: every writer)")


@dataclass
class ArithConfig:
    """One field per `genlab arith train` option; `for_task` fills in the per-task defaults."""

    task: str = option("text2text", "text2text | img2text | text2img | img2img.")
    train_frac: float = option(0.5, "Fraction of all 20,000 queries to train on.")
    enc_layers: int = option(1, "Encoder layers (recurrent, or transformer layers).")
    dec_layers: int = option(1, "Decoder layers (recurrent, or transformer layers).")
    hidden: int = option(256, "Recurrent state size (the transformer's width).")
    embed_dim: int = option(64, "Size of the token (and image-cell) embeddings fed to the recurrent layers.")
    arch: str = option(
        "gru",
        "gru | lstm (recurrent, with --attention) | transformer (self- and cross-attention; --hidden is "
        "its width, 4 heads, --embed-dim and --attention do not apply).",
    )
    decoder: str = option("autoregressive", "autoregressive | repeat (the notebook's RepeatVector).")
    reverse: bool = option(True, "Read the query reversed: its last digits meet the decoder first.")
    # units digit first, as column arithmetic is done; README (Arithmetic) says what it measured
    reverse_answer: bool = option(True, "Write the answer right to left, units digit first.")
    dropout: float = option(0.1, "Dropout between layers and before the head.")
    attention: bool = option(True, "Luong attention over the encoder outputs.")
    aux_text: bool = option(
        True, "Image answers: an auxiliary per-character loss on the decoder state (against collapse)."
    )
    # "prototype" gives a crisp target; with "random" the model can only learn the blurry average
    # of the train pool, which the glyph classifier reads less reliably
    answer_style: str = option(
        "prototype",
        "Image answers: prototype (one fixed real image per character), random (the notebook's: "
        "trained on random train-pool handwriting, so it draws their average) or handwriting (a "
        "conditional head that writes every answer anew, in the style of a real train-pool writer).",
    )
    style_dim: int = option(64, "Size of the handwriting style code (--answer-style handwriting).")
    # README (Arithmetic, "How answers are drawn") says what each weight measured
    style_kl: float = option(
        0.0,
        "Weight of the handwriting style code's KL term to N(0, 1) (1: the VAE's ELBO; 0: none, the "
        "head is a conditional autoencoder and new writers come from --writers only).",
    )
    # README (Arithmetic, "How answers are drawn") says what each weight measured
    style_adv: float = option(
        0.02,
        "Weight of an adversarial term on handwriting answers: a small critic of answer cells, trained "
        "alongside, judges each drawing against real drawings of its character (sharper strokes; 0: none, "
        "img2img's default).",
    )
    # README (Arithmetic, "How answers are drawn") says what each number measured
    drawn_queries: int = option(
        64,
        "Handwriting answers: the drawing head and its style encoder learn from the answers of this many "
        "queries of every --batch-size (the arithmetic learns from all of them; 0: every query). Fewer "
        "draw a step faster.",
    )
    writers: int = option(
        256,
        "Handwriting answers in a new writer's style take the style of one of this many real "
        "train-pool drawings per character, at random (0: a code from the N(0, 1) prior, far less legible).",
    )
    # README (Arithmetic, "How answers are drawn") says what each share measured
    typical_writers: float = option(
        0.7,
        "Handwriting answers in a new writer's style: take the writer from this share of each "
        "character's --writers, those whose style lies nearest the character's average style (a "
        "truncation: more legible answers, less varied; 1: any of them).",
    )
    keep_style: bool = option(
        True,
        "img2img with handwriting answers: write the answer in the style of the query's digits "
        "(else in a new writer's).",
        flags="--keep-style/--new-style",
    )
    init_from: str | None = option(
        None,
        "Start from the weights of a finished run on the same queries and split: text2img's for "
        "img2img, text2text's for img2text (each read cell then enters as the character the source "
        "run's embedding gives it). The model's sizes and answer order must match.",
        none_means="fresh weights",
    )
    epochs: int | None = option(None, "Epochs.", none_means="enough for --steps")
    steps: int = option(3000, "Optimizer steps when --epochs is not given.")
    batch_size: int = option(256, "Queries per step.")
    lr: float = option(3e-3, "Peak learning rate (warm-up, then cosine decay).")
    # strong decoupled weight decay keeps the model from memorizing its few training queries;
    # README (Arithmetic, "Generalizing from few queries") says what each value measured
    weight_decay: float = option(1.0, "AdamW weight decay; larger generalizes better from few queries.")
    time_budget: float | None = option(
        None,
        "Seconds of training; fewer epochs when the first one shows they would not fit.",
        none_means="no limit",
    )
    seed: int = option(0, "Seed for the split, handwriting and weights.")
    mnist: str = option("auto", "MNIST source: auto, embedded or a path.")
    shared_handwriting: bool = option(
        False,
        "Let test queries reuse training handwriting (the notebook's setting, for comparison).",
        flags="--shared-handwriting/--disjoint-handwriting",
    )
    handwriting_test_frac: float = option(
        0.2, "Fraction of each digit's images kept for test handwriting (full MNIST keeps its test set)."
    )
    augment: bool = option(True, "Warp handwriting.")
    # README (Arithmetic, "Learning from few queries") says what it measured; TASK_DEFAULTS and
    # LARGE_DATA_DEFAULTS turn it on where the training set is small
    swap_operands: bool = option(
        False,
        "Train on each query or, at random, its operand-swapped twin (b+a for a+b; b-a, its answer "
        "negated, for a-b): exact augmentation that doubles what a small training set shows.",
        flags="--swap-operands/--no-swap-operands",
    )
    # README (Arithmetic, Models) says what each measured
    reading: str = option(
        "hard",
        "Image queries: hard (each cell enters as the one character the glyph reader reads) or soft (as "
        "the reader's class probabilities).",
    )
    finetune_cnn: bool = option(
        False, "Train the per-cell CNN too (slower).", flags="--finetune-cnn/--frozen-cnn"
    )
    # the (cached) glyph classifier that reads image queries and answers; README (Arithmetic,
    # Models) says what each width measured
    glyph_epochs: int = option(READER_EPOCHS, "Epochs of the cached glyph classifier.")
    glyph_width: int = option(READER_WIDTH, "Conv width of the glyph classifier (16 trains much faster).")
    glyph_features: int = option(READER_FEATURES, "Feature size of the glyph classifier's last hidden layer.")
    max_int: int = option(99, "Largest operand.")
    ops: str = option("+-", "Operators, a subset of '+-*'.")
    layout: str = option(
        "aligned",
        "Query layout: aligned (' 5+24', digits in place-value columns) or left ('5+24 ', the notebook's).",
    )
    val_size: int = option(
        1000, "Held-out queries that choose the best checkpoint (the rest are the test set)."
    )
    # at small train fractions an epoch is a few steps, and validating every one of them would
    # cost more than the training
    eval_every: int = option(
        50, "Validate and checkpoint after the epoch that passes this many steps (and after the last)."
    )
    patience: int | None = option(
        40,
        "Stop early when the validation exact match has not improved in this many validations (training "
        "also stops once it reaches 100%); the best checkpoint is kept.",
        none_means="never stop early",
    )
    device: str = option("auto", "auto (cuda > mps > cpu) | cpu | cuda | mps.")
    threads: int | None = option(None, THREADS_HELP, none_means="one per free core")
    precision: str = option("auto", PRECISION_HELP)
    compile: bool = option(False, COMPILE_HELP)
    keep_every: int = option(
        0,
        "Also keep checkpoints/step_######.safetensors at the first checkpoint past every N steps, "
        "besides best and last (0: none).",
    )
    tensorboard: bool = option(
        False, "Also write TensorBoard event files into RUN/tb/ (needs: pip install 'genlab[tensorboard]')."
    )

    @classmethod
    def for_task(cls, task: str, **overrides: Any) -> ArithConfig:
        """The config for `task`: its TASK_DEFAULTS over the field defaults, then `overrides` (an
        override of None keeps the default). The defaults reach the quality targets in minutes on
        2 CPU cores."""
        if task not in TASKS:
            raise GenlabError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise GenlabError(f"unknown arith option(s) {sorted(unknown)}")
        given = {k: v for k, v in overrides.items() if v is not None}
        values = {**TASK_DEFAULTS[task], **given}
        style = ANSWER_STYLE_DEFAULTS.get(values.get("answer_style", "prototype"), {})
        values = {**values, **{k: v for k, v in style.items() if k not in given}}
        size_rule = LARGE_DATA_DEFAULTS.get(task)
        if size_rule and training_queries(values) >= size_rule[0]:
            values = {**values, **{k: v for k, v in size_rule[1].items() if k not in given}}
        arch = values.get("arch", "gru")  # last: the model's own needs win over the size rule
        values = {**values, **{k: v for k, v in ARCH_DEFAULTS.get(arch, {}).items() if k not in given}}
        return cls(task=task, **values)

    def validate(self) -> None:
        if self.task not in TASKS:
            raise GenlabError(f"unknown task {self.task!r}: choose one of {', '.join(TASKS)}")
        if self.arch not in ("gru", "lstm", "transformer"):
            raise GenlabError(f"--arch {self.arch!r}: use gru, lstm or transformer")
        if self.arch == "transformer" and self.hidden % 4:
            raise GenlabError(
                f"--hidden {self.hidden}: a transformer's width must be a multiple of its 4 heads"
            )
        if self.answer_style not in ANSWER_STYLES:
            raise GenlabError(f"--answer-style {self.answer_style!r}: use one of {', '.join(ANSWER_STYLES)}")
        if self.answer_style == "handwriting" and not self.aux_text:
            raise GenlabError(
                "--answer-style handwriting draws the character its --aux-text head predicts: "
                "leave --no-aux-text out"
            )
        if self.reading not in ("hard", "soft"):
            raise GenlabError(f"--reading {self.reading!r}: use hard or soft")
        if self.decoder not in ("autoregressive", "repeat"):
            raise GenlabError(f"--decoder {self.decoder!r}: use autoregressive or repeat")
        for name in (
            "enc_layers",
            "dec_layers",
            "hidden",
            "batch_size",
            "steps",
            "eval_every",
            "glyph_epochs",
            "glyph_width",
            "glyph_features",
            "style_dim",
        ):
            if getattr(self, name) < 1:
                raise GenlabError(f"--{name.replace('_', '-')} must be at least 1")
        if self.epochs is not None and self.epochs < 1:
            raise GenlabError("--epochs must be at least 1")
        if not 0.0 <= self.dropout < 1.0:
            raise GenlabError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.patience is not None and self.patience < 1:
            raise GenlabError(f"--patience {self.patience}: use 1 or more validations, or leave it out")
        if not self.lr > 0:
            raise GenlabError(f"--lr {self.lr}: a learning rate must be above 0")
        if self.weight_decay < 0:
            raise GenlabError(f"--weight-decay {self.weight_decay}: use 0 or more")
        if not 0.0 < self.train_frac < 1.0:
            raise GenlabError(f"--train-frac must be between 0 and 1 (exclusive), got {self.train_frac}")
        if self.time_budget is not None and self.time_budget <= 0:
            raise GenlabError(f"--time-budget {self.time_budget}: use a positive number of seconds")
        if self.max_int < 1 or not self.ops or set(self.ops) - set("+-*"):
            raise GenlabError(
                f"--max-int {self.max_int} --ops {self.ops!r}: use --max-int >= 1 and ops from +-*"
            )
        if self.style_kl < 0:
            raise GenlabError(f"--style-kl {self.style_kl}: use 0 or more (1 is the ELBO's weight)")
        if self.drawn_queries < 0:
            raise GenlabError(
                f"--drawn-queries {self.drawn_queries}: use 0 (every query) or more queries of each batch"
            )
        if self.writers < 0:
            raise GenlabError(f"--writers {self.writers}: use 0 (the prior) or more drawings per character")
        check_typical_writers(self.typical_writers)
        if self.style_adv < 0:
            raise GenlabError(f"--style-adv {self.style_adv:g}: use 0 (no critic) or more")
        if self.answer_style == "handwriting" and self.writers == 0 and self.style_kl == 0:
            raise GenlabError(
                "--writers 0 draws new writers from the N(0, 1) prior, which only a KL term makes them "
                "fit: give --style-kl above 0 (1 is the VAE's), or keep --writers above 0"
            )
        if self.keep_every < 0:
            raise GenlabError(f"--keep-every {self.keep_every}: use 0 (only best and last) or a whole number")
        if self.tensorboard:
            # imported here, not at the top: `genlab --help` reads this module, and stays free of numpy
            from genlab.core.tensorboard import check_tensorboard

            check_tensorboard()

    @property
    def spec(self) -> ArithSpec:
        # imported here, not at the top: genlab.arith.problem imports torch, and the command line
        # reads this module for its options, so `genlab --help` would wait for torch
        from genlab.arith.problem import ArithSpec

        return ArithSpec(self.max_int, self.ops, self.layout)


# img2img keeps light weight decay and the notebook's answer order; README (Arithmetic,
# "Generalizing from few queries") says what the text defaults measured on it.
IMAGE_INPUT_DEFAULTS: dict[str, Any] = {"weight_decay": 1e-4, "reverse_answer": False}

# README (Arithmetic: the sweep table and "Models") says what each of these measured. img2text reads
# each cell as one character (--reading hard), so its recurrent part learns what text2text's does.
TEXT_ANSWER_DEFAULTS: dict[str, Any] = {"enc_layers": 2, "lr": 1e-2, "swap_operands": True}
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "text2text": TEXT_ANSWER_DEFAULTS,
    "img2text": TEXT_ANSWER_DEFAULTS,
    # a step renders 3 x batch answer images through transposed convolutions: fewer, costlier steps
    "text2img": {"decoder": "repeat", "lr": 2e-3, "steps": 1500, "swap_operands": True},
    # handwriting answers in the query's style (--keep-style) average the codes of the query's digits,
    # which only a latent space the KL term keeps smooth makes meaningful; the critic that sharpens
    # text2img's answers cost img2img's read-back, and without it img2img's strokes blur more than
    # text2img's when a step draws fewer answers
    "img2img": {
        "decoder": "repeat",
        "lr": 2e-3,
        "steps": 3000,
        "style_kl": 1.0,
        "style_adv": 0.0,
        "drawn_queries": 128,
        **IMAGE_INPUT_DEFAULTS,
    },
}


# the transformer trains stably only at a lower peak learning rate than the recurrent models, and
# needs two encoder layers at every training-set size; README (Arithmetic, "Speed") says what each measured
ARCH_DEFAULTS: dict[str, dict[str, Any]] = {"transformer": {"lr": 2e-3, "enc_layers": 2}}

# the handwriting head (a conditional autoencoder per answer cell) learns within the image tasks' steps only
# at a higher peak learning rate; README (Arithmetic, "How answers are drawn") says what it measured
ANSWER_STYLE_DEFAULTS: dict[str, dict[str, Any]] = {"handwriting": {"lr": 1e-2}}

# With many training queries a smaller, one-layer model on a short schedule learns text2text fastest;
# with few, the larger two-layer model on the long schedule generalizes better, and training on
# operand-swapped twins too lets it learn from as few as 1,000 queries. README (Arithmetic,
# "Speed") says what each measured.
SMALL_FAST_MODEL = {"hidden": 128, "enc_layers": 1, "steps": 1600, "swap_operands": False}
LARGE_DATA_DEFAULTS: dict[str, tuple[int, dict[str, Any]]] = {
    "text2text": (8000, SMALL_FAST_MODEL),
    "img2text": (8000, SMALL_FAST_MODEL),
    "text2img": (8000, {"swap_operands": False}),
}


def training_queries(values: dict[str, Any]) -> int:
    """How many training queries a config's values give (train_frac of every query of the problem)."""
    base = {f.name: f.default for f in fields(ArithConfig)}
    max_int, ops = values.get("max_int", base["max_int"]), values.get("ops", base["ops"])
    frac = values.get("train_frac", base["train_frac"])
    return int(frac * (max_int + 1) ** 2 * len(ops))


@dataclass(frozen=True)
class SweepGrid:
    """The grid of `genlab arith sweep` (and `run_sweep`): every task x model x train fraction x depth
    x seed."""

    tasks: tuple[str, ...] = ("text2text", "img2text", "text2img")
    fracs: tuple[float, ...] = (0.5, 0.25, 0.1, 0.05)
    enc_layers: tuple[int, ...] = (1, 2)
    dec_layers: tuple[int, ...] = (1,)
    seeds: tuple[int, ...] = (0,)
    archs: tuple[str, ...] = ("gru",)


DEFAULT_SWEEP = SweepGrid()


def per_task_defaults() -> dict[str, str]:
    """For each option that some task changes, what --help shows as its default:
    {"enc_layers": "per task: 2 for text2text, img2text; else 1", ...}."""
    base = {f.name: f.default for f in fields(ArithConfig)}
    changed = {name: base[name] for values in TASK_DEFAULTS.values() for name in values}
    changed.update({name: base[name] for _, values in LARGE_DATA_DEFAULTS.values() for name in values})
    changed.update({name: base[name] for values in ARCH_DEFAULTS.values() for name in values})
    changed.update({name: base[name] for values in ANSWER_STYLE_DEFAULTS.values() for name in values})
    shown = {name: _per_task(name, default) for name, default in changed.items()}
    for style, values in ANSWER_STYLE_DEFAULTS.items():
        for name, value in values.items():
            shown[name] += f"; --answer-style {style}: {_shown(value)}"
    size_rules: dict[tuple[str, int, Any], list[str]] = {}  # (option, least, value) -> the tasks with it
    for task, (least, values) in LARGE_DATA_DEFAULTS.items():
        for name, value in values.items():
            size_rules.setdefault((name, least, value), []).append(task)
    for (name, least, value), tasks in size_rules.items():
        shown[name] += f"; {', '.join(tasks)} with {least:,}+ training queries: {_shown(value)}"
    for arch, values in ARCH_DEFAULTS.items():
        for name, value in values.items():
            shown[name] += f"; --arch {arch}: {_shown(value)}"
    return shown


def _per_task(name: str, base: Any) -> str:
    groups: dict[Any, list[str]] = {}  # value -> the tasks that use it
    for task in TASKS:
        value = TASK_DEFAULTS[task].get(name, base)
        if value != base:
            groups.setdefault(value, []).append(task)
    parts = [f"{_shown(value)} for {', '.join(tasks)}" for value, tasks in groups.items()]
    if not parts:
        return _shown(base)
    if sum(map(len, groups.values())) < len(TASKS):
        parts.append(f"else {_shown(base)}")
    return "per task: " + "; ".join(parts)


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)
