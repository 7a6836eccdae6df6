"""`genlab demo` and `genlab report`: the main job and the HTML report over runs."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command()(demo)


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
