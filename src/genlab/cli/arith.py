"""`genlab arith ...`: encoder-decoder models that learn two-digit addition and subtraction."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Seq2seq arithmetic ('81+24' -> '105') across text and handwriting: train, evaluate, ask.",
    no_args_is_help=True,
)
