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
    out: Path = typer.Option(Path("runs/demo"), help="Where the demo's runs and report go."),
    quick: bool = typer.Option(False, help="A one-minute version for tests."),
) -> None:
    """Set-up check for now: describe the embedded data sources (the full demo lands with its issue)."""
    from genlab.data.sources import describe_source

    for name in ("mnist", "punks"):
        summary, _ = describe_source(name)
        typer.echo(f"== {name}")
        for key, value in summary.items():
            typer.echo(f"{key + ':':<12} {value}")
