"""`genlab data ...`: look at a data source before training on it."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Inspect data sources: MNIST, CryptoPunks, your own folders, zips and arrays.", no_args_is_help=True
)


@app.command()
def info(
    source: str = typer.Argument(
        ..., help="mnist, punks, fashion-mnist, or a folder / .zip / .npy / .npz path."
    ),
    grid: Path | None = typer.Option(None, help="Also write a grid of samples to this PNG."),
    n: int = typer.Option(64, help="How many samples the grid shows."),
    seed: int = typer.Option(0, help="Seed for picking the grid's samples."),
) -> None:
    """Print what a source holds: count, shape, dtype, value range, labels, and where it came from."""
    import numpy as np

    from genlab.data.sources import describe_source

    summary, images = describe_source(source)
    for key, value in summary.items():
        typer.echo(f"{key + ':':<12} {value}")
    if grid is not None:
        from genlab.viz.grid import save_grid

        pick = np.random.default_rng(seed).choice(len(images), size=min(n, len(images)), replace=False)
        save_grid(images[np.sort(pick)], grid)
        typer.echo(f"{'grid:':<12} {grid}")
