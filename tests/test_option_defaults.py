"""Every default of `genlab images train` and `genlab arith train` is the config field's default."""

from __future__ import annotations

import dataclasses
import json

import pytest
import typer
from typer.testing import CliRunner

from genlab.arith import cli as arith_cli
from genlab.arith.config import (
    ANSWER_STYLE_DEFAULTS,
    ARCH_DEFAULTS,
    LARGE_DATA_DEFAULTS,
    TASK_DEFAULTS,
    ArithConfig,
    per_task_defaults,
)
from genlab.arith.model import Seq2SeqSpec
from genlab.arith.problem import ArithSpec
from genlab.cli import app
from genlab.core.options import option_fields
from genlab.images import cli as images_cli
from genlab.images.config import ImageTrainConfig

FAMILIES = [(images_cli.app, ImageTrainConfig), (arith_cli.app, ArithConfig)]
OWN = {"out", "resume", "nproc", "help"}  # the train commands' own options, not config fields


def train_options(cli_app: typer.Typer) -> dict:
    command = typer.main.get_command(cli_app).commands["train"]
    return {p.name: p for p in command.params if p.name not in OWN}


@pytest.mark.parametrize(("cli_app", "cls"), FAMILIES, ids=["images", "arith"])
def test_every_config_field_is_an_option_with_help_and_nothing_else_is(cli_app, cls):
    options = train_options(cli_app)
    assert sorted(options) == sorted(f.name for f in option_fields(cls))
    for name, param in options.items():
        assert param.help and param.help.strip(), name
        assert f"--{name.replace('_', '-')}" in param.opts, name


@pytest.mark.parametrize(("cli_app", "cls"), FAMILIES, ids=["images", "arith"])
def test_every_option_default_is_the_field_default(cli_app, cls):
    options = train_options(cli_app)
    per_task = per_task_defaults() if cls is ArithConfig else {}
    for f in option_fields(cls):
        expected = None if f.name in per_task else f.default
        assert options[f.name].default == expected, f.name


@pytest.mark.parametrize(("cli_app", "cls"), FAMILIES, ids=["images", "arith"])
def test_a_none_default_says_in_help_what_it_stands_for(cli_app, cls):
    for name, param in train_options(cli_app).items():
        if param.default is None:
            assert isinstance(param.show_default, str) and param.show_default, name


def test_per_task_options_are_exactly_those_a_task_changes_and_help_shows_each_tasks_value():
    changed = [
        TASK_DEFAULTS.values(),
        ARCH_DEFAULTS.values(),
        ANSWER_STYLE_DEFAULTS.values(),
        [v for _, v in LARGE_DATA_DEFAULTS.values()],
    ]
    assert set(per_task_defaults()) == {name for group in changed for values in group for name in values}
    shown = (
        "per task: 2 for text2text, img2text; else 1; text2text, img2text with 8,000+ training queries: 1; "
        "--arch transformer: 2"
    )
    assert per_task_defaults()["enc_layers"] == shown
    assert "; --answer-style handwriting: 0.01" in per_task_defaults()["lr"]
    assert per_task_defaults()["lr"].endswith("; --arch transformer: 0.002")
    result = CliRunner().invoke(app, ["arith", "train", "--help"], env={"COLUMNS": "300"})
    assert shown in result.output


def test_data_size_and_model_defaults_apply_unless_the_user_sets_the_option():
    big = ArithConfig.for_task("text2text")  # 50% of 20,000 queries
    assert (big.hidden, big.enc_layers, big.steps, big.lr) == (128, 1, 1600, 1e-2)
    small = ArithConfig.for_task("text2text", train_frac=0.1)
    assert (small.hidden, small.enc_layers, small.steps) == (256, 2, 3000)
    asked = ArithConfig.for_task("text2text", hidden=64, arch="transformer")
    assert (asked.hidden, asked.enc_layers, asked.lr) == (64, 2, 2e-3)  # the model's needs beat the size rule
    assert ArithConfig.for_task("text2text", arch="transformer", enc_layers=1).enc_layers == 1
    assert ArithConfig.for_task("text2text", arch="transformer", lr=5e-4).lr == 5e-4
    # img2text reads each cell as one character, so the text2text rule is its rule too
    assert ArithConfig.for_task("img2text") == dataclasses.replace(big, task="img2text")
    assert ArithConfig.for_task("img2img").hidden == 256  # the rule is the text-answer tasks' only
    assert ArithConfig.for_task("text2img", answer_style="handwriting").lr == 1e-2
    assert ArithConfig.for_task("text2img", answer_style="handwriting", lr=3e-3).lr == 3e-3
    assert ArithConfig.for_task("text2img").lr == 2e-3
    assert ArithConfig.for_task("text2img", train_frac=0.1).swap_operands  # twins where data is scarce
    assert not ArithConfig.for_task("text2img").swap_operands  # 10,000 training queries need none


class Built(Exception):
    """Raised by a stand-in for training, with the config the command built."""


def built_config(monkeypatch, module, name: str, *args: str):
    def capture(config, out, resume, **_):
        raise Built(config)

    monkeypatch.setattr(module, name, capture)
    result = CliRunner().invoke(app, list(args))
    assert isinstance(result.exception, Built), result.output
    return result.exception.args[0]


def test_the_command_line_defaults_build_the_library_defaults(monkeypatch):
    """`train` with no options builds the same config as the dataclass (or `for_task`) does."""
    import genlab.arith.train
    import genlab.images.train

    images = built_config(monkeypatch, genlab.images.train, "train_images", "images", "train", "--out", "x")
    assert images == ImageTrainConfig()
    arith = built_config(monkeypatch, genlab.arith.train, "train_arith", "arith", "train", "--out", "x")
    assert arith == ArithConfig.for_task("text2text")
    img2img = built_config(
        monkeypatch, genlab.arith.train, "train_arith", "arith", "train", "-o", "x", "--task", "img2img"
    )
    assert img2img == ArithConfig.for_task("img2img")
    assert (img2img.decoder, img2img.reverse_answer, img2img.weight_decay) == ("repeat", False, 1e-4)


def test_the_problem_and_the_config_agree_on_the_query_layout():
    assert ArithSpec().layout == ArithConfig().layout == "aligned"


def test_old_image_configs_load_with_their_time_budget_in_seconds_and_none_for_auto():
    old = {**ImageTrainConfig().resolved().to_dict(), "time_budget": 2.0, "threads": 0, "max_steps": 0}
    del old["time_budget_unit"]  # written before the budget was in seconds: 2 minutes
    cfg = ImageTrainConfig.from_dict(json.loads(json.dumps(old)))
    assert (cfg.time_budget, cfg.threads, cfg.max_steps) == (120.0, None, None)
    new = ImageTrainConfig.from_dict({**ImageTrainConfig(time_budget=90.0).to_dict()})
    assert new.time_budget == 90.0
    assert ImageTrainConfig(size=0, augment="auto", data="punks").resolved().size == 32  # old spellings


def test_a_model_spec_stored_before_its_newer_fields_rebuilds_as_it_was_trained():
    from genlab.arith.runs import model_spec

    spec = model_spec(ArithConfig.for_task("text2text"))
    stored = spec.to_dict()
    for key in (
        "reverse_answer",
        "attention",
        "aux_text",
        "cell_features",
        "cnn_width",
        "style_dim",
        "writers",
        "hard_reading",
    ):
        del stored[key]
    old = Seq2SeqSpec.from_stored({**stored, "attention_heads": 1})
    assert (old.reverse_answer, old.attention, old.cell_features, old.cnn_width) == (False, False, 128, 16)
    assert old.style_dim == 0 and old.writers == 0 and not old.hard_reading
    assert Seq2SeqSpec.from_stored(spec.to_dict()) == spec
    with pytest.raises(TypeError):
        Seq2SeqSpec(input_kind="text", output_kind="text", vocab_size=13, query_len=5, answer_len=3)
    assert {f.name for f in dataclasses.fields(Seq2SeqSpec) if f.default is not dataclasses.MISSING} == set()
