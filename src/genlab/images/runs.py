"""Image runs after (and during) training: the config, the data split, rebuilding the model, and inference.

This is the Python API that commands, the demo and the evaluation code call:

    model, config = load_trained("runs/vae")            # or checkpoint="last" / "epoch_012"
    images = generate("runs/vae", n=64, seed=0)        # float (N, C, H, W) in [0, 1]
    test = heldout_images("runs/vae")                    # uint8 (N, H, W, C), never trained on
    codes = encode("runs/vae", test)                     # (N, latent_dim): CAE codes / VAE means
                                                         #   / a diffusion model's inverted noise
    recon = reconstruct("runs/vae", test)                # float (N, C, H, W) in [0, 1]

Sampling: the GAN uses its EMA generator; the VAE decodes prior draws z ~ N(0, I); the CAE, which has
no prior, decodes draws from a Gaussian fitted to the codes of its training images; a diffusion model
runs its sampler (EMA denoiser) from noise z ~ N(0, I) of the image's shape, and "encodes" an image by
running its deterministic sampler backwards to the noise it came from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from genlab.core.errors import GenlabError
from genlab.core.rundir import RunDir
from genlab.images.autoencoders import VAE, ConvAutoencoder
from genlab.images.conditions import ConditionSpace, condition_space
from genlab.images.config import KINDS, MODELS, ImageTrainConfig, check_autoguidance, check_temperature
from genlab.images.data import ImageSet, load_images
from genlab.images.diffusion import Diffusion
from genlab.images.gan import GAN

# -- data -------------------------------------------------------------------------------------


def load_dataset(cfg: ImageTrainConfig) -> ImageSet:
    """The whole dataset at the run's size and channels, with its labels."""
    return load_images(cfg.data, size=cfg.size, channels=cfg.channels)


def load_data(cfg: ImageTrainConfig) -> tuple[np.ndarray, str]:
    """The whole dataset as uint8 (N, size, size, C) and a description of its source."""
    data = load_dataset(cfg)
    return data.images, data.source


def dataset_conditions(cfg: ImageTrainConfig, data: ImageSet) -> tuple[ConditionSpace, np.ndarray] | None:
    """For `--condition labels|attributes`: the condition space and every image's vector (N, K)."""
    if cfg.condition == "none":
        return None
    space = condition_space(cfg.condition, data.labels, data.label_names, cfg.data)
    assert data.labels is not None
    return space, space.vectors(data.labels)


def conditions_of(cfg: ImageTrainConfig) -> ConditionSpace | None:
    """The condition space a trained run recorded (None for an unconditional run)."""
    return ConditionSpace.from_extra(cfg.extra)


def run_conditions(run: RunDir | Path | str, split: str = "test") -> np.ndarray:
    """The condition vectors (N, K) of the run's train or test images, in `run_images` order."""
    run = run if isinstance(run, RunDir) else RunDir.open(run, KINDS)
    cfg = ImageTrainConfig.from_dict(run.config)
    data = load_dataset(cfg)
    found = dataset_conditions(cfg, data)
    if found is None:
        raise GenlabError(f"{run.path} is not a conditional run: train it with --condition labels|attributes")
    train_idx, test_idx = split_indices(len(data.images), cfg.test_frac, cfg.seed)
    return found[1][test_idx if split == "test" else train_idx]


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
    """The model a config describes, sampling at its --temperature; a conditional run trained without
    condition dropout also keeps its training images' conditions (`condition_bank`, uint8 (N, K)),
    which its unasked draws use."""
    model = _build_network(cfg)
    if model.kind in ("vae", "gan"):
        model.temperature = cfg.temperature
    bank = cfg.extra.get("condition_bank")
    if bank and getattr(model, "cond_dim", 0):
        model.register_buffer("condition_bank", torch.zeros(bank, model.cond_dim, dtype=torch.uint8))
    return model


def unasked_conditions(model: nn.Module, n: int, seed: int) -> torch.Tensor | None:
    """What a conditional model draws for when nobody asks: None (its learned "no condition"), or for
    a model without one (trained with --condition-dropout 0) the conditions of n random training
    images, seeded."""
    bank = getattr(model, "condition_bank", None)
    if not isinstance(bank, torch.Tensor):
        return None
    rows = torch.randint(len(bank), (n,), generator=torch.Generator().manual_seed(seed))
    return bank.cpu()[rows].float()


def _build_network(cfg: ImageTrainConfig) -> nn.Module:
    space = conditions_of(cfg)
    cond_dim = space.dim if space is not None else 0
    common = {"size": cfg.size, "channels": cfg.channels, "latent_dim": cfg.latent_dim, "cond_dim": cond_dim}
    widths = {"base_width": cfg.base_width, "max_width": cfg.max_width}
    if cfg.model == "cae":
        return ConvAutoencoder(**common, **widths, norm=cfg.norm, dropout=cfg.dropout)
    if cfg.model == "vae":
        return VAE(**common, **widths, norm=cfg.norm, dropout=cfg.dropout)
    if cfg.model == "diffusion":
        return Diffusion(
            cfg.size,
            cfg.channels,
            **widths,
            objective=cfg.objective,
            noise_times=cfg.noise_times,
            noise_centre=cfg.noise_centre,
            attention=cfg.attention,
            sample_steps=cfg.sample_steps,
            sampler=cfg.sampler,
            cond_dim=cond_dim,
            guidance=cfg.guidance,
            work_size=cfg.work_size,
            guide=cfg.guide_epoch is not None,  # runs from before autoguidance kept no early copy
            autoguidance=cfg.autoguidance,
        )
    if cfg.model != "gan":
        raise GenlabError(
            f"unknown image model {cfg.model!r} in the run's config.json: this genlab knows "
            f"{', '.join(MODELS)} (a run from a newer genlab, or an edited config?)"
        )
    d_norm = "none" if cfg.spectral and cfg.norm == "batch" else cfg.norm
    return GAN(
        **common,
        **widths,
        d_norm=d_norm,
        spectral=cfg.spectral,
        dropout=cfg.dropout,
        minibatch_std=cfg.minibatch_std,
        aux_classifier=cfg.aux_weight > 0 and cond_dim > 0,
        work_size=cfg.work_size,
    )


def set_temperature(model: nn.Module, temperature: float | None) -> None:
    """Sample a VAE or GAN with this prior scale instead of the run's --temperature (None: keep it)."""
    if temperature is None:
        return
    if model.kind not in ("vae", "gan"):
        raise GenlabError(f"--temperature scales a VAE's or GAN's prior, not a {model.kind}'s")
    check_temperature(temperature)
    model.temperature = temperature


def set_autoguidance(model: nn.Module, autoguidance: float | None) -> None:
    """Sample a diffusion model with this autoguidance weight instead of the run's (None: keep it)."""
    if autoguidance is None:
        return
    if model.kind != "diffusion":
        raise GenlabError(f"--autoguidance steers a diffusion model's sampling, not a {model.kind}'s")
    check_autoguidance(autoguidance)
    if autoguidance > 1 and not model.guide_ready:
        raise GenlabError(
            "--autoguidance needs the early copy of the denoiser that training keeps at --guide-epoch, and "
            "this run has none (trained before genlab had autoguidance, or stopped before that epoch): "
            "leave --autoguidance out or give 1"
        )
    model.autoguidance = autoguidance


def autoguidance_suffix(autoguidance: float | None) -> str:
    """How a file's name ends when sampled with another autoguidance weight than the run's own."""
    return "" if autoguidance is None else f"_ag{autoguidance:g}"


def autoguidance_used(model: nn.Module) -> float | None:
    """The autoguidance weight a model samples with (1: off, also where it kept no early copy); None
    for a model that is not a diffusion model."""
    if model.kind != "diffusion":
        return None
    return model.autoguidance if model.guide_ready else 1.0


def load_trained(
    run_path: RunDir | Path | str, device: str | torch.device = "cpu", checkpoint: str = "best"
) -> tuple[nn.Module, ImageTrainConfig]:
    """The trained model of a run (eval mode) and its config.

    `checkpoint`: "best" (model.safetensors: the lowest held-out loss for CAE/VAE, the latest epoch
    for the GAN), "last" (the resume point) or a numbered one kept by --keep-every ("epoch_012");
    an unknown name is a one-line error listing the run's checkpoints."""
    run = run_path if isinstance(run_path, RunDir) else RunDir.open(run_path, KINDS)
    cfg = ImageTrainConfig.from_dict(run.config)
    model = build_model(cfg)
    run.load_into(model, run.weights_name(checkpoint))
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
def decode_latents(
    model: nn.Module,
    z: torch.Tensor,
    batch_size: int = 256,
    *,
    seed: int = 0,
    steps: int | None = None,
    sampler: str | None = None,
    conditions: torch.Tensor | np.ndarray | None = None,
    guidance: float | None = None,
) -> torch.Tensor:
    """Latent points (N, latent_dim) -> images float (N, C, H, W) in [0, 1], on the CPU.

    A diffusion model samples from z with `steps` and `sampler` (its own defaults unless given);
    `seed` seeds the fresh noise of its stochastic sampler. The other models ignore the three.
    A conditional model draws what `conditions` (N, K) ask for (None: no condition); `guidance` is
    a conditional diffusion model's classifier-free guidance (None: the run's own)."""
    was_training = model.training
    model.eval()
    out = []
    device = _device(model)
    generator = torch.Generator().manual_seed(seed)
    cond = _conditions(model, conditions, len(z))
    for start in range(0, len(z), batch_size):
        chunk = z[start : start + batch_size].to(device)
        c = None if cond is None else cond[start : start + batch_size].to(device)
        if model.kind == "diffusion":
            out.append(model.sample(chunk, steps, sampler, generator, c, guidance).cpu())
        elif model.kind == "gan":
            out.append(model.generator_ema(chunk, *_c(c)).add(1).mul(0.5).clamp(0, 1).cpu())
        else:
            out.append(torch.sigmoid(model.decode(chunk, c)).cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, model.channels, model.size, model.size)


def _c(c: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """A condition as extra call arguments: none for None."""
    return () if c is None else (c,)


def _conditions(
    model: nn.Module, conditions: torch.Tensor | np.ndarray | None, n: int
) -> torch.Tensor | None:
    """Conditions as float (n, K), checked against the model; None stays None."""
    if conditions is None:
        return None
    cond_dim = getattr(model, "cond_dim", 0)
    if not cond_dim:
        raise GenlabError(
            "this run was trained without --condition: it cannot be asked for a label or attributes"
        )
    c = torch.as_tensor(conditions).float()
    if c.ndim != 2 or c.shape != (n, cond_dim):
        raise GenlabError(f"conditions of shape {tuple(c.shape)} for {n} images: expected ({n}, {cond_dim})")
    return c


def prior_latents(model: nn.Module, n: int, seed: int) -> torch.Tensor:
    """Latent points the model can decode into novel images (see the module docstring)."""
    with torch.no_grad():
        return model.prior_sample(latent_noise(n, model.latent_dim, seed).to(_device(model)))


def generate(
    run_or_model: nn.Module | RunDir | Path | str,
    n: int = 64,
    seed: int = 0,
    *,
    steps: int | None = None,
    sampler: str | None = None,
    conditions: torch.Tensor | np.ndarray | None = None,
    guidance: float | None = None,
    temperature: float | None = None,
    autoguidance: float | None = None,
) -> torch.Tensor:
    """n novel images, float (N, C, H, W) in [0, 1]; the same seed gives the same images.

    `steps` and `sampler` override a diffusion run's own (--sample-steps, --sampler); a conditional
    run draws image i as `conditions[i]` asks (None: unconditionally), diffusion with `guidance`;
    `temperature` overrides a VAE's or GAN's and `autoguidance` a diffusion model's (from then on, on
    a model passed in)."""
    model = _model(run_or_model)
    set_temperature(model, temperature)
    set_autoguidance(model, autoguidance)
    if conditions is None:
        conditions = unasked_conditions(model, n, seed)
    if model.kind != "diffusion" and (steps is not None or sampler is not None or guidance is not None):
        raise GenlabError(
            f"sampling steps, samplers and guidance belong to diffusion runs, not to a {model.kind}"
        )
    return decode_latents(
        model,
        prior_latents(model, n, seed),
        seed=seed,
        steps=steps,
        sampler=sampler,
        conditions=conditions,
        guidance=guidance,
    )


@torch.inference_mode()
def encode(
    run_or_model: nn.Module | RunDir | Path | str,
    images: np.ndarray | torch.Tensor,
    batch_size: int = 256,
    conditions: torch.Tensor | np.ndarray | None = None,
) -> torch.Tensor:
    """Codes of images (uint8 NHWC or float NCHW in [0,1]), (N, latent_dim): CAE codes, VAE posterior
    means, or for a diffusion model the noise its deterministic sampler turns into each image.
    A conditional model encodes each image with its condition (None: without one)."""
    model = _model(run_or_model)
    if model.kind == "gan":
        raise GenlabError("a GAN has no encoder: encode/reconstruct work on cae, vae and diffusion runs")
    model.eval()
    x = to_float(images)
    cond = _conditions(model, conditions, len(x))
    codes = []
    for start in range(0, len(x), batch_size):
        chunk = x[start : start + batch_size].to(_device(model))
        c = None if cond is None else cond[start : start + batch_size].to(_device(model))
        if model.kind == "diffusion":
            codes.append(model.invert(chunk, c=c).flatten(1).cpu())
            continue
        z = model.encode(chunk, c)
        codes.append((z[0] if isinstance(z, tuple) else z).cpu())
    return torch.cat(codes) if codes else torch.empty(0, model.latent_dim)


def reconstruct(
    run_or_model: nn.Module | RunDir | Path | str,
    images: np.ndarray | torch.Tensor,
    conditions: torch.Tensor | np.ndarray | None = None,
) -> torch.Tensor:
    """Decoded codes of the images, float (N, C, H, W) in [0, 1] (VAE: decoded posterior means;
    diffusion: the inverted noise sampled again with the same deterministic sampler).

    A conditional model encodes and decodes with `conditions`; decoding a code with a *different*
    condition is an attribute edit (`edit`)."""
    model = _model(run_or_model)
    codes = encode(model, images, conditions=conditions)
    return decode_latents(model, codes, sampler=invertible_sampler(model), conditions=conditions)


def invertible_sampler(model: nn.Module) -> str | None:
    """The sampler that undoes `encode` (a diffusion model's deterministic one); None for the others."""
    return model.deterministic_sampler if model.kind == "diffusion" else None


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
