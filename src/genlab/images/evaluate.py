"""Evaluate a trained image run: FID, KID, precision/recall in a named feature space, beside the
real-vs-real noise floor; attribute frequencies for CryptoPunks; reconstruction error for CAE/VAE.

    record = evaluate_run("runs/gan", features="punks", n=10000)

How the comparison is made fair: the run's whole dataset is shuffled and two disjoint halves A and
B of m images are taken, where m = min(n, N // 2). The model's m generated images are compared with
A; the floor compares B with A. Both use the same reference set and the same sample sizes, which
matters because FID is biased upwards at small m: a model can only be judged against what two
real samples of that size already score.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.core.device import pick_device
from genlab.core.errors import GenlabError
from genlab.core.paths import atomic_write_json
from genlab.core.progress import say
from genlab.core.rundir import RunDir
from genlab.images.evaluate_plot import plot_metrics
from genlab.images.features import FeatureExtractor, get_extractor
from genlab.images.metrics import (
    AttributeComparison,
    attribute_frequencies,
    fid,
    kid,
    precision_recall,
    reconstruction_error,
)
from genlab.images.runs import (
    KINDS,
    autoguidance_suffix,
    autoguidance_used,
    conditions_of,
    dataset_conditions,
    generate,
    heldout_images,
    load_data,
    load_dataset,
    load_trained,
    reconstruct,
    run_conditions,
    set_autoguidance,
)

# Headwear among the 92 CryptoPunks attributes, counted together as "any hat".
PUNK_HATS = (
    "cap", "capForward", "cowboyHat", "fedora", "topHat", "tassleHat", "policeCap", "pilotHelmet",
    "beanie", "knittedCap", "hoodie", "bandana", "doRag", "pinkWithHat", "tiara",
)  # fmt: skip


def compare_features(real: torch.Tensor, other: torch.Tensor, k: int = 3, seed: int = 0) -> dict[str, Any]:
    """FID, KID (+ standard error), precision and recall of `other` against `real` features."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fid_value = fid(real, other)
    kid_value, kid_se = kid(real, other, seed=seed)
    precision, recall = precision_recall(real, other, k=k)
    return {
        "fid": fid_value,
        "kid": kid_value,
        "kid_se": kid_se,
        "precision": precision,
        "recall": recall,
        "warnings": sorted({str(w.message) for w in caught}),
    }


def with_hat_group(probs: torch.Tensor, names: list[str]) -> tuple[torch.Tensor, list[str]]:
    """Append an "any hat" column (the largest probability among the headwear attributes)."""
    hats = [names.index(h) for h in PUNK_HATS if h in names]
    if not hats:
        return probs, names
    return torch.cat([probs, probs[:, hats].amax(dim=1, keepdim=True)], dim=1), [*names, "any hat"]


def _floatify(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [0, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)


def evaluate_run(
    run_path: str | Path | RunDir,
    features: str | FeatureExtractor = "punks",
    n: int = 10000,
    *,
    seed: int = 0,
    device: str = "auto",
    inception_weights: str | Path | None = None,
    k: int = 3,
    figure: bool = True,
    checkpoint: str = "best",
    autoguidance: float | None = None,
) -> dict[str, Any]:
    """Evaluate a trained image run; append the record to its metrics.jsonl and return it.

    The record has "type": "eval" (and "eval": true, which older readers look for), the feature
    space (name, description, weak flag, and for trained extractors their held-out accuracy), the
    model's metrics and the same metrics for the floor (keys prefixed "floor_"), attribute
    frequencies for punks and reconstruction MSE/PSNR for CAE/VAE. metrics.jsonl gets its scalar
    fields; the whole record (per-attribute frequencies, the extractor's training facts) goes to
    eval_FEATURES.json in the run. Writes figures/metrics.png unless `figure` is False. `checkpoint`
    picks the weights (genlab.images.runs.load_trained: "best", "last" or e.g. "epoch_012");
    `autoguidance` overrides a diffusion run's own (its files then end in _agW).
    """

    if n < 2 * k + 2:
        raise GenlabError(f"--n {n} is too small: use at least {2 * k + 2} (thousands for a stable FID)")
    started = time.perf_counter()
    run = run_path if isinstance(run_path, RunDir) else RunDir.open(run_path, KINDS)
    torch_device = pick_device(device)
    model, cfg = load_trained(run, torch_device, checkpoint)
    set_autoguidance(model, autoguidance)
    extractor = (
        features
        if isinstance(features, FeatureExtractor)
        else get_extractor(features, device=torch_device, inception_weights=inception_weights)
    )

    real, source = load_data(cfg)  # uint8 (N, H, W, C), the run's whole dataset
    m = min(n, len(real) // 2)
    if m < 2 * k + 2:
        raise GenlabError(f"the data {cfg.data!r} has only {len(real)} images: too few to evaluate")
    notes = []
    if m < n:
        notes.append(
            f"the data has {len(real):,} images, so {m:,} generated images are compared with {m:,} real "
            f"ones and the floor with two disjoint halves of {m:,} (equal sizes keep them comparable)"
        )
    order = np.random.default_rng(seed).permutation(len(real))
    half_a, half_b = _floatify(real[order[:m]]), _floatify(real[order[m : 2 * m]])  # (m, C, H, W)

    say(f"generating {m:,} images from {run.path} ({cfg.model}) ...")
    sampling_started = time.perf_counter()
    # a conditional run draws for the conditions of real images (half B's, not the reference half's)
    found = dataset_conditions(cfg, load_dataset(cfg)) if conditions_of(cfg) is not None else None
    asked = None if found is None else found[1][order[m : 2 * m]]
    fake = generate(model, m, seed=seed, conditions=asked)  # float (m, C, H, W) in [0, 1]
    sample_seconds = time.perf_counter() - sampling_started
    say(f"extracting {extractor.name} features ...")
    feats_a, feats_b, feats_fake = extractor(half_a), extractor(half_b), extractor(fake)  # (m, D)

    info = extractor.info
    record: dict[str, Any] = {
        "eval": True,
        "type": "eval",
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "model": cfg.model,
        "checkpoint": checkpoint,
        "data": source,
        "features": extractor.name,
        "feature_description": extractor.description,
        "feature_weak": extractor.weak,
        "feature_dim": int(feats_a.shape[1]),
        # how good the feature space is: held-out accuracy of the classifier behind it (None for pixels)
        "feature_accuracy": info.get("mean_accuracy", info.get("digit_test_accuracy")),
        "feature_macro_f1": info.get("macro_f1"),
        "n": m,
        "seed": seed,
        "k": k,
        "sample_seconds_per_1000": round(1000 * sample_seconds / m, 2),
        "conditioned_on": None if found is None else f"the {cfg.condition} of {m:,} real images",
        "autoguidance": autoguidance_used(model),
    }
    model_metrics = compare_features(feats_a, feats_fake, k=k, seed=seed)
    floor_metrics = compare_features(feats_a, feats_b, k=k, seed=seed)
    record.update({key: value for key, value in model_metrics.items() if key != "warnings"})
    record.update({f"floor_{key}": value for key, value in floor_metrics.items() if key != "warnings"})

    attributes = _punks_attributes(extractor, feats_a, feats_b, feats_fake)
    if attributes is not None:
        model_attr, floor_attr = attributes
        record.update(model_attr.to_dict())
        record["floor_attr_mean_abs_diff"] = floor_attr.mean_abs_diff
        record["floor_attr_max_abs_diff"] = floor_attr.max_abs_diff[1]
        record["attr_freq_floor"] = dict(zip(floor_attr.names, map(float, floor_attr.fake), strict=True))

    if cfg.model in ("cae", "vae"):
        test = heldout_images(run)
        own = run_conditions(run, "test") if found is not None else None
        record["recon_mse"], record["recon_psnr"] = reconstruction_error(
            _floatify(test), reconstruct(model, test, conditions=own)
        )
        record["recon_n"] = len(test)

    record["warnings"] = notes + sorted(set(model_metrics["warnings"] + floor_metrics["warnings"]))
    for line in record["warnings"]:
        say(f"note: {line}")
    record["seconds"] = round(time.perf_counter() - started, 1)
    suffix = "" if checkpoint == "best" else f"_{checkpoint}"  # other checkpoints' files sit beside
    suffix += autoguidance_suffix(autoguidance)
    details = run.path / f"eval_{extractor.name}{suffix}.json"
    record["details"] = details.name
    # metrics.jsonl gets the scalars; per-attribute frequencies and the extractor's full info go beside it
    bulky = ("attr_freq_real", "attr_freq_fake", "attr_freq_floor")
    run.append_metrics({key: value for key, value in record.items() if key not in bulky})
    extractor_info = {key: value for key, value in info.items() if key != "attributes"}
    atomic_write_json(details, {**record, "extractor": extractor_info})
    record["figure"] = f"metrics{suffix}.png"
    if figure:
        record_path = plot_metrics(record, run.figures_dir / record["figure"], title=run.path.name)
        say(f"figure: {record_path}")
    return record


def _punks_attributes(
    extractor: FeatureExtractor, feats_a: torch.Tensor, feats_b: torch.Tensor, feats_fake: torch.Tensor
) -> tuple[AttributeComparison, AttributeComparison] | None:
    """(model vs A, B vs A) attribute frequencies, when the feature space has a classifier (punks)."""
    if extractor.name != "punks" or extractor.classify is None or not extractor.attributes:
        return None
    names = list(extractor.attributes)
    probs_a, names_g = with_hat_group(extractor.attributes_from_features(feats_a), names)
    probs_b, _ = with_hat_group(extractor.attributes_from_features(feats_b), names)
    probs_fake, _ = with_hat_group(extractor.attributes_from_features(feats_fake), names)
    return attribute_frequencies(probs_a, probs_fake, names_g), attribute_frequencies(
        probs_a, probs_b, names_g
    )


def format_table(record: dict[str, Any]) -> str:
    """The record as a plain-text table: metric | model | real-vs-real floor."""
    rows = [("metric", "model", "real vs real (floor)")]

    def num(value: Any, digits: int = 4) -> str:
        return "-" if value is None else f"{value:.{digits}g}"

    def kid_text(value: float, se: float | None) -> str:
        return f"{value:.4g} ± {se:.2g}" if se is not None else f"{value:.4g}"

    r = record
    rows.append(("FID", num(r["fid"]), num(r["floor_fid"])))
    rows.append(("KID", kid_text(r["kid"], r["kid_se"]), kid_text(r["floor_kid"], r["floor_kid_se"])))
    rows.append((f"precision (k={r['k']})", num(r["precision"], 3), num(r["floor_precision"], 3)))
    rows.append((f"recall (k={r['k']})", num(r["recall"], 3), num(r["floor_recall"], 3)))
    if "attr_mean_abs_diff" in r:
        rows.append(
            (
                "attribute freq. mean |diff|",
                num(r["attr_mean_abs_diff"], 3),
                num(r["floor_attr_mean_abs_diff"], 3),
            )
        )
        rows.append(
            (
                f"attribute freq. max |diff| (model: {r['attr_max_abs_diff_name']})",
                num(record["attr_max_abs_diff"], 3),
                num(record["floor_attr_max_abs_diff"], 3),
            )
        )
    if "recon_mse" in record:
        rows.append((f"reconstruction MSE ({record['recon_n']} held out)", num(record["recon_mse"]), "-"))
        rows.append(("reconstruction PSNR (dB)", f"{record['recon_psnr']:.2f}", "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"{record['model']} run, {record['n']:,} generated vs {record['n']:,} real images, "
        + ("WEAK " if record["feature_weak"] else "")
        + f"{record['features']} features ({record['feature_dim']}-d): {record['feature_description']}"
    ]
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
