"""Handwriting answers (--answer-style handwriting): a conditional VAE head that writes each answer
anew, its measures (realism, diversity, style) on known inputs, and the commands on a tiny run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from test_arith_cli import TINY as TINY_OPTIONS
from test_arith_models import batch, tiny  # noqa: F401  (the batch fixture)
from typer.testing import CliRunner

from genlab.arith.config import ArithConfig
from genlab.arith.handwriting import (
    handwriting_quality,
    per_digit_diversity,
    query_style_closeness,
    rows_in_mix,
    style_measures,
)
from genlab.arith.model import CellCritic
from genlab.arith.problem import ArithSpec, GlyphBank
from genlab.arith.train import adversarial_loss, loss_fn
from genlab.cli import app
from genlab.core.errors import GenlabError
from genlab.core.feature_distances import mean_pairwise_distance
from genlab.core.mnist import load_mnist

runner = CliRunner()


def test_identical_drawings_have_zero_diversity_and_distinct_ones_their_distance():
    same = np.tile(np.arange(5.0), (6, 1))
    assert mean_pairwise_distance(same) == 0.0
    assert mean_pairwise_distance(np.array([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)
    labels = np.array([1, 1, 1, 2, 2, 2])
    assert per_digit_diversity(same, labels, seed=0) == 0.0
    spread = np.array([[0.0], [2.0], [4.0], [0.0], [0.0], [0.0]])
    # digit 1: distances 2, 4, 2 -> 8/3; digit 2: 0; the mean over digits
    assert per_digit_diversity(spread, labels, seed=0) == pytest.approx(4 / 3)


def test_slant_and_thickness_measure_what_they_say():
    upright = np.zeros((1, 28, 28))
    upright[0, 4:24, 13:15] = 1.0  # a 2-pixel vertical bar
    thick = np.zeros((1, 28, 28))
    thick[0, 4:24, 12:16] = 1.0  # 4 pixels wide
    leaning = np.zeros((1, 28, 28))
    for row in range(4, 24):  # leaning right as it goes up: x falls as y grows
        leaning[0, row, 20 - (row - 4) // 2 : 22 - (row - 4) // 2] = 1.0
    slant, width = style_measures(np.concatenate([upright, thick, leaning])).T
    assert abs(slant[0]) < 1e-6 and slant[2] < -0.3
    assert width[1] > 1.5 * width[0]


def test_answers_written_like_their_own_query_are_closer_to_it_than_to_a_random_one():
    widths = np.arange(1, 11)  # ten writers, each with a stroke of its own thickness
    n = len(widths)
    cells = np.zeros((n, 2, 28, 28))
    for i, w in enumerate(widths):
        cells[i, :, 4:24, 12 : 12 + w] = 1.0
    is_digit = np.ones((n, 2), bool)
    own = query_style_closeness(cells, is_digit, cells.copy(), is_digit, seed=0)
    assert own["distance_to_own_query"] == 0.0 and own["closer_to_own_query"] == 1.0
    assert own["own_over_random"] == 0.0


@pytest.fixture(scope="module")
def banks():
    mnist = load_mnist("auto", seed=0)
    spec = ArithSpec()
    train = GlyphBank.build(spec, mnist.images[:2500], mnist.labels[:2500], seed=0)
    test = GlyphBank.build(spec, mnist.images[2500:], mnist.labels[2500:], seed=1)
    return train, test


class PixelReader(torch.nn.Module):
    """Features = the pixels, downsampled: a reader stand-in with nothing to train."""

    class Encoder:
        feature_dim = 49

    encoder = Encoder()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool2d(x, 4).flatten(1)


def test_real_digits_score_near_the_floor_and_one_repeated_digit_scores_far_from_it(banks):
    train, test = banks
    labels = test.labels()
    digits = labels < 10
    real = test.images[digits].astype(np.float32) / 255
    quality = handwriting_quality(real, labels[digits], PixelReader(), train, test, seed=0)
    assert quality["fid_over_floor"] < 1.5
    assert 0.8 < quality["diversity_share_of_real"] < 1.2
    copies = np.repeat(real[:1], len(real), 0)
    labels_copies = np.full(len(real), labels[digits][0])
    collapsed = handwriting_quality(copies, labels_copies, PixelReader(), train, test, seed=0)
    assert collapsed["diversity"] == pytest.approx(0.0, abs=1e-5) and collapsed["fid_over_floor"] > 5


def test_real_digits_in_the_answers_mix_of_digits_score_at_the_floor_not_far_above_it(banks):
    """Answers hold far more 1s than a pool of handwriting; realism compares like with like."""
    train, test = banks
    labels = train.labels()
    rng = np.random.default_rng(0)
    mix = np.full(10, 0.075)
    mix[1] = 0.325  # a third of the digits are 1s, as in sums past 99
    rows = np.concatenate(
        [rng.choice(np.flatnonzero(labels == d), round(2000 * p)) for d, p in enumerate(mix)]
    )
    real = train.images[rows].astype(np.float32) / 255
    quality = handwriting_quality(real, labels[rows], PixelReader(), train, test, seed=0)
    assert quality["fid_over_floor"] < 1.5
    assert quality["fid_answer_mix"] > 1.5 * quality["fid_digits"]


def test_rows_in_a_mix_follow_the_reference_proportions_without_repeats():
    rng = np.random.default_rng(0)
    labels = np.array([0] * 50 + [1] * 500 + [2] * 30)
    rows = rows_in_mix(labels, np.array([0, 1, 2] * 40), rng)
    assert len(set(rows.tolist())) == len(rows) == 90  # digit 2 has 30: three-quarters of 40 each
    assert np.bincount(labels[rows]).tolist() == [30, 30, 30]
    assert np.bincount(labels[rows_in_mix(labels, np.array([0, 1, 1, 1]), rng)]).tolist() == [1, 3]


def test_the_handwriting_head_draws_from_its_style_code_and_learns(batch):  # noqa: F811
    torch.manual_seed(0)
    model = tiny("text2img", decoder="repeat", style_dim=4)
    x, y = batch["qtok"], batch["aimg"]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        pixels, aux, kl = model(x, y, with_aux=True, chars=batch["atok"])
        assert kl.ndim == 0 and kl >= 0
        loss = loss_fn((pixels, aux, kl), y, True, batch["atok"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
    model.eval()
    g = torch.Generator().manual_seed(1)
    styles = model.sample_styles(4, g)
    assert styles.shape == (4, 4)
    one = model.predict(x[:4], style=styles)
    again = model.predict(x[:4], style=styles.clone())
    other = model.predict(x[:4], style=model.sample_styles(4, torch.Generator().manual_seed(2)))
    assert torch.equal(one, again) and not torch.allclose(one, other)
    cells = batch["qimg"][:4]
    codes = model.query_styles(cells, torch.zeros(4, cells.shape[1], dtype=torch.long), g)
    assert codes.shape == (4, 4)


def test_a_step_can_draw_the_first_queries_answers_while_every_query_teaches_the_arithmetic(batch):  # noqa: F811
    torch.manual_seed(0)
    model = tiny("text2img", decoder="repeat", style_dim=4, reverse_answer=True)
    x, y, chars = batch["qtok"], batch["aimg"], batch["atok"]
    pixels, aux, kl = model(x, y, with_aux=True, chars=chars, drawn=3)
    assert pixels.shape == (3, *y.shape[1:]) and aux.shape == (len(x), y.shape[1], model.spec.vocab_size)
    full = loss_fn((pixels, aux, kl), y, True, chars)
    drawn_part = torch.nn.functional.binary_cross_entropy_with_logits(pixels, y[:3])
    arithmetic = torch.nn.functional.cross_entropy(aux.reshape(-1, aux.shape[-1]), chars.reshape(-1))
    assert torch.allclose(full, drawn_part + arithmetic + kl / (28 * 28))
    critic = CellCritic(model.spec.vocab_size)  # judges what was drawn, however few
    (full + adversarial_loss(critic, (pixels, aux, kl), y, chars, 0.1)).backward()
    assert all(p.grad is not None for p in (*model.style_encoder.parameters(), *critic.parameters()))
    # an answer drawn first is drawn the same whether or not the others are
    model.eval()
    codes = torch.randn(len(x), y.shape[1], model.spec.vocab_size + 4)
    every = model.decode(model.encode(model.embed_query(x)), style=codes)
    few = model.decode(model.encode(model.embed_query(x)), with_aux=True, style=codes[:3])
    assert torch.allclose(few[0], every[:3]) and len(few[1]) == len(x)


def test_new_writers_take_the_style_of_a_real_drawing_of_the_character_written(batch):  # noqa: F811
    torch.manual_seed(0)
    model = tiny("text2img", decoder="repeat", style_dim=4, writers=3).eval()
    images = torch.rand(7, 28, 28)
    labels = torch.tensor([0, 0, 0, 0, 0, 1, 1])  # five 0s (three kept), two 1s, no other character
    model.refresh_writers(images, labels, seed=0)
    assert model.writer_count[:3].tolist() == [3, 2, 0]
    mean, _ = model.style_encoder(images[5:], labels[5:])
    kept = model.writer_mean[1, :2]
    if not torch.allclose(kept, mean, atol=1e-5):  # the bank holds the 1s' own posterior means
        assert torch.allclose(kept, mean.flip(0), atol=1e-5)
    chars = torch.tensor([[0, 1, 1, 2]])
    draws = torch.zeros(1, 4, 5)
    draws[0, 2, 0] = 0.99  # the last of the two 1s
    draws[0, 3, 1:] = 1.5  # character 2 has no drawings: the prior's draw itself
    codes = model._writer_codes(chars, draws)
    assert torch.equal(codes[0, 0], model.writer_mean[0, 0])
    assert torch.equal(codes[0, 1], model.writer_mean[1, 0]) and torch.equal(
        codes[0, 2], model.writer_mean[1, 1]
    )
    assert torch.equal(codes[0, 3], torch.full((4,), 1.5))
    styles = model.sample_styles(2, torch.Generator().manual_seed(0))
    assert styles.shape == (2, model.spec.answer_len, 5) and 0 <= styles[..., 0].min() < 1
    first = model.predict(batch["qtok"][:2], style=styles)
    assert torch.equal(first, model.predict(batch["qtok"][:2], style=styles.clone()))


def test_typical_writers_are_drawn_only_from_the_codes_nearest_their_characters_mean():
    model = tiny("text2img", decoder="repeat", style_dim=2, writers=4, typical_writers=0.5).eval()
    model.writer_count[1] = 4  # the bank of the 1s: two typical codes and two far from their mean
    model.writer_mean[1] = torch.tensor([[9.0, 9.0], [0.1, 0.0], [-9.0, 9.0], [0.0, -0.1]])
    model.writer_log_var.fill_(-30.0)  # posterior draws at the means
    draws = torch.rand(1, 200, 3, generator=torch.Generator().manual_seed(0))
    codes = model._writer_codes(torch.ones(1, 200, dtype=torch.long), draws)[0]
    assert codes.abs().max() < 0.2  # never the two far codes
    near_first = (codes - torch.tensor([0.1, 0.0])).norm(dim=-1) < 1e-3
    near_second = (codes - torch.tensor([0.0, -0.1])).norm(dim=-1) < 1e-3
    assert (near_first | near_second).all() and near_first.any() and near_second.any()
    everyone = tiny("text2img", decoder="repeat", style_dim=2, writers=4).eval()
    everyone.load_state_dict(model.state_dict())
    assert everyone._writer_codes(torch.ones(1, 200, dtype=torch.long), draws).abs().max() > 8
    with pytest.raises(GenlabError, match="--typical-writers 0"):
        ArithConfig(task="text2img", typical_writers=0).validate()


def test_the_critic_learns_from_its_own_loss_and_the_head_through_it(batch):  # noqa: F811
    torch.manual_seed(0)
    model = tiny("text2img", decoder="repeat", style_dim=4)
    critic = CellCritic(model.spec.vocab_size)
    x, y, chars = batch["qtok"], batch["aimg"], batch["atok"]

    def grads(weight: float) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        model.zero_grad()
        critic.zero_grad()
        torch.manual_seed(1)  # the same style-code draws for both weights
        logits = model(x, y, with_aux=True, chars=chars)
        adversarial_loss(critic, logits, y, chars, weight).backward()
        head = [p.grad.clone() for p in model.head.parameters() if p.grad is not None]
        return [p.grad.clone() for p in critic.parameters()], head

    critic_alone, head_alone = grads(0.0)
    critic_with, head_with = grads(5.0)
    # the answer's term reaches the head through the critic but never moves the critic itself
    assert all(torch.equal(a, b) for a, b in zip(critic_alone, critic_with, strict=True))
    assert all(not g.any() for g in head_alone) and sum(float(g.abs().sum()) for g in head_with) > 0
    assert critic(y, chars).shape == chars.shape
    # a projection critic: the same drawing judged as another character scores differently
    torch.nn.init.normal_(critic.embed.weight)
    assert not torch.allclose(critic(y, chars), critic(y, (chars + 1) % model.spec.vocab_size))


def test_a_run_with_a_critic_trains_resumes_and_answers(tmp_path):
    out = tmp_path / "t2i-adv"
    options = [
        "arith", "train", "--task", "text2img", "--out", str(out), *TINY_OPTIONS, "--answer-style",
        "handwriting", "--style-dim", "4", "--style-adv", "0.1", "--train-frac", "0.5",
        "--drawn-queries", "8",
    ]  # fmt: skip
    result = runner.invoke(app, [*options, "--steps", "20"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["style_adv"] == 0.1 and config["config"]["drawn_queries"] == 8
    assert "critic" in torch.load(out / "state.pt", weights_only=False)  # resume continues the critic
    assert not any(k.startswith("critic") for k in load_file(str(out / "model.safetensors")))
    result = runner.invoke(app, [*options, "--resume", "--steps", "40"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    steps = [json.loads(line).get("step") for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert max(s for s in steps if s) >= 40
    asked = runner.invoke(
        app, ["arith", "ask", str(out), "12+7", "--n", "2", "--write", str(tmp_path / "a.png")]
    )
    assert asked.exit_code == 0, asked.output + repr(asked.exception)
    from genlab.arith.runs import load_config, load_model
    from genlab.core.rundir import RunDir

    stored = json.loads((out / "config.json").read_text())
    assert stored["config"]["model"]["typical_writers"] == stored["config"]["typical_writers"] == 0.7
    del stored["config"]["style_adv"]  # as runs saved before the critic existed
    del stored["config"]["typical_writers"]  # and before the typical writers: any writer in the bank
    del stored["config"]["model"]["typical_writers"]
    del stored["config"]["drawn_queries"]  # and before drawing some queries' answers only: all of them
    (out / "config.json").write_text(json.dumps(stored))
    old = RunDir.open(out, "arith")
    assert load_config(old).style_adv == 0.0 and load_config(old).typical_writers == 1.0
    assert load_config(old).drawn_queries == 0
    assert load_model(old).spec.typical_writers == 1.0
    bad = runner.invoke(app, [*options, "--style-adv", "-1"])
    assert isinstance(bad.exception, GenlabError) and "--style-adv -1:" in str(bad.exception)
    bad = runner.invoke(app, [*options, "--drawn-queries", "-1"])
    assert isinstance(bad.exception, GenlabError) and "--drawn-queries -1:" in str(bad.exception)


@pytest.fixture(scope="module")
def hw_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("arith") / "t2i-hw"
    result = runner.invoke(
        app,
        [
            "arith", "train", "--task", "text2img", "--out", str(out), *TINY_OPTIONS,
            "--answer-style", "handwriting", "--style-dim", "4", "--train-frac", "0.5", "--steps", "120",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out


def test_ask_writes_n_different_drawings_and_a_seed_repeats_them(hw_run, tmp_path):
    paths = []
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        out = tmp_path / f"{name}.png"
        result = runner.invoke(
            app, ["arith", "ask", str(hw_run), "12+7", "--n", "8", "--seed", seed, "--write", str(out)]
        )
        assert result.exit_code == 0, result.output + repr(result.exception)
        assert "8 drawings of the answer" in result.output
        paths.append(np.asarray(Image.open(out)))
    assert paths[0].shape == (8 * 28 * 4, 3 * 28 * 4)
    assert np.array_equal(paths[0], paths[1]) and not np.array_equal(paths[0], paths[2])
    rows = paths[0].reshape(8, -1, paths[0].shape[1]).astype(np.int64)
    assert np.abs(rows[0] - rows[1]).mean() > 0.5  # two drawings of one answer differ

    def spread(png: np.ndarray) -> float:
        rows = png.reshape(8, -1, png.shape[1]).astype(np.int64)
        return float(np.mean([np.abs(rows[i] - rows[j]).mean() for i in range(8) for j in range(i)]))

    one_writer = tmp_path / "typical.png"
    args = ["arith", "ask", str(hw_run), "12+7", "--n", "8", "--write", str(one_writer)]
    result = runner.invoke(app, [*args, "--typical-writers", "0.001"])  # the most typical writer only
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert spread(np.asarray(Image.open(one_writer))) < 0.75 * spread(paths[0])  # posterior noise remains
    result = runner.invoke(app, [*args, "--typical-writers", "1.5"])
    assert result.exit_code != 0 and "--typical-writers 1.5: use a share in (0, 1]" in str(result.exception)


def test_evaluate_and_errors_report_read_back_realism_and_diversity(hw_run):
    result = runner.invoke(app, ["arith", "evaluate", str(hw_run)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "handwriting realism" in result.output and "handwriting diversity" in result.output
    assert "real train-pool drawings of each character, the 70% nearest the character's mean style" in (
        " ".join(result.output.split())
    )
    evaluation = json.loads((hw_run / "evaluation.json").read_text())
    hw = evaluation["handwriting"]
    assert hw["fid_digits"] > 0 and hw["fid_floor"] > 0 and hw["diversity"] > 0
    assert (hw_run / "figures" / "answer_styles.png").exists()
    # operands 0..20: 882 queries, 13 characters; a tiny run reads back far above chance
    assert evaluation["readback_char_accuracy"] > 3 / 13
    errors = runner.invoke(app, ["arith", "errors", str(hw_run)])
    assert errors.exit_code == 0 and "handwriting realism" in errors.output
    assert "handwriting" in (hw_run / "figures" / "errors.md").read_text()


def test_asking_a_fixed_style_run_for_several_drawings_is_refused(tmp_path):
    out = tmp_path / "t2i"
    result = runner.invoke(
        app,
        ["arith", "train", "--task", "text2img", "--out", str(out), *TINY_OPTIONS, "--steps", "2"],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["arith", "ask", str(out), "12+7", "--n", "3"])
    assert isinstance(result.exception, GenlabError) and "--answer-style handwriting" in str(result.exception)


def test_an_unknown_answer_style_is_refused_with_the_choices(tmp_path):
    args = ["arith", "train", "--task", "text2img", "--out", str(tmp_path / "r"), "--answer-style", "cursive"]
    result = runner.invoke(app, args)
    assert isinstance(result.exception, GenlabError)
    assert "handwriting" in str(result.exception) and "prototype" in str(result.exception)


def test_prior_draws_without_a_kl_term_are_refused_naming_both_options(tmp_path):
    args = [
        "arith",
        "train",
        "--task",
        "text2img",
        "--out",
        str(tmp_path / "r"),
        "--answer-style",
        "handwriting",
    ]
    result = runner.invoke(app, [*args, "--writers", "0"])
    assert isinstance(result.exception, GenlabError)
    assert "--style-kl" in str(result.exception) and "--writers" in str(result.exception)
    assert not (tmp_path / "r").exists()
