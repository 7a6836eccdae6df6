"""Command-line options derived from a config dataclass, so that every default is written once.

    @dataclass
    class TrainConfig:
        lr: float = option(3e-3, "Peak learning rate.")
        epochs: int | None = option(None, "Passes over the data.", none_means="enough for --steps")

    @app.command()
    @options_from(TrainConfig)
    def train(options: dict[str, Any], out: Path = typer.Option(..., "--out")) -> None:
        config = TrainConfig(**options)

`train --help` then lists --out, --lr and --epochs. Each field becomes `--field-name` with the
field's type (a bool becomes `--flag/--no-flag`), its default and its help; typer shows the
default. One convention for "chosen for you", in every product: the default None, shown in
`--help` as what None stands for (`none_means`, e.g. "per model: cae 64, vae 32, gan 64").
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

import typer

NOT_AN_OPTION = {"option": False}  # field metadata: filled in by the program, not on the command line


def option(default: Any, help: str, *, flags: str | None = None, none_means: str | None = None) -> Any:
    """A dataclass field that is also a command-line option.

    `flags` replaces the derived option name (e.g. "--finetune-cnn/--frozen-cnn"); `none_means`
    says what a None default stands for, and is what `--help` shows as the default."""
    return dataclasses.field(
        default=default, metadata={"help": help, "flags": flags, "none_means": none_means}
    )


# the run options every trainer shares, written once
PRECISION_HELP = (
    "auto, fp32, fp16 or bf16. auto: bf16 on GPUs that support it, else fp16 with gradient scaling; "
    "fp32 on a CPU (reduced precision is refused there: far slower)."
)
COMPILE_HELP = "torch.compile the training model (a GPU speed-up; compiling takes a while)."
THREADS_HELP = (
    "CPU threads for torch. By default one per core that other processes leave free, looked at again as "
    "training goes (on a shared machine fewer threads run faster)."
)


def nproc_option() -> Any:
    """The train commands' --nproc: data-parallel processes on this machine (not a config field)."""
    return typer.Option(
        1,
        "--nproc",
        help="Train data-parallel in this many processes on this machine (launches torch.distributed.run; "
        "for several machines run torchrun yourself, see README). --batch-size stays the global batch.",
    )


def option_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of `cls` that are command-line options (all but those marked NOT_AN_OPTION)."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("option", True)]


def config_parameters(cls: type, deferred: Mapping[str, str] | None = None) -> list[inspect.Parameter]:
    """One typer option per field of `cls`, as signature parameters (keyword-only).

    `deferred` maps fields whose default the command leaves to its builder (e.g. a per-task
    default) to what --help shows: such options default to None."""
    deferred = deferred or {}
    types = typing.get_type_hints(cls)
    params = []
    for f in option_fields(cls):
        help_text = f.metadata.get("help")
        if not help_text:
            raise TypeError(
                f"{cls.__name__}.{f.name} has no help: use option(default, help) or NOT_AN_OPTION"
            )
        default, shown = f.default, f.metadata.get("none_means")
        annotation = types[f.name]
        if f.name in deferred:
            default, shown, annotation = None, deferred[f.name], annotation | None
        if default is None and not shown:
            raise TypeError(f"{cls.__name__}.{f.name} defaults to None: say what that means (none_means)")
        flag = "--" + f.name.replace("_", "-")
        if types[f.name] in (bool, bool | None):
            flag = f"{flag}/--no-{flag[2:]}"
        info = typer.Option(
            default,
            f.metadata.get("flags") or flag,
            help=help_text,
            show_default=shown if default is None else True,
        )
        params.append(
            inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)
        )
    return params


def options_from(
    cls: type, deferred: Mapping[str, str] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate `func(options, **own)` into a typer command that also takes every field of `cls`.

    `func` gets the fields' values as the dict `options` (to build its config from) and its own
    options by name; its own options come first in --help. A `given` parameter of `func`, if it has
    one, receives the names of the fields the user typed on the command line (what a resumed run
    is asked to change)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        _options, *own = inspect.signature(func, eval_str=True).parameters.values()
        wants_given = any(p.name == "given" for p in own)
        own = [p for p in own if p.name != "given"]
        fields = config_parameters(cls, deferred)
        names = [p.name for p in fields]
        clash = sorted({p.name for p in own} & set(names))
        if clash:
            raise TypeError(f"{func.__name__}: {', '.join(clash)} are already fields of {cls.__name__}")
        context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)

        def command(ctx: typer.Context, **values: Any) -> Any:
            options = {name: values.pop(name) for name in names}
            if wants_given:
                sources = {name: ctx.get_parameter_source(name) for name in names}
                values["given"] = tuple(
                    n for n, s in sources.items() if s is not None and s.name == "COMMANDLINE"
                )
            return func(options, **values)

        command.__name__, command.__qualname__ = func.__name__, func.__qualname__
        command.__doc__, command.__module__ = func.__doc__, func.__module__
        setattr(command, "__signature__", inspect.Signature([context, *own, *fields]))  # noqa: B010
        return command

    return decorate
