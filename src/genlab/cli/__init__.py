"""The `genlab` command line: `genlab data|images|arith ...`, `genlab demo`, `genlab report`.

Each command group lives in its own module; heavy imports (torch, matplotlib) happen inside
commands so that `genlab --help` answers at once.
"""

from __future__ import annotations

import sys

import typer

from genlab import __version__
from genlab.cli import arith, data, images, images_eval, report  # noqa: F401 (images_eval: `images evaluate`)
from genlab.errors import GenlabError

app = typer.Typer(
    help="Small generative image models and seq2seq arithmetic: train, sample, measure, explain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data.app, name="data")
app.add_typer(images.app, name="images")
app.add_typer(arith.app, name="arith")
report.register(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"genlab {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or status lines."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    from genlab.train.progress import set_quiet

    set_quiet(quiet)


def main() -> None:
    """Entry point: a GenlabError becomes one red line and exit status 1, never a traceback."""
    try:
        app(prog_name="genlab")
    except GenlabError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
