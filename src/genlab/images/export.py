"""`genlab images export`: an image run's generator or decoder as a file other programs load without genlab.

    model_path, sidecar = export_run("runs/gan", fmt="pt2")        # runs/gan/export/generator.pt2 + .json

    # elsewhere, with torch only:
    sample = torch.export.load("generator.pt2").module()
    images = sample(torch.randn(16, 64))                            # float (16, 3, 32, 32) in [0, 1]

The exported module is `Sampler`: standard-normal noise (N, latent_dim) -> images (N, C, H, W) in
[0, 1], exactly what `genlab.images.runs.generate` computes after drawing its noise (GAN: the EMA
generator; VAE: the decoder; CAE: the noise mapped to the Gaussian fitted to its codes, then the
decoder). The batch size is free. Formats: "pt2" (a torch.export program, `torch.export.save`) and
"onnx" (needs the onnx extra). The JSON sidecar beside the file says what goes in and comes out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from genlab import __version__
from genlab.core.errors import GenlabError
from genlab.core.export import MAX_BATCH, check_format, export_module
from genlab.core.paths import atomic_write_json
from genlab.core.rundir import RunDir
from genlab.images.config import KINDS, ImageTrainConfig
from genlab.images.runs import latent_noise, load_trained


class Sampler(nn.Module):
    """noise z ~ N(0, I), (N, latent_dim) -> images (N, C, H, W) in [0, 1]."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.kind, self.latent_dim = model.kind, model.latent_dim
        self.temperature = getattr(model, "temperature", 1.0)  # the run's --temperature (VAE, GAN)
        self.net = model.generator_ema if model.kind == "gan" else model.decoder
        if model.kind == "cae":  # the CAE has no prior: the Gaussian fitted to its training codes
            self.register_buffer("code_mean", model.code_mean.detach().clone())
            self.register_buffer("code_scale_tril", model.code_scale_tril.detach().clone())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.kind == "cae":
            z = self.code_mean + z @ self.code_scale_tril.T  # z = mu + L eps
        else:
            z = z * self.temperature
        if self.kind == "gan":
            return self.net(z).add(1).mul(0.5).clamp(0, 1)  # tanh's [-1, 1] -> [0, 1]
        return torch.sigmoid(self.net(z))  # decoder logits -> [0, 1]


def export_run(
    run: RunDir | Path | str, fmt: str = "pt2", out: Path | str | None = None, checkpoint: str = "best"
) -> tuple[Path, Path]:
    """Export the run's sampler (see the module docstring) to `out` (default RUN/export/generator.FMT
    for a GAN, decoder.FMT otherwise) and its JSON sidecar beside it; returns both paths."""
    check_format(fmt)
    run = run if isinstance(run, RunDir) else RunDir.open(run, KINDS)
    model, cfg = load_trained(run, checkpoint=checkpoint)
    if cfg.model not in ("cae", "vae", "gan"):
        raise GenlabError(f"{run.path} is a {cfg.model} run: export covers cae, vae and gan runs")
    if cfg.condition != "none":
        raise GenlabError(
            f"{run.path} is conditional (--condition {cfg.condition}): export covers unconditional runs; "
            "sample it with `genlab images sample --label/--attrs`"
        )
    name = "generator" if cfg.model == "gan" else "decoder"
    path = Path(out) if out else run.path / "export" / f"{name}.{fmt}"
    export_module(Sampler(model), latent_noise(2, cfg.latent_dim, 0), path, fmt, ("latent", "images"))
    sidecar = atomic_write_json(path.with_suffix(".json"), describe(run, cfg, path, fmt, checkpoint))
    return path, sidecar


def describe(run: RunDir, cfg: ImageTrainConfig, path: Path, fmt: str, checkpoint: str) -> dict[str, Any]:
    """The sidecar: what the exported file takes and gives, and how to load it."""
    c, s = cfg.channels, cfg.size
    load = {
        "pt2": f"torch.export.load({path.name!r}).module()(torch.randn(16, {cfg.latent_dim}))",
        "onnx": f"onnxruntime.InferenceSession({path.name!r}).run(None, {{'latent': z}})[0]"
        f"  # z: float32 numpy (N, {cfg.latent_dim})",
    }[fmt]
    return {
        "file": path.name,
        "format": fmt,
        "what": f"the {cfg.model.upper()}'s "
        + ("EMA generator" if cfg.model == "gan" else "decoder")
        + ": standard-normal noise in, novel images out"
        + (
            " (the noise is first mapped to the Gaussian fitted to the CAE's codes)"
            if cfg.model == "cae"
            else ""
        ),
        "inputs": [
            {
                "name": "latent",
                "shape": ["N", cfg.latent_dim],
                "dtype": "float32",
                "distribution": "standard normal N(0, I), one row per image",
            }
        ],
        "outputs": [
            {
                "name": "images",
                "shape": ["N", c, s, s],
                "dtype": "float32",
                "range": [0.0, 1.0],
                "layout": "NCHW",
                "channel_names": ["grey"] if c == 1 else ["red", "green", "blue"],
            }
        ],
        "batch": {"min": 1, "max": MAX_BATCH},
        "latent_dim": cfg.latent_dim,
        "image_size": s,
        "channels": c,
        "labels": None,  # the models are unconditional: no class input
        "load": load,
        "run": {"path": str(run.path), "kind": run.kind, "data": cfg.data, "checkpoint": checkpoint},
        "genlab_version": __version__,
        "torch_version": torch.__version__,
    }
