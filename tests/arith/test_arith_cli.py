"""`genlab arith train | evaluate | ask` as a user runs them, on tiny problems (operands 0..20)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from genlab.cli import app
from genlab.core.errors import GenlabError

runner = CliRunner()
TINY = [
    "--max-int", "20", "--hidden", "32", "--batch-size", "64", "--no-augment",
    "--glyph-epochs", "1", "--glyph-width", "16", "--glyph-features", "128",
]  # fmt: skip


def train(out, task, *extra):
    result = runner.invoke(app, ["arith", "train", "--task", task, "--out", str(out), *TINY, *extra])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


@pytest.fixture(scope="module")
def t2t(tmp_path_factory):
    out = tmp_path_factory.mktemp("arith") / "t2t"
    train(out, "text2text", "--epochs", "3", "--train-frac", "0.5", "--eval-every", "1")
    return out


@pytest.fixture(scope="module")
def i2t(tmp_path_factory):
    out = tmp_path_factory.mktemp("arith") / "i2t"
    train(out, "img2text", "--epochs", "1", "--train-frac", "0.5")
    return out


@pytest.fixture(scope="module")
def t2i(tmp_path_factory):
    out = tmp_path_factory.mktemp("arith") / "t2i"
    train(out, "text2img", "--epochs", "1", "--train-frac", "0.5")
    return out


def test_train_writes_a_complete_run(t2t):
    for name in (
        "config.json",
        "model.safetensors",
        "last.safetensors",
        "state.pt",
        "split.npz",
        "metrics.jsonl",
    ):
        assert (t2t / name).exists(), name
    assert (t2t / "figures" / "curves.png").exists()
    records = [json.loads(line) for line in (t2t / "metrics.jsonl").read_text().splitlines()]
    assert records[-1] == {"type": "stop", "reason": "done", "step": records[-2]["step"]}
    records = [r for r in records if r["type"] == "validation"]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert {"train_loss", "val_acc", "val_char_acc"} <= set(records[0])
    config = json.loads((t2t / "config.json").read_text())
    assert config["kind"] == "arith" and config["config"]["max_int"] == 20


def test_evaluate_reports_exact_match_and_writes_examples(t2t):
    result = runner.invoke(app, ["arith", "evaluate", str(t2t)])
    assert result.exit_code == 0, result.output
    assert "exact match" in result.output and "per-character accuracy" in result.output
    evaluation = json.loads((t2t / "evaluation.json").read_text())
    split = np.load(t2t / "split.npz")
    assert evaluation["test_queries"] == len(split["test"])
    assert 0.0 <= evaluation["accuracy"] <= evaluation["char_accuracy"] <= 1.0
    assert (t2t / "figures" / "examples.png").exists()


def test_ask_answers_one_query(t2t):
    result = runner.invoke(app, ["arith", "ask", str(t2t), "12+7"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("12+7 =")
    answer = json.loads(runner.invoke(app, ["arith", "ask", str(t2t), "12+7", "--json"]).output)
    assert answer["query"] == "12+7" and answer["true_answer"] == "19"
    assert len(answer["answer"]) <= 3  # a 3-epoch model may be wrong, but it answers in the vocabulary


@pytest.mark.parametrize("bad", ["8+", "abc", "21+1", ""])
def test_ask_refuses_malformed_or_out_of_range_queries(t2t, bad):
    result = runner.invoke(app, ["arith", "ask", str(t2t), bad])
    assert result.exit_code != 0
    assert isinstance(result.exception, GenlabError)
    assert "query" in str(result.exception)


def test_ask_error_is_one_red_line_in_a_real_shell(t2t):
    proc = subprocess.run(
        [sys.executable, "-m", "genlab", "arith", "ask", str(t2t), "100+1"], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "out of range" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_resume_continues_exactly_from_the_saved_epoch(tmp_path, monkeypatch):
    import genlab.arith.inference as eval_arith

    # a fixed thread count: the automatic one follows the machine's load, and another count sums in
    # another order, which is not bit for bit
    args = ["--epochs", "3", "--train-frac", "0.3", "--dropout", "0.1", "--eval-every", "1", "--threads", "2"]
    train(tmp_path / "full", "text2text", *args)

    real, calls = eval_arith.validation_metrics, {"n": 0}

    def interrupt_after_two(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # Ctrl-C during the third epoch
        return real(*a, **k)

    monkeypatch.setattr(eval_arith, "validation_metrics", interrupt_after_two)
    result = runner.invoke(
        app, ["arith", "train", "--task", "text2text", "--out", str(tmp_path / "cut"), *TINY, *args]
    )
    assert result.exit_code != 0  # click turns the Ctrl-C into exit status 130
    monkeypatch.setattr(eval_arith, "validation_metrics", real)
    assert len((tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()) == 2
    result = runner.invoke(
        app, ["arith", "train", "--task", "text2text", "--out", str(tmp_path / "cut"), "--resume"]
    )
    assert result.exit_code == 0, result.output
    from safetensors.torch import load_file

    full, cut = (
        load_file(str(tmp_path / "full" / "last.safetensors")),
        load_file(str(tmp_path / "cut" / "last.safetensors")),
    )
    assert all(torch.equal(full[k], cut[k]) for k in full)
    steps = [json.loads(x)["step"] for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [
        json.loads(x)["step"] for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    ]


def test_a_resume_computes_with_the_thread_count_the_run_was_given(tmp_path, monkeypatch):
    # a resume that chose its own count on a busy machine summed in another order than the run it
    # continued, so it was no longer bit for bit the run that was never interrupted
    import genlab.arith.train as arith_train
    from genlab.core.threads import ThreadChoice

    asked = []

    class Recorded(ThreadChoice):
        def start(self, window: float = 0.1) -> ThreadChoice:
            asked.append(self.requested)
            return super().start(window)

    monkeypatch.setattr(arith_train, "ThreadChoice", Recorded)
    train(tmp_path / "run", "text2text", "--epochs", "1", "--train-frac", "0.3", "--threads", "1")
    result = runner.invoke(
        app, ["arith", "train", "--out", str(tmp_path / "run"), "--resume", "--epochs", "2"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["arith", "train", "--out", str(tmp_path / "run"), "--resume", "--epochs", "3", "--threads", "2"]
    )
    assert result.exit_code == 0, result.output
    assert asked == [1, 1, 2]


def test_training_again_into_a_trained_run_is_refused(t2t):
    result = runner.invoke(
        app, ["arith", "train", "--task", "text2text", "--out", str(t2t), *TINY, "--epochs", "1"]
    )
    assert isinstance(result.exception, GenlabError) and "--resume" in str(result.exception)


def test_img2text_evaluates_on_unseen_handwriting_and_asks_with_written_queries(i2t):
    result = runner.invoke(app, ["arith", "evaluate", str(i2t)])
    assert result.exit_code == 0, result.output
    assert "mnist:" in result.output and "glyph classifier" in result.output
    result = runner.invoke(app, ["arith", "ask", str(i2t), "12+7"])
    assert result.exit_code == 0, result.output
    assert "mnist:" in result.output
    pngs = list((i2t / "samples").glob("ask-query-*.png"))
    assert pngs and Image.open(pngs[0]).size == (140 * 4, 28 * 4)


def test_image_models_read_cells_with_the_glyph_classifier_they_were_trained_with(i2t, tmp_path):
    import shutil

    from genlab.arith.config import ArithConfig
    from genlab.arith.runs import model_spec

    default = model_spec(ArithConfig.for_task("img2text"))
    assert (default.cnn_width, default.cell_features) == (64, 256)  # the wide default reader
    assert (
        default.hard_reading and not model_spec(ArithConfig.for_task("img2text", reading="soft")).hard_reading
    )
    stored = json.loads((i2t / "config.json").read_text())
    assert (stored["config"]["model"]["cnn_width"], stored["config"]["glyph_width"]) == (16, 16)
    assert stored["config"]["reading"] == "hard" and stored["config"]["model"]["hard_reading"]
    # a run saved before the reader's width was an option used the width-16, 128-feature reader
    old = tmp_path / "old"
    shutil.copytree(i2t, old)
    for key in ("glyph_width", "glyph_features"):
        del stored["config"][key]
    (old / "config.json").write_text(json.dumps(stored))
    accuracy = {}
    for run in (i2t, old):
        result = runner.invoke(app, ["arith", "evaluate", str(run)])
        assert result.exit_code == 0, result.output
        accuracy[run] = json.loads((run / "evaluation.json").read_text())["accuracy"]
    assert accuracy[old] == accuracy[i2t]
    # a run saved before --reading existed fed the reader's probabilities, and still does
    from genlab.arith.runs import load_config
    from genlab.core.rundir import RunDir

    del stored["config"]["reading"]
    (old / "config.json").write_text(json.dumps(stored))
    assert load_config(RunDir.open(old, "arith")).reading == "soft"
    bad = runner.invoke(
        app, ["arith", "train", "--task", "img2text", "-o", str(tmp_path / "x"), "--reading", "fuzzy"]
    )
    assert isinstance(bad.exception, GenlabError) and "--reading 'fuzzy'" in str(bad.exception)


def test_validation_with_cached_cell_readings_matches_reading_the_cells_each_time(i2t):
    from genlab.arith.inference import validation_metrics
    from genlab.arith.runs import load_config, load_model, task_data
    from genlab.core.rundir import RunDir

    run = RunDir.open(i2t, "arith")
    config, model = load_config(run), load_model(run)
    data = task_data(config, run)
    cache: dict = {}
    first = validation_metrics(model, data, config, "cpu", cache)
    assert cache["cell_probs"] and cache["x"].shape == (len(data.split.val), 5, 13)
    assert validation_metrics(model, data, config, "cpu", cache) == first
    config.finetune_cnn = True  # a trained CNN changes its readings: nothing is cached but the images
    assert validation_metrics(model, data, config, "cpu") == first


def test_ask_image_reads_a_users_strip_dark_on_light(i2t, tmp_path):
    from genlab.arith.problem import ArithSpec, GlyphBank, strip
    from genlab.core.mnist import load_mnist

    spec = ArithSpec(20)
    mnist = load_mnist("auto", seed=0)
    bank = GlyphBank.build(spec, mnist.images, mnist.labels, seed=5)
    cells = bank.render(spec.encode(["12+7 "], 5), np.random.default_rng(0))[0]
    picture = 255 - np.kron(strip(cells), np.ones((3, 3), np.uint8))  # 84x420, black ink on white paper
    path = tmp_path / "query.png"
    Image.fromarray(picture).save(path)
    result = runner.invoke(app, ["arith", "ask", str(i2t), "--image", str(path), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["query_read_by_glyph_classifier"][2] == "+"  # the operator cell is found after inversion
    assert "answer" in answer


def test_ask_image_errors(i2t, t2t, tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    result = runner.invoke(app, ["arith", "ask", str(i2t), "--image", str(junk)])
    assert isinstance(result.exception, GenlabError) and "not a readable image" in str(result.exception)
    result = runner.invoke(app, ["arith", "ask", str(i2t), "--image", str(tmp_path / "missing.png")])
    assert isinstance(result.exception, GenlabError)
    good = tmp_path / "ok.png"
    Image.fromarray(np.zeros((28, 140), np.uint8)).save(good)
    result = runner.invoke(app, ["arith", "ask", str(t2t), "--image", str(good)])
    assert isinstance(result.exception, GenlabError) and "text queries" in str(result.exception)


def test_text2img_writes_answer_images_and_reads_them_back(t2i, tmp_path):
    result = runner.invoke(app, ["arith", "evaluate", str(t2i)])
    assert result.exit_code == 0, result.output
    assert "read back by the glyph classifier" in result.output and "pixel MSE" in result.output
    out = tmp_path / "answer.png"
    result = runner.invoke(app, ["arith", "ask", str(t2i), "12+7", "--write", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists() and Image.open(out).size == (84 * 4, 28 * 4)
    assert "the glyph classifier reads" in result.output


def test_a_users_left_written_query_is_moved_into_the_aligned_layout():
    from genlab.arith.evaluate import align_cells
    from genlab.arith.problem import ArithSpec

    cells = np.stack([np.full((28, 28), i + 1.0) for i in range(5)])  # cell i has value i+1
    moved = align_cells(cells, "5+24 ", ArithSpec(layout="aligned"))
    assert [c[0, 0] for c in moved] == [0.0, 1.0, 2.0, 3.0, 4.0]  # ' 5+24': a blank cell first
    assert np.array_equal(align_cells(cells, "5+24 ", ArithSpec(layout="left")), cells)
    assert np.array_equal(align_cells(cells, "5++4 ", ArithSpec(layout="aligned")), cells)


def test_validation_runs_every_eval_every_steps_and_after_the_last_epoch(tmp_path):
    # operands 0..20 with + and -: 882 queries, 0.3 of them in train -> 5 steps of 64 per epoch
    train(tmp_path / "sparse", "text2text", "--epochs", "7", "--train-frac", "0.3", "--eval-every", "10")
    records = [json.loads(x) for x in (tmp_path / "sparse" / "metrics.jsonl").read_text().splitlines()]
    records = [r for r in records if r["type"] == "validation"]
    steps_per_epoch = records[-1]["step"] // 7
    assert steps_per_epoch == 5
    assert [r["epoch"] for r in records] == [2, 4, 6, 7]
    assert all("val_acc" in r and r["train_loss"] > 0 for r in records)


def test_a_run_written_with_unknown_options_gets_a_one_line_error(t2t, tmp_path):
    import shutil

    copy = tmp_path / "newer"
    shutil.copytree(t2t, copy)
    stored = json.loads((copy / "config.json").read_text())
    stored["config"]["from_the_future"] = 1
    (copy / "config.json").write_text(json.dumps(stored))
    result = runner.invoke(app, ["arith", "evaluate", str(copy)])
    assert result.exit_code != 0
    assert isinstance(result.exception, GenlabError)
    assert "from_the_future" in str(result.exception) and "config.json" in str(result.exception)


def test_attention_writes_one_heat_map_per_query(t2t):
    result = runner.invoke(app, ["arith", "attention", str(t2t), "12+9", "20-7"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "12+9 = " in result.output and "20-7 = " in result.output
    png = t2t / "figures" / "attention.png"
    assert png.exists() and Image.open(png).size[0] > 400
    default = runner.invoke(app, ["arith", "attention", str(t2t)])  # its own queries, in range 0..20
    assert default.exit_code == 0, default.output
    assert default.output.count(" = ") >= 2


def test_attention_refuses_a_run_without_attention(tmp_path):
    out = tmp_path / "plain"
    train(out, "text2text", "--epochs", "1", "--train-frac", "0.5", "--no-attention")
    result = runner.invoke(app, ["arith", "attention", str(out)])
    assert isinstance(result.exception, GenlabError) and "--no-attention" in str(result.exception)


def test_the_transformer_learns_a_tiny_problem_and_shows_its_cross_attention(tmp_path):
    out = tmp_path / "tr"
    train(out, "text2text", "--arch", "transformer", "--hidden", "64", "--steps", "600",
          "--train-frac", "0.5", "--patience", "1000")  # fmt: skip
    assert json.loads((out / "config.json").read_text())["config"]["arch"] == "transformer"
    result = runner.invoke(app, ["arith", "evaluate", str(out)])
    assert result.exit_code == 0, result.output
    accuracy = json.loads((out / "evaluation.json").read_text())["accuracy"]
    assert accuracy > 0.3  # chance is about 1 in 40**2
    shown = runner.invoke(app, ["arith", "attention", str(out), "13+8"])
    assert shown.exit_code == 0 and (out / "figures" / "attention.png").exists()


def test_three_digit_operands_and_multiplication_run_end_to_end(tmp_path):
    out = tmp_path / "big"
    result = runner.invoke(app, ["arith", "train", "--task", "text2text", "--out", str(out),
                                 "--max-int", "999", "--ops", "+-*", "--train-frac", "0.001", "--steps", "2",
                                 "--hidden", "32", "--batch-size", "64", "--val-size", "64"])  # fmt: skip
    assert result.exit_code == 0, result.output + repr(result.exception)
    asked = runner.invoke(app, ["arith", "ask", str(out), "999*999", "--json"])
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.output)
    assert answer["true_answer"] == "998001" and len(answer["answer"]) <= 6
    shown = runner.invoke(app, ["arith", "attention", str(out), "5-999", "123*45"])
    assert shown.exit_code == 0, shown.output
    out_of_range = runner.invoke(app, ["arith", "ask", str(out), "1000+1"])
    assert isinstance(out_of_range.exception, GenlabError) and "0..999" in str(out_of_range.exception)


def test_the_length_test_asks_about_longer_operands_than_trained_on(t2t, tmp_path):
    from genlab.arith.evaluate import length_test

    result = runner.invoke(app, ["arith", "evaluate", str(t2t), "--length-test", "200"])
    assert result.exit_code == 0, result.output
    assert "length test:" in result.output and "21..200 (trained on 0..20)" in result.output
    measured = length_test(t2t, 200, n=300)
    assert measured["queries"] == 300 and 0.0 <= measured["accuracy"] <= measured["char_accuracy"] <= 1.0
    with pytest.raises(GenlabError, match="beyond the run's --max-int 20"):
        length_test(t2t, 20)


def test_swapped_operand_training_reports_accuracy_on_queries_whose_twin_was_never_seen(tmp_path):
    out = tmp_path / "swap"
    train(out, "text2text", "--epochs", "2", "--train-frac", "0.1", "--swap-operands")
    result = runner.invoke(app, ["arith", "evaluate", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    evaluation = json.loads((out / "evaluation.json").read_text())
    # 10% of 882 queries trained on: most test queries' twins are unseen, but not all of them
    assert 0.8 * evaluation["test_queries"] < evaluation["twin_unseen_queries"] < evaluation["test_queries"]
    assert 0.0 <= evaluation["accuracy_twin_unseen"] <= 1.0
    assert "operand-swapped twin was not trained on" in result.output
    assert json.loads((out / "config.json").read_text())["config"]["swap_operands"] is True
