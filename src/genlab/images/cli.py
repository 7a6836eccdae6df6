"""`genlab images ...`: convolutional autoencoder, VAE and GAN on any image dataset.

genlab images train --model gan --data punks --out runs/gan     # then: --resume to continue
genlab images sample runs/gan --n 64 --seed 1
genlab images reconstruct runs/vae
genlab images interpolate runs/vae --mode slerp --gif
genlab images latent-map runs/vae
genlab images progress runs/gan
genlab images denoise runs/diffusion --steps 10
genlab images sample runs/cgan --attrs "Zombie,Cap" --attrs "Female,Blonde Bob"   # --condition runs
genlab images evaluate runs/cgan --conditional
genlab images export runs/gan --format onnx
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from genlab.core.options import nproc_option, options_from
from genlab.images.config import ImageTrainConfig

app = typer.Typer(
    help="Train CAE/VAE/GAN/diffusion image models; sample, reconstruct, interpolate, map and evaluate them.",
    no_args_is_help=True,
)

RUN = typer.Argument(..., help="A run directory made by `genlab images train` (its --out).")
OUT = typer.Option(None, "--out", help="Write the figure here instead of RUN/figures/.")
STEPS = typer.Option(
    None,
    "--steps",
    help="Diffusion: sampler steps from noise to image.",
    show_default="the run's --sample-steps",
)
SAMPLER = typer.Option(
    None, "--sampler", help="Diffusion: heun, euler or ddpm.", show_default="the run's --sampler"
)
GUIDANCE = typer.Option(
    None,
    "--guidance",
    help="Conditional diffusion: classifier-free guidance scale (0: unconditional, 1: plain conditional).",
    show_default="the run's --guidance",
)
AUTOGUIDANCE = typer.Option(
    None,
    "--autoguidance",
    help="Diffusion: weight of the push away from the denoiser's early copy (1: off).",
    show_default="the run's --autoguidance",
)
TEMPERATURE = typer.Option(
    None,
    "--temperature",
    help="VAE, GAN: scale of the prior noise (below 1: more typical, cleaner images, less varied).",
    show_default="the run's --temperature",
)
CHECKPOINT = typer.Option(
    "best", "--checkpoint", help="Weights to use: best, last, or one kept by --keep-every (epoch_012)."
)


@app.command()
@options_from(ImageTrainConfig)
def train(
    options: dict[str, Any],
    out: Path = typer.Option(..., "--out", help="Run directory to create (or continue with --resume)."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in --out exactly where it stopped."
    ),
    nproc: int = nproc_option(),
) -> None:
    """Train a CAE, VAE, GAN or diffusion model; samples/epoch_###.png each epoch, checkpoints, losses."""
    from genlab.core.distributed import argv_without_nproc, launch, launched_by_torchrun
    from genlab.images.train import train_images

    if nproc > 1 and not launched_by_torchrun():
        launch(nproc, argv_without_nproc())
        return
    run = train_images(ImageTrainConfig(**options), out, resume=resume)
    if run.writes:  # rank 0 of a data-parallel job reports, the others stay quiet
        typer.echo(f"run: {run.path}")


@app.command()
def sample(
    run: Path = RUN,
    n: int | None = typer.Option(
        None, "--n", help="How many images (with --label/--attrs: per row).", show_default="64; 8 per row"
    ),
    seed: int = typer.Option(0, help="Seed of the latent draws; the same seed gives the same images."),
    label: list[str] | None = typer.Option(
        None,
        "--label",
        help="A --condition labels run: draw this class (name or number; 'all': every class). "
        "Repeat for one row each.",
    ),
    attrs: list[str] | None = typer.Option(
        None,
        "--attrs",
        help="A --condition attributes run: draw exactly these attributes, e.g. 'Zombie,Cap' "
        "(case and spaces ignored). Repeat for one row each.",
    ),
    guidance: float | None = GUIDANCE,
    each: Path | None = typer.Option(None, help="Also write each image as its own PNG into this folder."),
    out: Path | None = OUT,
    checkpoint: str = CHECKPOINT,
    steps: int | None = STEPS,
    sampler: str | None = SAMPLER,
    temperature: float | None = TEMPERATURE,
    autoguidance: float | None = AUTOGUIDANCE,
) -> None:
    """Write a grid of novel images (GAN: EMA generator; VAE: prior; CAE: Gaussian fitted to codes;
    diffusion: its sampler from noise); with --label/--attrs, one row per request."""
    from genlab.images.figures import sample_grid

    requests = [*(label or []), *(attrs or [])]
    if requests:
        from genlab.core.errors import GenlabError
        from genlab.images.conditional import conditional_grid

        if label and attrs:
            raise GenlabError("give --label (a labels run) or --attrs (an attributes run), not both")
        if each or steps is not None or sampler is not None:
            raise GenlabError(
                "--each, --steps and --sampler apply to plain samples: leave them out with --label/--attrs"
            )
        typer.echo(
            conditional_grid(
                run,
                requests,
                n=n or 8,
                seed=seed,
                guidance=guidance,
                out=out,
                checkpoint=checkpoint,
                asked_as="labels" if label else "attributes",
                temperature=temperature,
                autoguidance=autoguidance,
            )
        )
        return
    if guidance is not None:
        from genlab.core.errors import GenlabError

        raise GenlabError("--guidance steers what was asked for: give --label or --attrs too")
    typer.echo(
        sample_grid(
            run,
            n=n or 64,
            seed=seed,
            out=out,
            each=each,
            checkpoint=checkpoint,
            steps=steps,
            sampler=sampler,
            temperature=temperature,
            autoguidance=autoguidance,
        )
    )


@app.command()
def reconstruct(
    run: Path = RUN,
    n: int = typer.Option(16, "--n", help="How many held-out images the figure shows."),
    scored: int | None = typer.Option(
        None, help="Score only the first N held-out images (default: all; diffusion inverts each one)."
    ),
    out: Path | None = OUT,
) -> None:
    """Originals vs reconstructions of held-out images; prints mean MSE and PSNR (CAE, VAE; diffusion:
    each image inverted to its noise and sampled back)."""
    from genlab.images.figures import reconstruction_figure

    path, scores = reconstruction_figure(run, n=n, out=out, scored=scored)
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
    checkpoint: str = CHECKPOINT,
    start: str | None = typer.Option(
        None, "--from", help="A conditional run: morph from this request (--label/--attrs form) ..."
    ),
    end: str | None = typer.Option(None, "--to", help="... to this one, with the noise held fixed per row."),
    guidance: float | None = GUIDANCE,
    autoguidance: float | None = AUTOGUIDANCE,
) -> None:
    """Strips between random latent points; for CAE/VAE also between encodings of real images, for
    diffusion between the noises real images invert to. With --from/--to (conditional runs): from one
    condition to another with the same noise (figures/morph.png)."""
    from genlab.images.figures import interpolation_figure

    if start is not None or end is not None:
        from genlab.images.conditional import attribute_morph

        if start is None or end is None:
            from genlab.core.errors import GenlabError

            raise GenlabError(
                "a morph needs both --from and --to, e.g. --from 'Female,Blonde Bob' --to 'Zombie,Hoodie'"
            )
        typer.echo(
            attribute_morph(
                run,
                start,
                end,
                steps=steps,
                rows=pairs,
                seed=seed,
                guidance=guidance,
                out=out,
                checkpoint=checkpoint,
                autoguidance=autoguidance,
            )
        )
        return
    if guidance is not None:
        from genlab.core.errors import GenlabError

        raise GenlabError("--guidance steers a morph between requests: give --from and --to too")

    paths = interpolation_figure(
        run,
        pairs=pairs,
        steps=steps,
        mode=mode,
        seed=seed,
        gif=gif,
        out=out,
        checkpoint=checkpoint,
        autoguidance=autoguidance,
    )
    for path in paths:
        typer.echo(path)


@app.command()
def edit(
    run: Path = RUN,
    change: str = typer.Argument(
        ...,
        help="What to change: '+cap,-earring' adds and removes attributes; a class or type name replaces it.",
    ),
    n: int = typer.Option(8, "--n", help="How many held-out images."),
    seed: int = typer.Option(0, help="Seed of the image choice."),
    out: Path | None = OUT,
) -> None:
    """A conditional CAE/VAE: held-out images encoded with their own condition, decoded with it changed."""
    from genlab.images.conditional import edit_figure

    typer.echo(edit_figure(run, change, n=n, seed=seed, out=out))


@app.command("latent-map")
def latent_map(
    run: Path = RUN,
    n: int = typer.Option(800, "--n", help="How many points (images) to map."),
    seed: int = typer.Option(0, help="Seed of t-SNE and of the image choice."),
    out: Path | None = OUT,
) -> None:
    """t-SNE map of encoder means (CAE/VAE) or inverted noises (diffusion) with thumbnails, or of GAN
    latents with their images."""
    from genlab.images.figures import latent_map_figure

    typer.echo(latent_map_figure(run, n=n, seed=seed, out=out))


@app.command()
def progress(run: Path = RUN, out: Path | None = OUT) -> None:
    """One figure of the fixed-latent samples after the first, middle and last epochs."""
    from genlab.images.figures import progress_figure

    typer.echo(progress_figure(run, out=out))


@app.command()
def denoise(
    run: Path = RUN,
    n: int = typer.Option(4, "--n", help="How many samples (two rows each)."),
    steps: int | None = STEPS,
    sampler: str | None = SAMPLER,
    seed: int = typer.Option(0, help="Seed of the starting noise (the same as `sample --seed`)."),
    out: Path | None = OUT,
) -> None:
    """Diffusion: one sampling run from pure noise to image, step by step, with the denoiser's guess of
    the final image at each step (figures/denoise.png)."""
    from genlab.images.figures import denoise_figure

    typer.echo(denoise_figure(run, n=n, steps=steps, sampler=sampler, seed=seed, out=out))


@app.command("evaluate")
def evaluate(
    run: Path = typer.Argument(..., help="The run directory (the --out of `genlab images train`)."),
    features: str = typer.Option(
        "auto",
        help="Feature space: punks, digits, inception, pixels (weak), or auto "
        "(punks for punks data, digits for mnist, else inception if its weights are set, else pixels).",
    ),
    n: int | None = typer.Option(
        None,
        help="Generated images (and real ones per half of the floor).",
        show_default="10000; with --conditional 2000",
    ),
    seed: int = typer.Option(0, help="Seed for the generated images and the real halves."),
    inception_weights: Path | None = typer.Option(
        None, help="TorchScript Inception-v3 file for --features inception (or set $GENLAB_INCEPTION)."
    ),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N or mps."),
    checkpoint: str = CHECKPOINT,
    conditional: bool = typer.Option(
        False,
        "--conditional",
        help="A --condition run: ask for every class / punk type, read each image back with the run's "
        "classifier, and report the share that shows what was asked (figures/conditional.png). "
        "--n: images in all.",
    ),
    baseline: Path | None = typer.Option(
        None,
        "--baseline",
        help="With --conditional: an unconditional run on the same data, for per-class FID beside it.",
    ),
    guidance: float | None = GUIDANCE,
    autoguidance: float | None = AUTOGUIDANCE,
) -> None:
    """Score generated images against real ones, beside the real-vs-real noise floor.

    Appends the numbers to the run's metrics.jsonl ("eval": true) and draws figures/metrics.png.
    """
    from genlab.images.evaluate import evaluate_run, format_table
    from genlab.images.features import FEATURE_SPACES

    if conditional:
        from genlab.images.conditional import evaluate_conditional, format_conditional, variant_suffix

        record = evaluate_conditional(
            run,
            n=n or 2000,
            seed=seed,
            guidance=guidance,
            device=device,
            baseline=baseline,
            checkpoint=checkpoint,
            autoguidance=autoguidance,
        )
        typer.echo(format_conditional(record))
        suffix = variant_suffix(checkpoint, guidance, autoguidance)
        written = (run / f"eval_conditional{suffix}.json", run / "figures" / f"conditional{suffix}.png")
        typer.echo(f"written: {written[0]} and {written[1]}")
        return
    if baseline is not None or guidance is not None:
        from genlab.core.errors import GenlabError

        raise GenlabError("--baseline and --guidance belong to --conditional")

    if features != "auto" and features not in FEATURE_SPACES:
        from genlab.core.errors import GenlabError

        raise GenlabError(f"--features {features}: use one of {', '.join(FEATURE_SPACES)} or auto")
    chosen = _auto_features(run, inception_weights) if features == "auto" else features
    record = evaluate_run(
        run,
        features=chosen,
        n=n or 10000,
        seed=seed,
        device=device,
        inception_weights=inception_weights,
        checkpoint=checkpoint,
        autoguidance=autoguidance,
    )
    typer.echo(format_table(record))
    typer.echo(f"written: {run / 'metrics.jsonl'} and {run / 'figures' / record['figure']}")


@app.command()
def export(
    run: Path = RUN,
    fmt: str = typer.Option("pt2", "--format", help="pt2 (a torch.export program) or onnx."),
    out: Path | None = typer.Option(
        None, "--out", help="The file to write; default RUN/export/decoder.FORMAT (GAN: generator.FORMAT)."
    ),
    checkpoint: str = CHECKPOINT,
) -> None:
    """Export the decoder / generator, latent (N, latent_dim) -> images (N, C, H, W) in [0, 1], with a
    JSON sidecar (shapes, dtypes, ranges); load it with torch.export.load or onnxruntime, no genlab."""
    from genlab.images.export import export_run

    model_path, sidecar = export_run(run, fmt=fmt, out=out, checkpoint=checkpoint)
    typer.echo(f"exported: {model_path} (described in {sidecar})")


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
