"""A real text2text model, trained inside the test in well under a minute, beats 90% exact match."""

from __future__ import annotations

import time

from genlab.arith.config import ArithConfig
from genlab.arith.evaluate import evaluate_arith
from genlab.arith.train import train_arith


def test_text2text_beats_90_percent_at_half_the_queries(tmp_path):
    start = time.perf_counter()
    config = ArithConfig.for_task("text2text", train_frac=0.5, steps=800, enc_layers=1, dropout=0.0, seed=0)
    run = train_arith(config, tmp_path / "t2t")
    result = evaluate_arith(run)
    seconds = time.perf_counter() - start
    assert result["test_queries"] == 9000  # every query not trained on, minus 1,000 for validation
    assert result["accuracy"] > 0.90, result
    assert seconds < 60, f"took {seconds:.0f}s"
