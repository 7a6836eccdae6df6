"""One self-contained HTML report over any run directories (figures embedded, opens offline).

The report shows what the runs hold and nothing else: a part without a run is left out, a
figure that was never made is not mentioned. Each part opens with a plain-language explanation
(`report_text`), then its tables and figures.
"""

from __future__ import annotations

import base64
import html
import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch

from genlab import __version__, report_text
from genlab.arith.handwriting import answer_mix_note
from genlab.core.device import cpu_name
from genlab.core.errors import GenlabError
from genlab.core.paths import atomic_write_text
from genlab.core.rundir import RunDir

MODEL_NAMES = {
    "cae": "Convolutional autoencoder",
    "vae": "Variational autoencoder",
    "gan": "GAN",
    "diffusion": "Diffusion model",
}
IMAGE_KINDS = tuple(f"images-{m}" for m in MODEL_NAMES)
ARCH_NAMES = {"gru": "GRU", "lstm": "LSTM", "transformer": "transformer"}

# Known figure files, in the order a reader wants them, with captions; any other figure in a
# run's figures/ is shown after these with a caption made from its file name.
FIGURE_CAPTIONS: dict[str, str] = {
    "samples_asked": "Asked for one condition per row; each column uses the same noise, so the rows differ "
    "only in what was asked.",
    "samples": "Novel images decoded from random latent vectors.",
    "reconstructions": "Held-out images and their reconstructions.",
    "interpolate_linear_real": "Linear interpolation between the encodings of two real images.",
    "interpolate_slerp_real": "Spherical interpolation between the encodings of two real images.",
    "interpolate_linear": "Linear interpolation between random latent points.",
    "interpolate_slerp": "Spherical (slerp) interpolation between random latent points.",
    "denoise": "Sampling step by step: the noisy image at each step (top) and the denoiser's guess of the "
    "finished image (below), from pure noise on the left to the sample on the right.",
    "progress": "Samples from a fixed latent batch at the first, middle and last epochs.",
    "losses": "Training losses.",
    "latent_map": "t-SNE map of latent codes with their images.",
    "metrics": "Sample quality against the real-vs-real noise floor.",
    "conditional_samples": "Asked for each class (or punk type, with its most common attribute set), one row "
    "each, the same noise in every column.",
    "conditional": "The share of images that show what was asked, read back by genlab's classifier, beside "
    "real images through the same classifier (the ceiling).",
    "morph": "From one request to another with the noise held fixed in each row.",
    "edit": "Held-out images, their reconstruction, and the same code decoded with the condition changed.",
    "attributes": "How often generated and real images show each attribute.",
    "learning_curves": "Loss and exact-match accuracy per epoch, train and test.",
    "examples": "Test queries with the true and the predicted answers.",
    "answer_styles": "One query answered eight times in handwriting (each row another writer, with what the "
    "reader reads), beside the one prototype image per character and the mean of each character's "
    "handwriting, which a pixel loss on random drawings learns.",
    "sweep": "Test exact-match accuracy against the fraction of queries used for training.",
}

# where a diffusion model's figure means something else: its "code" is the noise an image inverts to
DIFFUSION_CAPTIONS: dict[str, str] = {
    "samples": "Novel images sampled from random noise.",
    "reconstructions": "Held-out images, inverted to noise by the deterministic sampler and sampled back.",
    "interpolate_linear_real": "Linear interpolation between the inverted noises of two real images.",
    "interpolate_slerp_real": "Spherical interpolation between the inverted noises of two real images.",
    "interpolate_linear": "Linear interpolation between two starting noises, each step sampled.",
    "interpolate_slerp": "Spherical (slerp) interpolation between two starting noises, each step sampled.",
    "latent_map": "t-SNE map of the noises that real images invert to, with their images.",
}


@dataclass
class Part:
    title: str
    intro: str = ""
    blocks: list[str] = field(default_factory=list)
    seconds: float | None = None


# -- small HTML helpers -------------------------------------------------------------------


def esc(value: Any) -> str:
    return html.escape(str(value))


def fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return esc(value if value is not None else "")
    if isinstance(value, float):
        if 0 < abs(value) < 1e-3 or abs(value) >= 1e5:
            return f"{value:.3g}"
        return f"{value:.4g}"
    return esc(value)


def _cell_class(value: Any) -> str:
    """Numbers (and percentages) align right so that columns of figures line up."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "num"
    if isinstance(value, str) and value.endswith("%") and value[:-1].replace(".", "", 1).isdigit():
        return "num"
    return ""


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, caption: str = "") -> str:
    if not rows:
        return ""
    columns = list(columns or {k: None for row in rows for k in row})
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{_cell_class(row.get(c))}">{fmt(row.get(c))}</td>' for c in columns)
        + "</tr>"
        for row in rows
    )
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    thead = f"<thead><tr>{head}</tr></thead>" if any(c.strip() for c in columns) else ""
    return f'<div class="scroll"><table>{cap}{thead}<tbody>{body}</tbody></table></div>'


def figure(path: Path, caption: str, alt: str | None = None) -> str:
    mime = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".svg": "image/svg+xml"}.get(
        path.suffix.lower(), "application/octet-stream"
    )
    data = base64.b64encode(path.read_bytes()).decode()
    return (
        f'<figure><img src="data:{mime};base64,{data}" alt="{esc(alt or caption)}" loading="lazy">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def _known_name(path: Path) -> str | None:
    """The known figure a file is a variant of (`samples_seed0.png` is a `samples` figure)."""
    return next((name for name in FIGURE_CAPTIONS if path.stem.startswith(name)), None)


def caption_for(path: Path, model: str | None = None) -> str:
    """The caption of a figure file; `model` ("diffusion") picks that family's wording where it differs."""
    known = _known_name(path)
    if known is None:
        return path.stem.replace("_", " ").capitalize() + "."
    if model == "diffusion" and known in DIFFUSION_CAPTIONS:
        return DIFFUSION_CAPTIONS[known]
    return FIGURE_CAPTIONS[known]


def figures_in(folder: Path) -> list[Path]:
    """PNG figures of a folder, known ones first in reading order, then the rest by name.

    A GIF is left out where a PNG of the same name exists (the PNG shows every frame)."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.suffix.lower() == ".png"]
    stems = {p.stem for p in found}
    found += [p for p in folder.iterdir() if p.suffix.lower() == ".gif" and p.stem not in stems]
    order = {name: i for i, name in enumerate(FIGURE_CAPTIONS)}
    return sorted(found, key=lambda p: (order.get(_known_name(p) or "", len(order)), p.name))


def run_figures(run: RunDir) -> list[Path]:
    return figures_in(run.path / "figures")


def markdown_tables(path: Path) -> str:
    """Render the pipe tables of a small markdown file (the error-analysis tables) as HTML."""
    blocks: list[str] = []
    rows: list[list[str]] = []
    heading = ""

    def flush() -> None:
        nonlocal rows
        if len(rows) >= 2:
            header, body = rows[0], [r for r in rows[1:] if not set("".join(r)) <= set("-: ")]
            blocks.append(table([dict(zip(header, r, strict=False)) for r in body], header, heading))
        rows = []

    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("|"):
            rows.append([c.strip() for c in stripped.strip("|").split("|")])
        else:
            flush()
            if stripped.startswith("#"):
                heading = stripped.lstrip("#").strip()
    flush()
    return "".join(blocks)


# -- the parts ----------------------------------------------------------------------------


def _is_eval(record: dict[str, Any]) -> bool:
    """An evaluation record: "type": "eval"; runs from before records had a type say "eval": true
    (images) or "event": "evaluate" (arith)."""
    return record.get("type") == "eval" or bool(record.get("eval")) or record.get("event") == "evaluate"


def _eval_records(run: RunDir) -> list[dict[str, Any]]:
    """The run's evaluations of its inference weights (not of a numbered checkpoint, `--checkpoint`)."""
    return [r for r in run.metrics() if _is_eval(r) and r.get("checkpoint", "best") == "best"]


def _training_records(run: RunDir) -> list[dict[str, Any]]:
    return [r for r in run.metrics() if not _is_eval(r) and "epoch" in r]


def _epochs(run: RunDir) -> int:
    return max((int(r["epoch"]) for r in _training_records(run)), default=0)


def _train_seconds(run: RunDir) -> float | None:
    for record in reversed(_training_records(run)):
        for key in ("train_seconds", "seconds", "time"):
            if isinstance(record.get(key), int | float):
                return float(record[key])
    return None


def image_model_name(run: RunDir) -> str:
    """'GAN', or 'GAN conditional on attributes' for a run trained with --condition."""
    name = MODEL_NAMES.get(run.kind.removeprefix("images-"), run.kind)
    condition = run.config.get("condition") or "none"
    return name if condition == "none" else f"{name} conditional on {condition}"


def generative_part(runs: list[RunDir]) -> Part:
    part = Part("Generative image models", report_text.GENERATIVE_INTRO)
    metric_rows: list[dict[str, Any]] = []
    for run in runs:
        config = run.config
        model = run.kind.removeprefix("images-")
        name = image_model_name(run)
        facts = {
            "data": config.get("extra", {}).get("source") or config.get("data"),
            "image size": config.get("size"),
            "latent dim": config.get("latent_dim") if model != "diffusion" else None,
            "sampler": f"{config.get('sampler')}, {config.get('sample_steps')} steps"
            if model == "diffusion"
            else None,
            "condition": config.get("condition") if config.get("condition", "none") != "none" else None,
            "epochs": _epochs(run),
            "train seconds": _train_seconds(run),
        }
        facts_html = table([{k: v for k, v in facts.items() if v is not None}])
        captions = [(p, caption_for(p, model)) for p in run_figures(run)]
        figures = [figure(p, caption, f"{name}: {caption}") for p, caption in captions]
        part.blocks.append(f"<h3>{esc(name)} <small>({esc(run.path.name)})</small></h3>{facts_html}")
        part.blocks.append('<div class="figures">' + "".join(figures) + "</div>")
        asked = run.path / "eval_conditional.json"
        if asked.exists():
            part.blocks.append(conditional_block(json.loads(asked.read_text())))
        evals = _eval_records(run)
        if evals:
            metric_rows.append(_metric_row(name, evals[-1]))
    if metric_rows:
        spaces = sorted({row.pop("_space") for row in metric_rows})
        warnings = sorted({w for row in metric_rows for w in row.pop("_warnings")})
        part.blocks.append(
            "<h3>Sample quality</h3>"
            + report_text.METRICS_INTRO
            + "".join(f"<p><b>Feature space:</b> {esc(space)}</p>" for space in spaces)
            + table(metric_rows)
            + "".join(f'<p class="note">{esc(w)}</p>' for w in warnings)
        )
    return part


def conditional_block(record: dict[str, Any]) -> str:
    """The read-back table of `evaluate --conditional`: what was asked, how often it came out."""
    punks = record.get("condition") == "attributes"
    title = "Asking for a punk" if punks else "Asking for a class"
    what = "type" if punks else "class"
    rows = [
        {
            what: g["name"],
            "asked": g["asked"],
            "training images": g["train_images"],
            "read back as asked": f"{g['read_back']:.1%}",
            "real images read back (ceiling)": f"{g['real_read_back']:.1%}",
            "FID of the " + what: g.get("fid"),
            "unconditional model's FID": g.get("baseline_fid"),
        }
        for g in record["groups"]
    ]
    if not any(r["unconditional model's FID"] is not None for r in rows):
        for r in rows:
            r.pop("unconditional model's FID")
    block = f"<h4>{esc(title)}</h4>" + report_text.CONDITIONAL_INTRO + table(rows)
    if punks:
        real = record.get("accessory_real_read_back_mean")  # records from before it was kept lack it
        ceiling = (
            ""
            if real is None
            else f"the same classifier reads them on {real:.1%} of the real punks that have them; "
        )
        block += (
            "<p>Accessories of at least 2% frequency show in "
            f"{record['accessory_read_back_mean']:.1%} of the images asked for them "
            f"({ceiling}lowest: {esc(record['accessory_read_back_min'])}); accessories nobody asked for show "
            f"in {record['unrequested_rate']:.1%} of images (real punks through the same "
            f"classifier: {record['real_unrequested_rate']:.1%}).</p>"
        )
    return block


METRIC_COLUMNS = {
    "fid": "FID",
    "kid": "KID",
    "precision": "precision",
    "recall": "recall",
    "attr_mean_abs_diff": "attribute freq. |diff|",
}


def _metric_row(name: str, record: dict[str, Any]) -> dict[str, Any]:
    """Model and noise floor side by side, for every metric the evaluation recorded."""
    space = f"{record.get('features')}: {record.get('feature_description', '')}"
    if record.get("feature_accuracy") is not None:
        space += f" (held-out accuracy {record['feature_accuracy']:.1%})"
    if record.get("feature_weak"):
        space += " (a weak feature space: compare models, do not quote the numbers)"
    row: dict[str, Any] = {"model": name, "samples": record.get("n")}
    for key, label in METRIC_COLUMNS.items():
        if key in record:
            value = record[key]
            if key == "kid" and "kid_se" in record:
                value = f"{value:.4f} ± {record['kid_se']:.4f}"
            row[label] = value
            row[f"{label} (floor)"] = record.get(f"floor_{key}")
    if "recon_mse" in record:
        row["recon. MSE"] = record["recon_mse"]
        row["recon. PSNR dB"] = record.get("recon_psnr")
    if "sample_seconds_per_1000" in record:
        row["sampling s / 1,000 images"] = record["sample_seconds_per_1000"]
    row["_space"] = space
    row["_warnings"] = record.get("warnings", [])
    return row


ARITH_COLUMNS = {
    "task": "task",
    "arch": "model",
    "train_frac": "train fraction",
    "enc_layers": "encoder layers",
    "dec_layers": "decoder layers",
    "init_from": "started from",
    "accuracy": "accuracy (exact match)",
    "char_accuracy": "per-character accuracy",
    "query_cells_read_correctly": "queries read right by the glyph classifier",
    "pixel_mse": "pixel MSE",
    "epochs": "epochs",
    "train_seconds": "train seconds",
}


PERCENT_COLUMNS = ("accuracy", "char_accuracy", "query_cells_read_correctly")


def _arith_row(run: RunDir) -> dict[str, Any]:
    """One table row: the run's config, its evaluation.json and its training time."""
    config = run.config
    values: dict[str, Any] = {k: config.get(k) for k in ("task", "train_frac", "enc_layers", "dec_layers")}
    values["arch"] = ARCH_NAMES.get(config.get("arch", "gru"), config.get("arch"))
    if config.get("init_from"):
        values["init_from"] = Path(config["init_from"]).name
    evaluation = run.path / "evaluation.json"
    if evaluation.exists():
        values.update(json.loads(evaluation.read_text()))
    values["epochs"] = _epochs(run)
    values["train_seconds"] = _train_seconds(run)
    for key in PERCENT_COLUMNS:
        if isinstance(values.get(key), int | float):
            values[key] = f"{100 * values[key]:.2f}%"
    row = {"run": run.path.name}
    row.update({label: values.get(key) for key, label in ARITH_COLUMNS.items()})
    return row


def arithmetic_part(runs: list[RunDir], sweeps: list[Path]) -> Part:
    part = Part("Sequence-to-sequence arithmetic", report_text.ARITH_INTRO)
    rows = [_arith_row(run) for run in runs]
    if rows:
        columns = [c for c in rows[0] if any(r[c] is not None for r in rows)]
        part.blocks.append("<h3>Results on unseen test queries</h3>" + table(rows, columns))
    if any(run.config.get("arch") == "transformer" for run in runs):
        part.blocks.append(report_text.TRANSFORMER_INTRO)
    if any(run.config.get("init_from") for run in runs):
        part.blocks.append(report_text.WARM_START_INTRO)
    for sweep in sweeps:
        part.blocks.append(f"<h3>Sweep: {esc(sweep.name)}</h3>" + report_text.SPLITS_INTRO)
        if (sweep / "results.md").exists():
            part.blocks.append(markdown_tables(sweep / "results.md"))
        part.blocks.append(
            '<div class="figures">'
            + "".join(figure(p, caption_for(p)) for p in figures_in(sweep / "figures"))
            + "</div>"
        )
    for run in runs:
        figures = run_figures(run)
        written = handwriting_block(run)
        if not figures and not written:
            continue
        title = f"{run.config.get('task', run.kind)}: {run.path.name}"
        tables = "".join(markdown_tables(p) for p in sorted((run.path / "figures").glob("*.md")))
        intro = (report_text.ERRORS_INTRO if tables else "") + written
        part.blocks.append(
            f"<h3>{esc(title)}</h3>{intro}{tables}"
            + '<div class="figures">'
            + "".join(figure(p, caption_for(p), f"{title}: {caption_for(p)}") for p in figures)
            + "</div>"
        )
    return part


def handwriting_block(run: RunDir) -> str:
    """For a run that writes its answers in handwriting: the assignment's question about their
    appearance, answered with the run's own measurements ('' for other runs)."""
    evaluation = run.path / "evaluation.json"
    if not evaluation.exists():
        return ""
    result = json.loads(evaluation.read_text())
    quality = result.get("handwriting")
    if not quality:
        return ""
    numbers = (
        f"<p>Measured here on {quality['digits']:,} drawn answer digits: read back "
        f"{result['readback_accuracy']:.2%} of whole answers; FID {quality['fid_digits']:.1f} against "
        f"real test-pool digits in the same mix of digits, beside a real-vs-real floor of "
        f"{quality['fid_floor']:.1f} ({quality['fid_over_floor']:.1f} times the floor"
        f"{esc(answer_mix_note(quality))}); diversity {quality['diversity_share_of_real']:.0%} of real "
        f"handwriting's. New writers come from {esc(quality.get('new_writers_from', 'the model'))}."
    )
    style = result.get("style")
    if style:
        numbers += (
            f" Answers are written in {esc(style.get('answers_written_in', 'the query style'))}: an "
            f"answer is closer in slant and stroke thickness to its own query than to a random other "
            f"query in {style['closer_to_own_query']:.0%} of queries."
        )
    return report_text.HANDWRITING_INTRO + numbers + "</p>"


def _summary_label(arch: str, layers: int, archs: int, depths: int) -> str:
    parts = [ARCH_NAMES.get(arch, arch)] if archs > 1 else []
    if depths > 1:
        parts.append(f"{layers} encoder layer{'s' if layers > 1 else ''}")
    return f" ({', '.join(parts)})" if parts else ""


# -- the summary ----------------------------------------------------------------------------

ARITH_TASK_NAMES = {
    "text2text": "text -> text",
    "img2text": "handwriting -> text",
    "text2img": "text -> handwriting",
    "img2img": "handwriting -> handwriting",
}


def _reported(task: str, frac: float | None) -> str:
    """The assignment reports' own figure for a task (at a train fraction where they state one)."""
    from genlab.arith.sweep import REPORTED

    found = [
        (lo, hi, f) for t, f, lo, hi in REPORTED if t == task and (f is None or frac is None or f == frac)
    ]
    if not found:
        return "not reported"
    lo, hi, f = found[0]
    figure = f"{lo:.2f}%" if lo == hi else f"{lo:.1f}-{hi:.1f}%"
    return figure + ("" if f is not None else " (train fraction not stated)")


def _arith_headline(run: RunDir) -> tuple[float, bool] | None:
    evaluation = run.path / "evaluation.json"
    if not evaluation.exists():
        return None
    result = json.loads(evaluation.read_text())
    if "accuracy" not in result:
        return None
    return float(result["accuracy"]), "readback_accuracy" in result


class _SummaryModel(NamedTuple):
    """One arithmetic model in the summary, in the order its cell lists them (model kind, then depth)."""

    arch_order: int
    layers: int
    arch: str
    accuracy: float
    read_back: bool
    written: str  # how its handwritten answers look ('' for other models)


def summary_rows(image_runs: list[RunDir], arith_runs: list[RunDir]) -> list[dict[str, Any]]:
    """One row per model the report shows: its headline number beside the assignment reports'."""
    rows: list[dict[str, Any]] = []
    for run in image_runs:
        evals = _eval_records(run)
        if not evals or evals[-1].get("fid") is None:
            continue
        record, model = evals[-1], run.kind.removeprefix("images-")
        measured = f"FID {fmt(record['fid'])}"
        if record.get("floor_fid") is not None:
            measured += f" (floor {fmt(record['floor_fid'])})"
        if record.get("precision") is not None and record.get("recall") is not None:
            measured += f"; precision {record['precision']:.2f}, recall {record['recall']:.2f}"
        measured += f" in {record.get('features')} features"
        asked = run.path / "eval_conditional.json"
        conditional = run.config.get("condition", "none") not in (None, "none")
        if asked.exists():
            measured += "; " + _read_back_summary(json.loads(asked.read_text()))
        rows.append(
            {
                "model": image_model_name(run),
                "measured here": measured,
                "assignment reports": "not part of the assignment"
                if conditional
                else report_text.ASSIGNMENT_IMAGE_REPORTS.get(model, "not part of the assignment"),
            }
        )
    by_cell: dict[tuple[str, float], list[_SummaryModel]] = {}
    for run in arith_runs:
        headline = _arith_headline(run)
        task, frac = run.config.get("task"), run.config.get("train_frac")
        if headline is None or task is None or frac is None:
            continue
        arch = run.config.get("arch", "gru")
        by_cell.setdefault((task, float(frac)), []).append(
            _SummaryModel(
                list(ARCH_NAMES).index(arch) if arch in ARCH_NAMES else 99,
                int(run.config.get("enc_layers", 1)),
                arch,
                *headline,
                _handwriting_summary(run),
            )
        )
    order = list(ARITH_TASK_NAMES)
    for (task, frac), found in sorted(
        by_cell.items(),
        key=lambda item: (order.index(item[0][0]) if item[0][0] in order else 99, -item[0][1]),
    ):
        archs, depths = len({f.arch for f in found}), len({f.layers for f in found})
        values = [
            f"{100 * f.accuracy:.2f}%" + _summary_label(f.arch, f.layers, archs, depths)
            for f in sorted(found)
        ]
        what = "read back" if found[0].read_back else "exact match"
        written = "".join(f"; {w}" for w in sorted({f.written for f in found if f.written}))
        rows.append(
            {
                "model": f"{ARITH_TASK_NAMES.get(task, task)}, {frac:.0%} of queries for training",
                "measured here": f"{what} {', '.join(values)} on unseen test queries{written}",
                "assignment reports": _reported(task, frac),
            }
        )
    return rows


def _handwriting_summary(run: RunDir) -> str:
    """'answers in varied handwriting: FID 3.8x the floor, diversity 101% of real' ('' for other runs)."""
    evaluation = run.path / "evaluation.json"
    quality = json.loads(evaluation.read_text()).get("handwriting") if evaluation.exists() else None
    if not quality:
        return ""
    return (
        f"answers in varied handwriting: FID {quality['fid_over_floor']:.1f}x the real floor, diversity "
        f"{quality['diversity_share_of_real']:.0%} of real handwriting's"
    )


def _read_back_summary(record: dict[str, Any]) -> str:
    """'asked for each type, read back as asked: male 100%, ...' from an eval_conditional record."""
    what = "type" if record.get("condition") == "attributes" else "class"
    shares = ", ".join(f"{g['name']} {g['read_back']:.0%}" for g in record["groups"])
    text = f"asked for each {what}, read back as asked: {shares}"
    if record.get("accessory_read_back_mean") is not None:
        text += f"; accessories shown when asked: {record['accessory_read_back_mean']:.0%}"
    return text


def summary_block(image_runs: list[RunDir], arith_runs: list[RunDir]) -> str:
    rows = summary_rows(image_runs, arith_runs)
    if not rows:
        return ""
    return (
        '<section id="summary"><h2>At a glance</h2>' + report_text.SUMMARY_INTRO + table(rows) + "</section>"
    )


# -- the page -------------------------------------------------------------------------------


def data_sources(runs: Iterable[RunDir]) -> list[str]:
    """The data sources the runs recorded, each named once."""
    sources: list[str] = []
    for run in runs:
        found = [run.config.get("extra", {}).get("source"), run.config.get("data_source")]
        evaluation = run.path / "evaluation.json"
        if evaluation.exists():
            mnist = json.loads(evaluation.read_text()).get("mnist_source")
            found.append(f"MNIST: {mnist}" if mnist else None)
        for value in found:
            if isinstance(value, str) and value and value not in sources:
                sources.append(value)
    return sources


def machine_summary() -> str:

    cpu = cpu_name()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    return f"{cpu}, {os.cpu_count()} cores, {device}; torch {torch.__version__}, genlab {__version__}"


def classify(paths: Sequence[Path]) -> tuple[list[RunDir], list[RunDir], list[Path]]:
    """Split paths into image runs, arithmetic runs and sweep folders; unknown paths are errors."""
    image_runs: list[RunDir] = []
    arith_runs: list[RunDir] = []
    sweeps: list[Path] = []
    for path in paths:
        if (path / "results.csv").exists() and not (path / "config.json").exists():
            sweeps.append(path)
            continue
        run = RunDir.open(path)
        if run.kind in IMAGE_KINDS:
            image_runs.append(run)
        elif run.kind.startswith("arith"):
            arith_runs.append(run)
        else:
            raise GenlabError(f"{path} is a {run.kind!r} run, which the report does not know how to show")
    return image_runs, arith_runs, sweeps


def build_report(
    paths: Sequence[Path],
    out: Path,
    title: str = "genlab report",
    seeds: Sequence[int] | None = None,
    timings: dict[str, float] | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write one self-contained HTML file over the given runs and sweep folders."""
    if not paths:
        raise GenlabError("no runs given: name one or more run directories (the --out of a training)")
    image_runs, arith_runs, sweeps = classify([Path(p) for p in paths])
    parts: list[Part] = []
    if image_runs:
        parts.append(generative_part(image_runs))
    if arith_runs or sweeps:
        parts.append(arithmetic_part(arith_runs, sweeps))
    timings = dict(timings or {})
    for part in parts:
        if part.title in timings:
            part.seconds = timings[part.title]
    all_runs = image_runs + arith_runs
    seeds = sorted(set(seeds or [r.config.get("seed") for r in all_runs if r.config.get("seed") is not None]))
    facts = [("data", src) for src in data_sources(all_runs)] or [("data", "not recorded by these runs")]
    facts += [
        ("machine", machine_summary()),
        ("seeds", ", ".join(str(s) for s in seeds) or "not recorded"),
        ("created", time.strftime("%Y-%m-%d %H:%M")),
    ]
    facts += [(f"time: {name}", f"{sec:.0f} s") for name, sec in timings.items()]
    body = [f"<header><h1>{esc(title)}</h1>{table([{'': k, ' ': v} for k, v in facts], ['', ' '])}"]
    body += [f'<p class="note">{esc(n)}</p>' for n in notes]
    nav = "".join(f'<a href="#part{i}">{esc(p.title)}</a>' for i, p in enumerate(parts))
    body.append(f"<nav>{nav}</nav></header>")
    body.append(summary_block(image_runs, arith_runs))
    for i, part in enumerate(parts):
        took = f" <small>({part.seconds:.0f} s)</small>" if part.seconds else ""
        body.append(f'<section id="part{i}"><h2>{esc(part.title)}{took}</h2>{part.intro}')
        body.extend(part.blocks)
        body.append("</section>")
    page = PAGE.format(title=esc(title), body="\n".join(body))
    if Path(out).is_dir():
        raise GenlabError(
            f"--out {out} is a folder: give the HTML file's path, e.g. {Path(out) / 'report.html'}"
        )
    try:
        atomic_write_text(out, page)
    except OSError as exc:
        raise GenlabError(
            f"cannot write the report to {out} ({exc.strerror}): choose another --out"
        ) from None
    return out


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330;
       max-width: 1100px; margin: 0 auto; padding: 1.5rem 2rem 4rem; background: #fcfcfd; }}
h1 {{ font-size: 1.9rem; margin-bottom: .3rem; }}
h2 {{ border-bottom: 2px solid #dfe3ea; padding-bottom: .3rem; margin-top: 2.6rem; }}
h3 {{ margin-top: 2rem; }}
small {{ color: #667; font-weight: normal; }}
nav a {{ margin-right: 1.2rem; }}
p, li {{ max-width: 75ch; }}
.note {{ color: #8a4b00; }}
.scroll {{ overflow-x: auto; }}
table {{ border-collapse: collapse; margin: .8rem 0 1.2rem; font-size: .92rem; }}
caption {{ text-align: left; font-weight: 600; padding-bottom: .3rem; }}
th, td {{ border-bottom: 1px solid #e3e6ec; padding: .3rem .7rem; text-align: left; vertical-align: top; }}
th {{ background: #f1f3f7; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.figures {{ display: flex; flex-wrap: wrap; gap: 1.2rem; }}
figure {{ margin: 0; max-width: 100%; }}
figure img {{ max-width: min(100%, 1000px); max-height: 640px; border: 1px solid #e3e6ec; }}
figcaption {{ font-size: .9rem; color: #445; max-width: 60ch; }}
code {{ background: #eef0f4; padding: 0 .25em; border-radius: 3px; }}
</style></head>
<body>
{body}
</body></html>
"""
