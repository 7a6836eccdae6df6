"""`genlab images ...`: convolutional autoencoder, VAE and GAN on any image dataset.

genlab images train --model gan --data punks --out runs/gan     # then: --resume to continue
genlab images sample runs/gan --n 64 --seed 1
genlab images reconstruct runs/vae
genlab images interpolate runs/vae --mode slerp --gif
genlab images latent-map runs/vae
genlab images progress runs/gan
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from genlab.core.options import options_from
from genlab.images.config import ImageTrainConfig

app = typer.Typer(
    help="Train CAE/VAE/GAN image models; sample, reconstruct, interpolate, map and evaluate them.",
    no_args_is_help=True,
)

RUN = typer.Argument(..., help="A run directory made by `genlab images train` (its --out).")
OUT = typer.Option(None, "--out", help="Write the figure here instead of RUN/figures/.")


@app.command()
@options_from(ImageTrainConfig)
def train(
    options: dict[str, Any],
    out: Path = typer.Option(..., "--out", help="Run directory to create (or continue with --resume)."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in --out exactly where it stopped."
    ),
) -> None:
    """Train a CAE, VAE or GAN; samples/epoch_###.png every epoch, checkpoints, figures/losses.png."""
    from genlab.images.train import train_images

    run = train_images(ImageTrainConfig(**options), out, resume=resume)
    typer.echo(f"run: {run.path}")


@app.command()
def sample(
    run: Path = RUN,
    n: int = typer.Option(64, "--n", help="How many images."),
    seed: int = typer.Option(0, help="Seed of the latent draws; the same seed gives the same images."),
    each: Path | None = typer.Option(None, help="Also write each image as its own PNG into this folder."),
    out: Path | None = OUT,
) -> None:
    """Write a grid of novel images (GAN: EMA generator; VAE: prior; CAE: Gaussian fitted to codes)."""
    from genlab.images.figures import sample_grid

    typer.echo(sample_grid(run, n=n, seed=seed, out=out, each=each))


@app.command()
def reconstruct(
    run: Path = RUN,
    n: int = typer.Option(16, "--n", help="How many held-out images the figure shows."),
    out: Path | None = OUT,
) -> None:
    """Originals vs reconstructions of held-out images; prints mean MSE and PSNR (CAE, VAE)."""
    from genlab.images.figures import reconstruction_figure

    path, scores = reconstruction_figure(run, n=n, out=out)
    typer.echo(f"held-out images: {scores['n']}  MSE {scores['mse']:.5f}  PSNR {scores['psnr']:.2f} dB")
    typer.echo(path)


@app.command()
def interpolate(
    run: Path = RUN,
    pairs: int = typer.Option(8, help="How many strips."),
    steps: int = typer.Option(10, help="Images per strip."),
    mode: str = typer.Option("slerp", help="linear or slerp."),
    seed: int = typer.Option(0, help="Seed of the random endpoints."),
    gif: bool = typer.Option(False, "--gif", help="Also write animated GIFs."),
    out: Path | None = OUT,
) -> None:
    """Strips between random latent points; for CAE/VAE also between encodings of real images."""
    from genlab.images.figures import interpolation_figure

    for path in interpolation_figure(run, pairs=pairs, steps=steps, mode=mode, seed=seed, gif=gif, out=out):
        typer.echo(path)


@app.command("latent-map")
def latent_map(
    run: Path = RUN,
    n: int = typer.Option(800, "--n", help="How many points (images) to map."),
    seed: int = typer.Option(0, help="Seed of t-SNE and of the image choice."),
    out: Path | None = OUT,
) -> None:
    """t-SNE map of encoder means with thumbnails (CAE/VAE) or of GAN latents with their images."""
    from genlab.images.figures import latent_map_figure

    typer.echo(latent_map_figure(run, n=n, seed=seed, out=out))


@app.command()
def progress(run: Path = RUN, out: Path | None = OUT) -> None:
    """One figure of the fixed-latent samples after the first, middle and last epochs."""
    from genlab.images.figures import progress_figure

    typer.echo(progress_figure(run, out=out))


@app.command("evaluate")
def evaluate(
    run: Path = typer.Argument(..., help="The run directory (the --out of `genlab images train`)."),
    features: str = typer.Option(
        "auto",
        help="Feature space: punks, digits, inception, pixels (weak), or auto "
        "(punks for punks data, digits for mnist, else inception if its weights are set, else pixels).",
    ),
    n: int = typer.Option(10000, help="Generated images (and real ones per half of the floor)."),
    seed: int = typer.Option(0, help="Seed for the generated images and the real halves."),
    inception_weights: Path | None = typer.Option(
        None, help="TorchScript Inception-v3 file for --features inception (or set $GENLAB_INCEPTION)."
    ),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N or mps."),
) -> None:
    """Score generated images against real ones, beside the real-vs-real noise floor.

    Appends the numbers to the run's metrics.jsonl ("eval": true) and draws figures/metrics.png.
    """
    from genlab.images.evaluate import evaluate_run, format_table
    from genlab.images.features import FEATURE_SPACES

    if features != "auto" and features not in FEATURE_SPACES:
        from genlab.core.errors import GenlabError

        raise GenlabError(f"--features {features}: use one of {', '.join(FEATURE_SPACES)} or auto")
    chosen = _auto_features(run, inception_weights) if features == "auto" else features
    record = evaluate_run(
        run, features=chosen, n=n, seed=seed, device=device, inception_weights=inception_weights
    )
    typer.echo(format_table(record))
    typer.echo(f"written: {run / 'metrics.jsonl'} and {run / 'figures' / 'metrics.png'}")


def _auto_features(run: Path, inception_weights: Path | None) -> str:
    import os

    from genlab.core.rundir import RunDir
    from genlab.images.features import INCEPTION_ENV

    data = str(RunDir.open(run).config.get("data", ""))
    if data == "punks":
        return "punks"
    if data == "mnist":
        return "digits"
    if inception_weights or os.environ.get(INCEPTION_ENV):
        return "inception"
    return "pixels"
