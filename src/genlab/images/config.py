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
from genlab.core.options import COMPILE_HELP, NOT_AN_OPTION, PRECISION_HELP, THREADS_HELP, option

SIZES = (16, 32, 64, 128)
# CryptoPunks are 24x24 pixel art; the loader enlarges them to --size by copying pixels
PUNKS_PIXELS = 24
AUGMENTS = ("flip", "shift", "rotate", "zoom")
D_AUGMENTS = ("color", "translation", "cutout")
# diffusion: what the denoiser predicts, and how it samples (genlab.images.diffusion says what each is)
OBJECTIVES = ("flow", "v", "eps")
SAMPLERS = ("heun", "euler", "ddpm")
NOISE_TIMES = ("uniform", "logit-normal")
CONDITIONS = ("none", "labels", "attributes")


def check_temperature(temperature: float) -> None:
    if not 0.0 < temperature <= 10.0:
        raise GenlabError(f"--temperature {temperature:g}: use a scale above 0 (1: the prior as trained)")


def check_autoguidance(weight: float) -> None:
    if weight < 1:
        raise GenlabError(f"--autoguidance {weight:g}: use 1 (off) or more")


def check_size(size: int) -> None:
    """Image sizes other than SIZES are a user error (models may work below them: --work-size)."""
    if size not in SIZES:
        raise GenlabError(
            f"image size {size} is not supported: use one of {', '.join(map(str, SIZES))} "
            "(other images are resized to the size you pick when they are loaded)"
        )


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


MODELS = ("cae", "vae", "gan", "diffusion")
WORK_SIZE_MODELS = ("gan", "diffusion")  # the models that can draw pixel art at its own pixels
KINDS = tuple(f"images-{m}" for m in MODELS)
NAMED_DATA = ("punks", "mnist", "fashion-mnist")

# Per-model defaults, tuned on CryptoPunks 32x32 to train in minutes on 2 CPU cores. The GAN's
# learning rate is above DCGAN's classic 2e-4, which is tuned for long runs; README (Image models,
# "GAN learning rate") says what each rate measured in 10 epochs.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "cae": {"latent_dim": 64, "epochs": 12, "lr": 2e-3, "base_width": 32},
    "vae": {"latent_dim": 32, "epochs": 20, "lr": 2e-3, "base_width": 32},
    "gan": {"latent_dim": 64, "epochs": 10, "lr": 1.5e-3, "base_width": 32},
    # no latent_dim: a diffusion model starts from noise of the shape it works at
    "diffusion": {"latent_dim": None, "epochs": 28, "lr": 2e-3, "base_width": 32},
}
# A conditional VAE whose KL term weighs as little as a plain one's keeps the class in its code and
# ignores the condition; README (Conditional models) has the measurements behind this value.
CONDITIONAL_VAE_BETA = 10.0
# Its prior draws land less often between classes when shrunk a little: README (Conditional models)
CONDITIONAL_VAE_TEMPERATURE = 0.8
# A conditional GAN's auxiliary classifier: punks accessories drawn more often as asked and a lower
# FID, zombies and apes a little less often; README (Conditional models) has the measurements
CONDITIONAL_GAN_AUX_WEIGHT = 0.3
# The hinge loss trains the unconditional GAN to a lower and steadier FID from seed to seed; the
# conditional GAN, tuned with its auxiliary classifier on bce, showed asked-for accessories less often
# with it. README (Image models, "GAN loss") has the measurements
GAN_LOSSES = ("hinge", "bce")
# options whose 0 is a setting (a weight that is off, the middle noise level), not the "chosen for you"
# that 0 meant before None did
ZERO_IS_A_SETTING = ("beta", "aux_weight", "noise_centre")
LR_SCHEDULES = ("constant", "cosine")
# The unconditional denoiser's 2e-3 made the conditional one follow its condition less: README (Diffusion)
CONDITIONAL_DIFFUSION_LR = 1e-3
# Autoguidance weight and where the early copy is taken, by measurement: README (Diffusion)
AUTOGUIDANCE = 1.5
GUIDE_FRACTION = 0.2
# Punks' one-pixel accessories come out better below the middle, MNIST's classes at it: README
# (Conditional models)
PIXEL_ART_NOISE_CENTRE = -0.5
# A GAN shown images without their condition follows the condition less: README (Conditional models)
CONDITION_DROPOUT = 0.1
# config.json files written since the time budget is in seconds carry this key; older ones held minutes
TIME_BUDGET_UNIT = "time_budget_unit"


def _work_size(cfg: ImageTrainConfig) -> int | None:
    """--work-size resolved: the punks' own pixels for a diffusion model on enlarged punks, else --size
    (None for the autoencoders, which work at --size)."""
    if cfg.model not in WORK_SIZE_MODELS:
        if cfg.work_size not in (None, cfg.size):
            raise GenlabError(
                f"--work-size {cfg.work_size}: only the {' and '.join(WORK_SIZE_MODELS)} models work "
                "below --size"
            )
        return None
    native = PUNKS_PIXELS if cfg.data == "punks" and cfg.size > PUNKS_PIXELS else None
    if cfg.work_size is None:
        return (native if cfg.model == "diffusion" else None) or cfg.size
    if cfg.work_size not in (cfg.size, native):
        allowed = f"{cfg.size}" + (f" or {native} (the punks' own pixels)" if native else "")
        raise GenlabError(
            f"--work-size {cfg.work_size}: use {allowed}; a model works below --size only on pixel art "
            "that the loader enlarges (punks), at its own pixels"
        )
    return cfg.work_size


def per_model(name: str) -> str:
    """What --help shows as the default of a MODEL_DEFAULTS option: 'per model: cae 64, vae 32, gan 64'."""
    models = [m for m in MODELS if MODEL_DEFAULTS[m][name] is not None]
    values = [MODEL_DEFAULTS[m][name] for m in models]
    if len(set(values)) == 1 and len(models) == len(MODELS):
        return f"{values[0]:g} for every model"
    return "per model: " + ", ".join(f"{m} {v:g}" for m, v in zip(models, values, strict=True))


@dataclass
class ImageTrainConfig:
    """Every option of `genlab images train`; None means "chosen for this model and data" (`resolved`)."""

    model: str = option("vae", "cae, vae, gan or diffusion.")
    data: str = option("punks", "punks, mnist, fashion-mnist, or a folder / .zip / .npy / .npz.")
    size: int | None = option(
        None, "16, 32, 64 or 128 pixels.", none_means="32 for punks, mnist, fashion-mnist; 64 for your data"
    )
    channels: int | None = option(
        None, "1 (grey) or 3 (colour).", none_means="1 for mnist and fashion-mnist, else 3"
    )
    latent_dim: int | None = option(
        None,
        "Latent dimension.",
        none_means=per_model("latent_dim") + "; diffusion: channels x work size x work size, its noise image",
    )
    base_width: int | None = option(
        None, "Channels of the first conv stage, doubling per stage.", none_means=per_model("base_width")
    )
    max_width: int = option(256, "Cap on the channels of any stage.")
    norm: str = option("batch", "batch, instance or none (GAN discriminator with --spectral: none).")
    dropout: float = option(0.0, "Dropout after each encoder/discriminator stage.")
    epochs: int | None = option(
        None, "Epochs. With --resume: train up to this many.", none_means=per_model("epochs")
    )
    batch_size: int = option(64, "Images per step.")
    lr: float | None = option(
        None,
        "Adam learning rate (GAN: generator).",
        none_means=per_model("lr") + f"; diffusion with --condition {CONDITIONAL_DIFFUSION_LR:g}",
    )
    lr_schedule: str = option(
        "constant",
        "constant, or cosine: the learning rate falls from --lr (and --lr-d) to 0 along a half cosine "
        "over --epochs (--resume with more --epochs stretches what is left of it).",
    )
    lr_d: float | None = option(None, "GAN: discriminator learning rate.", none_means="same as --lr")
    beta: float | None = option(
        None,
        "VAE: weight of the KL term.",
        none_means=f"1; {CONDITIONAL_VAE_BETA:g} with --condition (the class is left to the condition)",
    )
    kl_warmup: float = option(1.0, "VAE: epochs over which the KL weight rises linearly from 0 to --beta.")
    likelihood: str = option("gaussian", "VAE: gaussian or bernoulli.")
    sigma: float = option(
        0.3, "VAE gaussian: pixel noise std (smaller: sharper reconstructions, noisier samples)."
    )
    recon_loss: str = option("mse", "CAE: mse or bce.")
    gan_loss: str | None = option(
        None,
        "GAN: hinge, or bce (the non-saturating loss, with one-sided label smoothing).",
        none_means="hinge; bce with --condition",
    )
    real_label: float = option(0.9, "GAN bce: target for real images; 1.0 = no smoothing.")
    spectral: bool = option(False, "GAN: spectral norm in the discriminator.")
    ema: float = option(
        0.999, "GAN, diffusion: decay of the generator's / denoiser's moving average used for sampling."
    )
    temperature: float | None = option(
        None,
        "VAE, GAN: scale of the prior noise when sampling (below 1: more typical, cleaner images, less "
        "varied; the GAN's 'truncation'); sample --temperature overrides.",
        none_means=f"{CONDITIONAL_VAE_TEMPERATURE:g} for a VAE with --condition, else 1",
    )
    minibatch_std: int = option(
        4, "GAN: group size of the discriminator's diversity feature (against mode collapse); 0 = off."
    )
    d_augment: str = option(
        "none",
        "GAN: none, or a comma list of color,translation,cutout applied to real and generated images "
        "before the discriminator (differentiable augmentation).",
    )
    objective: str = option(
        "flow",
        "Diffusion: flow (flow matching: predicts the velocity from noise to image), or v / eps "
        "(cosine noise schedule: predicts v or the noise, as DDPM).",
    )
    noise_times: str = option(
        "logit-normal",
        "Diffusion: how training draws each image's noise level t: uniform in [0, 1], or logit-normal "
        "(sigmoid of a normal centred at --noise-centre: most draws mid-way, where the image takes shape; "
        "Esser et al. 2024).",
    )
    noise_centre: float | None = option(
        None,
        "Diffusion, logit-normal noise times: the centre m of t = sigmoid(N(m, 1)); below 0 trains more on "
        "low noise, where pixel art's one-pixel details are decided (more varied samples), and less on "
        "high noise, where the shape (a digit's class) is decided.",
        none_means=f"{PIXEL_ART_NOISE_CENTRE:g} for punks, 0 otherwise",
    )
    sample_steps: int = option(
        10, "Diffusion: sampler steps from noise to image (samples, grids, figures, evaluation)."
    )
    sampler: str = option(
        "heun",
        "Diffusion: heun or euler (deterministic, so images can be inverted to their noise) or "
        "ddpm (stochastic).",
    )
    attention: bool = option(
        True,
        f"Diffusion: self-attention at the denoiser's smallest stage (4x4; {PUNKS_PIXELS // 8}x"
        f"{PUNKS_PIXELS // 8} at --work-size {PUNKS_PIXELS}).",
    )
    work_size: int | None = option(
        None,
        "GAN, diffusion: the pixels the model draws at: --size, or for pixel art the loader enlarges its "
        f"own pixels (punks: {PUNKS_PIXELS}), each image then enlarged to --size the way the loader "
        "enlarges the data (the model learns the picture, not the enlargement's uneven blocks, in about "
        "half the time; a GAN's discriminator judges at the same pixels).",
        none_means=f"diffusion: {PUNKS_PIXELS} for punks at --size above {PUNKS_PIXELS}, else --size",
    )
    autoguidance: float | None = option(
        None,
        "Diffusion: sampling pushes the denoiser away from an early copy of itself (taken at "
        "--guide-epoch): early + W (final - early), which sharpens what the final model does better "
        "(Karras et al. 2024); it doubles the network calls per step; 1 = off. "
        "sample --autoguidance overrides.",
        none_means=f"{AUTOGUIDANCE:g}; 1 with --condition",
    )
    guide_epoch: int | None = option(
        None,
        "Diffusion: the epoch whose weight average is kept as the early copy that --autoguidance "
        "pushes away from.",
        none_means=f"{GUIDE_FRACTION:g} x --epochs, rounded, at least 1",
    )
    condition: str = option(
        "none",
        "Train a conditional model: labels (the source's classes: mnist digits, fashion-mnist classes, "
        "a folder's subfolders), attributes (the punks' 92 attributes: type and accessories), or none. "
        "Then: sample --label / --attrs.",
    )
    condition_dropout: float | None = option(
        None,
        "With --condition: share of training images shown without their condition, so the model also "
        "draws without one (what sampling without --label draws; diffusion: classifier-free guidance). "
        "At 0 the model draws unasked images for the conditions of random training images.",
        none_means="0 for a GAN, 0.1 for the others",
    )
    aux_weight: float | None = option(
        None,
        "Conditional GAN: weight of an auxiliary loss: the discriminator also reads the condition back "
        "from each image (learnt on real images) and the generator is pushed to draw what was asked "
        "(AC-GAN); 0 = off.",
        none_means=f"{CONDITIONAL_GAN_AUX_WEIGHT:g} for a GAN with --condition, else 0",
    )
    condition_balance: float = option(
        0.5,
        "With --condition: draw training images with weight frequency^-b of their class (punks: their type), "
        "so rare ones are seen more often (0: as often as the data has them; 1: every class equally often).",
    )
    guidance: float = option(
        2.0,
        "Conditional diffusion: classifier-free guidance scale when sampling (0: unconditional, 1: plain "
        "conditional, above 1: follows the condition more closely, less varied); "
        "sample --guidance overrides.",
    )
    augment: str | None = option(
        None,
        "none, or a comma list of flip,shift,rotate,zoom applied to training batches.",
        none_means="flip for your data, none for punks, mnist, fashion-mnist",
    )
    test_frac: float = option(0.05, "Fraction of images held out (never trained on).")
    seed: int = option(0, "Seeds data split, initialisation, batches and noise.")
    device: str = option("auto", "auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps.")
    threads: int | None = option(None, THREADS_HELP, none_means="one per free core")
    precision: str = option("auto", PRECISION_HELP)
    compile: bool = option(False, COMPILE_HELP)
    sync_batchnorm: bool = option(
        False,
        "With several processes: batch-norm statistics over the global batch (SyncBatchNorm) instead of "
        "each process's shard. Costs one extra all-reduce per norm layer; matters when per-process "
        "batches are small (under ~16 images).",
    )
    max_steps: int | None = option(
        None, "Stop (and save) after this many steps in total.", none_means="no limit"
    )
    time_budget: float | None = option(
        None, "Stop (and save) after this many seconds of training.", none_means="no limit"
    )
    log_every: int = option(10, "Steps between loss records in metrics.jsonl.")
    keep_every: int = option(
        0, "Also keep checkpoints/epoch_###.safetensors every N epochs, besides best and last (0: none)."
    )
    tensorboard: bool = option(
        False, "Also write TensorBoard event files into RUN/tb/ (needs: pip install 'genlab[tensorboard]')."
    )
    # resolved facts (source, image count, split), filled in by training
    extra: dict[str, Any] = field(default_factory=dict, metadata=NOT_AN_OPTION)

    def resolved(self) -> ImageTrainConfig:
        """A copy with every None replaced by the choice for this model and data (so are the 0 and
        "auto" that meant the same before None did)."""
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
        cfg.work_size = _work_size(cfg)
        if self.model == "diffusion":  # its latent is its starting noise, an image
            shape = f"{cfg.channels}x{cfg.work_size}x{cfg.work_size}"
            noise = cfg.channels * cfg.work_size**2
            if cfg.latent_dim not in (None, noise):
                raise GenlabError(
                    f"--latent-dim {cfg.latent_dim}: a diffusion model starts from noise of the shape it "
                    f"works at ({shape} = {noise} values); leave --latent-dim out"
                )
            cfg.latent_dim = noise
            if cfg.autoguidance is None:
                cfg.autoguidance = AUTOGUIDANCE if cfg.condition == "none" else 1.0
            check_autoguidance(cfg.autoguidance)
        if cfg.noise_centre is None:
            cfg.noise_centre = PIXEL_ART_NOISE_CENTRE if cfg.data == "punks" else 0.0
        if self.model == "diffusion" and cfg.condition != "none" and not cfg.lr:
            cfg.lr = CONDITIONAL_DIFFUSION_LR
        for name in ("latent_dim", "epochs", "lr", "base_width"):
            if not getattr(cfg, name):
                setattr(cfg, name, defaults[name])
        cfg.lr_d = cfg.lr_d or cfg.lr
        if self.model == "diffusion":
            cfg.guide_epoch = cfg.guide_epoch or max(1, round(GUIDE_FRACTION * cfg.epochs))
            if cfg.guide_epoch > cfg.epochs:
                raise GenlabError(
                    f"--guide-epoch {cfg.guide_epoch} comes after the last epoch ({cfg.epochs}): "
                    "take the early copy within --epochs"
                )
        elif cfg.guide_epoch is not None or cfg.autoguidance not in (None, 1.0):
            raise GenlabError("--autoguidance and --guide-epoch belong to the diffusion model")
        if cfg.beta is None:
            cfg.beta = 1.0 if cfg.condition == "none" else CONDITIONAL_VAE_BETA
        if cfg.condition_dropout is None:
            cfg.condition_dropout = 0.0 if cfg.model == "gan" else CONDITION_DROPOUT
        if cfg.temperature is None:
            conditional_vae = cfg.model == "vae" and cfg.condition != "none"
            cfg.temperature = CONDITIONAL_VAE_TEMPERATURE if conditional_vae else 1.0
        check_temperature(cfg.temperature)
        if cfg.augment in (None, "auto"):
            cfg.augment = "none" if named else "flip"
        if not 0.0 <= cfg.test_frac < 0.5:
            raise GenlabError(f"--test-frac {cfg.test_frac}: use a fraction in [0, 0.5)")
        if cfg.minibatch_std < 0 or cfg.minibatch_std == 1:
            raise GenlabError(f"--minibatch-std {cfg.minibatch_std}: use 0 (off) or a group of 2 or more")
        parse_d_augment(cfg.d_augment)
        for name, value, allowed in (
            ("objective", cfg.objective, OBJECTIVES),
            ("sampler", cfg.sampler, SAMPLERS),
            ("noise-times", cfg.noise_times, NOISE_TIMES),
            ("condition", cfg.condition, CONDITIONS),
            ("lr-schedule", cfg.lr_schedule, LR_SCHEDULES),
            ("gan-loss", cfg.gan_loss or GAN_LOSSES[0], GAN_LOSSES),
        ):
            if value not in allowed:
                raise GenlabError(f"--{name} {value}: use one of {', '.join(allowed)}")
        if cfg.sample_steps < 1:
            raise GenlabError(f"--sample-steps {cfg.sample_steps}: use a whole number of at least 1")
        for name in ("latent_dim", "epochs", "base_width", "max_width", "log_every"):
            if getattr(cfg, name) < 1:
                raise GenlabError(
                    f"--{name.replace('_', '-')} {getattr(cfg, name)}: use a whole number of at least 1"
                )
        for name in ("lr", "lr_d"):
            if not getattr(cfg, name) > 0:
                raise GenlabError(
                    f"--{name.replace('_', '-')} {getattr(cfg, name)}: a learning rate must be above 0"
                )
        for name in ("max_steps", "time_budget", "threads"):
            if getattr(cfg, name) is not None and getattr(cfg, name) <= 0:
                raise GenlabError(
                    f"--{name.replace('_', '-')} {getattr(cfg, name)}: use a positive number, or leave it out"
                )
        if not 0.0 <= cfg.condition_dropout < 1.0:
            raise GenlabError(f"--condition-dropout {cfg.condition_dropout}: use a fraction in [0, 1)")
        if cfg.gan_loss is None:
            cfg.gan_loss = "hinge" if cfg.condition == "none" else "bce"
        if cfg.aux_weight is None:
            cfg.aux_weight = (
                CONDITIONAL_GAN_AUX_WEIGHT if cfg.model == "gan" and cfg.condition != "none" else 0.0
            )
        if cfg.aux_weight < 0:
            raise GenlabError(f"--aux-weight {cfg.aux_weight}: use 0 (off) or a positive weight")
        if cfg.aux_weight > 0 and (cfg.model != "gan" or cfg.condition == "none"):
            raise GenlabError(
                f"--aux-weight {cfg.aux_weight}: the auxiliary classifier is a conditional GAN's "
                "(use it with --model gan --condition labels|attributes)"
            )
        if not 0.0 <= cfg.condition_balance <= 1.0:
            raise GenlabError(f"--condition-balance {cfg.condition_balance}: use a number in [0, 1]")
        if cfg.guidance < 0:
            raise GenlabError(f"--guidance {cfg.guidance}: use 0 (unconditional) or more")
        if not 0.0 <= cfg.dropout < 1.0:
            raise GenlabError(f"--dropout {cfg.dropout}: use a fraction in [0, 1)")
        if cfg.keep_every < 0:
            raise GenlabError(f"--keep-every {cfg.keep_every}: use 0 (only best and last) or a whole number")
        if cfg.tensorboard:
            # imported here, not at the top: this module stays free of numpy and torch for `genlab --help`
            from genlab.core.tensorboard import check_tensorboard

            check_tensorboard()
        if cfg.batch_size < 2:
            raise GenlabError(f"--batch-size {cfg.batch_size}: use at least 2 (batch norm needs a batch)")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), TIME_BUDGET_UNIT: "seconds"}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ImageTrainConfig:
        """The config of a stored run, including runs written by older versions of genlab."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        # runs saved before these options existed had neither
        before = {"minibatch_std": 0, "d_augment": "none", "noise_times": "uniform", "temperature": 1.0,
                  "aux_weight": 0.0}  # fmt: skip
        values = {**before, **values}
        if values.get("model") == "diffusion":  # denoisers trained before the centre moved drew at 0
            values.setdefault("noise_centre", 0.0)
        if values.get("model") == "diffusion" and "autoguidance" not in values:  # before either existed
            values.update(work_size=values.get("size"), autoguidance=1.0)
        if values.get("model") == "gan" and values.get("work_size") is None:  # drawn at --size then
            values["work_size"] = values.get("size")
        if TIME_BUDGET_UNIT not in values and values.get("time_budget"):
            values["time_budget"] = values["time_budget"] * 60  # stored in minutes then
        for name, f in fields.items():  # 0 and "auto" meant "chosen for you" before None did
            if f.default is None and name not in ZERO_IS_A_SETTING and values.get(name) in (0, "auto"):
                values[name] = None
        return cls(**{k: v for k, v in values.items() if k in fields})
