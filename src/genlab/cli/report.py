"""`genlab demo` and `genlab report`: the main job and the HTML report over runs."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command()(demo)
    app.command()(report)


def report(
    runs: list[Path] = typer.Argument(..., help="Run directories (and sweep folders) to report on."),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="The HTML file to write."),
    title: str = typer.Option("genlab report", help="The report's title."),
) -> None:
    """Build one self-contained HTML report (figures embedded) from any runs."""
    from genlab.report import build_report

    path = build_report(runs, out, title=title)
    typer.echo(f"report: {path.resolve()}")


def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Where the demo's runs and report go."),
    quick: bool = typer.Option(False, help="A one-minute version (tiny models) for tests and a first look."),
) -> None:
    """The main job: CAE, VAE and GAN on CryptoPunks and seq2seq arithmetic, ending in an HTML report.

    About 15 minutes on 2 CPU cores. Rerunning keeps finished runs and only rebuilds the report.
    """
    from genlab.demo import run_demo

    path = run_demo(out, quick=quick)
    typer.echo(f"report: {path.resolve()}")
