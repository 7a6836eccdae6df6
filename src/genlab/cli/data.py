"""`genlab data ...`: look at a data source before training on it."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Inspect data sources: MNIST, CryptoPunks, your own folders, zips and arrays.", no_args_is_help=True
)
FALLBACK_SIZE = 64  # genlab's default training size, used when a folder's images differ in size


@app.command()
def info(
    source: str = typer.Argument(
        ..., help="mnist, punks, fashion-mnist, or a folder / .zip / .npy / .npz path."
    ),
    grid: Path | None = typer.Option(None, help="Also write a grid of samples to this PNG."),
    size: int | None = typer.Option(
        None, help="Resize to SIZE x SIZE (centre-cropped) as training would; default: native size."
    ),
    channels: int | None = typer.Option(
        None, help="1 (grey) or 3 (RGB); default: 1 for mnist and fashion-mnist, else 3."
    ),
    n: int = typer.Option(64, help="How many samples the grid shows."),
    seed: int = typer.Option(0, help="Seed for picking the grid's samples."),
    download: bool = typer.Option(
        False,
        "--download",
        "--mnist-download",
        help="mnist only: first fetch full MNIST (70,000 digits) from the public mirrors into the cache.",
    ),
) -> None:
    """Print what a source holds: count, shape, dtype, value range, labels, and where it came from."""
    import numpy as np

    from genlab.data.images import MixedSizesError, load_images
    from genlab.data.sources import describe
    from genlab.errors import GenlabError

    if download:
        if source != "mnist":
            raise GenlabError(f"--download fetches MNIST only; drop it for {source}")
        from genlab.data.mnist import download_mnist
        from genlab.train.progress import say

        say("downloading full MNIST (about 11 MB) into the genlab cache ...")
        download_mnist()
    if channels is None:
        channels = 1 if source in ("mnist", "fashion-mnist") else 3
    try:
        data = load_images(source, size=size, channels=channels)
    except MixedSizesError:
        if size is not None:
            raise
        from genlab.train.progress import say

        say(
            f"note: the images have different sizes; showing them centre-cropped and resized to "
            f"{FALLBACK_SIZE}x{FALLBACK_SIZE} (choose with --size)"
        )
        data = load_images(source, size=FALLBACK_SIZE, channels=channels)
    for key, value in describe(data).items():
        typer.echo(f"{key + ':':<9} {value}")
    if grid is not None:
        from genlab.viz.grid import save_grid

        pick = np.random.default_rng(seed).choice(len(data), size=min(n, len(data)), replace=False)
        save_grid(data.images[np.sort(pick)], grid)
        typer.echo(f"{'grid:':<9} {grid}")
