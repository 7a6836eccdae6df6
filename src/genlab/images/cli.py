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

import typer

app = typer.Typer(
    help="Train CAE/VAE/GAN image models; sample, reconstruct, interpolate, map and evaluate them.",
    no_args_is_help=True,
)

RUN = typer.Argument(..., help="A run directory made by `genlab images train` (its --out).")
OUT = typer.Option(None, "--out", help="Write the figure here instead of RUN/figures/.")


@app.command()
def train(
    model: str = typer.Option("vae", help="cae, vae or gan."),
    data: str = typer.Option("punks", help="punks, mnist, fashion-mnist, or a folder / .zip / .npy / .npz."),
    out: Path = typer.Option(..., "--out", help="Run directory to create (or continue with --resume)."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in --out exactly where it stopped."
    ),
    size: int = typer.Option(0, help="16, 32, 64 or 128 pixels; 0 = 32 for named sources, 64 for yours."),
    channels: int = typer.Option(0, help="1 or 3; 0 = 1 for mnist and fashion-mnist, else 3."),
    latent_dim: int = typer.Option(0, help="Latent dimension; 0 = model default (CAE 64, VAE 32, GAN 64)."),
    base_width: int = typer.Option(0, help="Channels of the first conv stage, doubling per stage; 0 = 32."),
    max_width: int = typer.Option(256, help="Cap on the channels of any stage."),
    norm: str = typer.Option("batch", help="batch, instance or none."),
    dropout: float = typer.Option(0.0, help="Dropout after each encoder/discriminator stage."),
    epochs: int = typer.Option(
        0, help="Epochs; 0 = model default (CAE 12, VAE 20, GAN 10). With --resume: train up to this many."
    ),
    batch_size: int = typer.Option(64, help="Images per step."),
    lr: float = typer.Option(0.0, help="Adam learning rate (GAN: generator); 0 = model default."),
    lr_d: float = typer.Option(0.0, help="GAN discriminator learning rate; 0 = same as --lr."),
    beta: float = typer.Option(1.0, help="VAE: weight of the KL term."),
    kl_warmup: float = typer.Option(1.0, help="VAE: epochs over which the KL weight rises from 0 to beta."),
    likelihood: str = typer.Option("gaussian", help="VAE: gaussian or bernoulli."),
    sigma: float = typer.Option(0.3, help="VAE gaussian: pixel noise std (smaller = sharper, less regular)."),
    recon_loss: str = typer.Option("mse", help="CAE: mse or bce."),
    gan_loss: str = typer.Option("bce", help="GAN: bce (with one-sided label smoothing) or hinge."),
    real_label: float = typer.Option(0.9, help="GAN bce: target for real images; 1.0 = no smoothing."),
    spectral: bool = typer.Option(False, "--spectral", help="GAN: spectral norm in the discriminator."),
    ema: float = typer.Option(0.999, help="GAN: decay of the generator's moving average used for sampling."),
    minibatch_std: int = typer.Option(
        4, help="GAN: group size of the discriminator's diversity feature (against mode collapse); 0 = off."
    ),
    d_augment: str = typer.Option(
        "none",
        help="GAN: none, or a comma list of color,translation,cutout applied to real and generated images "
        "before the discriminator (differentiable augmentation).",
    ),
    augment: str = typer.Option(
        "auto", help="none, or a comma list of flip,shift,rotate,zoom; auto = flip for your data."
    ),
    test_frac: float = typer.Option(0.05, help="Fraction of images held out (never trained on)."),
    seed: int = typer.Option(0, help="Seeds data split, initialisation, batches and noise."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N or mps."),
    threads: int = typer.Option(0, help="CPU threads for torch; 0 = torch's default."),
    max_steps: int = typer.Option(0, help="Stop (and save) after this many steps in total; 0 = no limit."),
    time_budget: float = typer.Option(0.0, help="Stop (and save) after this many minutes; 0 = no limit."),
    log_every: int = typer.Option(10, help="Steps between loss records in metrics.jsonl."),
) -> None:
    """Train a CAE, VAE or GAN; samples/epoch_###.png every epoch, checkpoints, figures/losses.png."""
    from genlab.images.config import ImageTrainConfig
    from genlab.images.train import train_images

    values = dict(locals())
    for name in ("out", "resume", "ImageTrainConfig", "train_images"):
        values.pop(name)
    config = ImageTrainConfig(**values)
    run = train_images(config, out, resume=resume)
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
