"""Image runs after (and during) training: the config, the data split, rebuilding the model, and inference.

This is the Python API that commands, the demo and the evaluation code call:

    model, config = load_trained("runs/vae")
    images = generate("runs/vae", n=64, seed=0)        # float (N, C, H, W) in [0, 1]
    test = heldout_images("runs/vae")                    # uint8 (N, H, W, C), never trained on
    codes = encode("runs/vae", test)                     # (N, latent_dim): CAE codes / VAE means
    recon = reconstruct("runs/vae", test)                # float (N, C, H, W) in [0, 1]

Sampling: the GAN uses its EMA generator; the VAE decodes prior draws z ~ N(0, I); the CAE, which has
no prior, decodes draws from a Gaussian fitted to the codes of its training images.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.models.conv import check_size
from genlab.train.d_augment import parse_d_augment
from genlab.train.rundir import RunDir

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


# -- data -------------------------------------------------------------------------------------


def load_data(cfg: ImageTrainConfig) -> tuple[np.ndarray, str]:
    """The whole dataset as uint8 (N, size, size, C) and a description of its source."""
    from genlab.data.images import load_images

    data = load_images(cfg.data, size=cfg.size, channels=cfg.channels)
    return data.images, data.source


def split_indices(n: int, test_frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed, seeded train/test split of n images: (train indices, test indices), each sorted."""
    n_test = int(round(n * test_frac))
    if test_frac > 0 and n_test == 0 and n > 1:
        n_test = 1
    order = np.random.default_rng(seed + 7919).permutation(n)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def run_images(run: RunDir | Path | str, split: str = "test") -> np.ndarray:
    """The run's own train or test images, uint8 (N, H, W, C), rebuilt from its config."""
    run = run if isinstance(run, RunDir) else RunDir.open(run, KINDS)
    cfg = ImageTrainConfig.from_dict(run.config)
    images, _ = load_data(cfg)
    recorded = cfg.extra.get("n_images")
    if recorded is not None and recorded != len(images):
        raise GenlabError(
            f"the data {cfg.data!r} now holds {len(images)} images but {run.path} was trained on "
            f"{recorded}: its held-out split cannot be rebuilt"
        )
    train_idx, test_idx = split_indices(len(images), cfg.test_frac, cfg.seed)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    return images[test_idx if split == "test" else train_idx]


def heldout_images(run: RunDir | Path | str) -> np.ndarray:
    """The run's held-out test images (never trained on), uint8 (N, H, W, C)."""
    images = run_images(run, "test")
    if len(images) == 0:
        raise GenlabError("this run was trained with --test-frac 0: it has no held-out images")
    return images


def to_float(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 NHWC (numpy or tensor) -> float NCHW in [0, 1]; float NCHW passes through."""
    tensor = torch.as_tensor(images)
    if tensor.dtype == torch.uint8:
        if tensor.ndim == 3:
            tensor = tensor[..., None]
        return tensor.permute(0, 3, 1, 2).float().div_(255.0)
    return tensor.float()


# -- models -----------------------------------------------------------------------------------


def build_model(cfg: ImageTrainConfig) -> nn.Module:
    from genlab.models.autoencoders import VAE, ConvAutoencoder
    from genlab.models.gan import GAN

    common = {"size": cfg.size, "channels": cfg.channels, "latent_dim": cfg.latent_dim}
    widths = {"base_width": cfg.base_width, "max_width": cfg.max_width}
    if cfg.model == "cae":
        return ConvAutoencoder(**common, **widths, norm=cfg.norm, dropout=cfg.dropout)
    if cfg.model == "vae":
        return VAE(**common, **widths, norm=cfg.norm, dropout=cfg.dropout)
    d_norm = "none" if cfg.spectral and cfg.norm == "batch" else cfg.norm
    return GAN(
        **common,
        **widths,
        d_norm=d_norm,
        spectral=cfg.spectral,
        dropout=cfg.dropout,
        minibatch_std=cfg.minibatch_std,
    )


def load_trained(
    run_path: RunDir | Path | str, device: str | torch.device = "cpu"
) -> tuple[nn.Module, ImageTrainConfig]:
    """The trained model of a run (eval mode; best weights for CAE/VAE) and its config."""
    run = run_path if isinstance(run_path, RunDir) else RunDir.open(run_path, KINDS)
    cfg = ImageTrainConfig.from_dict(run.config)
    model = build_model(cfg)
    run.load_into(model, "model")
    return model.to(device).eval(), cfg


def _model(run_or_model: nn.Module | RunDir | Path | str) -> nn.Module:
    if isinstance(run_or_model, nn.Module):
        return run_or_model
    return load_trained(run_or_model)[0]


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def latent_noise(n: int, latent_dim: int, seed: int) -> torch.Tensor:
    """Standard-normal draws (n, latent_dim) from their own generator (the global RNG is untouched)."""
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))


@torch.inference_mode()
def decode_latents(model: nn.Module, z: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Latent points (N, latent_dim) -> images float (N, C, H, W) in [0, 1], on the CPU."""
    was_training = model.training
    model.eval()
    out = []
    device = _device(model)
    for chunk in z.split(batch_size):
        chunk = chunk.to(device)
        if model.kind == "gan":
            out.append(model.generator_ema(chunk).add(1).mul(0.5).clamp(0, 1).cpu())
        else:
            out.append(torch.sigmoid(model.decode(chunk)).cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, model.channels, model.size, model.size)


def prior_latents(model: nn.Module, n: int, seed: int) -> torch.Tensor:
    """Latent points the model can decode into novel images (see the module docstring)."""
    with torch.no_grad():
        return model.prior_sample(latent_noise(n, model.latent_dim, seed).to(_device(model)))


def generate(run_or_model: nn.Module | RunDir | Path | str, n: int = 64, seed: int = 0) -> torch.Tensor:
    """n novel images, float (N, C, H, W) in [0, 1]; the same seed gives the same images."""
    model = _model(run_or_model)
    return decode_latents(model, prior_latents(model, n, seed))


@torch.inference_mode()
def encode(
    run_or_model: nn.Module | RunDir | Path | str, images: np.ndarray | torch.Tensor, batch_size: int = 256
) -> torch.Tensor:
    """Codes of images (uint8 NHWC or float NCHW in [0,1]): CAE codes or VAE posterior means (N, latent)."""
    model = _model(run_or_model)
    if model.kind == "gan":
        raise GenlabError("a GAN has no encoder: encode/reconstruct work on cae and vae runs")
    model.eval()
    x = to_float(images)
    codes = []
    for chunk in x.split(batch_size):
        z = model.encode(chunk.to(_device(model)))
        codes.append((z[0] if isinstance(z, tuple) else z).cpu())
    return torch.cat(codes)


def reconstruct(
    run_or_model: nn.Module | RunDir | Path | str, images: np.ndarray | torch.Tensor
) -> torch.Tensor:
    """Decoded codes of the images, float (N, C, H, W) in [0, 1] (VAE: decoded posterior means)."""
    model = _model(run_or_model)
    return decode_latents(model, encode(model, images))


def mse_psnr(original: torch.Tensor, recon: torch.Tensor) -> tuple[float, float]:
    """Mean squared error per pixel and PSNR in dB (peak 1.0) over float images in [0, 1]."""
    per_image = (original.float() - recon.float()).pow(2).flatten(1).mean(1)
    mse = float(per_image.mean())
    psnr = float((10 * torch.log10(1.0 / per_image.clamp_min(1e-10))).mean())
    return mse, psnr


# -- interpolation ---------------------------------------------------------------------------


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight line: a, b (N, D), t (S,) in [0, 1] -> (N, S, D)."""
    t = t.to(a.dtype)[None, :, None]
    return a[:, None] * (1 - t) + b[:, None] * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation along the great circle between a and b: (N, D), (N, D), (S,) -> (N, S, D).

    Endpoints are returned exactly; for unit vectors every intermediate point has norm 1, and for
    Gaussian latents the path stays on the shell where the prior puts its mass (a straight line cuts
    through the low-density middle, which decodes to washed-out images). Falls back to a straight
    line where a and b are (anti)parallel.
    """
    t = t.to(a.dtype)[None, :, None]
    a_unit = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
    b_unit = b / b.norm(dim=1, keepdim=True).clamp_min(1e-12)
    omega = torch.acos((a_unit * b_unit).sum(1).clamp(-1.0, 1.0))[:, None, None]  # (N, 1, 1)
    sin = torch.sin(omega)
    ok = sin.abs() > 1e-6
    safe = torch.where(ok, sin, torch.ones_like(sin))
    wa = torch.where(ok, torch.sin((1 - t) * omega) / safe, 1 - t)
    wb = torch.where(ok, torch.sin(t * omega) / safe, t)
    return wa * a[:, None] + wb * b[:, None]


def interpolate(a: torch.Tensor, b: torch.Tensor, steps: int, mode: str = "slerp") -> torch.Tensor:
    """`steps` points from a to b inclusive, by 'linear' or 'slerp': (N, D) x 2 -> (N, steps, D)."""
    t = torch.linspace(0, 1, steps)
    if mode == "linear":
        return lerp(a, b, t)
    if mode == "slerp":
        return slerp(a, b, t)
    raise GenlabError(f"unknown interpolation mode {mode!r}: use linear or slerp")
