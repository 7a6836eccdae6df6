"""Training CAE, VAE, GAN and diffusion image models: one loop, checkpoints, exact resume, NaN guard, Ctrl-C.

    run = train_images(ImageTrainConfig(model="gan", data="punks"), Path("runs/gan"))
    run = train_images(ImageTrainConfig(epochs=10), Path("runs/gan"), resume=True)  # continue

What a run directory gets (see `genlab.core.rundir`):
  model.safetensors  weights for inference: the best epoch by held-out loss (CAE/VAE/diffusion); for the GAN,
                     whose losses say little about quality, the latest end of epoch
  last.safetensors   the weights at the resume point; state.pt holds the optimizers, step, RNG state
  samples/epoch_###.png  decoded from one fixed latent batch after every epoch, to watch training
  figures/losses.png     loss curves; metrics.jsonl one record per `log_every` steps and per epoch

Resume is exact: batch order depends only on (seed, epoch), the RNG state is checkpointed, and a
resumed run reproduces the weights of an uninterrupted one bit for bit on the same machine.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genlab.core.device import autocast, compiled, grad_scaler, pick_device, resolve_precision
from genlab.core.distributed import (
    SINGLE,
    Ranks,
    barrier,
    check_batch,
    gather_objects,
    mean_over_ranks,
    setup,
    shard,
    wrap,
)
from genlab.core.errors import GenlabError
from genlab.core.grid import save_grid
from genlab.core.paths import atomic_write_text
from genlab.core.progress import progress, say
from genlab.core.rundir import ReplicaRun, RunDir
from genlab.core.seeding import rng_state, seed_everything, set_rng_state
from genlab.core.tensorboard import TensorBoard
from genlab.core.threads import ThreadChoice
from genlab.core.training import Diverged, check_finite_weights
from genlab.images.augment import augment_batch
from genlab.images.autoencoders import reconstruction_loss, vae_loss
from genlab.images.conditions import ConditionSpace
from genlab.images.config import ImageTrainConfig, parse_augment, parse_d_augment
from genlab.images.d_augment import d_augment
from genlab.images.figures import loss_curves_figure
from genlab.images.gan import condition_loss, discriminator_loss, ema_update, generator_loss
from genlab.images.runs import (
    KINDS,
    build_model,
    dataset_conditions,
    decode_latents,
    generate,
    heldout_images,
    latent_noise,
    load_dataset,
    load_trained,
    reconstruct,
    split_indices,
    to_float,
)

__all__ = [
    "ImageTrainConfig",
    "train_images",
    "load_trained",
    "generate",
    "heldout_images",
    "reconstruct",
    "epoch_order",
]

SAMPLE_GRID = 64  # images in each samples/epoch_###.png
RUN_CONTROL = (
    "max_steps", "time_budget", "device", "threads", "log_every", "precision", "compile", "sync_batchnorm",
    "keep_every", "tensorboard",
)  # fmt: skip


def epoch_order(n: int, seed: int, epoch: int, weights: torch.Tensor | None = None) -> torch.Tensor:
    """The shuffled order of the n training images in an epoch; depends only on (seed, epoch).

    With `weights` (n,), n draws with replacement in proportion to them (rare classes more often)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    if weights is not None:
        return torch.multinomial(weights.double(), n, replacement=True, generator=generator)
    return torch.randperm(n, generator=generator)


class ImageTrainer:
    """Holds the model, optimizers and position of one training run; `fit` runs the loop."""

    threads: ThreadChoice | None = None  # re-chosen at every loss record, unless --threads fixed it

    def __init__(
        self,
        cfg: ImageTrainConfig,
        run: RunDir,
        images: np.ndarray,
        device: torch.device,
        ranks: Ranks = SINGLE,
        conditions: np.ndarray | None = None,
    ) -> None:
        self.cfg, self.run, self.device, self.ranks = cfg, run, device, ranks
        self.train_x = torch.from_numpy(images[cfg.extra["train_idx"]]).permute(0, 3, 1, 2).contiguous()
        self.test_x = torch.from_numpy(images[cfg.extra["test_idx"]]).permute(0, 3, 1, 2).contiguous()
        # uint8 (N, C, H, W): 4x less memory than float; each batch is converted as it is drawn
        # a conditional run's condition vectors (N, K), float, beside the images (None: unconditional)
        self.train_c = None if conditions is None else torch.from_numpy(conditions[cfg.extra["train_idx"]])
        self.test_c = None if conditions is None else torch.from_numpy(conditions[cfg.extra["test_idx"]])
        # batches arrive channels-last (uint8 NHWC, permuted), and convolutions whose weights are
        # channels-last too run faster on CPUs (oneDNN) and on tensor-core GPUs; README (The demo and
        # the report) says what it measured
        self.model = build_model(cfg).to(device, memory_format=torch.channels_last)
        if isinstance(getattr(self.model, "condition_bank", None), torch.Tensor):
            assert self.train_c is not None
            self.model.condition_bank.copy_(self.train_c.to(torch.uint8))
        # what the steps call: the model itself, or DistributedDataParallel around it (the GAN's two
        # players each wrapped on their own), compiled if asked; self.model keeps the saved weights
        if cfg.model == "gan":
            self.g = compiled(wrap(self.model.generator, ranks, device, cfg.sync_batchnorm), cfg.compile)
            self.d = compiled(wrap(self.model.discriminator, ranks, device, cfg.sync_batchnorm), cfg.compile)
        elif cfg.model == "diffusion":  # the denoiser alone: its moving average is not trained
            self.net = compiled(wrap(self.model.denoiser, ranks, device, cfg.sync_batchnorm), cfg.compile)
        else:
            self.net = compiled(wrap(self.model, ranks, device, cfg.sync_batchnorm), cfg.compile)
        self.ops = parse_augment(cfg.augment)
        self.d_ops = parse_d_augment(cfg.d_augment) if cfg.model == "gan" else ()
        if cfg.model == "gan":
            betas = (0.5, 0.999)  # DCGAN: a short momentum memory keeps the two players responsive
            self.optimizers = [
                torch.optim.Adam(self.model.generator.parameters(), lr=cfg.lr, betas=betas),
                torch.optim.Adam(self.model.discriminator.parameters(), lr=cfg.lr_d, betas=betas),
            ]
        elif cfg.model == "diffusion":
            self.optimizers = [torch.optim.Adam(self.model.denoiser.parameters(), lr=cfg.lr)]
        else:
            self.optimizers = [torch.optim.Adam(self.model.parameters(), lr=cfg.lr)]
        self.base_lrs = [cfg.lr, cfg.lr_d] if cfg.model == "gan" else [cfg.lr]
        self.scaler = grad_scaler(device, cfg.precision)
        self.n_train = len(self.train_x)
        self.batch_size = min(cfg.batch_size, self.n_train)  # the global batch, over all processes
        check_batch(self.batch_size, ranks)
        self.steps_per_epoch = max(1, self.n_train // self.batch_size)  # drop the ragged last batch
        self.epoch, self.batch, self.step = 0, 0, 0
        self.best = math.inf
        self.elapsed = 0.0
        self.checkpointed_epoch: int | None = None  # the epoch of the last checkpoint written or loaded
        self.fixed_z = latent_noise(SAMPLE_GRID, cfg.latent_dim, cfg.seed + 1)
        self.sample_weights = None  # a conditional run's --condition-balance weights, (n_train,)
        space = ConditionSpace.from_extra(cfg.extra)
        if self.train_c is not None and space is not None and cfg.condition_balance > 0:
            weights = space.balance_weights(self.train_c.numpy(), cfg.condition_balance)
            if not np.allclose(weights, 1.0):
                self.sample_weights = torch.from_numpy(weights)
        self.fixed_c = grid_conditions(self.train_c, SAMPLE_GRID, cfg.condition, cfg.seed + 1)
        self._stop_requested = False
        self.tb = TensorBoard(run.path / "tb", enabled=cfg.tensorboard and ranks.is_main)  # off: no-op

    # -- one optimisation step per model ------------------------------------------------------

    def train_step(self, x: torch.Tensor, c: torch.Tensor | None = None) -> dict[str, float]:
        """One step on images x and (conditional runs) their conditions c, some dropped to zero."""
        if c is not None and self.cfg.condition_dropout > 0:
            keep = torch.rand(len(c), device=c.device) >= self.cfg.condition_dropout
            c = c * keep[:, None].to(c.dtype)
        scheduled = self.cfg.lr_schedule != "constant"
        if scheduled:
            factor = self._lr_factor()
            for opt, base in zip(self.optimizers, self.base_lrs, strict=True):
                for group in opt.param_groups:
                    group["lr"] = base * factor
        if self.cfg.model == "gan":
            stats = self._gan_step(x, c)
        elif self.cfg.model == "diffusion":
            stats = self._diffusion_step(x, c)
        else:
            stats = self._ae_step(x, c)
        if scheduled:
            stats["lr"] = self.base_lrs[0] * factor
        return stats

    def _lr_factor(self) -> float:
        """--lr-schedule cosine: the share of --lr (and --lr-d) this step trains with."""
        total = self.cfg.epochs * self.steps_per_epoch
        return 0.5 * (1.0 + math.cos(math.pi * min(self.step, total) / total))

    def _beta(self) -> float:
        warmup_steps = self.cfg.kl_warmup * self.steps_per_epoch
        if warmup_steps <= 0:
            return self.cfg.beta
        return self.cfg.beta * min(1.0, (self.step + 1) / warmup_steps)

    def _ae_losses(
        self, x: torch.Tensor, beta: float, net: nn.Module | None = None, c: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        net = self.net if net is None else net
        args = () if c is None else (c,)
        if self.cfg.model == "vae":
            logits, mu, logvar = net(x, *args)
            return vae_loss(x, logits, mu, logvar, beta, self.cfg.likelihood, self.cfg.sigma)
        loss = reconstruction_loss(x, net(x, *args), self.cfg.recon_loss)
        return {"loss": loss}

    def _ae_step(self, x: torch.Tensor, c: torch.Tensor | None = None) -> dict[str, float]:
        (opt,) = self.optimizers
        with autocast(self.device, self.cfg.precision):
            losses = self._ae_losses(x, self._beta(), c=c)
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(losses["loss"]).backward()
        self.scaler.step(opt)
        self.scaler.update()
        stats = {k: v.item() for k, v in losses.items()}
        if self.cfg.model == "vae":
            stats["beta"] = self._beta()
        return stats

    def _diffusion_step(self, x: torch.Tensor, c: torch.Tensor | None = None) -> dict[str, float]:
        # noise each image to a random time t, learn to predict what was added (diffusion.py)
        (opt,) = self.optimizers
        with autocast(self.device, self.cfg.precision):
            loss = self.model.loss(x, self.net, c)
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(opt)
        self.scaler.update()
        # samples come from the moving average, warmed up as the GAN's generator average is
        decay = min(self.cfg.ema, (1 + self.step) / (10 + self.step))
        ema_update(self.model.denoiser_ema, self.model.denoiser, decay)
        return {"loss": loss.item()}

    def _gan_step(self, real: torch.Tensor, c: torch.Tensor | None = None) -> dict[str, float]:
        """Fakes are drawn for the real images' own conditions, so D judges both with the same ones."""
        real = real * 2 - 1  # the generator draws in [-1, 1]
        z = torch.randn(len(real), self.cfg.latent_dim, device=self.device)
        args = () if c is None else (c,)
        with autocast(self.device, self.cfg.precision):
            fake = self.g(z, *args)  # (B, C, H, W), kept in the graph for the generator step
        loss_d, real_logits, fake_logits = self.discriminator_step(real, fake, c)
        loss_g = self.generator_step(fake, c)
        self.scaler.update()
        # the EMA warms up (decay (1+t)/(10+t)) so early noise does not linger in it
        decay = min(self.cfg.ema, (1 + self.step) / (10 + self.step))
        ema_update(self.model.generator_ema, self.model.generator, decay)
        return {
            "loss_d": loss_d,
            "loss_g": loss_g,
            "d_real": torch.sigmoid(real_logits.float()).mean().item(),
            "d_fake": torch.sigmoid(fake_logits.float()).mean().item(),
        }

    def discriminator_step(
        self, real: torch.Tensor, fake: torch.Tensor, c: torch.Tensor | None = None
    ) -> tuple[float, torch.Tensor, torch.Tensor]:
        """One discriminator update on real vs *detached* fakes: no gradient reaches the generator."""

        d, opt_d = self.d, self.optimizers[1]
        args = () if c is None else (c,)
        with autocast(self.device, self.cfg.precision):
            real_logits, real_aux = d(d_augment(real, self.d_ops), *args, with_aux=True)
            fake_logits = d(d_augment(fake.detach(), self.d_ops), *args)
            loss = discriminator_loss(real_logits, fake_logits, self.cfg.gan_loss, self.cfg.real_label)
            if real_aux is not None:  # a head exists only on conditional runs
                loss = loss + self.cfg.aux_weight * condition_loss(real_aux, c)
        opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(opt_d)
        return loss.item(), real_logits.detach(), fake_logits.detach()

    def generator_step(self, fake: torch.Tensor, c: torch.Tensor | None = None) -> float:
        """One generator update through the (frozen) discriminator; only the generator's weights move."""

        d, opt_g = self.model.discriminator, self.optimizers[0]
        args = () if c is None else (c,)
        d.requires_grad_(False)  # no weight gradients for D: ~1/3 less backward work, and D stays put
        try:
            with autocast(self.device, self.cfg.precision):
                fake_logits, fake_aux = d(d_augment(fake, self.d_ops), *args, with_aux=True)
                loss = generator_loss(fake_logits, self.cfg.gan_loss)
                if fake_aux is not None:  # a head exists only on conditional runs
                    loss = loss + self.cfg.aux_weight * condition_loss(fake_aux, c)
            opt_g.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(opt_g)
        finally:
            d.requires_grad_(True)
        return loss.item()

    # -- the loop ---------------------------------------------------------------------------

    def fit(self) -> str:
        """Train until the last epoch or a stop; return why it stopped ('done', 'interrupted', ...)."""
        cfg = self.cfg
        start = time.perf_counter() - self.elapsed
        budget = cfg.time_budget or 0.0  # seconds; 0: no limit
        sums: dict[str, float] = {}
        count = 0
        if cfg.max_steps and self.step >= cfg.max_steps:
            return "max_steps"  # e.g. resuming a run that already stopped at this limit
        with _sigint_sets_flag(self):
            while self.epoch < cfg.epochs:
                order = epoch_order(self.n_train, cfg.seed, self.epoch, self.sample_weights)
                bar = progress(
                    total=self.steps_per_epoch,
                    initial=self.batch,
                    desc=f"epoch {self.epoch + 1}/{cfg.epochs}",
                )
                self.model.train()
                while self.batch < self.steps_per_epoch:
                    idx = order[self.batch * self.batch_size : (self.batch + 1) * self.batch_size]
                    idx = shard(idx, self.ranks)  # this process's part of the global batch
                    x = to_float(self.train_x[idx].permute(0, 2, 3, 1)).to(self.device)  # (B, C, H, W)
                    x = augment_batch(x, self.ops)
                    c = None if self.train_c is None else self.train_c[idx].to(self.device)
                    stats = self.train_step(x, c)
                    bad = [k for k, v in stats.items() if not math.isfinite(v)]
                    if bad:
                        bar.close()
                        raise Diverged(f"{bad[0]} became {stats[bad[0]]} at step {self.step + 1}")
                    self.step += 1
                    self.batch += 1
                    for k, v in stats.items():
                        sums[k] = sums.get(k, 0.0) + v
                    count += 1
                    bar.update(1)
                    bar.set_postfix(
                        {k: f"{v:.3g}" for k, v in stats.items() if k not in ("beta", "lr")}, refresh=False
                    )
                    if self.step % cfg.log_every == 0:
                        if self.threads is not None:  # a neighbour may have started or stopped
                            self.threads.update()
                        record = mean_over_ranks({k: v / count for k, v in sums.items()}, self.ranks)
                        epoch = round(self.epoch + self.batch / self.steps_per_epoch, 3)
                        self.run.append_metrics(
                            {"type": "train", "epoch": epoch, "step": self.step, **record}
                        )
                        self.tb.scalars(self.step, record, "train")
                        sums, count = {}, 0
                    self.elapsed = time.perf_counter() - start
                    reason = self._stop_reason(budget)
                    if reason:
                        bar.close()
                        self.end_of_epoch(partial=True)
                        self.save_checkpoint()
                        return reason
                bar.close()
                self.epoch += 1
                self.batch = 0
                self.elapsed = time.perf_counter() - start
                self.end_of_epoch(partial=False)
                self.save_checkpoint()
                if budget and self.elapsed >= budget and self.epoch < cfg.epochs:
                    return "time_budget"
        return "done"

    def _stop_reason(self, budget: float) -> str | None:
        if self._stop_requested:
            return "interrupted"
        if self.cfg.max_steps and self.step >= self.cfg.max_steps:
            return "max_steps"
        if budget and self.elapsed >= budget and self.batch < self.steps_per_epoch:  # else: at epoch end
            return "time_budget"
        return None

    # -- end of epoch: held-out loss, sampling calibration, sample grid -------------------------

    @torch.no_grad()
    def end_of_epoch(self, partial: bool) -> None:
        """Held-out loss, CAE code fit / GAN EMA batch-norm recalibration, the diffusion model's early
        copy for autoguidance (at --guide-epoch), the epoch's sample grid.

        Nothing here draws from the global RNG (fork_rng and private generators), so running it
        or not never changes the training trajectory, which keeps resume exact.
        """

        check_finite_weights(self.model, self.step)
        number = self.epoch + (1 if partial else 0)
        record: dict[str, Any] = {"type": "epoch", "epoch": number, "step": self.step, "time": self.elapsed}
        if partial:
            record["partial"] = True
        if self.cfg.model == "cae":
            self._fit_codes()
        if self.cfg.model == "gan":
            self._recalibrate_ema_batchnorm()
        if self.cfg.model != "gan" and len(self.test_x):
            record["test_loss"] = self.test_loss()
        if self.cfg.model == "diffusion" and not partial and number == self.cfg.guide_epoch:
            self.model.take_guide(number)  # autoguidance's early copy; the sample grids use it from now
            record["guide_taken"] = True
        images = decode_latents(
            self.model, self.model.prior_sample(self.fixed_z.to(self.device)), conditions=self.fixed_c
        )
        scale = max(1, 560 // (8 * (self.cfg.size + 2)))  # small images enlarged (nearest) to ~560 px
        if self.ranks.is_main:
            save_grid(images.numpy(), self.run.samples_dir / f"epoch_{number:03d}.png", ncols=8, scale=scale)
        self.run.append_metrics(record)
        self.tb.scalars(self.step, record, "epoch")
        self.tb.image(self.step, "samples", images.numpy())
        improved = record.get("test_loss", -self.step) < self.best
        if improved or not self.run.has_weights("model"):
            self.best = min(self.best, record.get("test_loss", -self.step))
            self.run.save_weights(self.model, "model")
        if not partial:  # --keep-every: checkpoints/epoch_###.safetensors
            self.run.save_numbered(self.model, "epoch", number, self.cfg.keep_every)
        self.model.train()

    def test_loss(self) -> float:
        """Mean loss over the held-out images (VAE: full-beta negative ELBO, one fixed eps draw;
        diffusion: the averaged denoiser's, at one fixed draw of times and noise)."""
        self.model.eval()
        total, n = 0.0, 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.cfg.seed + 2)
            for start in range(0, len(self.test_x), 256):
                x = to_float(self.test_x[start : start + 256].permute(0, 2, 3, 1)).to(self.device)
                c = None if self.test_c is None else self.test_c[start : start + 256].to(self.device)
                if self.cfg.model == "diffusion":
                    loss = self.model.loss(x, self.model.denoiser_ema, c)
                else:
                    loss = self._ae_losses(x, self.cfg.beta, self.model, c)["loss"]
                total += float(loss) * len(x)
                n += len(x)
        return total / max(n, 1)

    def _fit_codes(self) -> None:
        self.model.eval()
        codes = [
            self.model.encode(
                to_float(self.train_x[i : i + 512].permute(0, 2, 3, 1)).to(self.device),
                None if self.train_c is None else self.train_c[i : i + 512].to(self.device),
            )
            for i in range(0, self.n_train, 512)
        ]
        self.model.fit_code_distribution(torch.cat(codes))

    def _recalibrate_ema_batchnorm(self, batches: int = 8) -> None:
        """Re-estimate the EMA generator's batch-norm statistics for its own (averaged) weights.

        The live generator's running statistics belong to the live weights; the averaged weights
        produce different activations, and using the wrong statistics at eval time washes out samples.
        """
        g = self.model.generator_ema
        norms = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches below
        g.train()
        gen = torch.Generator().manual_seed(self.cfg.seed + 3)
        for _ in range(batches):
            z = torch.randn(256, self.cfg.latent_dim, generator=gen).to(self.device)
            if self.train_c is None:
                g(z)
            else:  # the statistics of images drawn for the data's own conditions
                rows = torch.randint(0, self.n_train, (256,), generator=gen)
                g(z, self.train_c[rows].to(self.device))
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        g.eval()

    # -- checkpoints --------------------------------------------------------------------------

    def save_checkpoint(self) -> None:
        self.checkpointed_epoch = self.epoch
        rng = rng_state()
        self.run.save_checkpoint(
            self.model,
            {
                "epoch": self.epoch,
                "batch": self.batch,
                "step": self.step,
                "best": self.best,
                "elapsed": self.elapsed,
                "optimizers": [opt.state_dict() for opt in self.optimizers],
                "scaler": self.scaler.state_dict(),
                "rng": rng,
                "rng_ranks": gather_objects(rng, self.ranks) if self.ranks.parallel else None,
                "world": self.ranks.world,
            },
        )

    def load_checkpoint(self) -> None:
        checkpoint = self.run.load_checkpoint()
        if checkpoint is None:
            raise GenlabError(f"{self.run.path} has no checkpoint to resume from: train it without --resume")
        weights, state = checkpoint
        self.run.load_state_into(self.model, weights, "state.pt")
        for opt, opt_state in zip(self.optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(opt_state)
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.batch, self.step = state["epoch"], state["batch"], state["step"]
        self.best, self.elapsed = state["best"], state["elapsed"]
        self.checkpointed_epoch = self.epoch
        per_rank = state.get("rng_ranks")
        if per_rank and len(per_rank) == self.ranks.world:
            set_rng_state(per_rank[self.ranks.rank])
        elif self.ranks.is_main:
            set_rng_state(state["rng"])
        else:  # resumed on more processes than it was saved from: a fresh stream per extra rank
            torch.manual_seed(self.cfg.seed * 7919 + self.step * 31 + self.ranks.rank)


@contextlib.contextmanager
def _sigint_sets_flag(trainer: ImageTrainer) -> Iterator[None]:
    """Ctrl-C finishes the current step, then the loop checkpoints and returns 'interrupted'."""
    try:
        previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, lambda *_: setattr(trainer, "_stop_requested", True))
    except ValueError:  # not the main thread: leave Ctrl-C alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _resume_config(run: RunDir, cfg: ImageTrainConfig) -> ImageTrainConfig:
    """The stored config, with the run-control options (and a larger --epochs) of this call."""
    stored = ImageTrainConfig.from_dict(run.config)
    for name in RUN_CONTROL:
        setattr(stored, name, getattr(cfg, name))
    if cfg.epochs:
        stored.epochs = cfg.epochs
    return stored


def grid_conditions(train_c: torch.Tensor | None, n: int, kind: str, seed: int) -> torch.Tensor | None:
    """The conditions of the per-epoch sample grid (8 columns): for labels, row r asks for class
    r mod K; for attributes, n training images' own attribute sets (a fixed, seeded choice)."""
    if train_c is None:
        return None
    k = train_c.shape[1]
    if kind == "labels":
        return torch.eye(k)[(torch.arange(n) // 8) % k]
    rows = torch.randperm(len(train_c), generator=torch.Generator().manual_seed(seed))[:n]
    return train_c[rows.repeat(-(-n // len(rows)))[:n]]


def _truncate_metrics(run: RunDir, step: int) -> None:
    """Drop records written after the checkpoint (e.g. before a crash), so curves never double back."""

    kept = [r for r in run.metrics() if r.get("type") not in ("train", "epoch") or r.get("step", 0) <= step]
    atomic_write_text(run.path / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in kept))


def train_images(cfg: ImageTrainConfig, out: Path | str, resume: bool = False) -> RunDir:
    """Train (or with resume=True continue) an image model into the run directory `out`.

    The run is locked while it trains: a second training of the same run gets a one-line error.
    Under torchrun every process calls this; rank 0 writes the run, the others hold a ReplicaRun.
    """
    out = Path(out)
    ranks, device = setup(pick_device(cfg.device))
    run: RunDir | None = None
    if resume:
        run = RunDir.open(out, KINDS).lock() if ranks.is_main else ReplicaRun.open(out, KINDS)
    try:
        return _train_images(cfg, out, run, ranks, device)
    finally:
        if run is not None:
            run.unlock()


def _train_images(
    cfg: ImageTrainConfig, out: Path, run: RunDir | None, ranks: Ranks, device: torch.device
) -> RunDir:
    resume = run is not None
    cfg = _resume_config(run, cfg) if run is not None else cfg.resolved()
    resolve_precision(cfg.precision, device)  # a refused precision fails before anything is written
    threads = ThreadChoice(cfg.threads).start()
    if ranks.is_main:  # rank 0 prepares (and caches) the data before the others read it
        data = load_dataset(cfg)
    barrier(ranks)
    if not ranks.is_main:
        data = load_dataset(cfg)
    images, source = data.images, data.source
    found = dataset_conditions(cfg, data)
    conditions = None if found is None else found[1]
    say(f"data: {source}: {len(images):,} images at {cfg.size}x{cfg.size}x{cfg.channels}")
    if run is not None:
        if cfg.extra.get("n_images") != len(images):
            raise GenlabError(
                f"{cfg.data!r} now holds {len(images)} images, not the {cfg.extra.get('n_images')} "
                f"{out} was trained on: start a new run instead of --resume"
            )
    else:
        cfg.extra.update({"source": source, "n_images": len(images)})
        if found is not None:
            cfg.extra["condition"] = found[0].to_dict()
            if cfg.condition_dropout == 0:  # it never learns "no condition": unasked draws take the data's
                cfg.extra["condition_bank"] = len(split_indices(len(images), cfg.test_frac, cfg.seed)[0])
            say(f"conditioned on {found[0].dim} {cfg.condition}")
        if ranks.is_main:
            run = RunDir.create(out, f"images-{cfg.model}", _public(cfg), lock=True)
        barrier(ranks)
        if not ranks.is_main:
            run = ReplicaRun(out)
    assert run is not None
    try:
        return _fit_run(cfg, run, images, device, resume, ranks, threads, conditions)
    finally:
        run.unlock()


def _fit_run(
    cfg: ImageTrainConfig,
    run: RunDir,
    images: np.ndarray,
    device: torch.device,
    resume: bool,
    ranks: Ranks,
    threads: ThreadChoice | None = None,
    conditions: np.ndarray | None = None,
) -> RunDir:
    out = run.path
    train_idx, test_idx = split_indices(len(images), cfg.test_frac, cfg.seed)
    if len(train_idx) < 2:
        raise GenlabError(f"{cfg.data!r} has {len(images)} images: too few to train on (need at least 2)")
    cfg.extra.update({"train_idx": train_idx, "test_idx": test_idx})
    if not resume:
        seed_everything(cfg.seed)
    trainer = ImageTrainer(cfg, run, images, device, ranks, conditions)
    trainer.threads = threads
    if ranks.parallel and not resume:  # each process its own noise and augmentation stream
        torch.manual_seed(cfg.seed * 7919 + ranks.rank)
    if resume:
        trainer.load_checkpoint()
        run.trim_metrics(trainer.step)
        run.write_config(f"images-{cfg.model}", _public(cfg))  # records the new epochs / run options
        say(f"resuming {out} at epoch {trainer.epoch + 1}, step {trainer.step}")
    params = sum(p.numel() for p in trainer.model.parameters())
    say(
        f"training {cfg.model.upper()} ({params / 1e6:.2f}M parameters) on {device} for {cfg.epochs} epochs "
        f"of {trainer.steps_per_epoch} steps; held out {len(test_idx)} images; writing {out}"
    )
    try:
        reason = trainer.fit()
    except Diverged as exc:
        kept = (
            f"the last good checkpoint (epoch {trainer.checkpointed_epoch}) is kept in {out}"
            if trainer.checkpointed_epoch is not None
            else "it diverged before its first checkpoint, so nothing was saved"
        )
        raise GenlabError(
            f"training diverged: {exc}; {kept}. "
            "Lower --lr (for a GAN, or add --spectral) and retrain or --resume"
        ) from None
    if ranks.is_main:
        _write_curves(run)
    if reason == "interrupted":
        say(f"interrupted at step {trainer.step}: saved; continue with --resume")
    elif reason != "done":
        say(f"stopped ({reason.replace('_', ' ')}) at step {trainer.step}: saved; continue with --resume")
    else:
        say(f"done in {trainer.elapsed:.0f} s: {out}")
    run.append_metrics({"type": "stop", "reason": reason, "step": trainer.step})
    return run


def _public(cfg: ImageTrainConfig) -> dict[str, Any]:
    """The config as written to config.json (the split indices are rebuilt from seed and test_frac)."""
    values = cfg.to_dict()
    values["extra"] = {k: v for k, v in cfg.extra.items() if k not in ("train_idx", "test_idx")}
    return values


def _write_curves(run: RunDir) -> None:

    loss_curves_figure(run)
