"""`genlab images evaluate`: FID, KID, precision/recall of a run in a named feature space."""

from __future__ import annotations

from pathlib import Path

import typer

from genlab.cli.images import app


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
    from genlab.eval.features import FEATURE_SPACES
    from genlab.eval.image_eval import evaluate_run, format_table

    if features != "auto" and features not in FEATURE_SPACES:
        from genlab.errors import GenlabError

        raise GenlabError(f"--features {features}: use one of {', '.join(FEATURE_SPACES)} or auto")
    chosen = _auto_features(run, inception_weights) if features == "auto" else features
    record = evaluate_run(
        run, features=chosen, n=n, seed=seed, device=device, inception_weights=inception_weights
    )
    typer.echo(format_table(record))
    typer.echo(f"written: {run / 'metrics.jsonl'} and {run / 'figures' / 'metrics.png'}")


def _auto_features(run: Path, inception_weights: Path | None) -> str:
    import os

    from genlab.eval.features import INCEPTION_ENV
    from genlab.train.rundir import RunDir

    data = str(RunDir.open(run).config.get("data", ""))
    if data == "punks":
        return "punks"
    if data == "mnist":
        return "digits"
    if inception_weights or os.environ.get(INCEPTION_ENV):
        return "inception"
    return "pixels"
