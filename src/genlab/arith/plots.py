"""Figures for the arithmetic models: example answers, training curves, sweeps and error maps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.ticker import NullLocator

from genlab.core.paths import atomic_write

TASK_COLORS = {"text2text": "#1f77b4", "img2text": "#d62728", "text2img": "#2ca02c", "img2img": "#9467bd"}
# the sweep's other model kinds in their own colours, hollow and larger: a point of theirs often
# lands on the GRU's, which would hide it
ARCH_COLORS = {"lstm": "#ff7f0e", "transformer": "#17becf"}
RIGHT, WRONG = "#1a7f37", "#cf222e"


def _plt():

    matplotlib.use("Agg")

    return plt


def save_figure(fig, path: Path | str) -> Path:
    plt = _plt()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path


def plot_examples(path: Path | str, rows: list[dict[str, Any]], title: str) -> Path:
    """One row per example: the query (text or handwriting), and the answer (text or image)."""
    plt = _plt()
    n = max(1, len(rows))
    fig, axes = plt.subplots(n, 2, figsize=(7.5, 0.75 * n + 0.9), gridspec_kw={"width_ratios": [5, 3]})
    axes = np.atleast_2d(axes)
    for ax_row, row in zip(axes, rows, strict=False):
        q_ax, a_ax = ax_row
        colour = RIGHT if row["correct"] else WRONG
        if row["query_image"] is not None:
            q_ax.imshow(
                row["query_image"],
                cmap="gray",
                vmin=0,
                vmax=255 if row["query_image"].dtype == np.uint8 else 1,
            )
        else:
            q_ax.text(0.5, 0.5, row["query"], ha="center", va="center", fontsize=18, family="monospace")
        if row["pred_image"] is not None:
            a_ax.imshow(row["pred_image"], cmap="gray", vmin=0, vmax=1)
            label = f"read as {row['pred']}  (true {row['true']})"
        else:
            a_ax.text(
                0.5, 0.5, row["pred"], ha="center", va="center", fontsize=18, family="monospace", color=colour
            )
            label = f"true {row['true']}"
        a_ax.set_title(label, fontsize=9, color=colour, pad=2)
        for ax in ax_row:
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor(colour if ax is a_ax else "#999999")
    axes[0, 0].set_title("query", fontsize=10)
    axes[0, 1].set_title(
        "predicted answer\n" + axes[0, 1].get_title(), fontsize=9, color=axes[0, 1].title.get_color()
    )
    fig.suptitle(title + "\n(green = whole answer right, red = wrong)", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_curves(path: Path | str, metrics: list[dict[str, Any]], title: str) -> Path:
    """Training loss and validation accuracy per epoch."""
    plt = _plt()
    epochs = [m for m in metrics if "epoch" in m and "train_loss" in m]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    x = [m["epoch"] for m in epochs]
    ax1.plot(x, [m["train_loss"] for m in epochs], color="#444444")
    ax1.set_yscale("log")
    ax1.set(xlabel="epoch", ylabel="training loss (log scale)", title="loss")
    ax2.plot(x, [100 * m["val_acc"] for m in epochs], color=RIGHT, label="exact match")
    ax2.plot(x, [100 * m["val_char_acc"] for m in epochs], color="#888888", ls="--", label="per character")
    ax2.set(xlabel="epoch", ylabel="validation accuracy (%)", title="validation accuracy")
    ax2.legend()
    ax2.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_error_heatmaps(path: Path | str, grid: np.ndarray, ops: str, title: str) -> Path:
    """Error over the operand grid, one panel per operator; grey = training queries (not tested)."""
    plt = _plt()

    cmap = ListedColormap(["#f3f3f3", WRONG]).with_extremes(bad="#bdbdbd")
    fig, axes = plt.subplots(1, len(ops), figsize=(5.2 * len(ops), 5.0), squeeze=False)
    for ax, panel, op in zip(axes[0], grid, ops, strict=False):
        ax.imshow(
            np.ma.masked_invalid(panel), cmap=cmap, vmin=0, vmax=1, origin="lower", interpolation="nearest"
        )
        tested = np.isfinite(panel)
        rate = 100 * np.nanmean(panel) if tested.any() else float("nan")
        ax.set_title(
            f"a {op} b: {int(np.nansum(panel))} errors in {int(tested.sum())} test queries ({rate:.2f}%)",
            fontsize=10,
        )
        ax.set_xlabel("b (second operand)")
        ax.set_ylabel("a (first operand)")
    fig.suptitle(
        f"{title}\nred = wrong answer, light = right, grey = training query (not tested)", fontsize=11
    )
    fig.tight_layout()
    return save_figure(fig, path)


def plot_error_breakdown(path: Path | str, tables: dict[str, list[dict[str, Any]]], title: str) -> Path:
    """Four panels: error rate by query group, kinds of error, numeric error, wrong position."""
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    groups = (
        tables["by_operator"]
        + tables["by_carry_borrow"]
        + tables["by_sign_of_result"]
        + tables["by_answer_length"]
    )
    ax = axes[0, 0]
    names = [g["group"] for g in groups]
    ax.barh(names, [g["error_rate_%"] for g in groups], color="#4c72b0")
    ax.invert_yaxis()
    ax.set(xlabel="error rate (% of test queries in the group)", title="where errors happen")
    ax = axes[0, 1]
    kinds = tables["error_kinds"]
    ax.bar([k["kind"] for k in kinds], [k["errors"] for k in kinds], color=WRONG)
    ax.set(ylabel="wrong answers", title="kinds of error")
    ax.tick_params(axis="x", rotation=20)
    ax = axes[1, 0]
    diffs = tables["numeric_error"]
    if diffs:
        ordered = sorted(diffs, key=lambda d: d["predicted_minus_true"])
        ax.bar(
            [str(d["predicted_minus_true"]) for d in ordered], [d["errors"] for d in ordered], color="#dd8452"
        )
        ax.tick_params(axis="x", rotation=45)
    else:
        ax.text(0.5, 0.5, "no numeric errors", ha="center", va="center", transform=ax.transAxes)
    ax.set(
        xlabel="predicted minus true answer",
        ylabel="wrong answers",
        title="size of numeric errors (most frequent)",
    )
    ax = axes[1, 1]
    pos = tables["by_character_position"]
    ax.bar([p["position"] for p in pos], [p["wrong_%"] for p in pos], color="#55a868")
    ax.set(
        xlabel="answer character (left to right, padded)",
        ylabel="wrong (% of test queries)",
        title="which character is wrong",
    )
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_sweep(path: Path | str, summary: list[dict[str, Any]], reported: list[tuple]) -> Path:
    """Exact-match test accuracy against train fraction: one line per task, model and depth."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    key = lambda s: (s["task"], s.get("arch", "gru"), s["enc_layers"], s["dec_layers"])  # noqa: E731
    keys = sorted({key(s) for s in summary})
    styles = ["-", "--", ":", "-."]
    depths = sorted({k[1:] for k in keys})  # (model, enc, dec): one line style each
    for task, arch, enc, dec in keys:
        pts = sorted((s for s in summary if key(s) == (task, arch, enc, dec)), key=lambda s: s["train_frac"])
        x = [s["train_frac"] for s in pts]
        y = np.array([100 * s["accuracy_mean"] for s in pts])
        err = np.array([100 * s["accuracy_std"] for s in pts])
        model = "" if arch == "gru" else f" {arch},"
        label = f"{task},{model} {enc} enc / {dec} dec layer{'s' if max(enc, dec) > 1 else ''}"
        style = depths.index((arch, enc, dec))
        own_colour = arch in ARCH_COLORS
        ax.errorbar(
            x,
            y,
            yerr=err if err.any() else None,
            marker="osD^v*"[style % 6],
            ms=9 if own_colour else 6,
            mfc="none" if own_colour else None,
            mew=1.8 if own_colour else None,
            capsize=3,
            label=label,
            color=ARCH_COLORS[arch] if own_colour else TASK_COLORS.get(task, "#333333"),
            ls=styles[style % len(styles)],
        )
    tasks_shown = {k[0] for k in keys}
    fracs = sorted({s["train_frac"] for s in summary}) or [0.5]
    for task, frac, lo, hi in reported:
        if task not in tasks_shown:
            continue
        where = frac if frac is not None else max(fracs)
        note = "" if frac is not None else " (train fraction not stated; drawn at the largest fraction)"
        ax.errorbar(
            [where],
            [(lo + hi) / 2],
            yerr=[[(hi - lo) / 2], [(hi - lo) / 2]],
            marker="*",
            ms=13,
            ls="none",
            color=TASK_COLORS.get(task, "#333333"),
            mec="black",
            capsize=5,
            label=f"published report: {task} {lo:g}" + (f"-{hi:g}" if hi != lo else "") + "%" + note,
        )

    ax.set_xscale("log")
    ticks = sorted(set(fracs) | {r[1] for r in reported if r[0] in tasks_shown and r[1] is not None})
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{f:g}" for f in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set(
        xlabel="fraction of the 20,000 queries used for training (log scale)",
        ylabel="exact-match accuracy on unseen test queries (%)",
        title="How well the models generalize: accuracy against training data\n"
        "(image outputs read back by the glyph classifier; stars = assignment reports)",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_attention(path: Path | str, panels: list[dict[str, Any]], title: str) -> Path:
    """One heat map per query: a row per answer character, a column per query character, the share
    of its attention that the answer character gave each query character.

    Each panel: {"text": the query as typed, "query": the query as laid out (' 47+58'), "answer":
    the model's answer as laid out,
    "weights": (len(answer), len(query)), "right": bool, "true": the true answer}."""
    plt = _plt()
    n = max(1, len(panels))
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 2.5 * rows + 0.6), squeeze=False)
    shown = lambda text: [("·" if c == " " else c) for c in text]  # noqa: E731
    image = None
    for ax, panel in zip(axes.flat, panels, strict=False):
        weights = np.asarray(panel["weights"])
        image = ax.imshow(weights, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(weights.shape[1]), shown(panel["query"]), fontsize=11, family="monospace")
        ax.set_yticks(range(weights.shape[0]), shown(panel["answer"]), fontsize=11, family="monospace")
        ax.tick_params(length=0)
        verdict = "right" if panel["right"] else f"wrong, true {panel['true']}"
        ax.set_title(
            f"{panel['text']} = {panel['answer'].strip()} ({verdict})",
            fontsize=9,
            color=RIGHT if panel["right"] else WRONG,
        )
        ax.set_xlabel("query character", fontsize=8)
        ax.set_ylabel("answer character", fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="attention weight")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def plot_answer_styles(path: Path | str, rows: list[tuple[str, np.ndarray, bool]], title: str) -> Path:
    """One answer per row, labelled: (label, cells float (Ta, 28, 28) in [0, 1], read back right)."""
    plt = _plt()
    n = max(1, len(rows))
    fig, axes = plt.subplots(n, 1, figsize=(4.6, 0.72 * n + 0.8))
    for ax, (label, cells, right) in zip(np.atleast_1d(axes), rows, strict=False):
        ax.imshow(np.concatenate(list(cells), 1), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9, color=RIGHT if right else WRONG)
        for spine in ax.spines.values():
            spine.set_edgecolor("#999999")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
