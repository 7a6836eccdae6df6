"""Writing a module as a file other programs run without genlab: a torch.export program or ONNX.

    export_module(sampler, example, Path("generator.pt2"), "pt2", ("latent", "images"))

The products build the module (genlab.images.export, genlab.arith.export); this writes it, with the
batch size (dimension 0 of the one input) left free. "pt2" is `torch.export.save`, loaded back with
`torch.export.load(path).module()`; "onnx" goes through torch.onnx's dynamo exporter, which needs
the optional onnx and onnxscript packages (`pip install 'genlab[onnx]'`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from genlab.core.errors import GenlabError
from genlab.core.paths import atomic_write

FORMATS = ("pt2", "onnx")
ONNX_HINT = "pip install 'genlab[onnx]'"
MAX_BATCH = 65536  # the largest batch an exported file accepts


def check_format(fmt: str) -> None:
    """A one-line error for an unknown format, or for onnx without the onnx extra (before any work)."""
    if fmt not in FORMATS:
        raise GenlabError(f"--format {fmt!r}: use pt2 (a torch.export program) or onnx")
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if fmt == "onnx" and missing:
        raise GenlabError(f"--format onnx needs the {' and '.join(missing)} package: {ONNX_HINT}")


def export_module(
    module: nn.Module, example: torch.Tensor, path: Path | str, fmt: str, names: tuple[str, str]
) -> Path:
    """Write `module` (one input, batch first, any batch size) to `path` atomically; `names` are the
    ONNX input and output names. The module is put in eval mode and its parameters are frozen, so
    the loaded program's outputs need no torch.no_grad()."""
    check_format(fmt)
    module.eval().requires_grad_(False)
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    with torch.no_grad(), _quiet_exporter():
        program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    if fmt == "pt2":

        def save(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                torch.export.save(program, fh)

        return atomic_write(path, save)
    with _quiet_exporter():
        onnx_program = torch.onnx.export(
            program, (example,), input_names=[names[0]], output_names=[names[1]], dynamo=True, verbose=False
        )
    return atomic_write(path, lambda tmp: onnx_program.save(str(tmp)))


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence what torch's exporters say about their own internals (a recurrent layer's flattened
    weights, deprecations inside torch, torchvision ops it skips), which a user can do nothing about."""
    registry = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registry.level
    registry.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"The tensor attributes .* were assigned during export")
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.|copyreg")
            yield
    finally:
        registry.setLevel(level)
