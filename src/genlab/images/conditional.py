"""Asking a conditional run for what you want, and measuring whether it drew it.

    grid = conditional_grid("runs/cgan", ["zombie,cap", "female,blondeBob"], n=8)  # a row per request
    morph = attribute_morph("runs/cdiff", "female,blondeBob", "zombie,hoodie")     # same noise throughout
    edits = edit_figure("runs/cvae", "+cap,-earring")                              # encode, edit, decode
    record = evaluate_conditional("runs/cdiff", n=2000)                            # the read-back table

The read-back evaluation draws images for known requests and reads every one back with the
run's own feature classifier (the CryptoPunks attribute classifier, or the MNIST digit classifier),
beside what the same classifier reads on real images of the same requests, the ceiling a perfect
model would reach. Punks are read at their own 24x24 pixels (`features.punks_at_native_size`), not
through the antialiased resize the FID features use:

    labels      for each class, n / K images asked for it: the share read back as that class;
                FID of each class's images against real images of the class
    attributes  for each punk type, n / 5 images asked for attribute sets of real punks of that type
                (so the rare types are asked for as often as the common ones, not 9 times in 10,000):
                the share whose type reads back as asked; for each accessory with at least 2% frequency,
                the share of images asked for it that show it, and the share of images *not* asked
                for it that show it anyway (against the classifier's rate on real punks without it);
                FID per type where the data has at least `MIN_FID_IMAGES` punks of it
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.core.device import pick_device
from genlab.core.errors import GenlabError
from genlab.core.paths import atomic_write_json
from genlab.core.progress import say
from genlab.core.rundir import RunDir
from genlab.images.conditions import ConditionSpace, seen_in
from genlab.images.features import FeatureExtractor, get_extractor, punks_extractor
from genlab.images.figures import temperature_suffix
from genlab.images.metrics import fid
from genlab.images.plots import plot_conditional, plot_interpolations
from genlab.images.runs import (
    KINDS,
    autoguidance_suffix,
    autoguidance_used,
    conditions_of,
    dataset_conditions,
    decode_latents,
    encode,
    generate,
    interpolate,
    latent_noise,
    load_dataset,
    load_trained,
    run_conditions,
    run_images,
    set_autoguidance,
    set_temperature,
    split_indices,
    to_float,
)

ACCESSORY_MIN_FREQ = 0.02  # accessories rarer than this are listed but carry no target
MIN_FID_IMAGES = 50  # a per-class FID on fewer real images says nothing


def _open(run: RunDir | Path | str) -> RunDir:
    return run if isinstance(run, RunDir) else RunDir.open(run, KINDS)


def run_space(run: RunDir | Path | str) -> ConditionSpace:
    """The run's condition space, or a one-line error for an unconditional run."""
    run = _open(run)
    space = ConditionSpace.from_extra(run.config.get("extra", {}))
    if space is None:
        raise GenlabError(
            f"{run.path} was trained without --condition: retrain it with --condition labels or attributes "
            "to ask it for what to draw"
        )
    return space


def parse_requests(
    run: RunDir | Path | str, specs: list[str], asked_as: str | None = None
) -> tuple[list[str], np.ndarray]:
    """Each `--label` / `--attrs` value as (its description, its condition vector): names (R,), (R, K).

    `asked_as` ("labels" for --label, "attributes" for --attrs) must match the run's condition.
    `all` asks for every class of a labels run. A set of attributes no training image has together
    is allowed (the model may still combine them) but said: the model has never seen it."""
    run = _open(run)
    space = run_space(run)
    if asked_as is not None and asked_as != space.kind:
        (space.label if asked_as == "labels" else space.attrs)(specs[0])  # its one-line error
    if space.kind == "labels" and [s.strip().lower() for s in specs] == ["all"]:
        return list(space.names), np.eye(space.dim, dtype=np.float32)
    vectors = np.stack([space.request(spec) for spec in specs])
    if space.kind == "attributes":
        train = run_conditions(run, "train")
        for vector in vectors:
            if not seen_in(train, vector):
                say(
                    f"note: no training image has {space.describe(vector)} together; the model never saw "
                    "that combination, so expect it to get some of it wrong"
                )
    return [space.describe(v) for v in vectors], vectors


def conditional_grid(
    run: RunDir | Path | str,
    specs: list[str],
    n: int = 8,
    seed: int = 0,
    guidance: float | None = None,
    out: Path | str | None = None,
    checkpoint: str = "best",
    asked_as: str | None = None,
    temperature: float | None = None,
    autoguidance: float | None = None,
) -> Path:
    """One row of n images per request (figures/samples_asked_seed{S}.png); row r, column j uses
    the same noise in every row, so the rows differ only in what was asked. `temperature`
    overrides a VAE's or GAN's own, `autoguidance` a diffusion model's."""
    if n < 1:
        raise GenlabError(f"--n {n}: ask for at least one image per row")
    run = _open(run)
    names, vectors = parse_requests(run, specs, asked_as)
    model, cfg = load_trained(run, checkpoint=checkpoint)
    set_temperature(model, temperature)
    set_autoguidance(model, autoguidance)
    rows = len(vectors)
    z = model.prior_sample(latent_noise(n, cfg.latent_dim, seed)).repeat(rows, 1)
    c = torch.from_numpy(np.repeat(vectors, n, axis=0))
    images = decode_latents(model, z, seed=seed, conditions=c, guidance=_guidance(cfg, guidance))
    strips = images.reshape(rows, n, cfg.channels, cfg.size, cfg.size).numpy()
    suffix = temperature_suffix(temperature) + autoguidance_suffix(autoguidance)
    path = Path(out) if out else run.figures_dir / f"samples_asked_seed{seed}{suffix}.png"
    title = f"{cfg.model} on {cfg.data}: asked for one condition per row{_guided(cfg, guidance, model)}"
    return plot_interpolations(
        strips, path, title, row_labels=names, xlabel=f"{n} draws (same noise per column)"
    )


def attribute_morph(
    run: RunDir | Path | str,
    start: str,
    end: str,
    steps: int = 8,
    rows: int = 4,
    seed: int = 0,
    guidance: float | None = None,
    out: Path | str | None = None,
    checkpoint: str = "best",
    autoguidance: float | None = None,
) -> Path:
    """From one request to another with the noise held fixed (figures/morph.png): each row one noise,
    the condition moving in a straight line from `start` to `end` across the columns."""
    if steps < 2 or rows < 1:
        raise GenlabError("a morph needs --steps >= 2 and --pairs >= 1")
    run = _open(run)
    names, vectors = parse_requests(run, [start, end])
    model, cfg = load_trained(run, checkpoint=checkpoint)
    set_autoguidance(model, autoguidance)
    z = model.prior_sample(latent_noise(rows, cfg.latent_dim, seed)).repeat_interleave(steps, dim=0)
    a, b = torch.from_numpy(vectors[:1]), torch.from_numpy(vectors[1:])
    c = interpolate(a, b, steps, "linear")[0].repeat(rows, 1)  # (rows * steps, K)
    images = decode_latents(model, z, seed=seed, conditions=c, guidance=_guidance(cfg, guidance))
    strips = images.reshape(rows, steps, cfg.channels, cfg.size, cfg.size).numpy()
    path = Path(out) if out else run.figures_dir / "morph.png"
    title = f"{cfg.model} on {cfg.data}: from {names[0]} to {names[1]}, the same noise in each row"
    return plot_interpolations(strips, path, title, xlabel=f"{names[0]}  ->  {names[1]}")


def edit_figure(
    run: RunDir | Path | str, change: str, n: int = 8, seed: int = 0, out: Path | str | None = None
) -> Path:
    """CAE/VAE: held-out images encoded with their own condition, then decoded with the condition
    changed by `change` ("+cap,-earring": add cap, remove earring; "zombie" for a labels run or a
    type: that class/type instead), beside their plain reconstruction (figures/edit.png)."""
    run = _open(run)
    model, cfg = load_trained(run)
    if cfg.model not in ("cae", "vae"):
        raise GenlabError(
            f"{run.path} is a {cfg.model}: attribute edits encode a real image, so they need a cae or vae run"
        )
    space = run_space(run)
    images = run_images(run, "test")
    own = run_conditions(run, "test")
    chosen = np.random.default_rng(seed).choice(len(images), size=min(n, len(images)), replace=False)
    images, own = images[chosen], own[chosen]
    edited = np.stack([_edited(space, vector, change) for vector in own])
    codes = encode(model, images, conditions=own)
    recon = decode_latents(model, codes, conditions=own)
    changed = decode_latents(model, codes, conditions=edited)
    strips = np.stack([to_float(images).numpy(), recon.numpy(), changed.numpy()])  # (3, n, C, H, W)
    path = Path(out) if out else run.figures_dir / "edit.png"
    title = f"{cfg.model} on {cfg.data}: held-out images, reconstructed, then decoded with {change!r}"
    return plot_interpolations(
        strips,
        path,
        title,
        row_labels=["original", "reconstruction", f"edited: {change}"],
        xlabel="held-out images",
    )


def _edited(space: ConditionSpace, vector: np.ndarray, change: str) -> np.ndarray:
    """The condition `vector` changed by "+a,-b" (attributes) or replaced by one class/type."""
    out = vector.copy()
    for part in (p.strip() for p in change.split(",") if p.strip()):
        sign, name = (part[0], part[1:]) if part[0] in "+-" else ("=", part)
        index = space.index(name.strip(), "label" if space.kind == "labels" else "attribute")
        if space.kind == "labels" or (sign == "=" and index in space.types):
            out[space.types if space.types else slice(None)] = 0.0
            out[index] = 1.0
        elif sign == "-":
            out[index] = 0.0
        else:
            if index in space.types:
                out[space.types] = 0.0
            out[index] = 1.0
    return out


def _guidance(cfg: Any, guidance: float | None) -> float | None:
    if guidance is not None and cfg.model != "diffusion":
        raise GenlabError(f"--guidance belongs to diffusion runs, not to a {cfg.model}")
    return guidance


def _guided(cfg: Any, guidance: float | None, model: Any) -> str:
    if cfg.model != "diffusion":
        return ""
    said = f", guidance {cfg.guidance if guidance is None else guidance:g}"
    used = autoguidance_used(model)
    return said + (f", autoguidance {used:g}" if used != 1 else "")


# -- the read-back evaluation ---------------------------------------------------------------------


def reader_for(cfg: Any, device: torch.device) -> FeatureExtractor:
    """The classifier that reads a run's conditions back: punks attributes (the punks reader), or
    MNIST digits."""
    if cfg.condition == "attributes" and cfg.data == "punks":
        return punks_extractor(device, with_reader=True)
    if cfg.condition == "labels" and cfg.data == "mnist":
        return get_extractor("digits", device=device)
    raise GenlabError(
        f"--conditional needs a classifier that reads {cfg.condition} of {cfg.data!r} back; genlab has one "
        "for "
        "punks attributes and mnist digits"
    )


def evaluate_conditional(
    run_path: RunDir | Path | str,
    n: int = 2000,
    seed: int = 0,
    guidance: float | None = None,
    device: str = "auto",
    baseline: RunDir | Path | str | None = None,
    figure: bool = True,
    reader: FeatureExtractor | None = None,
    checkpoint: str = "best",
    autoguidance: float | None = None,
) -> dict[str, Any]:
    """Ask the run for known conditions and read its images back (see the module docstring).

    Appends a scalar summary to metrics.jsonl ("type": "eval_conditional"), writes the whole
    table to eval_conditional.json, figures/conditional.png (read-back rates beside the real
    images' ceiling) and figures/conditional_samples.png (one row per class or type); sampled with
    another checkpoint, guidance or autoguidance than the run's own, their names end as
    `variant_suffix` says, so the run's own evaluation (the one the report shows) stays. `baseline`,
    an unconditional run on the same data, adds its per-class FID (its images sorted into classes
    by the same classifier) beside the conditional model's. `reader` replaces the run's own
    classifier (any feature space with a `classify` over the run's condition names). `checkpoint`
    and `autoguidance` (a diffusion run's sampling weight) are as for `evaluate_run`."""
    started = time.perf_counter()
    run = _open(run_path)
    torch_device = pick_device(device)
    model, cfg = load_trained(run, torch_device, checkpoint)
    set_autoguidance(model, autoguidance)
    space = run_space(run)
    _guidance(cfg, guidance)
    reader = reader or reader_for(cfg, torch_device)
    data = load_dataset(cfg)
    found = dataset_conditions(cfg, data)
    assert found is not None
    vectors = found[1]
    train_idx, _ = split_indices(len(data.images), cfg.test_frac, cfg.seed)
    train_counts = vectors[train_idx].sum(0)
    groups = _request_groups(space, vectors, n, seed)  # [(group name, indices of real images asked like)]
    asked = np.concatenate([vectors[idx] for _, idx in groups])
    kinds = "classes" if space.kind == "labels" else "types"
    say(f"asking {run.path} for {len(asked):,} images of {len(groups)} {kinds} ...")
    fake = generate(model, len(asked), seed=seed, conditions=asked, guidance=guidance)
    real_idx = np.concatenate([idx for _, idx in groups])
    real = to_float(data.images[real_idx])
    feats_fake = reader(fake)  # for the per-class FID
    read_fake, read_real = reader.read(fake, feats_fake).numpy(), reader.read(real).numpy()
    columns = [reader.attributes.index(name) for name in space.names] if space.kind == "labels" else None
    if space.kind == "attributes":
        positions = {name: i for i, name in enumerate(reader.attributes or [])}
        missing = [name for name in space.names if name not in positions]
        if missing:
            raise GenlabError(f"the punks classifier does not know {missing[0]!r}: its cache is out of date")
        columns = [positions[name] for name in space.names]
    read_fake, read_real = read_fake[:, columns], read_real[:, columns]

    record: dict[str, Any] = {
        "type": "eval_conditional",
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "model": cfg.model,
        "condition": space.kind,
        "reader": reader.label(),
        "n": int(len(asked)),
        "seed": seed,
        "guidance": (cfg.guidance if guidance is None else guidance) if cfg.model == "diffusion" else None,
        "autoguidance": autoguidance_used(model),
        "checkpoint": checkpoint,
    }
    groups_table = []
    offset = 0
    for name, idx in groups:
        rows = slice(offset, offset + len(idx))
        offset += len(idx)
        target = space.index(name, "label")
        if space.kind == "labels":
            hit_fake = read_fake[rows].argmax(1) == target
            hit_real = read_real[rows].argmax(1) == target
        else:
            types = space.types
            hit_fake = np.asarray(types)[read_fake[rows][:, types].argmax(1)] == target
            hit_real = np.asarray(types)[read_real[rows][:, types].argmax(1)] == target
        same_class = np.flatnonzero(vectors[:, target] > 0.5)
        entry = {
            "name": name,
            "asked": int(len(idx)),
            "train_images": int(train_counts[target]),
            "read_back": float(hit_fake.mean()),
            "real_read_back": float(hit_real.mean()),
        }
        if len(same_class) >= MIN_FID_IMAGES:
            pool = np.random.default_rng(seed + 1).permutation(same_class)[: max(len(idx), MIN_FID_IMAGES)]
            real_class = reader(to_float(data.images[pool]))
            entry["fid"] = _fid(real_class, feats_fake[rows])
        groups_table.append(entry)
    record["groups"] = groups_table
    record["read_back_mean"] = float(np.mean([g["read_back"] for g in groups_table]))
    record["read_back_min"] = min(groups_table, key=lambda g: g["read_back"])["name"]
    if space.kind == "attributes":
        record["accessories"] = _accessory_table(space, asked, read_fake, read_real, vectors)
        kept = [a for a in record["accessories"] if a["frequency"] >= ACCESSORY_MIN_FREQ]
        record["accessory_read_back_mean"] = float(np.mean([a["read_back"] for a in kept]))
        record["accessory_real_read_back_mean"] = float(np.mean([a["real_read_back"] for a in kept]))
        record["accessory_read_back_min"] = min(kept, key=lambda a: a["read_back"])["name"]
        record["unrequested_rate"] = float(np.mean([a["unrequested"] for a in kept]))
        record["real_unrequested_rate"] = float(np.mean([a["real_unrequested"] for a in kept]))
    if baseline is not None:
        record["baseline"] = str(baseline)
        _add_baseline(record, baseline, space, reader, data.images, vectors, columns, n, seed, torch_device)
    record["seconds"] = round(time.perf_counter() - started, 1)
    suffix = variant_suffix(checkpoint, guidance, autoguidance)
    atomic_write_json(run.path / f"eval_conditional{suffix}.json", record)
    run.append_metrics({k: v for k, v in record.items() if k not in ("groups", "accessories")})
    if figure:
        title = f"{run.path.name}: asked vs read back{_guided(cfg, guidance, model)}"
        plot_conditional(record, run.figures_dir / f"conditional{suffix}.png", title)
        specs = [g["name"] for g in groups_table]
        conditional_grid(
            run,
            specs if space.kind == "labels" else [_typical(space, vectors, s) for s in specs],
            n=10,
            seed=seed,
            guidance=guidance,
            out=run.figures_dir / f"conditional_samples{suffix}.png",
            checkpoint=checkpoint,
            autoguidance=autoguidance,
        )
    return record


def variant_suffix(
    checkpoint: str = "best", guidance: float | None = None, autoguidance: float | None = None
) -> str:
    """How the names of an evaluation's files end when it sampled otherwise than the run does:
    '' for the run's own, else e.g. '_last_g3_ag1.5'."""
    suffix = "" if checkpoint == "best" else f"_{checkpoint}"
    suffix += "" if guidance is None else f"_g{guidance:g}"
    return suffix + autoguidance_suffix(autoguidance)


def _request_groups(
    space: ConditionSpace, vectors: np.ndarray, n: int, seed: int
) -> list[tuple[str, np.ndarray]]:
    """What to ask for: per class (or punk type) n / groups real images, whose conditions are asked."""
    rng = np.random.default_rng(seed)
    classes = range(space.dim) if space.kind == "labels" else space.types
    if not classes:
        raise GenlabError("these attributes have no types to ask for: --conditional knows the punks' types")
    per = max(2, n // len(classes))
    groups = []
    for k in classes:
        members = np.flatnonzero(vectors[:, k] > 0.5)
        if len(members):
            groups.append((space.names[k], rng.choice(members, size=per, replace=len(members) < per)))
    return groups


def _accessory_table(
    space: ConditionSpace,
    asked: np.ndarray,
    read_fake: np.ndarray,
    read_real: np.ndarray,
    vectors: np.ndarray,
) -> list[dict[str, Any]]:
    """Per non-type attribute: how often asked-for shows, and how often unasked-for shows anyway."""
    table = []
    for k, name in enumerate(space.names):
        if k in space.types:
            continue
        wanted, shown, real_shown = asked[:, k] > 0.5, read_fake[:, k] > 0.5, read_real[:, k] > 0.5
        if not wanted.any():
            continue
        table.append(
            {
                "name": name,
                "frequency": float(vectors[:, k].mean()),
                "asked": int(wanted.sum()),
                "read_back": float(shown[wanted].mean()),
                "real_read_back": float(real_shown[wanted].mean()),
                "unrequested": float(shown[~wanted].mean()) if (~wanted).any() else 0.0,
                "real_unrequested": float(real_shown[~wanted].mean()) if (~wanted).any() else 0.0,
            }
        )
    return sorted(table, key=lambda a: -a["frequency"])


def _add_baseline(
    record: dict[str, Any],
    baseline: RunDir | Path | str,
    space: ConditionSpace,
    reader: FeatureExtractor,
    images: np.ndarray,
    vectors: np.ndarray,
    columns: list[int],
    n: int,
    seed: int,
    device: torch.device,
) -> None:
    """The unconditional run's images, sorted into classes (types) by the reader: FID per class."""
    plain, plain_cfg = load_trained(baseline, device)
    if conditions_of(plain_cfg) is not None:
        raise GenlabError(f"--baseline {baseline} is itself conditional: give an unconditional run")
    fake = generate(plain, n, seed=seed)
    feats = reader(fake)
    read = reader.read(fake, feats).numpy()[:, columns]
    for entry in record["groups"]:
        k = space.index(entry["name"], "label")
        if space.kind == "labels":
            mine = read.argmax(1) == k
        else:
            mine = np.asarray(space.types)[read[:, space.types].argmax(1)] == k
        entry["baseline_share"] = float(mine.mean())
        same_class = np.flatnonzero(vectors[:, k] > 0.5)
        if "fid" in entry and mine.sum() >= MIN_FID_IMAGES:
            pool = np.random.default_rng(seed + 1).permutation(same_class)[
                : max(int(mine.sum()), MIN_FID_IMAGES)
            ]
            entry["baseline_fid"] = _fid(reader(to_float(images[pool])), feats[torch.from_numpy(mine)])


def _typical(space: ConditionSpace, vectors: np.ndarray, type_name: str) -> str:
    """The most common attribute set among the data's punks of one type, as an --attrs request."""
    k = space.index(type_name, "attribute")
    members = vectors[vectors[:, k] > 0.5]
    combos, counts = np.unique(members > 0.5, axis=0, return_counts=True)
    return ",".join(space.names[i] for i in np.flatnonzero(combos[counts.argmax()]))


def _fid(real: torch.Tensor, fake: torch.Tensor) -> float | None:
    import warnings

    if len(real) < 2 or len(fake) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fid(real, fake))


def format_conditional(record: dict[str, Any]) -> str:
    """The read-back table as plain text."""
    what = "class" if record["condition"] == "labels" else "type"
    sampled = ""
    if record.get("guidance") is not None:
        sampled = f" (guidance {record['guidance']:g}"
        sampled += (
            f", autoguidance {record['autoguidance']:g})" if record.get("autoguidance", 1) != 1 else ")"
        )
    lines = [
        f"{record['model']} run, {record['n']:,} images asked for{sampled}, "
        f"read back by the {record['reader']}",
        f"{what:<12} {'asked':>6} {'train imgs':>10} {'read back':>10} {'real imgs':>10} {'FID':>8}"
        + (f" {'uncond. FID':>11}" if "baseline" in record else ""),
    ]
    for g in record["groups"]:
        fid_text = f"{g['fid']:.3g}" if g.get("fid") is not None else "-"
        line = (
            f"{g['name']:<12} {g['asked']:>6} {g['train_images']:>10} {g['read_back']:>10.1%} "
            f"{g['real_read_back']:>10.1%} {fid_text:>8}"
        )
        if "baseline" in record:
            base = g.get("baseline_fid")
            line += f" {base:>11.3g}" if base is not None else f" {'-':>11}"
        lines.append(line)
    lines.append(f"mean read back {record['read_back_mean']:.1%} (lowest: {record['read_back_min']})")
    if "accessories" in record:
        lines.append(
            f"accessories with >= {ACCESSORY_MIN_FREQ:.0%} frequency: asked-for shows in "
            f"{record['accessory_read_back_mean']:.1%} on average "
            f"(real punks that have them: {record['accessory_real_read_back_mean']:.1%}; "
            f"lowest: {record['accessory_read_back_min']}); "
            f"unasked-for shows in {record['unrequested_rate']:.1%} (real punks through the same classifier: "
            f"{record['real_unrequested_rate']:.1%})"
        )
    return "\n".join(lines)
