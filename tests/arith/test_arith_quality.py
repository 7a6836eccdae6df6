"""A real text2text model, trained inside the test, beats 90% exact match."""

from __future__ import annotations

from genlab.arith.config import ArithConfig
from genlab.arith.evaluate import evaluate_arith
from genlab.arith.train import train_arith


def test_text2text_beats_90_percent_at_half_the_queries(tmp_path):
    config = ArithConfig.for_task("text2text", train_frac=0.5, steps=800, enc_layers=1, dropout=0.0, seed=0)
    run = train_arith(config, tmp_path / "t2t")
    result = evaluate_arith(run)
    assert result["test_queries"] == 9000  # every query not trained on, minus 1,000 for validation
    assert result["accuracy"] > 0.90, result
