"""Training stops when it is done: at a perfect validation score, or when it stops improving."""

from __future__ import annotations

from genlab.arith.config import ArithConfig
from genlab.arith.train import early_stop, train_arith
from genlab.core.rundir import RunDir

TINY = {"max_int": 9, "hidden": 16, "batch_size": 16, "eval_every": 1, "train_frac": 0.6}


def perfect_from_the_third_check(monkeypatch):
    """The tiny model's validation score, forced to 100% from the third validation on."""
    import genlab.arith.inference as inference

    real, calls = inference.validation_metrics, {"n": 0}

    def validation(*args, **kwargs):
        calls["n"] += 1
        result = real(*args, **kwargs)
        return {**result, "val_acc": 1.0} if calls["n"] >= 3 else result

    monkeypatch.setattr(inference, "validation_metrics", validation)


def test_a_run_that_reaches_100_percent_stops_and_records_why(tmp_path, monkeypatch):
    perfect_from_the_third_check(monkeypatch)
    run = train_arith(ArithConfig.for_task("text2text", epochs=20, **TINY), tmp_path / "r")
    stop = [r for r in run.metrics() if r.get("type") == "stop"][-1]
    assert stop["reason"] == "early" and "100%" in stop["why"]
    validations = [r for r in run.metrics() if r.get("type") == "validation"]
    assert len(validations) == 3 and validations[-1]["val_acc"] == 1.0
    assert run.load_state()["stopped"] == stop["why"]


def test_a_run_that_stops_improving_stops_after_its_patience(tmp_path):
    run = train_arith(
        ArithConfig.for_task("text2text", epochs=200, patience=3, lr=1e-6, **TINY), tmp_path / "r"
    )
    stop = [r for r in run.metrics() if r.get("type") == "stop"][-1]
    assert stop["reason"] == "early" and "did not improve in 3" in stop["why"]
    assert run.load_state()["step"] < 200 * 8


def test_resume_after_an_early_stop_does_nothing(tmp_path, monkeypatch):
    perfect_from_the_third_check(monkeypatch)
    out = tmp_path / "r"
    train_arith(ArithConfig.for_task("text2text", epochs=20, **TINY), out)
    before = (RunDir(out).load_state()["step"], len(RunDir(out).metrics()))
    train_arith(ArithConfig.for_task("text2text"), out, resume=True)
    assert (RunDir(out).load_state()["step"], len(RunDir(out).metrics())) == before


def test_patience_counts_validations_without_improvement():
    config = ArithConfig.for_task("text2text", patience=3)
    assert early_stop(0.5, 2, config) is None
    assert "did not improve in 3" in early_stop(0.5, 3, config)
    assert "100%" in early_stop(1.0, 0, config)
    assert early_stop(0.5, 99, ArithConfig(task="text2text", patience=None)) is None
