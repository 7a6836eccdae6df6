"""Figures for image models, drawn from arrays: loss curves, sample progress, reconstructions,
interpolation strips (PNG and GIF), t-SNE latent maps with thumbnails and a diffusion model's
denoising steps.

All figures use matplotlib's Agg backend, carry a title and labelled axes, and are written
atomically. Images are uint8 NHWC or float NCHW/NHWC in [0, 1] (anything `to_uint8_nhwc` takes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from genlab.core.grid import make_grid, to_uint8_nhwc
from genlab.core.paths import atomic_write

# which metrics go on which panel of the loss curves, per model
CURVE_PANELS: dict[str, list[tuple[str, list[str]]]] = {
    "cae": [("reconstruction loss (mean per pixel)", ["loss", "test_loss"])],
    "vae": [
        ("negative ELBO per image", ["loss", "test_loss"]),
        ("reconstruction (-log p(x|z))", ["recon"]),
        ("KL(q(z|x) || p(z))", ["kl"]),
    ],
    "gan": [("loss", ["loss_d", "loss_g"]), ("mean discriminator output", ["d_real", "d_fake"])],
    "diffusion": [("denoising loss (mean squared error)", ["loss", "test_loss"])],
}
LABELS = {
    "loss": "train",
    "test_loss": "held-out (per epoch)",
    "recon": "train",
    "kl": "train",
    "loss_d": "discriminator",
    "loss_g": "generator",
    "d_real": "D(x), real images",
    "d_fake": "D(G(z)), generated",
}


def _pyplot():

    matplotlib.use("Agg")

    return plt


def _save(fig: Any, path: Path | str) -> Path:
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path


def _show(ax: Any, image: np.ndarray) -> None:
    grey = image.ndim == 3 and image.shape[-1] == 1
    ax.imshow(image[..., 0] if grey else image, cmap="gray" if grey else None, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_loss_curves(records: list[dict[str, Any]], model: str, path: Path | str, title: str) -> Path:
    """Training curves from metrics.jsonl records ('train' every few steps, 'epoch' with held-out loss)."""
    plt = _pyplot()
    panels = CURVE_PANELS[model]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    train = [r for r in records if r.get("type") == "train"]
    epochs = [r for r in records if r.get("type") == "epoch" and not r.get("partial")]
    for ax, (ylabel, keys) in zip(axes[0], panels, strict=True):
        for key in keys:
            source = epochs if key == "test_loss" else train
            points = [(r["step"], r[key]) for r in source if key in r]
            if points:
                steps, values = zip(*points, strict=True)
                ax.plot(steps, values, "o-" if key == "test_loss" else "-", label=LABELS[key], lw=1.4, ms=4)
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        if model == "vae" and "ELBO" in ylabel:
            ax.set_yscale("log")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_progress(grids: list[tuple[int, np.ndarray]], path: Path | str, title: str) -> Path:
    """Side by side sample grids (epoch, uint8 image) e.g. at the first, middle and last epoch."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(grids), figsize=(4.6 * len(grids), 4.9), squeeze=False)
    for ax, (epoch, grid) in zip(axes[0], grids, strict=True):
        _show(ax, grid)
        ax.set_title(f"after epoch {epoch}")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_reconstructions(
    originals: np.ndarray, recons: np.ndarray, path: Path | str, title: str, ncols: int = 8
) -> Path:
    """Alternating rows: held-out originals, then their reconstructions."""
    plt = _pyplot()
    orig, rec = to_uint8_nhwc(originals), to_uint8_nhwc(recons)
    rows = int(np.ceil(len(orig) / ncols))
    fig, axes = plt.subplots(rows, 1, figsize=(1.0 * ncols + 1.2, 2.1 * rows + 0.6), squeeze=False)
    for r, ax in enumerate(axes[:, 0]):
        pair = np.concatenate([orig[r * ncols : (r + 1) * ncols], rec[r * ncols : (r + 1) * ncols]])
        _show(ax, make_grid(pair, ncols=min(ncols, len(orig) - r * ncols)))
        ax.set_ylabel("original\nreconstruction", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_interpolations(
    strips: np.ndarray,
    path: Path | str,
    title: str,
    row_labels: list[str] | None = None,
    xlabel: str | None = None,
) -> Path:
    """strips: (pairs, steps, ...) images; one row per pair, interpolated left to right (also any
    rows of images, labelled `row_labels`, such as one row per requested condition)."""
    plt = _pyplot()
    pairs, steps = strips.shape[:2]
    images = to_uint8_nhwc(strips.reshape(pairs * steps, *strips.shape[2:]))
    fig, axes = plt.subplots(pairs, 1, figsize=(0.75 * steps + 1.4, 0.85 * pairs + 0.8), squeeze=False)
    for p, ax in enumerate(axes[:, 0]):
        _show(ax, make_grid(images[p * steps : (p + 1) * steps], ncols=steps))
        if row_labels:
            ax.set_ylabel(row_labels[p], fontsize=7, rotation=0, ha="right", va="center")
    axes[-1, 0].set_xlabel(xlabel or f"start  ->  end ({steps} steps)")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def save_interpolation_gif(strips: np.ndarray, path: Path | str, scale: int = 4, ms: int = 120) -> Path:
    """An animated GIF: frame t shows every pair at step t, playing forwards then back."""

    pairs, steps = strips.shape[:2]
    images = to_uint8_nhwc(strips.reshape(pairs * steps, *strips.shape[2:])).reshape(
        pairs, steps, *to_uint8_nhwc(strips[0]).shape[1:]
    )
    frames = []
    for t in list(range(steps)) + list(range(steps - 2, 0, -1)):
        grid = make_grid(images[:, t], ncols=min(pairs, 8))
        frame = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
        frames.append(frame.resize((frame.width * scale, frame.height * scale), Image.NEAREST))
    return atomic_write(
        path,
        lambda tmp: frames[0].save(
            tmp, format="GIF", save_all=True, append_images=frames[1:], duration=ms, loop=0
        ),
    )


def plot_latent_map(
    coords: np.ndarray, thumbnails: np.ndarray, path: Path | str, title: str, canvas: int = 1600
) -> Path:
    """Thumbnails pasted at their 2-D t-SNE coordinates on one canvas (crisp and fast for ~1000 images)."""
    plt = _pyplot()
    thumbs = to_uint8_nhwc(thumbnails)
    n, h, w, c = thumbs.shape
    side = max(h, w)
    lo, hi = coords.min(0), coords.max(0)
    unit = (coords - lo) / np.maximum(hi - lo, 1e-9)  # (N, 2) in [0, 1]
    image = np.full((canvas + side, canvas + side, c), 255, np.uint8)
    pixels = np.round(unit * canvas).astype(int)
    for (x, y), thumb in zip(pixels, thumbs, strict=True):  # later thumbnails on top, as in a scatter
        image[canvas - y : canvas - y + h, x : x + w] = thumb
    fig, ax = plt.subplots(figsize=(9, 9))
    extent = (lo[0], hi[0] + (hi[0] - lo[0]) * side / canvas, lo[1] - (hi[1] - lo[1]) * side / canvas, hi[1])
    ax.imshow(
        image[..., 0] if c == 1 else image, cmap="gray" if c == 1 else None, extent=extent, aspect="auto"
    )
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_denoise(
    states: np.ndarray, guesses: np.ndarray, times: list[float], path: Path | str, title: str
) -> Path:
    """One sampling run, left to right: for each sample, a row of the states x_t from pure noise
    (t = 1) to the image (t = 0), and under it the denoiser's guess of the final image at each t.

    states: (steps + 1, N, ...) images; guesses: (steps, N, ...), the guess at t = 0 being the sample."""
    plt = _pyplot()
    columns, n = states.shape[:2]
    guesses = np.concatenate([guesses, states[-1:]])
    rows = [(states, "x_t"), (guesses, "guess of\nthe image")]
    fig, axes = plt.subplots(2 * n, 1, figsize=(0.75 * columns + 1.6, 0.85 * 2 * n + 1.0), squeeze=False)
    for i in range(n):
        for j, (row, label) in enumerate(rows):
            ax = axes[2 * i + j, 0]
            _show(ax, make_grid(row[:, i], ncols=columns))
            ax.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    width = to_uint8_nhwc(states[0, :1]).shape[2]
    centres = [2 + k * (width + 2) + width / 2 for k in range(columns)]
    top = axes[0, 0]
    top.set_xticks(centres, [f"t={t:.2f}" for t in times], fontsize=7)
    top.xaxis.tick_top()
    axes[-1, 0].set_xlabel(f"pure noise  ->  image ({columns - 1} sampler steps)")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_conditional(record: dict[str, Any], path: Path | str, title: str) -> Path:
    """The read-back evaluation (genlab.images.conditional): per class or type, the share of images
    asked for it that read back as asked, beside real images of it through the same classifier;
    for attributes, a second panel of the accessories (asked-for shown, unasked-for shown)."""
    plt = _pyplot()
    groups = record["groups"]
    accessories = [a for a in record.get("accessories", []) if a["frequency"] >= 0.02]
    panels = 2 if accessories else 1
    widths = [max(4.0, 0.55 * len(groups) + 1.5)] + (
        [max(6.0, 0.16 * len(accessories) + 1.5)] if accessories else []
    )
    fig, axes = plt.subplots(
        1, panels, figsize=(sum(widths), 4.2), squeeze=False, gridspec_kw={"width_ratios": widths}
    )
    ax = axes[0, 0]
    x = np.arange(len(groups))
    ax.bar(x - 0.2, [g["read_back"] for g in groups], 0.4, label="generated, read back as asked")
    ax.bar(x + 0.2, [g["real_read_back"] for g in groups], 0.4, label="real images (the ceiling)", alpha=0.6)
    ax.set_xticks(x, [f"{g['name']}\n({g['train_images']} train)" for g in groups], fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of images")
    what = "class" if record["condition"] == "labels" else "type"
    ax.set_title(f"the {what} asked for, read back", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    if accessories:
        ax = axes[0, 1]
        x = np.arange(len(accessories))
        ax.bar(x, [a["read_back"] for a in accessories], 0.8, label="asked for: shown")
        ax.plot(x, [a["real_read_back"] for a in accessories], "k_", ms=7, label="real punks with it: shown")
        ax.bar(
            x, [-a["unrequested"] for a in accessories], 0.8, color="tab:red", label="not asked for: shown"
        )
        ax.plot(
            x,
            [-a["real_unrequested"] for a in accessories],
            "_",
            color="grey",
            ms=7,
            label="real punks without it: shown",
        )
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xticks(x, [a["name"] for a in accessories], rotation=90, fontsize=6)
        ax.set_ylim(-0.25, 1.05)
        ax.set_ylabel("share of images (below 0: shown unasked)")
        ax.set_title("accessories with at least 2% frequency", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=6, loc="lower right", ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
