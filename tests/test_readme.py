"""The README stays true: its Python snippets run, its `genlab ...` lines name real commands and
options, and the `genlab.module.name` it mentions exist.

The Python blocks run in order, in one namespace, in an empty folder, as a reader pasting them
into one session would run them; a block that needs a run trains its own tiny one.
"""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest
import typer

from genlab.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
# `images = generate(...)  # float (64, 3, 32, 32) in [0, 1]`: a shape of plain numbers in the comment
SHAPE_COMMENT = re.compile(r"^(\w+)\s*=[^#]*#[^(]*\((\d+(?:,\s*\d+)+)\)")
DOTTED_NAME = re.compile(r"`(genlab(?:\.\w+)+)")


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README.read_text()) if lang == language]


def test_the_readme_has_python_and_shell_blocks():
    assert blocks("python") and blocks("sh")


def test_python_snippets_run_and_their_shapes_hold(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme"}
    for number, code in enumerate(blocks("python"), 1):
        exec(compile(code, f"README.md python block {number}", "exec"), namespace)
        for line in code.splitlines():
            if match := SHAPE_COMMENT.match(line):
                name, shape = match[1], tuple(int(n) for n in match[2].split(","))
                assert tuple(namespace[name].shape) == shape, f"block {number}: {line.strip()}"


def genlab_lines() -> list[list[str]]:
    lines = []
    for body in blocks("sh"):
        for line in body.splitlines():
            words = shlex.split(line.replace("[", " ").replace("]", " "), comments=True)
            if words[:1] == ["genlab"]:
                lines.append(words)
    return lines


def option_names(command) -> set[str]:
    return {name for param in command.params for name in (*param.opts, *param.secondary_opts)}


def test_every_genlab_command_line_names_a_real_command_and_real_options():
    root = typer.main.get_command(app)
    assert genlab_lines()
    wrong = []
    for words in genlab_lines():
        line = " ".join(words)
        command = root.commands.get(words[1]) if len(words) > 1 else None
        rest = words[2:]
        if hasattr(command, "commands"):  # a group: the second word names its command
            command = command.commands.get(words[2]) if len(words) > 2 else None
            rest = words[3:]
        if command is None:
            wrong.append(f"no such command: {line}")
            continue
        known = option_names(command) | option_names(root) | {"--help"}
        options = [w.split("=")[0] for w in rest if w.startswith("-")]
        wrong += [f"no option {option}: {line}" for option in options if option not in known]
    assert wrong == []


@pytest.mark.parametrize("dotted", sorted(set(DOTTED_NAME.findall(README.read_text()))))
def test_every_genlab_module_or_name_the_readme_mentions_exists(dotted):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):  # the longest importable prefix, then attributes
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            assert hasattr(target, attribute), f"{dotted}: {'.'.join(parts[:cut])} has no {attribute}"
            target = getattr(target, attribute)
        return
    pytest.fail(f"{dotted} is not importable")
