"""Precision and compilation options: refused where they would only slow things down, recorded in
the run, and (on a GPU) actually used. CUDA-only tests are marked and skip without a GPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from genlab.cli import app
from genlab.core.device import autocast, grad_scaler, resolve_precision
from genlab.core.errors import GenlabError

runner = CliRunner()
ARITH = ["--max-int", "9", "--hidden", "16", "--batch-size", "32", "--epochs", "1", "--train-frac", "0.5"]


def cuda(test):
    """CUDA-only: marked `cuda` (what `make gpu-check` runs) and skipped without a GPU."""
    return pytest.mark.cuda(
        pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")(test)
    )


def test_auto_is_fp32_on_a_cpu_and_reduced_precision_is_refused_there():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == "fp32"
    for name in ("bf16", "fp16"):
        with pytest.raises(GenlabError, match="far slower than fp32"):
            resolve_precision(name, cpu)
    with pytest.raises(GenlabError, match="use one of"):
        resolve_precision("fp8", cpu)
    assert not grad_scaler(cpu, "auto").is_enabled()
    with autocast(cpu, "auto"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_bf16_on_a_cpu_is_one_line_and_writes_nothing(tmp_path):
    result = runner.invoke(
        app, ["arith", "train", "--out", str(tmp_path / "r"), "--precision", "bf16", *ARITH]
    )
    assert isinstance(result.exception, GenlabError) and "far slower" in str(result.exception)
    assert not (tmp_path / "r" / "config.json").exists()


def test_precision_and_compile_are_recorded_in_the_run(tmp_path):
    result = runner.invoke(app, ["arith", "train", "--out", str(tmp_path / "r"), *ARITH])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "r" / "config.json").read_text())["config"]
    assert config["precision"] == "auto" and config["compile"] is False


@cuda
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_mixed_precision_trains_on_a_gpu(tmp_path, precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    for args in (
        [
            "arith",
            "train",
            "--out",
            str(tmp_path / "a"),
            "--device",
            "cuda",
            "--precision",
            precision,
            *ARITH,
        ],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    path = tmp_path / "images.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, (64, 16, 16, 3), dtype=np.uint8))
    result = runner.invoke(app, ["images", "train", "--model", "gan", "--data", str(path), "--out",
                                 str(tmp_path / "g"), "--size", "16", "--epochs", "1", "--device", "cuda",
                                 "--precision", precision])  # fmt: skip
    assert result.exit_code == 0, result.output


@cuda
def test_compile_trains_on_a_gpu(tmp_path):
    result = runner.invoke(
        app, ["arith", "train", "--out", str(tmp_path / "c"), "--device", "cuda", "--compile", *ARITH]
    )
    assert result.exit_code == 0, result.output


@cuda
def test_nccl_data_parallel_over_every_gpu(tmp_path):
    import subprocess
    import sys

    n = torch.cuda.device_count()
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n),
         "-m", "genlab", "arith", "train", "--out", str(tmp_path / "ddp"), "--device", "cuda", *ARITH],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


@cuda
def test_the_demo_plan_on_a_gpu_is_the_full_one():
    from genlab.demo import DemoPlan

    plan = DemoPlan.for_device(torch.device("cuda"))
    assert plan.split_overrides == {} and plan.image_model_overrides == {} and "full" in plan.name
