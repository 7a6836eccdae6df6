"""The figure of `genlab images evaluate`: each metric beside its real-vs-real floor, and for
CryptoPunks how often generated faces carry each attribute compared with real ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from genlab.core.paths import atomic_write

MODEL_COLOUR, FLOOR_COLOUR, REAL_COLOUR = "#d95f02", "#7570b3", "#1b9e77"

# the attributes the figure compares (real vs generated frequency)
PUNK_HIGHLIGHTS = ("male", "female", "zombie", "ape", "alien", "any hat", "earring", "cigarette")


def plot_metrics(record: dict[str, Any], path: Path | str, title: str = "") -> Path:
    """Write the metrics figure for one evaluation record to `path` (PNG)."""

    matplotlib.use("Agg")

    has_attr = "attr_freq_real" in record
    fig = plt.figure(figsize=(13, 8.5 if has_attr else 4.2), dpi=110, layout="constrained")
    grid = fig.add_gridspec(2 if has_attr else 1, 4, height_ratios=[1, 1.35] if has_attr else [1])
    panels = [
        ("FID (lower is better)", "fid", None),
        ("KID (lower is better)", "kid", "kid_se"),
        ("precision (higher is better)", "precision", None),
        ("recall (higher is better)", "recall", None),
    ]
    for i, (label, key, err) in enumerate(panels):
        ax = fig.add_subplot(grid[0, i])
        values = [record[key], record[f"floor_{key}"]]
        errors = [record.get(err), record.get(f"floor_{err}")] if err else [None, None]
        yerr = [e or 0.0 for e in errors] if err else None
        bars = ax.bar(
            ["model", "real vs real"], values, color=[MODEL_COLOUR, FLOOR_COLOUR], yerr=yerr, capsize=4
        )
        for bar, value, error in zip(bars, values, errors, strict=True):
            ax.annotate(
                f"{value:.3g}",
                (bar.get_x() + bar.get_width() / 2, max(value, 0.0) + (error or 0.0)),  # above bar and error
                ha="center",
                va="bottom",
                fontsize=9,
            )
        ax.set_title(label, fontsize=10)
        if key in ("precision", "recall"):
            ax.set_ylim(0, 1.08)
        ax.set_ylabel(key.upper() if key in ("fid", "kid") else key)
        ax.grid(axis="y", alpha=0.3)

    weak = "WEAK " if record.get("feature_weak") else ""
    heading = f"{title}: {record['model']}, {record['n']:,} generated vs {record['n']:,} real images"
    fig.suptitle(
        f"{heading}\nin {weak}{record['features']} features ({record['feature_dim']}-d): "
        f"{record['feature_description']}",
        fontsize=10.5,
    )
    if has_attr:
        _attribute_panels(fig, grid, record)
    out = atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return out


def _attribute_panels(fig: Any, grid: Any, record: dict[str, Any]) -> None:
    real, fake, floor = record["attr_freq_real"], record["attr_freq_fake"], record["attr_freq_floor"]
    names = list(real)
    r = np.array([real[a] for a in names])
    f = np.array([fake[a] for a in names])
    b = np.array([floor[a] for a in names])

    # left: every attribute, real frequency against generated frequency (log-log)
    ax = fig.add_subplot(grid[1, :2])
    eps = 0.5 / max(record["n"], 1)  # where "never seen" is drawn
    ax.loglog([eps, 1], [eps, 1], color="grey", lw=1, ls="--", label="same frequency")
    ax.scatter(
        np.maximum(r, eps), np.maximum(b, eps), s=14, color=FLOOR_COLOUR, alpha=0.6, label="real half B"
    )
    ax.scatter(np.maximum(r, eps), np.maximum(f, eps), s=18, color=MODEL_COLOUR, label="generated")
    placed: list[tuple[float, float]] = []
    for i in np.argsort(-np.abs(r - f))[:10]:
        x, y = np.log10(max(r[i], eps)), np.log10(max(f[i], eps))
        if any(abs(x - px) < 0.35 and abs(y - py) < 0.15 for px, py in placed) or len(placed) == 6:
            continue  # keep labels legible: skip one that would sit on another
        placed.append((x, y))
        ax.annotate(
            names[i], (max(r[i], eps), max(f[i], eps)), fontsize=8, xytext=(3, 3), textcoords="offset points"
        )
    ax.set_xlabel("frequency in real images (half A)")
    ax.set_ylabel("frequency in the other set (bottom edge: none)")
    ax.set_title(
        f"all {len(names)} attributes: mean |difference| {record['attr_mean_abs_diff']:.3f} "
        f"(floor {record['floor_attr_mean_abs_diff']:.3f})",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3, which="both")

    # right: the attributes people ask about

    chosen = [a for a in PUNK_HIGHLIGHTS if a in real]
    ax = fig.add_subplot(grid[1, 2:])
    y = np.arange(len(chosen))
    ax.barh(y - 0.2, [real[a] for a in chosen], height=0.4, color=REAL_COLOUR, label="real (half A)")
    ax.barh(y + 0.2, [fake[a] for a in chosen], height=0.4, color=MODEL_COLOUR, label="generated")
    for yi, a in zip(y, chosen, strict=True):
        ax.annotate(
            f"{real[a]:.2%} / {fake[a]:.2%}",
            (max(real[a], fake[a]), yi),
            fontsize=8,
            xytext=(4, -3),
            textcoords="offset points",
        )
    ax.set_yticks(y, chosen)
    ax.invert_yaxis()
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlim(0, 2.5)
    ax.set_xlabel("share of images with the attribute (classifier's prediction; symlog)")
    ax.set_title("do generated punks have them as often as real ones?", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
