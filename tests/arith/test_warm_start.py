"""`genlab arith train --init-from RUN`: an image-query model started from the finished text model of
the same answers, on the same split (tiny problems, operands 0..20)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from genlab.arith.config import ArithConfig
from genlab.arith.problem import split_queries
from genlab.arith.runs import warm_start
from genlab.cli import app
from genlab.core.errors import GenlabError
from genlab.core.rundir import RunDir

runner = CliRunner()
TINY = [
    "--max-int", "20", "--hidden", "32", "--batch-size", "64", "--no-augment",
    "--glyph-epochs", "3", "--glyph-width", "16", "--glyph-features", "128", "--train-frac", "0.5",
]  # fmt: skip


def train(out, task, *extra):
    return runner.invoke(app, ["arith", "train", "--task", task, "--out", str(out), *TINY, *extra])


def exact_match(run) -> float:
    result = runner.invoke(app, ["arith", "evaluate", str(run)])
    assert result.exit_code == 0, result.output
    return json.loads((run / "evaluation.json").read_text())["accuracy"]


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("warm") / "t2t"
    result = train(out, "text2text", "--steps", "1200")
    assert result.exit_code == 0, result.output
    return out


def test_an_image_query_model_started_from_the_text_model_answers_after_a_few_steps(text_run, tmp_path):
    text_accuracy = exact_match(text_run)
    assert text_accuracy > 0.6
    started = tmp_path / "started"
    result = train(started, "img2text", "--steps", "7", "--lr", "1e-3", "--init-from", str(text_run))
    assert result.exit_code == 0, result.output
    assert f"started from {text_run} (text2text)" in result.output
    assert json.loads((started / "config.json").read_text())["config"]["init_from"] == str(text_run)
    fresh = tmp_path / "fresh"
    assert train(fresh, "img2text", "--steps", "7", "--lr", "1e-3").exit_code == 0
    warm_accuracy, fresh_accuracy = exact_match(started), exact_match(fresh)
    assert warm_accuracy > 0.4 and fresh_accuracy < 0.1, (warm_accuracy, fresh_accuracy)


def test_the_text_models_embedding_becomes_the_projection_of_each_read_character(text_run):
    config = ArithConfig.for_task(
        "img2img", max_int=20, hidden=32, train_frac=0.5, reverse_answer=True, init_from=str(text_run)
    )
    with pytest.raises(GenlabError, match="answers in text: img2img answers in image"):
        warm_start(config, split_queries(882, 0.5, 0, 1000))
    config = ArithConfig.for_task("img2text", max_int=20, hidden=32, train_frac=0.5, init_from=str(text_run))
    weights, said = warm_start(config, split_queries(882, 0.5, 0, 1000))
    source = RunDir.open(text_run).load_weights("model")
    assert torch.equal(weights["in_proj.weight"], source["in_embed.weight"].t())
    assert not weights["in_proj.bias"].any()
    assert torch.equal(weights["encoder.weight_hh_l0"], source["encoder.weight_hh_l0"])
    assert not any(name.startswith("cell_encoder.") for name in weights)
    assert "text2text" in said


@pytest.mark.parametrize(
    "extra, says",
    [
        (["--seed", "1"], "trained on another split of the queries"),
        (["--hidden", "64"], "--hidden 32 (here 64)"),
        (["--no-reverse-answer"], "--reverse-answer True (here False)"),
    ],
)
def test_a_run_that_does_not_fit_is_refused_before_anything_is_written(text_run, tmp_path, extra, says):
    out = tmp_path / "refused"
    result = train(out, "img2text", "--steps", "7", "--init-from", str(text_run), *extra)
    assert isinstance(result.exception, GenlabError)
    message = str(result.exception)
    assert says in message and f"--init-from {text_run}" in message and "\n" not in message
    assert not out.exists()


def test_init_from_a_folder_that_is_no_run_names_it(tmp_path):
    result = train(tmp_path / "out", "img2text", "--steps", "7", "--init-from", str(tmp_path / "nothing"))
    assert isinstance(result.exception, GenlabError) and str(tmp_path / "nothing") in str(result.exception)
