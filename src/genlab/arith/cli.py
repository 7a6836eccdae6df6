"""`genlab arith ...`: encoder-decoder models that learn two-digit addition and subtraction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from genlab.arith.config import DEFAULT_SWEEP, ArithConfig, per_task_defaults
from genlab.core.options import nproc_option, options_from

app = typer.Typer(
    help="Seq2seq arithmetic ('81+24' -> '105') across text and handwriting: train, evaluate, ask.",
    no_args_is_help=True,
)


@app.command()
@options_from(ArithConfig, deferred=per_task_defaults())
def train(
    options: dict[str, Any],
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to write (runs/NAME)."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in --out exactly; --steps / --epochs extend it."
    ),
    nproc: int = nproc_option(),
    given: tuple[str, ...] = (),
) -> None:
    """Train one model; writes config.json, model.safetensors, metrics.jsonl, figures/curves.png.

    Options whose default depends on --task say so ("per task"); config.json records the values
    the run used.
    """
    from genlab.arith.plots import plot_curves
    from genlab.arith.train import train_arith
    from genlab.core.distributed import argv_without_nproc, launch, launched_by_torchrun

    if nproc > 1 and not launched_by_torchrun():
        launch(nproc, argv_without_nproc())
        return
    run = train_arith(ArithConfig.for_task(**options), out, resume=resume, changed=given)
    if not run.writes:  # another rank of a data-parallel job: rank 0 reports
        return
    curves = plot_curves(run.figures_dir / "curves.png", run.metrics(), f"{run.config['task']}: training")
    typer.echo(f"trained {run.path} (curves: {curves}); next: genlab arith evaluate {run.path}")


@app.command()
def evaluate(
    run: Path = typer.Argument(..., help="A run directory written by `genlab arith train`."),
    device: str = typer.Option("cpu", help="Device for inference."),
    length_test: int | None = typer.Option(
        None,
        "--length-test",
        help="Also ask about longer operands than trained on, up to this number (e.g. 999 for a 0..99 run).",
        show_default="no",
    ),
) -> None:
    """Exact-match and per-character accuracy on the run's unseen test queries; figures/examples.png."""
    from genlab.arith.evaluate import evaluate_arith, format_handwriting
    from genlab.arith.evaluate import length_test as run_length_test

    result = evaluate_arith(run, device=device)
    if "mnist_source" in result:
        typer.echo(f"mnist: {result['mnist_source']}")
    out_image = "readback_accuracy" in result
    typer.echo(
        f"{result['task']}: {result['accuracy']:.2%} exact match"
        + (" (answers read back by the glyph classifier)" if out_image else "")
        + f" on {result['test_queries']} test queries; per-character accuracy {result['char_accuracy']:.2%}"
    )
    if "accuracy_twin_unseen" in result:
        typer.echo(
            f"on the {result['twin_unseen_queries']} test queries whose operand-swapped twin was not "
            f"trained on either: {result['accuracy_twin_unseen']:.2%} exact match"
        )
    if out_image:
        typer.echo(f"pixel MSE against {result['pixel_mse_against']}: {result['pixel_mse']:.4f}")
    if "handwriting" in result:
        typer.echo(format_handwriting(result))
    if "query_cells_read_correctly" in result:
        typer.echo(
            "queries whose every cell the glyph classifier reads right: "
            f"{result['query_cells_read_correctly']:.2%}"
        )
    if "glyph_classifier_test_accuracy" in result:
        typer.echo(
            "glyph classifier accuracy on the test handwriting pool: "
            f"{result['glyph_classifier_test_accuracy']:.2%}"
        )
    typer.echo(f"examples: {result['examples_figure']}")
    if length_test is not None:
        longer = run_length_test(run, length_test, device=device)
        trained, tested = longer["trained_max_int"], longer["tested_max_int"]
        typer.echo(
            f"length test: {longer['accuracy']:.2%} exact match on {longer['queries']} queries with an "
            f"operand in {trained + 1}..{tested} (trained on 0..{trained})"
        )


@app.command()
def ask(
    run: Path = typer.Argument(..., help="A trained arith run."),
    query: str | None = typer.Argument(None, help="A query such as '81+24' (not needed with --image)."),
    image: Path | None = typer.Option(
        None, "--image", help="Image-input runs: a picture of the whole query, five equal cells side by side."
    ),
    write: Path | None = typer.Option(
        None, "--write", help="Image-output runs: where to write the answer PNG."
    ),
    n: int = typer.Option(
        1, "--n", help="Handwriting-answer runs: how many different drawings of the answer to write."
    ),
    seed: int = typer.Option(0, "--seed", help="Handwriting-answer runs: the seed of the drawings."),
    typical_writers: float | None = typer.Option(
        None,
        "--typical-writers",
        help="Handwriting-answer runs: draw new writers from this share of the most typical ones (1: any).",
        show_default="the run's own",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
) -> None:
    """Answer one query, e.g. `genlab arith ask runs/t2t "81+24"`."""
    from genlab.arith.evaluate import ask_arith
    from genlab.core.errors import GenlabError

    if query is None and image is None:
        raise GenlabError("give a query such as '81+24', or --image FILE for an image-input run")
    result = ask_arith(run, query, image, write, n=n, seed=seed, typical_writers=typical_writers)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    if "mnist_source" in result:
        typer.echo(f"mnist: {result['mnist_source']}")
    if "query_png" in result:
        typer.echo(f"query written with unseen test-pool handwriting: {result['query_png']}")
    if "query_read_by_glyph_classifier" in result:
        typer.echo(
            f"the glyph classifier reads the image as {result['query_read_by_glyph_classifier'].strip()!r}"
        )
    if "answer_png" in result and "answers" in result and n > 1:
        readings = ", ".join(repr(a) for a in result["answers"])
        typer.echo(
            f"{n} drawings of the answer: {result['answer_png']} (the glyph classifier reads {readings})"
        )
    elif "answer_png" in result:
        typer.echo(f"answer image: {result['answer_png']} (the glyph classifier reads {result['answer']!r})")
    typer.echo(f"{result['query']} = {result['answer']}")


@app.command()
def attention(
    run: Path = typer.Argument(..., help="A trained arith run."),
    queries: list[str] | None = typer.Argument(
        None, help="Queries such as '47+58' '41-89'.", show_default="a few with carries and borrows"
    ),
    out: Path | None = typer.Option(
        None, "--out", help="The PNG to write; default RUN/figures/attention.png."
    ),
) -> None:
    """Attention maps: which query characters each answer character looks at (the RNN's Luong
    attention, or the transformer's cross-attention), one heat map per query."""
    from genlab.arith.evaluate import attention_figure

    result = attention_figure(run, queries, out)
    for q in result["queries"]:
        verdict = "right" if q["right"] else f"wrong (true {q['true']})"
        typer.echo(f"{q['text']} = {q['answer'].strip()}  {verdict}")
    typer.echo(f"figure: {result['figure']}")


@app.command()
def errors(
    run: Path = typer.Argument(..., help="A trained arith run."),
) -> None:
    """Error analysis: by operator, carry/borrow, sign, length, error size, position; heatmaps."""
    from genlab.arith.error_analysis import analyze_errors

    result = analyze_errors(run)
    typer.echo(result["summary"])
    typer.echo(f"tables: {result['tables_md']}")
    for fig in result["figures"]:
        typer.echo(f"figure: {fig}")


@app.command()
def export(
    run: Path = typer.Argument(..., help="A trained text-input arith run (text2text or text2img)."),
    fmt: str = typer.Option("pt2", "--format", help="pt2 (a torch.export program) or onnx."),
    out: Path | None = typer.Option(
        None, "--out", help="The file to write; default RUN/export/answerer.FORMAT."
    ),
    checkpoint: str = typer.Option(
        "best", "--checkpoint", help="Weights to use: best, last, or one kept by --keep-every (step_001500)."
    ),
) -> None:
    """Export the whole answerer, query tokens -> answer tokens (greedy decoding inside), with a JSON
    sidecar (vocabulary, query layout); load it with torch.export.load or onnxruntime, no genlab."""
    from genlab.arith.export import export_run

    model_path, sidecar = export_run(run, fmt=fmt, out=out, checkpoint=checkpoint)
    typer.echo(f"exported: {model_path} (described in {sidecar})")


def _joined(values: tuple) -> str:
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def _split_list(text: str, kind: type) -> list:
    from genlab.core.errors import GenlabError

    try:
        return [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise GenlabError(f"cannot read {text!r} as a comma-separated list of {kind.__name__}") from None


@app.command()
def sweep(
    out: Path = typer.Option(
        Path("runs/sweep"), "--out", "-o", help="Folder for the grid's runs and tables."
    ),
    tasks: str = typer.Option(_joined(DEFAULT_SWEEP.tasks), help="Comma-separated tasks."),
    fracs: str = typer.Option(_joined(DEFAULT_SWEEP.fracs), help="Comma-separated train fractions."),
    enc_layers: str = typer.Option(_joined(DEFAULT_SWEEP.enc_layers), help="Comma-separated encoder depths."),
    dec_layers: str = typer.Option(_joined(DEFAULT_SWEEP.dec_layers), help="Comma-separated decoder depths."),
    seeds: str = typer.Option(
        _joined(DEFAULT_SWEEP.seeds), help="Comma-separated seeds (mean and spread over them)."
    ),
    archs: str = typer.Option(
        _joined(DEFAULT_SWEEP.archs), help="Comma-separated models (--arch): gru, lstm, transformer."
    ),
    epochs: int | None = typer.Option(None, help="Epochs per cell.", show_default="enough for --steps"),
    steps: int | None = typer.Option(
        None, help="Optimizer steps per cell when --epochs is not given.", show_default="task default"
    ),
    time_budget: float | None = typer.Option(
        None, help="Seconds of training per cell.", show_default="no limit"
    ),
    workers: int = typer.Option(
        1, help="Cells trained at once, each in its own process (on CPU with one thread each)."
    ),
    devices: str | None = typer.Option(
        None,
        help="Comma-separated devices handed to the workers in turn, e.g. cuda:0,cuda:1.",
        show_default="cpu",
    ),
) -> None:
    """Train a grid of runs (resumable) and write results.csv, results.md and figures/sweep.png.

    Cells are claimed atomically before they train, so sweep commands started on several machines
    that share --out split the grid between them; each writes the tables once every cell is done.
    """
    from genlab.arith.sweep import run_sweep

    result = run_sweep(
        out,
        tasks=_split_list(tasks, str),
        fracs=_split_list(fracs, float),
        enc_layers=_split_list(enc_layers, int),
        dec_layers=_split_list(dec_layers, int),
        seeds=_split_list(seeds, int),
        archs=_split_list(archs, str),
        epochs=epochs,
        steps=steps,
        time_budget=time_budget,
        workers=workers,
        devices=_split_list(devices, str) if devices else None,
    )
    typer.echo(result["table_md"])
    typer.echo(f"wrote {result['csv']}, {result['md']} and {result['figure']}")
