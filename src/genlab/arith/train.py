"""Training the arithmetic seq2seq models: one config, one loop, every task.

    text2text   '81+24' tokens            -> '105' tokens
    img2text    five handwriting cells     -> '105' tokens
    text2img    '81+24' tokens            -> three 28x28 answer cells
    img2img     five handwriting cells     -> three answer cells

Image inputs go through a per-cell CNN that starts as the glyph classifier's trunk; by default it
stays frozen and the loop reads cell features from a bank of augmented train-pool handwriting
(computed once, so an epoch costs about as much as text2text). `--finetune-cnn` trains it too.
Each epoch draws fresh handwriting for every query cell, which is the main augmentation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from genlab.arith.config import ArithConfig
from genlab.arith.glyphs import classifier_for
from genlab.arith.inference import validator
from genlab.arith.model import Seq2Seq, read_query_cells
from genlab.arith.problem import GlyphBank, TaskData, augment_cells, save_split
from genlab.arith.runs import KIND, load_config, model_spec, task_data
from genlab.core.device import pick_device
from genlab.core.errors import GenlabError
from genlab.core.progress import progress, say
from genlab.core.rundir import RunDir
from genlab.core.seeding import rng_state, seed_everything, set_rng_state

FEATURE_AUGMENTS = 8  # augmented copies of every train-pool cell in the frozen-CNN feature bank


def _lr_at(step: int, total: int, peak: float) -> float:
    """Linear warm-up over the first 5% of steps, then cosine decay to zero."""
    warm = max(1, int(0.05 * total))
    if step < warm:
        return peak * (step + 1) / warm
    progress_frac = min(1.0, (step - warm) / max(1, total - warm))
    return peak * 0.5 * (1 + math.cos(math.pi * progress_frac))


@torch.inference_mode()
def feature_bank(model: Seq2Seq, bank: GlyphBank, copies: int, seed: int) -> torch.Tensor:
    """Cell probabilities of `copies` augmented versions of every bank image: (copies, M, V)."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.from_numpy(bank.images).float().div_(255).unsqueeze(1)  # (M, 1, 28, 28)
    device = next(model.parameters()).device
    was_training = model.training
    out = []
    for c in range(copies):
        x = augment_cells(images, gen) if c > 0 else images
        out.append(read_query_cells(model, x.view(1, -1, 28, 28), device)[0])  # (M, V)
    model.train(was_training)
    return torch.stack(out)


class Batches:
    """Turns query indices into model inputs and targets for one task, drawing fresh handwriting."""

    def __init__(self, config: ArithConfig, data: TaskData, model: Seq2Seq, device: torch.device) -> None:
        self.config, self.data, self.model, self.device = config, data, model, device
        self.in_image = model.spec.input_kind == "image"
        self.out_image = model.spec.output_kind == "image"
        self.features = None
        self.prototypes = None
        if self.out_image and config.answer_style == "prototype":
            self.prototypes = torch.from_numpy(data.train_bank.prototypes()).float().div_(255).to(device)
        if self.in_image and not config.finetune_cnn:
            copies = FEATURE_AUGMENTS if config.augment else 1
            self.features = feature_bank(model, data.train_bank, copies, config.seed).to(device)

    def make(
        self, idx: np.ndarray, rng: np.random.Generator, gen: torch.Generator
    ) -> tuple[Any, torch.Tensor]:
        q = self.data.queries
        qtok, atok = q.query_tokens[idx], q.answer_tokens[idx]
        if not self.in_image:
            x: Any = ("tokens", torch.from_numpy(qtok).to(self.device))
        elif self.features is not None:
            rows = torch.from_numpy(self.data.train_bank.pick(qtok, rng))  # (B, Tq)
            copy = torch.from_numpy(rng.integers(0, self.features.shape[0], size=qtok.shape))
            x = ("features", self.features[copy, rows])  # (B, Tq, F)
        else:
            cells = torch.from_numpy(self.data.train_bank.render(qtok, rng)).float().div_(255)
            b, t = cells.shape[:2]
            if self.config.augment:
                cells = augment_cells(cells.view(b * t, 1, 28, 28), gen).view(b, t, 28, 28)
            x = ("images", cells.to(self.device))
        tokens = torch.from_numpy(atok).to(self.device)
        if self.prototypes is not None:
            y = self.prototypes[tokens]  # (B, Ta, 28, 28)
        elif self.out_image:
            y = torch.from_numpy(self.data.train_bank.render(atok, rng)).float().div_(255).to(self.device)
        else:
            y = tokens
        return x, y, tokens

    def logits(self, x: tuple[str, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        kind, value = x
        if kind == "features":
            embedded = self.model.embed_cell_features(value)
        else:
            embedded = self.model.embed_query(value)
        state, context, memory = self.model.encode(embedded)
        return self.model.decode(state, context, memory, y, with_aux=self.out_image)


AUX_WEIGHT = 0.1


def loss_fn(
    logits: Any, y: torch.Tensor, out_image: bool, tokens: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy per answer character; for images, pixel BCE (+ the auxiliary character loss)."""
    if out_image:
        pixels, aux = logits if isinstance(logits, tuple) else (logits, None)
        loss = F.binary_cross_entropy_with_logits(pixels, y)
        if aux is not None and tokens is not None:
            loss = loss + AUX_WEIGHT * F.cross_entropy(aux.reshape(-1, aux.shape[-1]), tokens.reshape(-1))
        return loss
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


Validate = Callable[[Seq2Seq], dict[str, float]]


@dataclass
class Position:
    """Where a run stands: what `state.pt` stores besides the optimizer and RNG state."""

    epoch: int = 0  # the next epoch to train
    step: int = 0
    best: float = -1.0  # best validation exact match so far
    planned_epochs: int = 1
    elapsed: float = 0.0  # seconds of training and validation


def epochs_within_budget(
    budget: float,
    first_epoch: float,
    val_seconds: float,
    config: ArithConfig,
    steps_per_epoch: int,
    planned: int,
) -> int:
    """How many epochs fit in `budget` seconds, judged from the first epoch and its validation."""
    per_epoch = (first_epoch - val_seconds) + val_seconds * min(1.0, steps_per_epoch / config.eval_every)
    return min(planned, 1 + max(0, int((budget - first_epoch) // per_epoch)))


def fit(
    model: Seq2Seq,
    batches: Batches,
    opt: torch.optim.Optimizer,
    config: ArithConfig,
    run: RunDir,
    validate: Validate,
    pos: Position,
    resumed: bool,
) -> Position:
    """The training loop: epochs of optimizer steps, a validation (the callback) and a checkpoint
    every `eval_every` steps and after the last epoch. Knows nothing of how answers are scored."""
    params = [p for p in model.parameters() if p.requires_grad]
    train_idx = batches.data.split.train
    steps_per_epoch = math.ceil(len(train_idx) / config.batch_size)
    out_text = model.spec.output_kind == "text"
    bar = progress(total=pos.planned_epochs * steps_per_epoch, initial=pos.step, desc=f"train {config.task}")
    last_val_step = pos.step
    start_epoch = pos.epoch
    total_loss, total_right, seen = 0.0, 0, 0  # since the last validation
    while pos.epoch < pos.planned_epochs:  # may shrink after the first epoch to fit a time budget
        t0 = time.perf_counter()
        rng = np.random.default_rng([config.seed, pos.epoch])  # per-epoch streams: resume is exact
        gen = torch.Generator().manual_seed(config.seed * 100_003 + pos.epoch)
        order = rng.permutation(train_idx)
        model.train()
        # (1) one epoch of steps
        for i in range(0, len(order), config.batch_size):
            idx = order[i : i + config.batch_size]
            for group in opt.param_groups:
                group["lr"] = _lr_at(pos.step, pos.planned_epochs * steps_per_epoch, config.lr)
            x, y, tokens = batches.make(idx, rng, gen)
            logits = batches.logits(x, y)
            loss = loss_fn(logits, y, not out_text, tokens)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            pos.step += 1
            total_loss += loss.item() * len(idx)
            seen += len(idx)
            if out_text:
                total_right += int((logits.argmax(-1) == y).all(-1).sum())
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.4f}")
        train_seconds = time.perf_counter() - t0
        budgeted_first = pos.epoch == start_epoch and bool(config.time_budget) and not resumed
        last = pos.epoch == pos.planned_epochs - 1
        if not (budgeted_first or last or pos.step - last_val_step >= config.eval_every):
            pos.elapsed += train_seconds
            pos.epoch += 1
            continue
        # (2) validation through the callback
        val = validate(model)
        pos.elapsed += time.perf_counter() - t0
        last_val_step = pos.step
        if budgeted_first:
            fit_epochs = epochs_within_budget(
                config.time_budget,
                pos.elapsed,
                pos.elapsed - train_seconds,
                config,
                steps_per_epoch,
                pos.planned_epochs,
            )
            if fit_epochs < pos.planned_epochs:
                say(f"time budget {config.time_budget:.0f}s: {fit_epochs} epochs, not {pos.planned_epochs}")
                pos.planned_epochs = fit_epochs
                bar.total = pos.planned_epochs * steps_per_epoch
        record = {
            "type": "validation",
            "epoch": pos.epoch + 1,
            "step": pos.step,
            "train_loss": total_loss / seen,
            **({"train_acc_teacher_forced": total_right / seen} if out_text else {}),
            **val,
            "lr": opt.param_groups[0]["lr"],
            "seconds": round(pos.elapsed, 2),
        }
        total_loss, total_right, seen = 0.0, 0, 0
        # (3) checkpoint: the best weights by validation, and the resume point
        run.append_metrics(record)
        if val["val_acc"] >= pos.best:
            pos.best = val["val_acc"]
            run.save_weights(model, "model")
        run.save_weights(model, "last")
        run.save_state({"optimizer": opt.state_dict(), "rng": rng_state(), **_stored(pos)})
        pos.epoch += 1
    bar.close()
    return pos


def _stored(pos: Position) -> dict[str, Any]:
    """state.pt's position keys (epoch = the last epoch trained, as runs have always stored it)."""
    return {
        "epoch": pos.epoch,
        "step": pos.step,
        "best": pos.best,
        "planned_epochs": pos.planned_epochs,
        "elapsed": pos.elapsed,
    }


def train_arith(config: ArithConfig, out: Path | str, resume: bool = False) -> RunDir:
    """Train (or, with `resume`, continue) one arithmetic model into the run directory `out`."""
    if resume:
        run = RunDir.open(out, KIND)
        config = load_config(run)
        state = run.load_state()
        if state is None or not run.has_weights("last"):
            raise GenlabError(
                f"{run.path} has no saved epoch to resume from: train it again without --resume"
            )
    else:
        config.validate()
        state = None
    device = pick_device(config.device)
    seed_everything(config.seed)
    mspec = model_spec(config)
    model = Seq2Seq(mspec)
    if resume:
        run.load_into(model, "last")
        data = task_data(config, run)
    else:
        run = RunDir.create(out, KIND, {**asdict(config), "model": mspec.to_dict()})
        data = task_data(config)
        save_split(run.path / "split.npz", data.split)
        if mspec.input_kind == "image":
            model.cell_encoder.load_state_dict(classifier_for(config).state_dict())
    if data.mnist_source:
        say(f"mnist: {data.mnist_source}")
    model.to(device)
    if mspec.input_kind == "image" and not config.finetune_cnn:
        model.cell_encoder.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    batches = Batches(config, data, model, device)

    steps_per_epoch = math.ceil(len(data.split.train) / config.batch_size)
    pos = Position(planned_epochs=config.epochs or max(1, math.ceil(config.steps / steps_per_epoch)))
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        pos = Position(
            state["epoch"] + 1, state["step"], state["best"], state["planned_epochs"], state["elapsed"]
        )
    say(
        f"arith {config.task}: {len(data.split.train)} train / {len(data.split.test)} test queries, "
        f"{pos.planned_epochs} epochs x {steps_per_epoch} steps on {device}"
    )
    pos = fit(
        model, batches, opt, config, run, validator(data, config, device), pos, resumed=state is not None
    )
    final = run.metrics()[-1] if run.metrics() else {}
    say(
        f"done: best val accuracy {pos.best:.2%} after {final.get('epoch', 0)} epochs, "
        f"{pos.elapsed:.0f}s of training"
    )
    return run
