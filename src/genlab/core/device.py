"""Device choice (cuda > mps > cpu unless forced), mixed precision on GPUs, and torch.compile."""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import torch

from genlab.core.errors import GenlabError


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GenlabError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GenlabError(f"--device {name}: this torch build has no CUDA device; use --device cpu")
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise GenlabError(f"--device {name}: MPS is not available here; use --device cpu")
    return device


PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def resolve_precision(name: str, device: torch.device) -> str:
    """auto: bf16 on a GPU that supports it, else fp16 (with gradient scaling) on CUDA; fp32 elsewhere."""
    if name not in PRECISIONS:
        raise GenlabError(f"--precision {name!r}: use one of {', '.join(PRECISIONS)}")
    if name == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu" and name != "fp32":
        raise GenlabError(
            f"--precision {name} on a CPU: reduced precision is far slower than fp32 there (no fast "
            "half-precision matmul units); use --precision fp32 or auto"
        )
    return name


@contextlib.contextmanager
def autocast(device: torch.device, precision: str = "auto") -> Iterator[None]:
    """Mixed precision (autocast) for fp16/bf16 on a GPU; a no-op for fp32."""
    resolved = resolve_precision(precision, device)
    if resolved == "fp32":
        yield
        return
    dtype = torch.float16 if resolved == "fp16" else torch.bfloat16
    with torch.autocast(device.type, dtype=dtype):
        yield


def grad_scaler(device: torch.device, precision: str = "auto") -> torch.amp.GradScaler:
    """Gradient scaling, needed only for fp16 (bf16 has fp32's exponent range)."""
    enabled = resolve_precision(precision, device) == "fp16"
    return torch.amp.GradScaler(device.type if device.type == "cuda" else "cpu", enabled=enabled)


def compiled(module: torch.nn.Module, enabled: bool) -> torch.nn.Module:
    """torch.compile(module) when asked; the uncompiled module keeps the weights that are saved."""
    return cast(torch.nn.Module, torch.compile(module)) if enabled else module


def device_name(device: torch.device) -> str:
    """'cuda (NVIDIA H200)', 'cpu (AMD EPYC ..., 2 cores)': what a report names as the machine."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({cpu_name()}, {torch.get_num_threads()} threads)"
    return device.type


def cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo where there is one), for reports and benchmarks."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
