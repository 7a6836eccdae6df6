"""The image models' options: `ImageTrainConfig`, one field per `genlab images train` option.

Each default is written once, here; the command line is derived from these fields
(genlab.images.cli), and the resolved config is written to the run's config.json. This module
imports no torch, so `genlab --help` stays fast.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from genlab.core.errors import GenlabError

SIZES = (16, 32, 64, 128)
AUGMENTS = ("flip", "shift", "rotate", "zoom")
D_AUGMENTS = ("color", "translation", "cutout")


def check_size(size: int) -> int:
    """The number of stride-2 stages between `size` and 4x4; other sizes are a user error."""
    if size not in SIZES:
        raise GenlabError(
            f"image size {size} is not supported: use one of {', '.join(map(str, SIZES))} "
            "(other images are resized to the size you pick when they are loaded)"
        )
    return {16: 2, 32: 3, 64: 4, 128: 5}[size]


def parse_augment(spec: str) -> tuple[str, ...]:
    """'flip,shift' -> ('flip', 'shift'); 'none' or '' -> ()."""
    return parse_op_list(spec, AUGMENTS, "augmentation")


def parse_op_list(spec: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    """A comma list of operation names (or 'none'), checked against `allowed`; `what` names the option."""
    ops = tuple(op.strip() for op in spec.split(",") if op.strip() and op.strip() != "none")
    unknown = [op for op in ops if op not in allowed]
    if unknown:
        raise GenlabError(f"unknown {what} {unknown[0]!r}: use none or a comma list of {', '.join(allowed)}")
    return ops


def parse_d_augment(spec: str) -> tuple[str, ...]:
    """'color,translation' -> ('color', 'translation'); 'none' or '' -> ()."""
    return parse_op_list(spec, D_AUGMENTS, "--d-augment")


MODELS = ("cae", "vae", "gan")
KINDS = tuple(f"images-{m}" for m in MODELS)
NAMED_DATA = ("punks", "mnist", "fashion-mnist")

# Per-model defaults, tuned on CryptoPunks 32x32 to train in about two minutes on 2 CPU cores.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "cae": {"latent_dim": 64, "epochs": 12, "lr": 2e-3, "base_width": 32},
    "vae": {"latent_dim": 32, "epochs": 20, "lr": 2e-3, "base_width": 32},
    # the classic DCGAN 2e-4 is tuned for long runs; in 10 epochs on punks (punks features, n = 5000)
    # FID / precision / recall went 3.17 / 0.19 / 0.013 at 2e-4, 2.75 / 0.32 / 0.026 at 4e-4,
    # 2.55 / 0.40 / 0.073 at 8e-4 and 2.08 / 0.44 / 0.125 at 1.5e-3
    "gan": {"latent_dim": 64, "epochs": 10, "lr": 1.5e-3, "base_width": 32},
}


@dataclass
class ImageTrainConfig:
    """Every option of `genlab images train`; 0 / "auto" means "the default for this model and data"."""

    model: str = "vae"  # cae | vae | gan
    data: str = "punks"  # punks | mnist | fashion-mnist | a folder, .zip, .npy or .npz
    size: int = 0  # 16, 32, 64 or 128; 0 = 32 for punks/mnist/fashion-mnist, 64 for your data
    channels: int = 0  # 1 or 3; 0 = 1 for mnist/fashion-mnist, 3 otherwise
    latent_dim: int = 0
    base_width: int = 0  # channels of the first conv stage; doubles each stage
    max_width: int = 256
    norm: str = "batch"  # batch | instance | none (GAN discriminator with --spectral: none)
    dropout: float = 0.0
    epochs: int = 0
    batch_size: int = 64
    lr: float = 0.0  # autoencoders / GAN generator
    lr_d: float = 0.0  # GAN discriminator; 0 = same as lr
    beta: float = 1.0  # VAE: weight of the KL term
    kl_warmup: float = 1.0  # VAE: epochs over which beta rises linearly from 0
    likelihood: str = "gaussian"  # VAE: gaussian | bernoulli
    sigma: float = 0.3  # VAE gaussian likelihood: pixel noise std (0.1 sharper but noisier samples)
    recon_loss: str = "mse"  # CAE: mse | bce
    gan_loss: str = "bce"  # GAN: bce (one-sided label smoothing) | hinge
    real_label: float = 0.9  # GAN bce: target for real images (1.0 = no smoothing)
    spectral: bool = False  # GAN: spectral norm in the discriminator
    ema: float = 0.999  # GAN: decay of the generator's moving average
    minibatch_std: int = 4  # GAN: group size of the discriminator's minibatch-stddev feature; 0 = off
    # GAN: differentiable augmentation of real and generated images before the discriminator
    d_augment: str = "none"  # comma list of color,translation,cutout; none
    augment: str = "auto"  # comma list of flip,shift,rotate,zoom; none; auto = flip for your data
    test_frac: float = 0.05  # held out, never trained on (reconstruction and evaluation)
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # torch CPU threads; 0 = torch's default
    max_steps: int = 0  # stop (and checkpoint) after this many steps in total; 0 = run all epochs
    time_budget: float = 0.0  # minutes; stop (and checkpoint) when reached; 0 = no limit
    log_every: int = 10  # steps between loss records in metrics.jsonl
    extra: dict[str, Any] = field(default_factory=dict)  # resolved facts (source, split), filled in

    def resolved(self) -> ImageTrainConfig:
        """A copy with every 0/auto replaced by the default for this model and data."""
        if self.model not in MODELS:
            raise GenlabError(f"unknown model {self.model!r}: use one of {', '.join(MODELS)}")
        named = self.data in NAMED_DATA
        defaults = MODEL_DEFAULTS[self.model]
        cfg = dataclasses.replace(self, extra=dict(self.extra))
        cfg.size = cfg.size or (32 if named else 64)
        check_size(cfg.size)
        cfg.channels = cfg.channels or (1 if self.data in ("mnist", "fashion-mnist") else 3)
        if cfg.channels not in (1, 3):
            raise GenlabError(f"--channels {cfg.channels}: use 1 (grey) or 3 (colour)")
        for name in ("latent_dim", "epochs", "lr", "base_width"):
            if not getattr(cfg, name):
                setattr(cfg, name, defaults[name])
        cfg.lr_d = cfg.lr_d or cfg.lr
        if cfg.augment == "auto":
            cfg.augment = "none" if named else "flip"
        if not 0.0 <= cfg.test_frac < 0.5:
            raise GenlabError(f"--test-frac {cfg.test_frac}: use a fraction in [0, 0.5)")
        if cfg.minibatch_std < 0 or cfg.minibatch_std == 1:
            raise GenlabError(f"--minibatch-std {cfg.minibatch_std}: use 0 (off) or a group of 2 or more")
        parse_d_augment(cfg.d_augment)
        if cfg.batch_size < 2:
            raise GenlabError(f"--batch-size {cfg.batch_size}: use at least 2 (batch norm needs a batch)")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ImageTrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        # runs saved before these options existed had neither
        values = {"minibatch_std": 0, "d_augment": "none", **values}
        return cls(**{k: v for k, v in values.items() if k in known})
