"""`genlab arith ...`: encoder-decoder models that learn two-digit addition and subtraction."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(
    help="Seq2seq arithmetic ('81+24' -> '105') across text and handwriting: train, evaluate, ask.",
    no_args_is_help=True,
)

TASK_HELP = "text2text | img2text | text2img | img2img"


@app.command()
def train(
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to write (runs/NAME)."),
    task: str = typer.Option("text2text", help=TASK_HELP),
    train_frac: float | None = typer.Option(
        None, help="Fraction of all 20,000 queries to train on (default 0.5)."
    ),
    enc_layers: int | None = typer.Option(
        None, help="Recurrent layers in the encoder (default 2 for text2text and img2text, else 1)."
    ),
    dec_layers: int | None = typer.Option(None, help="Recurrent layers in the decoder (default 1)."),
    hidden: int | None = typer.Option(None, help="Recurrent state size (default 256)."),
    cell: str | None = typer.Option(None, help="gru | lstm (default gru)."),
    decoder: str | None = typer.Option(
        None, help="autoregressive | repeat (the notebook's RepeatVector) (default per task)."
    ),
    reverse: bool | None = typer.Option(
        None, "--reverse/--no-reverse", help="Read the query reversed (default yes)."
    ),
    reverse_answer: bool | None = typer.Option(
        None,
        "--reverse-answer/--no-reverse-answer",
        help="Write the answer right to left, units digit first (default yes).",
    ),
    dropout: float | None = typer.Option(
        None, help="Dropout between layers and before the head (default 0.1)."
    ),
    epochs: int | None = typer.Option(None, help="Epochs (default enough for --steps optimizer steps)."),
    steps: int | None = typer.Option(None, help="Optimizer steps when --epochs is not given."),
    batch_size: int | None = typer.Option(None, help="Queries per step (default 256)."),
    lr: float | None = typer.Option(None, help="Peak learning rate (warm-up, then cosine decay)."),
    weight_decay: float | None = typer.Option(
        None, help="AdamW weight decay; larger generalizes better from few queries (default per task)."
    ),
    time_budget: float | None = typer.Option(
        None, help="Seconds of training; fewer epochs when the first one shows they would not fit."
    ),
    eval_every: int | None = typer.Option(
        None, help="Validate and checkpoint after the epoch that passes this many steps (default 50)."
    ),
    seed: int | None = typer.Option(None, help="Seed for the split, handwriting and weights (default 0)."),
    mnist: str | None = typer.Option(None, help="MNIST source: auto, embedded or a path (default auto)."),
    shared_handwriting: bool | None = typer.Option(
        None,
        "--shared-handwriting/--disjoint-handwriting",
        help="Let test queries reuse training handwriting (the notebook's setting, for comparison).",
    ),
    finetune_cnn: bool | None = typer.Option(
        None, "--finetune-cnn/--frozen-cnn", help="Train the per-cell CNN too (slower) (default frozen)."
    ),
    augment: bool | None = typer.Option(
        None, "--augment/--no-augment", help="Warp handwriting (default yes)."
    ),
    glyph_epochs: int | None = typer.Option(None, help="Epochs of the cached glyph classifier (default 30)."),
    glyph_width: int | None = typer.Option(
        None, help="Conv width of the glyph classifier (default 64; 16 trains in ~30 s instead of ~4 min)."
    ),
    glyph_features: int | None = typer.Option(
        None, help="Feature size of the glyph classifier's last hidden layer (default 256)."
    ),
    attention: bool | None = typer.Option(
        None, "--attention/--no-attention", help="Luong attention over the encoder outputs (default yes)."
    ),
    layout: str | None = typer.Option(
        None,
        help="Query layout: aligned (' 5+24', digits in place-value columns, the default) "
        "or left ('5+24 ', the notebook's).",
    ),
    answer_style: str | None = typer.Option(
        None,
        help="Image answers: prototype (one fixed real image per character, the default) or random "
        "(random handwriting each time, the notebook's).",
    ),
    max_int: int | None = typer.Option(None, help="Largest operand (default 99)."),
    ops: str | None = typer.Option(None, help="Operators, a subset of '+-*' (default +-)."),
    device: str | None = typer.Option(None, help="auto | cpu | cuda | mps."),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run in --out exactly."),
) -> None:
    """Train one model; writes config.json, model.safetensors, metrics.jsonl, figures/curves.png."""
    from genlab.arith.config import ArithConfig
    from genlab.arith.plots import plot_curves
    from genlab.arith.train import train_arith

    options = dict(locals())
    for name in ("out", "task", "resume", "ArithConfig", "train_arith", "plot_curves"):
        options.pop(name, None)
    config = ArithConfig.for_task(task, **options)
    run = train_arith(config, out, resume=resume)
    curves = plot_curves(run.figures_dir / "curves.png", run.metrics(), f"{run.config['task']}: training")
    typer.echo(f"trained {run.path} (curves: {curves}); next: genlab arith evaluate {run.path}")


@app.command()
def evaluate(
    run: Path = typer.Argument(..., help="A run directory written by `genlab arith train`."),
    device: str = typer.Option("cpu", help="Device for inference."),
) -> None:
    """Exact-match and per-character accuracy on the run's unseen test queries; figures/examples.png."""
    from genlab.arith.evaluate import evaluate_arith

    result = evaluate_arith(run, device=device)
    if "mnist_source" in result:
        typer.echo(f"mnist: {result['mnist_source']}")
    out_image = "readback_accuracy" in result
    typer.echo(
        f"{result['task']}: {result['accuracy']:.2%} exact match"
        + (" (answers read back by the glyph classifier)" if out_image else "")
        + f" on {result['test_queries']} test queries; per-character accuracy {result['char_accuracy']:.2%}"
    )
    if out_image:
        typer.echo(f"pixel MSE against {result['pixel_mse_against']}: {result['pixel_mse']:.4f}")
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
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
) -> None:
    """Answer one query, e.g. `genlab arith ask runs/t2t "81+24"`."""
    from genlab.arith.evaluate import ask_arith
    from genlab.core.errors import GenlabError

    if query is None and image is None:
        raise GenlabError("give a query such as '81+24', or --image FILE for an image-input run")
    result = ask_arith(run, query, image, write)
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
    if "answer_png" in result:
        typer.echo(f"answer image: {result['answer_png']} (the glyph classifier reads {result['answer']!r})")
    typer.echo(f"{result['query']} = {result['answer']}")


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
    tasks: str = typer.Option("text2text,img2text,text2img", help="Comma-separated tasks."),
    fracs: str = typer.Option("0.5,0.25,0.1,0.05", help="Comma-separated train fractions."),
    enc_layers: str = typer.Option("1,2", help="Comma-separated encoder depths."),
    dec_layers: str = typer.Option("1", help="Comma-separated decoder depths."),
    seeds: str = typer.Option("0", help="Comma-separated seeds (mean and spread over them)."),
    epochs: int | None = typer.Option(None, help="Epochs per cell (default: the task default)."),
    steps: int | None = typer.Option(None, help="Optimizer steps per cell when --epochs is not given."),
    time_budget: float | None = typer.Option(None, help="Seconds of training per cell."),
) -> None:
    """Train a grid of runs (resumable) and write results.csv, results.md and figures/sweep.png."""
    from genlab.arith.sweep import run_sweep

    result = run_sweep(
        out,
        tasks=_split_list(tasks, str),
        fracs=_split_list(fracs, float),
        enc_layers=_split_list(enc_layers, int),
        dec_layers=_split_list(dec_layers, int),
        seeds=_split_list(seeds, int),
        epochs=epochs,
        steps=steps,
        time_budget=time_budget,
    )
    typer.echo(result["table_md"])
    typer.echo(f"wrote {result['csv']}, {result['md']} and {result['figure']}")
