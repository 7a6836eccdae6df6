"""The main job: train every model family on the embedded data and write one HTML report.

    genlab demo --out runs/demo           # about 15 minutes on 2 CPU cores
    genlab demo --quick --out /tmp/demo   # about a minute, for tests and a first look
    genlab demo --seed 1 --out runs/demo  # the same plan with other seeds, beside the seed-0 runs
    genlab demo --full --out runs/demo    # every model at its defaults (what a GPU runs)

Rerunning is cheap: finished runs are kept and interrupted ones resumed, so a second
`make demo` only rebuilds the report.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch

from genlab.arith.config import ArithConfig
from genlab.arith.error_analysis import analyze_errors
from genlab.arith.model import ARCHS
from genlab.arith.sweep import run_sweep, sweep_cell_name
from genlab.core.device import device_name, pick_device
from genlab.core.paths import atomic_write_json
from genlab.core.progress import say
from genlab.core.rundir import RunDir
from genlab.images.conditional import attribute_morph, conditional_grid, evaluate_conditional
from genlab.images.config import MODEL_DEFAULTS, ImageTrainConfig
from genlab.images.evaluate import evaluate_run
from genlab.images.features import punks_extractor
from genlab.images.figures import (
    denoise_figure,
    interpolation_figure,
    latent_map_figure,
    progress_figure,
    reconstruction_figure,
    sample_grid,
)
from genlab.images.punks_classifier import PunksClassifierConfig, PunksTrainConfig
from genlab.images.train import train_images
from genlab.report import build_report

GENERATIVE = "Generative image models"
ARITHMETIC = "Sequence-to-sequence arithmetic"


# the glyph classifier of the handwriting tasks: a narrower one, as the default (width 64, 30 epochs)
# takes longer than the demo has; README (Arithmetic, Models) says what each width measured
DEMO_READER: dict[str, Any] = {"glyph_width": 32, "glyph_features": 128, "glyph_epochs": 20}
# the quick plan's reader: one epoch of a narrow one (reading every test answer of its tasks costs more
# than their training)
QUICK_READER: dict[str, Any] = {"glyph_width": 16, "glyph_features": 128, "glyph_epochs": 1}
# the diffusion model's epochs on the 2-core plan (its default is in genlab.images.config.MODEL_DEFAULTS)
DEMO_DIFFUSION_EPOCHS = 12


@dataclass
class DemoPlan:
    """What the demo trains; `quick()` shrinks every part to seconds."""

    image_models: tuple[str, ...] = ("cae", "vae", "gan", "diffusion")
    image_data: str = "punks"
    # families trained again with a condition, to be asked for what they draw
    conditional_models: tuple[str, ...] = ("gan",)
    condition: str = "attributes"
    # what the conditional models are asked for in their own figure, and a morph from the first to the last
    requests: tuple[str, ...] = ("Male,Cap", "Female,Blonde Bob", "Zombie,Hoodie", "Ape,Cap Forward")
    conditional_eval_n: int = 2000
    # the punks classifier that reads the conditional models' images back; None: genlab's own, trained
    # once and cached (the quick plan trains a tiny one, which reads too badly to quote)
    reader_config: PunksTrainConfig | None = None
    image_overrides: dict[str, Any] = field(default_factory=dict)
    # per image model, over image_overrides; README (The demo and the report) says what it costs
    image_model_overrides: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"diffusion": {"epochs": DEMO_DIFFUSION_EPOCHS}}
    )
    eval_features: str = "punks"
    eval_n: int = 2000
    latent_map_n: int = 800
    # a diffusion model encodes by inverting its sampler (19 network calls an image), so its
    # reconstruction score and latent map use fewer images; README (The demo and the report) says the cost
    diffusion_inversions: int = 300
    split_fracs: tuple[float, ...] = (0.5, 0.25, 0.1)
    split_enc_layers: tuple[int, ...] = (1, 2)
    # the longest cell first, so that the two workers finish together
    split_archs: tuple[str, ...] = ("transformer", "gru")
    # an arch named here trains only these (train fraction, encoder layers) cells: the transformer
    # where its defaults fit the demo (two encoder layers; with one it plateaus, README (Arithmetic))
    split_arch_cells: dict[str, tuple[tuple[float, int], ...]] = field(
        default_factory=lambda: {"transformer": ((0.5, 2),)}
    )
    # optimizer steps, not seconds: a time budget gives a different number of steps on every machine,
    # and these models learn in a jump, so a few steps more or less swing a cell by tens of points.
    # Every cell has the small state of text2text's large-data rule; the 50% cells keep that rule's
    # steps, as its two-layer model learns late (stuck near 25% after 800 steps with one seed).
    # README (The demo and the report) says what each plan measured
    split_overrides: dict[str, Any] = field(default_factory=lambda: {"steps": 1000, "hidden": 128})
    split_frac_overrides: dict[float, dict[str, Any]] = field(default_factory=lambda: {0.5: {"steps": 1600}})
    # processes of one thread each train the split cells' small recurrent models faster than one
    # process of two threads, to the same numbers; README (The demo and the report) says what it measured
    split_workers: int = 1
    modality_frac: float = 0.5
    # per handwriting task, in the order trained; text2img's and img2img's defaults (1,500 and 3,000
    # steps) would not fit the demo's 15 minutes (img2text stops early at its defaults). text2img and
    # img2img learn to add only late, so they get higher learning rates to get there within fewer steps;
    # README (The demo and the report) says what each measured
    modality_overrides: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "img2text": {"steps": 120, "lr": 2e-3, **DEMO_READER},
            "text2img": {"steps": 900, "lr": 1e-2, **DEMO_READER},
            "img2img": {"steps": 120, "lr": 2e-3, "reverse_answer": True, **DEMO_READER},
        }
    )
    # the image-query tasks start from the finished model of the same answer from text queries (on the
    # same split; text2text: the split sweep's one-layer cell at modality_frac), whose embedding of each
    # character takes the reader's reading of each cell: they answer at once, and a few steps settle them.
    # img2img writes its answer right to left, as text2img does. README (The demo and the report) says
    # what each measured
    warm_starts: dict[str, str] = field(
        default_factory=lambda: {"img2text": "text2text", "img2img": "text2img"}
    )
    seed: int = 0
    name: str = "the 2-core CPU plan: arithmetic models trained for fewer steps than their defaults"

    @classmethod
    def full(cls) -> DemoPlan:
        """Every model at its own defaults: the plan for a machine with a GPU."""
        return cls(
            eval_n=5000,
            image_model_overrides={},
            split_overrides={},
            split_frac_overrides={},
            split_archs=("gru", "transformer"),
            split_arch_cells={},
            warm_starts={},
            modality_overrides={
                "img2text": {},
                "text2img": {"answer_style": "handwriting"},
                "img2img": {"answer_style": "handwriting"},
            },
            name="the full plan: every model at its own defaults",
        )

    @classmethod
    def quick(cls) -> DemoPlan:
        tiny = {"steps": 4, "hidden": 32, "val_size": 200}
        return cls(
            image_overrides={"epochs": 1, "max_steps": 6, "size": 16, "base_width": 8, "batch_size": 32},
            image_model_overrides={"diffusion": {"sample_steps": 2}},
            eval_features="pixels",
            eval_n=128,
            latent_map_n=60,
            diffusion_inversions=40,
            requests=("Male,Cap", "Zombie,Hoodie"),
            conditional_eval_n=100,
            reader_config=PunksTrainConfig(
                epochs=1, limit=600, model=PunksClassifierConfig(width=8, feature_dim=16)
            ),
            split_fracs=(0.1, 0.05),
            split_archs=("gru", "transformer"),
            split_arch_cells={},
            split_overrides=tiny,
            split_frac_overrides={},
            modality_frac=0.05,
            modality_overrides={
                "img2text": {**tiny, **QUICK_READER},
                "text2img": {**tiny, **QUICK_READER, "answer_style": "handwriting"},
            },
            name="the quick plan: tiny models trained for seconds",
        )

    @classmethod
    def for_device(
        cls,
        device: torch.device,
        quick: bool = False,
        diffusion: bool = False,
        seed: int | None = None,
        full: bool = False,
    ) -> DemoPlan:
        """The quick plan when asked; the full plan on a GPU or when asked; else the 2-core CPU plan,
        which leaves out what would take the demo past 15 minutes (the diffusion model comes back with
        `diffusion`) and says so in its name. `seed` (None: the plan's own) seeds every model, split and
        figure."""
        if quick:
            plan = cls.quick()
        elif full or device.type == "cuda":
            plan = cls.full()
        else:
            plan = cls.cpu(diffusion)
        if device.type == "cpu" and not quick:  # the quick plan's cells train faster than a worker starts
            plan.split_workers = max(1, min(len(plan.split_cells()), os.cpu_count() or 1))
        if seed is not None:
            plan.seed = seed
        return plan

    @classmethod
    def cpu(cls, diffusion: bool = False) -> DemoPlan:
        """The 2-core CPU plan, with the diffusion model only when asked."""
        plan = (
            cls() if diffusion else cls(image_models=tuple(m for m in cls.image_models if m != "diffusion"))
        )
        gone = plan.left_out()
        if gone:
            plan.name += f"; without {_listed(gone)} (`genlab demo --full` trains everything at its defaults)"
        return plan

    def left_out(self) -> list[str]:
        """What the full plan shows and this one does not, in words for the report."""
        full = DemoPlan.full()
        gone = []
        if "diffusion" not in self.image_models:
            gone.append("the diffusion model (`genlab demo --diffusion` adds it)")
        gone += [
            f"a {m.upper()} conditional on {full.condition}, to ask for what it draws"
            for m in full.conditional_models
            if m not in self.conditional_models
        ]
        here = self.split_cells()
        for arch in full.split_archs:
            kept = [(f, e) for a, f, e in here if a == arch]
            if not kept:
                gone.append(f"the {arch} beside the recurrent models in the split sweep")
            elif arch in self.split_arch_cells:
                only = _listed([f"{e}-encoder-layer model at {f:.0%} train" for f, e in kept])
                gone.append(f"the {arch} in the split sweep's other cells (here only its {only})")
        drawn = [
            task
            for task, overrides in full.modality_overrides.items()
            if overrides.get("answer_style") == "handwriting"
            and task in self.modality_overrides
            and self.modality_overrides[task].get("answer_style") != "handwriting"
        ]
        if drawn:
            gone.append(
                f"answers in varied handwriting ({' and '.join(drawn)} here draw each answer character as "
                "one fixed real image of it)"
            )
        return gone

    def split_cells(self) -> list[tuple[str, float, int]]:
        """(arch, train fraction, encoder layers) of every split sweep cell, in training order."""
        return [
            (arch, frac, enc)
            for arch in self.split_archs
            for frac in self.split_fracs
            for enc in self.split_enc_layers
            if arch not in self.split_arch_cells or (frac, enc) in self.split_arch_cells[arch]
        ]

    def folder_name(self, name: str) -> str:
        """Seed 0 keeps the plain names, so other seeds' runs sit beside it in one --out."""
        return name + (f"-seed{self.seed}" if self.seed else "")

    def report_name(self) -> str:
        return self.folder_name("report") + ".html"


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class DemoTimes:
    """How long each part of the demo took, kept in `path` across every `genlab demo` into one folder.

    A second run reuses the finished runs and adds only what is new (the diffusion model of
    `--diffusion`, a model that was interrupted), so the time that built a part is the sum over the
    runs; the last run alone would say the arithmetic took seconds when it only reread its models."""

    def __init__(self, path: Path, plan: str, device: str) -> None:
        self.path = path
        self.runs: list[dict[str, Any]] = []
        if path.exists():
            try:
                self.runs = list(json.loads(path.read_text())["runs"])
            except (OSError, ValueError, KeyError, TypeError):
                say(f"warning: {path} is not a record of demo times; starting a new one")
        started = time.strftime("%Y-%m-%d %H:%M")
        self.current: dict[str, Any] = {"started": started, "plan": plan, "device": device, "parts": {}}
        self.runs.append(self.current)

    def timed(self, name: str, work: Callable[[], Any]) -> Any:
        """Run `work`, adding its time to part `name` of this run, saved even when it fails."""
        start = time.perf_counter()
        try:
            return work()
        finally:
            parts = self.current["parts"]
            parts[name] = round(parts.get(name, 0.0) + time.perf_counter() - start, 1)
            atomic_write_json(self.path, {"runs": self.runs})

    def totals(self) -> dict[str, float]:
        """Each part's seconds, summed over every run into this folder."""
        totals: dict[str, float] = {}
        for run in self.runs:
            for name, sec in run["parts"].items():
                totals[name] = round(totals.get(name, 0.0) + sec, 1)
        return totals

    def note(self) -> str | None:
        """Where the times come from, when more than one run built the folder."""
        if len(self.runs) < 2:
            return None
        runs = "; ".join(
            f"{r['started']}: " + ", ".join(f"{name} {sec:.0f} s" for name, sec in r["parts"].items())
            for r in self.runs
        )
        return (
            f"Times: each part's time is the sum over the {len(self.runs)} runs of genlab demo that built "
            f"this folder (a later run trains only what is new and reuses the rest): {runs}."
        )


def _image_run(plan: DemoPlan, model: str, path: Path, condition: str = "none") -> RunDir:
    overrides = {**plan.image_overrides, **plan.image_model_overrides.get(model, {})}
    config = ImageTrainConfig(
        model=model, data=plan.image_data, seed=plan.seed, condition=condition, **overrides
    )
    if (path / "state.pt").exists():
        return train_images(config, path, resume=True)  # finished runs return at once
    return train_images(config, path)  # a run killed before its first checkpoint starts again


def generative_part(plan: DemoPlan, out: Path) -> list[Path]:
    """Train CAE, VAE, GAN and diffusion model, and the conditional models; write every figure the
    report shows; evaluate sample quality."""

    runs = []
    for model in plan.image_models:
        path = out / plan.folder_name(f"images-{model}")
        say(f"== {model.upper()} on {plan.image_data}")
        run = _image_run(plan, model, path)
        _draw_once(plan, run, partial(_image_figures, plan, run, model))
        _evaluate_once(plan, run)
        runs.append(run.path)
    for model in plan.conditional_models:
        runs.append(conditional_run(plan, out, model, baseline=out / plan.folder_name(f"images-{model}")))
    return runs


def _image_figures(plan: DemoPlan, run: RunDir, model: str) -> None:
    sample_grid(run, n=64, seed=plan.seed)
    inverts = model == "diffusion"
    if model != "gan":
        reconstruction_figure(run, scored=plan.diffusion_inversions if inverts else None)
    for mode in ("linear", "slerp"):
        interpolation_figure(run, pairs=6, steps=10, mode=mode, seed=plan.seed)
    map_n = min(plan.latent_map_n, plan.diffusion_inversions) if inverts else plan.latent_map_n
    latent_map_figure(run, n=map_n, seed=plan.seed)
    progress_figure(run)
    if model == "diffusion":
        denoise_figure(run, n=4, seed=plan.seed)


def _draw_once(plan: DemoPlan, run: RunDir, draw: Callable[[], None]) -> None:
    """Draw a run's figures unless this plan already drew them from the same weights, so that a second
    `genlab demo` only rebuilds the report (figures/demo-figures.json records what they were drawn from)."""
    record = run.figures_dir / "demo-figures.json"
    weights = run.weights_path()
    drawn_from = {
        "weights_modified_ns": weights.stat().st_mtime_ns if weights.exists() else None,
        "seed": plan.seed,
        "latent_map_n": plan.latent_map_n,
        "diffusion_inversions": plan.diffusion_inversions,
        "requests": list(plan.requests),
    }
    try:
        if json.loads(record.read_text()) == drawn_from:
            return
    except (OSError, ValueError):
        pass
    draw()
    atomic_write_json(record, drawn_from)


def _evaluate_once(plan: DemoPlan, run: RunDir) -> None:
    if not any(r.get("type") == "eval" or r.get("eval") for r in run.metrics()):
        evaluate_run(run.path, plan.eval_features, n=plan.eval_n, seed=plan.seed)


def conditional_run(plan: DemoPlan, out: Path, model: str, baseline: Path) -> Path:
    """Train `model` with the plan's condition and ask it for things: a grid of the plan's requests, a
    morph from the first to the last, the read-back table of every class or type (beside `baseline`,
    the unconditional run, where it exists) and the FID of its draws for real images' conditions."""
    path = out / plan.folder_name(f"images-{model}-{plan.condition}")
    say(f"== {model.upper()} on {plan.image_data}, asked for {plan.condition}")
    run = _image_run(plan, model, path, condition=plan.condition)

    def figures() -> None:
        sample_grid(run, n=64, seed=plan.seed)
        conditional_grid(run, list(plan.requests), n=8, seed=plan.seed)
        attribute_morph(run, plan.requests[0], plan.requests[-1], seed=plan.seed)
        progress_figure(run)

    _draw_once(plan, run, figures)
    if not (run.path / "eval_conditional.json").exists():
        reader = punks_extractor(config=plan.reader_config, with_reader=True) if plan.reader_config else None
        evaluate_conditional(
            run,
            n=plan.conditional_eval_n,
            seed=plan.seed,
            baseline=baseline if (baseline / "state.pt").exists() else None,
            reader=reader,
        )
    _evaluate_once(plan, run)
    return run.path


def arithmetic_part(plan: DemoPlan, out: Path) -> list[Path]:
    """text->text over train fractions, depths and model kinds, the other modalities at half the
    queries, and the error analysis of the runs that make the most interesting mistakes."""

    splits = out / plan.folder_name("arith-splits")
    say("== text->text over train fractions and encoder depths")
    run_sweep(
        splits,
        tasks=["text2text"],
        fracs=list(plan.split_fracs),
        enc_layers=list(plan.split_enc_layers),
        seeds=[plan.seed],
        archs=list(plan.split_archs),
        frac_overrides=plan.split_frac_overrides,
        workers=plan.split_workers,
        arch_cells=plan.split_arch_cells,
        **plan.split_overrides,
    )
    modalities = out / plan.folder_name("arith-modalities")
    say("== image->text, text->image and image->image")
    run_sweep(
        modalities,
        tasks=list(plan.modality_overrides),
        fracs=[plan.modality_frac],
        enc_layers=[1],
        seeds=[plan.seed],
        task_overrides=_with_warm_starts(plan, splits, modalities),
    )
    # the report lists the recurrent models first, whichever trains first
    shown = sorted(plan.split_cells(), key=lambda cell: ARCHS.index(cell[0]))
    cells = [splits / sweep_cell_name("text2text", f, e, 1, plan.seed, arch) for arch, f, e in shown]
    cells += [
        modalities / sweep_cell_name(t, plan.modality_frac, 1, 1, plan.seed) for t in plan.modality_overrides
    ]
    hardest_text = splits / sweep_cell_name("text2text", min(plan.split_fracs), 1, 1, plan.seed)
    for cell in (hardest_text, *[c for c in cells if "img2text" in c.name]):
        analyze_errors(cell)
    return [splits, *cells]


def _with_warm_starts(plan: DemoPlan, splits: Path, modalities: Path) -> dict[str, dict[str, Any]]:
    """The plan's per-task options, with --init-from pointing at the run each warm-started task
    starts from (trained earlier in the demo)."""
    overrides = {task: dict(o) for task, o in plan.modality_overrides.items()}
    for task, source in plan.warm_starts.items():
        if task not in overrides:
            continue
        folder = splits if source == "text2text" else modalities
        cell = sweep_cell_name(source, plan.modality_frac, 1, 1, plan.seed)
        overrides[task]["init_from"] = str(folder / cell)
    return overrides


def budget_notes(plan: DemoPlan) -> list[str]:
    """Say in the report which models were cut short to fit the demo, and by how much."""

    def shortened(task: str, overrides: dict[str, Any], train_frac: float | None = None) -> str | None:
        default = ArithConfig.for_task(task, train_frac=train_frac)
        steps = overrides.get("steps")
        if not steps or steps >= default.steps:
            return None
        lr = f" at learning rate {overrides['lr']:g}" if "lr" in overrides else ""
        hidden = overrides.get("hidden", default.hidden)
        state = f" with state size {hidden}" if hidden != default.hidden else ""
        default_state = f" with {default.hidden}" if state else ""
        return f"{steps:,} optimizer steps{lr}{state} instead of {default.steps:,}{default_state}"

    parts = []
    for model, overrides in plan.image_model_overrides.items():
        if model not in plan.image_models:
            continue
        epochs, default = overrides.get("epochs"), MODEL_DEFAULTS[model]["epochs"]
        if epochs and epochs < default:
            parts.append(f"the {model} model trains for {epochs} epochs instead of {default}")
    split_cuts: dict[str, list[str]] = {}  # what was cut -> the train fractions it was cut at
    for frac in plan.split_fracs:
        overrides = {**plan.split_overrides, **plan.split_frac_overrides.get(frac, {})}
        if split := shortened("text2text", overrides, frac):
            split_cuts.setdefault(split, []).append(f"{frac:.0%}")
    for split, fracs in split_cuts.items():
        parts.append(f"the split sweep's text->text models at {' and '.join(fracs)} train for {split}")
    for task, overrides in plan.modality_overrides.items():
        if cut := shortened(task, overrides):
            start = plan.warm_starts.get(task)
            starts = f" starts from the finished {start} model and trains" if start else ""
            parts.append(f"{task}{starts} for {cut}")
    widths = {o["glyph_width"] for o in plan.modality_overrides.values() if "glyph_width" in o}
    default_width = ArithConfig().glyph_width
    if widths and max(widths) < default_width:
        parts.append(
            f"the handwriting tasks read cells with a width-{max(widths)} glyph classifier "
            f"instead of the default width {default_width}"
        )
    if not parts:
        return []
    return [
        "Shortened training: to finish in about 15 minutes on 2 CPU cores, " + "; ".join(parts) + ". "
        "benchmarks/RESULTS.md in the genlab repository lists what the same models reach trained at their "
        "defaults (`genlab images train --model MODEL`, `genlab arith train --task TASK`)."
    ]


def run_demo(
    out: Path, quick: bool = False, diffusion: bool = False, seed: int | None = None, full: bool = False
) -> Path:
    """Run every part into `out` and return the path of the HTML report.

    On a machine with CUDA, or with `full`, every model trains at its full defaults; on a CPU the plan
    is shortened to fit about 15 minutes on 2 cores and leaves some models out (the diffusion model
    comes back with `diffusion`). The report says which plan ran on what, and what it left out."""

    device = pick_device("auto")
    plan = DemoPlan.for_device(device, quick, diffusion, seed, full)
    say(f"demo: {plan.name}, seed {plan.seed}, on {device_name(device)}")
    out.mkdir(parents=True, exist_ok=True)
    times = DemoTimes(out / (plan.folder_name("demo-times") + ".json"), plan.name, device_name(device))
    paths = times.timed(GENERATIVE, lambda: generative_part(plan, out))
    paths += times.timed(ARITHMETIC, lambda: arithmetic_part(plan, out))
    notes = [f"Plan: {plan.name}, run on {device_name(device)}."]
    notes += (
        ["Quick mode: every model trained for seconds; the figures show the pipeline, not the quality."]
        if quick
        else budget_notes(plan)
    )
    if note := times.note():
        notes.append(note)
    return build_report(
        paths,
        out / plan.report_name(),
        title="genlab demo" + (" (quick)" if quick else ""),
        seeds=[plan.seed],
        timings=times.totals(),
        notes=notes,
    )
