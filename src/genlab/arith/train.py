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
from genlab.arith.model import ArithModel, CellCritic, build_model, read_query_cells
from genlab.arith.problem import GlyphBank, TaskData, augment_cells, save_split, swapped_twins
from genlab.arith.runs import KIND, load_config, model_spec, task_data, warm_start
from genlab.core.cache import array_digest, cache_key, load_cached, save_cached
from genlab.core.device import autocast, compiled, grad_scaler, pick_device, resolve_precision
from genlab.core.distributed import SINGLE, Ranks, barrier, check_batch, mean_over_ranks, setup, shard, wrap
from genlab.core.errors import GenlabError
from genlab.core.progress import progress, say
from genlab.core.rundir import ReplicaRun, RunDir
from genlab.core.seeding import rng_state, seed_everything, set_rng_state
from genlab.core.tensorboard import TensorBoard
from genlab.core.threads import ThreadChoice
from genlab.core.training import Diverged, check_finite_loss, check_finite_weights

FEATURE_AUGMENTS = 8  # augmented copies of every train-pool cell in the frozen-CNN feature bank


def _lr_at(step: int, total: int, peak: float) -> float:
    """Linear warm-up over the first 5% of steps, then cosine decay to zero."""
    warm = max(1, int(0.05 * total))
    if step < warm:
        return peak * (step + 1) / warm
    progress_frac = min(1.0, (step - warm) / max(1, total - warm))
    return peak * 0.5 * (1 + math.cos(math.pi * progress_frac))


@torch.inference_mode()
def feature_bank(model: ArithModel, bank: GlyphBank, copies: int, seed: int) -> torch.Tensor:
    """Cell probabilities of `copies` augmented versions of every bank image: (copies, M, V).

    Reading the augmented copies costs more than a short run's training, and every image-input run
    on the same reader, handwriting and seed reads the same, so the result is kept in the genlab
    cache, keyed by the reader's weights and the bank's images."""
    weights = [t.detach().cpu().numpy() for t in model.cell_encoder.state_dict().values()]
    key = cache_key("cell_probs", array_digest(*weights, bank.images), copies, seed)
    cached = load_cached("cell_probs", key)
    if cached is not None:
        return torch.from_numpy(cached["probs"])
    gen = torch.Generator().manual_seed(seed)
    images = torch.from_numpy(bank.images).float().div_(255).unsqueeze(1)  # (M, 1, 28, 28)
    device = next(model.parameters()).device
    was_training = model.training
    out = []
    for c in range(copies):
        x = augment_cells(images, gen) if c > 0 else images
        out.append(read_query_cells(model, x.view(1, -1, 28, 28), device)[0])  # (M, V)
    model.train(was_training)
    probs = torch.stack(out)
    save_cached("cell_probs", key, {"probs": probs.numpy()})
    return probs


class Batches:
    """Turns query indices into model inputs and targets for one task, drawing fresh handwriting."""

    def __init__(
        self,
        config: ArithConfig,
        data: TaskData,
        model: ArithModel,
        device: torch.device,
        net: Any = None,
        critic: CellCritic | None = None,
        critic_net: Any = None,
    ) -> None:
        self.config, self.data, self.model, self.device = config, data, model, device
        self.net = model if net is None else net  # what a training step calls (DDP around the model)
        # the handwriting critic (--style-adv) and what a step calls (DDP around it when parallel)
        self.critic = critic
        self.critic_net = critic if critic_net is None else critic_net
        self.in_image = model.spec.input_kind == "image"
        self.out_image = model.spec.output_kind == "image"
        self.features = None
        self.prototypes = None
        if self.out_image and config.answer_style == "prototype":
            self.prototypes = torch.from_numpy(data.train_bank.prototypes()).float().div_(255).to(device)
        if self.in_image and not config.finetune_cnn:
            copies = FEATURE_AUGMENTS if config.augment else 1
            self.features = feature_bank(model, data.train_bank, copies, config.seed).to(device)
        self.twins = swapped_twins(config.spec) if config.swap_operands else None

    def shown_as(self, order: np.ndarray, epoch: int) -> np.ndarray:
        """An epoch's query order with, under --swap-operands, half of the queries (at random, by seed
        and epoch only, so any number of processes and a resume see the same) replaced by their
        operand-swapped twins."""
        if self.twins is None:
            return order
        flip = np.random.default_rng([self.config.seed, epoch, 1]).random(len(order)) < 0.5
        return np.where(flip, self.twins[order], order)

    def make(
        self, idx: np.ndarray, rng: np.random.Generator, gen: torch.Generator
    ) -> tuple[Any, torch.Tensor, torch.Tensor]:
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

    def logits(self, x: tuple[str, torch.Tensor], y: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        kind, value = x
        chars = tokens if self.out_image else None
        drawn = None
        if self.model.spec.style_dim and self.config.drawn_queries:
            # drawn_queries of every batch_size: a process's shard and a short last batch draw their share
            drawn = math.ceil(self.config.drawn_queries * len(tokens) / self.config.batch_size)
        return self.net(
            value, y, cell_probs=kind == "features", with_aux=self.out_image, chars=chars, drawn=drawn
        )


AUX_WEIGHT = 0.1
HANDWRITING_AUX_WEIGHT = 1.0


def loss_fn(
    logits: Any,
    y: torch.Tensor,
    out_image: bool,
    tokens: torch.Tensor | None = None,
    kl_weight: float = 1.0,
) -> torch.Tensor:
    """Cross-entropy per answer character; for images, pixel BCE (+ the auxiliary character loss, and
    for handwriting answers the style codes' KL to their prior, times `kl_weight`)."""
    if out_image:
        pixels, aux, *kl = logits if isinstance(logits, tuple) else (logits, None)
        loss = F.binary_cross_entropy_with_logits(pixels, y[: len(pixels)])
        if aux is not None and tokens is not None:
            # a handwriting head is told the true character in training, so the arithmetic is learnt
            # from the character loss alone
            weight = HANDWRITING_AUX_WEIGHT if kl else AUX_WEIGHT
            loss = loss + weight * F.cross_entropy(aux.reshape(-1, aux.shape[-1]), tokens.reshape(-1))
        if kl:  # handwriting: the ELBO per pixel, the KL (nats per cell) spread over a cell's pixels
            loss = loss + kl_weight * kl[0] / (28 * 28)
        return loss
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


# the critic's learning rate, as a share of the model's (a critic at the handwriting head's peak rate
# of 1e-2 swings between calling everything real and everything fake)
CRITIC_LR_SCALE = 0.1
# the critic judges the answers of this many queries of each batch (the first, which are among those
# drawn: batches are shuffled), as judging every cell would double the cost of a step
CRITIC_QUERIES = 32


def adversarial_loss(
    critic: CellCritic,
    logits: Any,
    real: torch.Tensor,
    chars: torch.Tensor,
    weight: float,
    critic_net: Any = None,
) -> torch.Tensor:
    """The critic's loss plus `weight` times the answer's (non-saturating GAN losses) in one term
    that a single backward pass can take: the critic learns to tell real drawings (B, Ta, 28, 28)
    of `chars` (B, Ta) from the model's (pixel `logits`), those of the first CRITIC_QUERIES
    queries, and the model, through a copy of the critic whose weights get no gradient, to draw
    what it calls real. `critic_net` is what the step calls for the critic's own loss (a DDP
    wrapper around `critic`; None: the critic)."""
    pixels = logits[0] if isinstance(logits, tuple) else logits
    drawn = torch.sigmoid(pixels[:CRITIC_QUERIES])  # fewer where the step drew fewer
    real, chars = real[: len(drawn)], chars[: len(drawn)]
    frozen = {name: p.detach() for name, p in critic.named_parameters()}
    fooled = F.softplus(-torch.func.functional_call(critic, frozen, (drawn, chars))).mean()
    judge = critic if critic_net is None else critic_net
    judged = judge(torch.cat([real, drawn.detach()]), torch.cat([chars, chars]))
    real_score, fake_score = judged.chunk(2)
    critic_loss = F.softplus(-real_score).mean() + F.softplus(fake_score).mean()
    return critic_loss + weight * fooled


Validate = Callable[[ArithModel], dict[str, float]]


@dataclass
class Position:
    """Where a run stands: what `state.pt` stores besides the optimizer and RNG state."""

    epoch: int = 0  # the next epoch to train
    step: int = 0
    best: float = -1.0  # best validation exact match so far
    planned_epochs: int = 1
    elapsed: float = 0.0  # seconds of training and validation
    since_best: int = 0  # validations since the exact match last improved
    stopped: str | None = None  # why training stopped early, once it has


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


def early_stop(val_acc: float, since_best: int, config: ArithConfig) -> str | None:
    """Why to stop now, or None: validation is perfect, or has not improved for `patience` checks."""
    if val_acc >= 1.0:
        return "validation exact match reached 100%"
    if config.patience and since_best >= config.patience:
        return f"validation exact match did not improve in {config.patience} checks"
    return None


def fit(
    model: ArithModel,
    batches: Batches,
    opt: torch.optim.Optimizer,
    config: ArithConfig,
    run: RunDir,
    validate: Validate,
    pos: Position,
    resumed: bool,
    ranks: Ranks = SINGLE,
    threads: ThreadChoice | None = None,
) -> Position:
    """The training loop: epochs of optimizer steps, a validation (the callback) and a checkpoint
    every `eval_every` steps and after the last epoch. Knows nothing of how answers are scored.
    `threads` is looked at again at every validation (a neighbour may have started or stopped)."""
    scaler = grad_scaler(batches.device, config.precision)
    train_idx = batches.data.split.train
    steps_per_epoch = math.ceil(len(train_idx) / config.batch_size)
    out_text = model.spec.output_kind == "text"
    bar = progress(total=pos.planned_epochs * steps_per_epoch, initial=pos.step, desc=f"train {config.task}")
    tb = TensorBoard(run.path / "tb", enabled=config.tensorboard and ranks.is_main)  # off: a no-op
    last_val_step = pos.step
    start_epoch = pos.epoch
    total_loss, total_right, seen = 0.0, 0, 0  # since the last validation
    while pos.epoch < pos.planned_epochs and not pos.stopped:  # may shrink to fit a time budget
        t0 = time.perf_counter()
        rng = np.random.default_rng([config.seed, pos.epoch])  # per-epoch streams: resume is exact
        gen = torch.Generator().manual_seed(config.seed * 100_003 + pos.epoch)
        order = batches.shown_as(rng.permutation(train_idx), pos.epoch)
        model.train()
        # (1) one epoch of steps
        for i in range(0, len(order), config.batch_size):
            idx = shard(order[i : i + config.batch_size], ranks)  # this process's part of the batch
            lr = _lr_at(pos.step, pos.planned_epochs * steps_per_epoch, config.lr)
            for group in opt.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
            x, y, tokens = batches.make(idx, rng, gen)
            with autocast(batches.device, config.precision):
                logits = batches.logits(x, y, tokens)
                loss = loss_fn(logits, y, not out_text, tokens, config.style_kl)  # the answer's, logged
                total = loss
                if batches.critic is not None:
                    adversarial = adversarial_loss(
                        batches.critic, logits, y, tokens, config.style_adv, batches.critic_net
                    )
                    total = loss + adversarial
            opt.zero_grad(set_to_none=True)
            scaler.scale(total).backward()
            scaler.unscale_(opt)
            for group in opt.param_groups:  # the critic's gradients are clipped on their own
                torch.nn.utils.clip_grad_norm_(group["params"], 1.0)
            scaler.step(opt)
            scaler.update()
            pos.step += 1
            check_finite_loss("loss", total.item(), pos.step)
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
        if threads is not None:
            threads.update()
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
        train = {"train_loss": total_loss / seen}
        if out_text:
            train["train_acc_teacher_forced"] = total_right / seen
        record = {
            "type": "validation",
            "epoch": pos.epoch + 1,
            "step": pos.step,
            **mean_over_ranks(train, ranks),
            **val,
            "lr": opt.param_groups[0]["lr"],
            "seconds": round(pos.elapsed, 2),
        }
        total_loss, total_right, seen = 0.0, 0, 0
        # (3) checkpoint: the best weights by validation, and the resume point
        check_finite_weights(model, pos.step)
        run.append_metrics(record)
        tb.scalars(pos.step, record, "validation")
        pos.since_best = 0 if val["val_acc"] > pos.best else pos.since_best + 1
        if val["val_acc"] >= pos.best:
            pos.best = val["val_acc"]
            run.save_weights(model, "model")
        pos.stopped = early_stop(val["val_acc"], pos.since_best, config)
        critic = {"critic": batches.critic.state_dict()} if batches.critic is not None else {}
        run.save_checkpoint(
            model, {"optimizer": opt.state_dict(), "rng": rng_state(), **critic, **_stored(pos)}
        )
        run.save_numbered(model, "step", pos.step, config.keep_every)  # checkpoints/step_######
        pos.epoch += 1
        if pos.stopped:
            bar.set_postfix_str(f"stopped: {pos.stopped}")
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
        "since_best": pos.since_best,
        "stopped": pos.stopped,
    }


# options a resumed run may change: its schedule and where it runs
RESUMABLE = (
    "steps", "epochs", "time_budget", "device", "threads", "precision", "compile",
    "keep_every", "tensorboard", "patience",
)  # fmt: skip


def train_arith(
    config: ArithConfig, out: Path | str, resume: bool = False, changed: tuple[str, ...] = ()
) -> RunDir:
    """Train (or, with `resume`, continue) one arithmetic model into the run directory `out`.

    On resume the run's stored config is used; `changed` names the options the caller set, of which
    the schedule (`steps`, `epochs`) and the run options can change: a longer schedule extends the
    run. The run is locked while it trains. Under torchrun every process calls this; rank 0 writes
    the run, the others hold a ReplicaRun.
    """
    ranks, device = setup(pick_device(config.device))
    if resume:
        run = RunDir.open(out, KIND).lock() if ranks.is_main else ReplicaRun.open(out, KIND)
        try:
            config = _resumed_config(run, config, changed)
            # the run's own --threads, unless changed: another count sums in another order
            threads = ThreadChoice(config.threads).start()
            checkpoint = run.load_checkpoint()
            if checkpoint is None:
                raise GenlabError(
                    f"{run.path} has no checkpoint to resume from: train it again without --resume"
                )
            return _train_locked(config, run, checkpoint, ranks, device, threads=threads)
        finally:
            run.unlock()
    config.validate()
    resolve_precision(config.precision, device)  # a refused precision fails before anything is written
    threads = ThreadChoice(config.threads).start()
    if ranks.is_main:  # rank 0 prepares data and trains the glyph reader (cached) before the others
        data = task_data(config)  # a bad --train-frac fails here, before anything is written
        start = warm_start(config, data.split) if config.init_from else None
        run = RunDir.create(out, KIND, {**asdict(config), "model": model_spec(config).to_dict()}, lock=True)
    barrier(ranks)
    if not ranks.is_main:
        data, run = task_data(config), ReplicaRun(out)
        start = warm_start(config, data.split) if config.init_from else None
    try:
        if ranks.is_main:
            save_split(run.path / "split.npz", data.split)
        return _train_locked(config, run, None, ranks, device, data, threads, start)
    finally:
        run.unlock()


def _flags(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join("--" + n.replace("_", "-") for n in names)


def _resumed_config(run: RunDir, wanted: ArithConfig, changed: tuple[str, ...]) -> ArithConfig:
    config = load_config(run)
    fixed = sorted(
        name for name in changed if name not in RESUMABLE and getattr(wanted, name) != getattr(config, name)
    )
    if fixed:
        raise GenlabError(
            f"--resume cannot change {_flags(fixed)} of {run.path}: only {_flags(RESUMABLE)} can; "
            "train a new run for the others"
        )
    for name in changed:
        if name in RESUMABLE:
            setattr(config, name, getattr(wanted, name))
    if "steps" in changed and "epochs" not in changed:
        config.epochs = None
    return config


def _train_locked(
    config: ArithConfig,
    run: RunDir,
    checkpoint: tuple[dict[str, torch.Tensor], dict[str, Any]] | None,
    ranks: Ranks,
    device: torch.device,
    data: TaskData | None = None,
    threads: ThreadChoice | None = None,
    start: tuple[dict[str, torch.Tensor], str] | None = None,
) -> RunDir:
    """Train `run` from `checkpoint` (resuming) or from fresh weights, or from `start` (the weights
    `warm_start` took from another run, and what it says about them)."""
    resumed = checkpoint is not None
    check_batch(config.batch_size, ranks)
    seed_everything(config.seed)
    mspec = model_spec(config)
    model = build_model(mspec)
    if checkpoint is not None:
        run.load_state_into(model, checkpoint[0], "state.pt")
        data = task_data(config, run)
    elif mspec.input_kind == "image":
        model.cell_encoder.load_state_dict(classifier_for(config).state_dict())
    assert data is not None
    if start is not None:
        model.load_state_dict(start[0], strict=False)
        say(start[1])
    if data.mnist_source:
        say(f"mnist: {data.mnist_source}")
    model.to(device)
    if mspec.input_kind == "image" and not config.finetune_cnn:
        model.cell_encoder.requires_grad_(False)
    critic = None
    if mspec.style_dim and config.style_adv > 0:
        critic = CellCritic(mspec.vocab_size).to(device)
        if checkpoint is not None:
            critic.load_state_dict(checkpoint[1]["critic"])
    opt = torch.optim.AdamW(_param_groups(model, critic, config), lr=config.lr)
    net = compiled(wrap(model, ranks, device, find_unused=True), config.compile)
    critic_net = wrap(critic, ranks, device) if critic is not None else None
    batches = Batches(config, data, model, device, net, critic, critic_net)

    steps_per_epoch = math.ceil(len(data.split.train) / config.batch_size)
    planned = config.epochs or max(1, math.ceil(config.steps / steps_per_epoch))
    pos = Position(planned_epochs=planned)
    if checkpoint is not None:
        state = checkpoint[1]
        opt.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])  # only dropout draws from it: the same on every rank
        pos = Position(
            state["epoch"] + 1,
            state["step"],
            state["best"],
            state["planned_epochs"],
            state["elapsed"],
            state.get("since_best", 0),
            state.get("stopped"),
        )
        run.trim_metrics(pos.step)
        if planned != pos.planned_epochs:
            say(f"schedule: {planned} epochs instead of {pos.planned_epochs}")
            pos.planned_epochs = planned
            pos.stopped, pos.since_best = None, 0  # asked to train longer: early stopping starts over
            run.write_config(KIND, {**asdict(config), "model": mspec.to_dict()})
    if resumed and pos.stopped:
        say(f"{run.path} stopped early already ({pos.stopped}): nothing to do; --steps N trains it longer")
        _repair_best_weights(run)
        return run
    say(
        f"arith {config.task}: {len(data.split.train)} train / {len(data.split.test)} test queries, "
        f"{pos.planned_epochs} epochs x {steps_per_epoch} steps on {device}"
    )
    saved = f"the checkpoint of step {pos.step}" if resumed else "nothing yet"
    try:
        validate = validator(data, config, device)
        pos = fit(
            model, batches, opt, config, run, validate, pos, resumed=resumed, ranks=ranks, threads=threads
        )
    except Diverged as exc:
        kept = (
            f"the last good checkpoint (step {run.load_state()['step']}) is kept in {run.path}"
            if run.has_checkpoint()
            else "it diverged before its first checkpoint, so nothing was saved"
        )
        raise GenlabError(f"training diverged: {exc}; {kept}. Lower --lr and train again") from None
    except KeyboardInterrupt:
        if run.has_checkpoint():
            saved = f"the checkpoint of step {run.load_state()['step']}"
        say(f"interrupted: {saved} is kept in {run.path}; continue with --resume")
        raise
    _repair_best_weights(run)
    if pos.stopped:
        say(f"stopped early at step {pos.step}: {pos.stopped}")
        run.append_metrics({"type": "stop", "reason": "early", "why": pos.stopped, "step": pos.step})
    else:
        run.append_metrics({"type": "stop", "reason": "done", "step": pos.step})
    final = [r for r in run.metrics() if r.get("type") == "validation" or "train_loss" in r]
    say(
        f"done: best val accuracy {pos.best:.2%} after {final[-1]['epoch'] if final else 0} epochs, "
        f"{pos.elapsed:.0f}s of training"
    )
    return run


def _param_groups(model: ArithModel, critic: CellCritic | None, config: ArithConfig) -> list[dict[str, Any]]:
    """The optimizer's parameter groups: the model's trainable weights, and a handwriting critic's
    at a fraction of the learning rate and without weight decay (which would pull it towards
    calling every drawing equally real)."""
    main = [p for p in model.parameters() if p.requires_grad]
    groups: list[dict[str, Any]] = [{"params": main, "weight_decay": config.weight_decay}]
    if critic is not None:
        groups.append({"params": list(critic.parameters()), "weight_decay": 0.0, "lr_scale": CRITIC_LR_SCALE})
    return groups


def _repair_best_weights(run: RunDir) -> None:
    """model.safetensors missing or damaged (a kill, a careless copy): put the checkpoint's weights
    there, and say so, rather than report a run that cannot answer."""
    try:
        run.load_weights("model")
    except GenlabError:
        checkpoint = run.load_checkpoint()
        if checkpoint is not None:
            run.save_weights(checkpoint[0], "model")
            say(f"{run.weights_path('model')} was missing or damaged: rewritten from the last checkpoint")
