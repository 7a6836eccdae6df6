"""The `genlab` command line: `genlab data|images|arith ...`, `genlab demo`, `genlab report`, `genlab serve`.

Each command group lives in its own module; heavy imports (torch, matplotlib) happen inside
commands so that `genlab --help` answers at once.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from genlab import __version__
from genlab.arith import cli as arith_cli
from genlab.core.errors import GenlabError
from genlab.images import cli as images_cli

app = typer.Typer(
    help="Small generative image models and seq2seq arithmetic: train, sample, measure, explain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
data_app = typer.Typer(
    help="Inspect data sources: MNIST, CryptoPunks, your own folders, zips and arrays.", no_args_is_help=True
)
app.add_typer(data_app, name="data")
app.add_typer(images_cli.app, name="images")
app.add_typer(arith_cli.app, name="arith")


def _version(value: bool) -> None:
    """`genlab --version`: genlab's version, torch's, and the device training would pick."""
    if value:
        # imported here: torch takes seconds to import, and only --version needs it
        import torch

        from genlab.core.device import pick_device

        typer.echo(f"genlab {__version__} (torch {torch.__version__}, device {pick_device('auto')})")
        raise typer.Exit()


@app.callback()
def root(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or status lines."),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Show genlab's version, torch's and the device it would use.",
    ),
) -> None:
    from genlab.core.progress import set_quiet

    set_quiet(quiet)


FALLBACK_SIZE = 64  # genlab's default training size, used when a folder's images differ in size


@data_app.command()
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

    from genlab.core.errors import GenlabError
    from genlab.images.data import MixedSizesError, load_images
    from genlab.images.sources import describe

    if download:
        if source != "mnist":
            raise GenlabError(f"--download fetches MNIST only; drop it for {source}")
        from genlab.core.mnist import download_mnist
        from genlab.core.progress import say

        say("downloading full MNIST (about 11 MB) into the genlab cache ...")
        download_mnist()
    if channels is None:
        channels = 1 if source in ("mnist", "fashion-mnist") else 3
    try:
        data = load_images(source, size=size, channels=channels)
    except MixedSizesError:
        if size is not None:
            raise
        from genlab.core.progress import say

        say(
            f"note: the images have different sizes; showing them centre-cropped and resized to "
            f"{FALLBACK_SIZE}x{FALLBACK_SIZE} (choose with --size)"
        )
        data = load_images(source, size=FALLBACK_SIZE, channels=channels)
    for key, value in describe(data).items():
        typer.echo(f"{key + ':':<9} {value}")
    if grid is not None:
        from genlab.core.grid import save_grid

        pick = np.random.default_rng(seed).choice(len(data), size=min(n, len(data)), replace=False)
        save_grid(data.images[np.sort(pick)], grid)
        typer.echo(f"{'grid:':<9} {grid}")


@app.command()
def report(
    runs: list[Path] = typer.Argument(..., help="Run directories (and sweep folders) to report on."),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="The HTML file to write."),
    title: str = typer.Option("genlab report", help="The report's title."),
) -> None:
    """Build one self-contained HTML report (figures embedded) from any runs."""
    from genlab.report import build_report

    path = build_report(runs, out, title=title)
    typer.echo(f"report: {path.resolve()}")


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Where the demo's runs and report go."),
    quick: bool = typer.Option(False, help="A one-minute version (tiny models) for tests and a first look."),
    diffusion: bool = typer.Option(
        False,
        help="On a CPU, also train the diffusion model (for fewer epochs than its default): about 7 "
        "minutes more on 2 cores. "
        "A GPU and --quick always include it.",
    ),
    full: bool = typer.Option(
        False,
        help="Every model at its own defaults, with the conditional GAN, the transformer and handwriting "
        "answers: what a GPU runs. On a CPU far longer than 15 minutes.",
    ),
    seed: int | None = typer.Option(
        None,
        help="Seed of every model, split and figure [default: the plan's, 0]. Other seeds write their runs "
        "beside seed 0's in --out and their report as report-seedN.html.",
        show_default=False,
    ),
) -> None:
    """The main job: CAE, VAE, GAN (and diffusion) on CryptoPunks and seq2seq arithmetic, ending in an
    HTML report.

    About 15 minutes on 2 CPU cores. Rerunning keeps finished runs and only rebuilds the report.
    """
    from genlab.demo import run_demo

    if quick and full:
        raise GenlabError("--quick and --full ask for two different plans: give one")
    path = run_demo(out, quick=quick, diffusion=diffusion, seed=seed, full=full)
    typer.echo(f"report: {path.resolve()}")


@app.command()
def serve(
    runs: list[Path] = typer.Argument(..., help="Trained runs (image or arith) to put on the page."),
    port: int = typer.Option(8000, help="Port to listen on; 0 picks a free one."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on; the default is this machine only."),
) -> None:
    """A local web page to play with trained runs: sample, interpolate, reconstruct, ask, draw a query."""
    from genlab.serve.server import host_warning, serve_until_interrupted, start_server

    warning = host_warning(host)
    if warning:
        typer.secho(f"warning: {warning}", fg="yellow", err=True)
    server = start_server(runs, host, port)
    names = ", ".join(server.playground.runs)
    typer.echo(f"genlab serve: {server.url} ({names}); Ctrl-C stops")
    serve_until_interrupted(server)
    typer.echo("stopped")


def main() -> None:
    """Entry point: a GenlabError becomes one red line and exit status 1, never a traceback."""
    try:
        app(prog_name="genlab")
    except GenlabError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
    except SystemExit as done:
        if done.code in (0, None):
            _finish_distributed()
        raise
    _finish_distributed()


def _finish_distributed() -> None:
    """Under torchrun, ranks that succeeded leave the process group together (genlab.core.distributed)."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        from genlab.core.distributed import finish_together

        finish_together()
