"""The work behind `genlab images sample|reconstruct|interpolate|latent-map|progress|denoise`, callable
from Python.

Each function opens a run, computes what it shows and writes it under the run's figures/ (or `out`),
returning the path(s) written. The drawing itself lives in `genlab.images.plots`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from genlab.core.errors import GenlabError
from genlab.core.grid import save_grid, save_image, to_uint8_nhwc
from genlab.core.rundir import RunDir
from genlab.images.diffusion import time_grid
from genlab.images.plots import (
    plot_denoise,
    plot_interpolations,
    plot_latent_map,
    plot_loss_curves,
    plot_progress,
    plot_reconstructions,
    save_interpolation_gif,
)
from genlab.images.runs import (
    KINDS,
    autoguidance_suffix,
    decode_latents,
    encode,
    generate,
    heldout_images,
    interpolate,
    invertible_sampler,
    latent_noise,
    load_trained,
    mse_psnr,
    reconstruct,
    run_images,
    set_autoguidance,
    to_float,
    unasked_conditions,
)

NAMES = {"cae": "CAE", "vae": "VAE", "gan": "GAN", "diffusion": "Diffusion"}


def _open(run: RunDir | Path | str) -> RunDir:
    return run if isinstance(run, RunDir) else RunDir.open(run, KINDS)


def _title(run: RunDir, what: str) -> str:
    cfg = run.config
    return f"{NAMES[cfg['model']]} on {cfg['data']} ({cfg['size']}x{cfg['size']}): {what}"


def loss_curves_figure(run: RunDir | Path | str, out: Path | str | None = None) -> Path:

    run = _open(run)
    path = Path(out) if out else run.figures_dir / "losses.png"
    return plot_loss_curves(run.metrics(), run.config["model"], path, _title(run, "training curves"))


def sample_grid(
    run: RunDir | Path | str,
    n: int = 64,
    seed: int = 0,
    out: Path | str | None = None,
    each: Path | str | None = None,
    checkpoint: str = "best",
    steps: int | None = None,
    sampler: str | None = None,
    temperature: float | None = None,
    autoguidance: float | None = None,
) -> Path:
    """A grid of n novel images (figures/samples_seed{S}.png); with `each`, also one PNG per image.

    `checkpoint` picks the weights (see `load_trained`); other than "best", the file name says which
    (figures/samples_seed0_epoch_012.png). `steps`, `sampler` and `autoguidance` override a diffusion
    run's own (figures/samples_seed0_ag1.png), `temperature` a VAE's or GAN's
    (figures/samples_seed0_temp0.7.png)."""

    if n < 1:
        raise GenlabError(f"--n {n}: ask for at least one image")
    run = _open(run)
    model = load_trained(run, checkpoint=checkpoint)[0]
    drawn = generate(
        model, n, seed, steps=steps, sampler=sampler, temperature=temperature, autoguidance=autoguidance
    )
    images = to_uint8_nhwc(drawn.numpy())
    guided = autoguidance_suffix(autoguidance)
    name = f"samples_seed{seed}{_suffix(checkpoint)}{temperature_suffix(temperature)}{guided}.png"
    path = save_grid(images, Path(out) if out else run.figures_dir / name)
    if each:
        folder = Path(each)
        folder.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            save_image(image, folder / f"sample_{i:04d}.png")
    return path


def temperature_suffix(temperature: float | None) -> str:
    """'' for the run's own --temperature, else '_tempT', so grids drawn at another one sit beside it."""
    return "" if temperature is None else f"_temp{temperature:g}"


def _suffix(checkpoint: str) -> str:
    """'' for the best weights, else '_LABEL', so figures of other checkpoints sit beside them."""
    return "" if checkpoint == "best" else "_" + checkpoint.strip()


def reconstruction_figure(
    run: RunDir | Path | str, n: int = 16, out: Path | str | None = None, scored: int | None = None
) -> tuple[Path, dict[str, Any]]:
    """Held-out originals vs reconstructions (figures/reconstructions.png) and the scores over the
    first `scored` held-out images (None: all): {'mse', 'psnr', 'n'}; the scores are also appended to
    metrics.jsonl. A diffusion model reconstructs by inverting to noise and sampling back, dozens of
    network calls per image, so `scored` keeps that affordable."""

    run = _open(run)
    model, cfg = load_trained(run)
    if cfg.model == "gan":
        raise GenlabError(
            f"{run.path} is a GAN: it has no encoder, so it cannot reconstruct (use cae, vae or diffusion)"
        )
    test = heldout_images(run)
    if scored is not None:
        if scored < 1:
            raise GenlabError(f"--scored {scored}: score at least 1 held-out image")
        test = test[:scored]
    original = to_float(test)

    recon = reconstruct(model, original)
    mse, psnr = mse_psnr(original, recon)
    scores = {"mse": mse, "psnr": psnr, "n": len(test)}
    run.append_metrics({"type": "reconstruction", "split": "test", **scores})
    path = Path(out) if out else run.figures_dir / "reconstructions.png"
    shown = min(n, len(test))
    what = "inverted to noise and sampled back" if cfg.model == "diffusion" else "reconstructions"
    title = _title(run, f"held-out {what} (MSE {mse:.4f}, PSNR {psnr:.1f} dB over {len(test)})")
    plot_reconstructions(original[:shown], recon[:shown], path, title)
    return path, scores


def interpolation_figure(
    run: RunDir | Path | str,
    pairs: int = 8,
    steps: int = 10,
    mode: str = "slerp",
    seed: int = 0,
    gif: bool = False,
    out: Path | str | None = None,
    checkpoint: str = "best",
    autoguidance: float | None = None,
) -> list[Path]:
    """Strips between random latent points (figures/interpolate_{mode}.png); for CAE/VAE also between
    the codes of pairs of held-out images, for diffusion between their inverted noises
    (interpolate_{mode}_real.png); with gif, .gif versions.
    `checkpoint` and `autoguidance` as in `sample_grid`."""

    if pairs < 1 or steps < 2:
        raise GenlabError("interpolation needs --pairs >= 1 and --steps >= 2")
    run = _open(run)
    model, cfg = load_trained(run, checkpoint=checkpoint)
    set_autoguidance(model, autoguidance)
    guided = autoguidance_suffix(autoguidance)
    base = Path(out) if out else run.figures_dir / f"interpolate_{mode}{_suffix(checkpoint)}{guided}.png"
    written = []
    # random points: interpolate the standard-normal draws, then map them to the model's latent space
    eps = latent_noise(2 * pairs, cfg.latent_dim, seed)
    path = interpolate(eps[:pairs], eps[pairs:], steps, mode)  # (pairs, steps, latent)
    with torch.no_grad():
        z = model.prior_sample(path.reshape(pairs * steps, -1))
    unasked = unasked_conditions(model, pairs, seed)  # one per strip, for a model that needs one
    conditions = None if unasked is None else unasked.repeat_interleave(steps, dim=0)
    strips = decode_latents(model, z, seed=seed, conditions=conditions)
    strips = strips.reshape(pairs, steps, cfg.channels, cfg.size, cfg.size).numpy()
    what = f"{mode} interpolation between random latent points"
    written.append(plot_interpolations(strips, base, _title(run, what)))
    if gif:
        written.append(save_interpolation_gif(strips, base.with_suffix(".gif")))
    if cfg.model != "gan":
        test = heldout_images(run)
        if len(test) >= 2:
            chosen = np.random.default_rng(seed).choice(
                len(test), size=2 * min(pairs, len(test) // 2), replace=False
            )
            k = len(chosen) // 2
            codes = encode(model, test[chosen])
            real = decode_latents(
                model,
                interpolate(codes[:k], codes[k:], steps, mode).reshape(k * steps, -1),
                sampler=invertible_sampler(model),
            )
            real = real.reshape(k, steps, cfg.channels, cfg.size, cfg.size).numpy()
            # put the real images at both ends so the strip shows what was encoded
            ends = to_float(test[chosen]).numpy()
            real = np.concatenate([ends[:k, None], real, ends[k:, None]], axis=1)
            real_path = base.with_name(base.stem + "_real.png")
            codes_are = "inverted noises" if cfg.model == "diffusion" else "encodings"
            what = f"{mode} interpolation between {codes_are} of held-out images (real images at the ends)"
            written.append(plot_interpolations(real, real_path, _title(run, what)))
            if gif:
                written.append(save_interpolation_gif(real, real_path.with_suffix(".gif")))
    return written


def latent_map_figure(
    run: RunDir | Path | str, n: int = 800, seed: int = 0, out: Path | str | None = None
) -> Path:
    """t-SNE of encoder means of real images with thumbnails (CAE/VAE), of the noises a diffusion
    model inverts them to, or of GAN latent vectors with their generated images (figures/latent_map.png)."""

    run = _open(run)
    model, cfg = load_trained(run)
    if cfg.model == "gan":
        points = latent_noise(n, cfg.latent_dim, seed)
        thumbs = decode_latents(model, points).numpy()
        what = f"t-SNE of {n} latent vectors, each shown as its generated image"
    else:
        test = heldout_images(run)
        train = run_images(run, "train")
        pool = np.concatenate([test, train[np.random.default_rng(seed).permutation(len(train))]])[:n]
        points = encode(model, pool)
        thumbs = pool
        codes_are = {"vae": "encoder means", "cae": "encoder codes", "diffusion": "inverted noises"}
        what = f"t-SNE of the {codes_are[cfg.model]} of {len(pool)} real images"
    if len(points) < 5:
        raise GenlabError(f"a latent map needs at least 5 images, this run has {len(points)}")
    perplexity = float(min(30, (len(points) - 1) / 3))
    # one thread: t-SNE's OpenMP threads slow to a crawl when the cores are shared
    with threadpool_limits(1):
        coords = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(points.numpy())
    path = Path(out) if out else run.figures_dir / "latent_map.png"
    return plot_latent_map(coords, thumbs, path, _title(run, what))


def progress_figure(run: RunDir | Path | str, out: Path | str | None = None) -> Path:
    """Samples of the fixed latent batch after the first, middle and last epochs (figures/progress.png)."""

    run = _open(run)
    found = sorted(
        (int(m.group(1)), p)
        for p in run.samples_dir.glob("epoch_*.png")
        if (m := re.fullmatch(r"epoch_(\d+)\.png", p.name))
    )
    if not found:
        raise GenlabError(f"{run.path} has no samples/epoch_*.png yet: train it for at least one epoch")
    picks = sorted({0, len(found) // 2, len(found) - 1})
    grids = [(found[i][0], np.asarray(Image.open(found[i][1]).convert("RGB"))) for i in picks]
    path = Path(out) if out else run.figures_dir / "progress.png"
    return plot_progress(grids, path, _title(run, "samples from one fixed latent batch as training goes"))


def denoise_figure(
    run: RunDir | Path | str,
    n: int = 4,
    steps: int | None = None,
    sampler: str | None = None,
    seed: int = 0,
    out: Path | str | None = None,
) -> Path:
    """One sampling run of a diffusion model from pure noise to image (figures/denoise.png): for each
    of n samples the state x_t after every step, and the denoiser's guess of the final image at each.

    The same seed starts from the same noise as `sample --seed`, so the last column shows the
    first images of that grid (exactly, for the deterministic samplers)."""

    if n < 1:
        raise GenlabError(f"--n {n}: ask for at least one sample")
    run = _open(run)
    model, cfg = load_trained(run)
    if cfg.model != "diffusion":
        raise GenlabError(
            f"{run.path} is a {NAMES[cfg.model]}: it draws an image in one pass; only a diffusion run "
            "(--model diffusion) samples step by step"
        )
    steps = steps or cfg.sample_steps
    sampler = sampler or cfg.sampler
    noise = latent_noise(n, model.latent_dim, seed)
    states, guesses = model.trajectory(noise, steps, sampler, torch.Generator().manual_seed(seed))
    what = f"{sampler} sampler, {steps} steps from pure noise (t = 1) to an image (t = 0)"
    path = Path(out) if out else run.figures_dir / "denoise.png"
    return plot_denoise(states.numpy(), guesses.numpy(), time_grid(steps).tolist(), path, _title(run, what))
