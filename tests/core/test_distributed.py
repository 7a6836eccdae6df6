"""Data-parallel training with torchrun on CPU (gloo): the same run whatever the process count.

Every test launches real processes through torch's own launcher, as a user would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from genlab.core.distributed import argv_without_nproc
from genlab.core.rundir import RunDir

IMAGE = ["--model", "cae", "--size", "16", "--latent-dim", "4", "--base-width", "4", "--norm", "none",
         "--batch-size", "8", "--augment", "none", "--threads", "1", "--epochs", "2"]  # fmt: skip
ARITH = ["--task", "text2text", "--max-int", "9", "--hidden", "16", "--batch-size", "32", "--dropout", "0",
         "--epochs", "3", "--eval-every", "1", "--train-frac", "0.5"]  # fmt: skip


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def genlab(*args: str, nproc: int = 1, timeout: float = 240) -> subprocess.CompletedProcess:
    if nproc == 1:
        command = [sys.executable, "-m", "genlab", *args]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                   str(nproc), "-m", "genlab", *args]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env())
    return done


def ok(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def close(a: Path, b: Path, atol: float = 1e-5) -> bool:
    x, y = weights(a), weights(b)
    return x.keys() == y.keys() and all(torch.allclose(x[k], y[k], atol=atol, rtol=1e-4) for k in x)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "images.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, (40, 16, 16, 3), dtype=np.uint8))
    return str(path)


def test_two_processes_at_half_the_batch_match_one_process_image_model(tmp_path, data_file):
    # no batch norm and no randomness in a step: the global batch's gradient is the same either way
    ok(genlab("images", "train", "--data", data_file, "--out", str(tmp_path / "one"), *IMAGE))
    ok(genlab("images", "train", "--data", data_file, "--out", str(tmp_path / "two"), *IMAGE, nproc=2))
    assert close(tmp_path / "one" / "last.safetensors", tmp_path / "two" / "last.safetensors")
    records = RunDir(tmp_path / "two").metrics()
    assert [r["step"] for r in records if r.get("type") == "epoch"] == [4, 8]  # one writer: no duplicates


def test_two_processes_at_half_the_batch_match_one_process_arith_model(tmp_path):
    ok(genlab("arith", "train", "--out", str(tmp_path / "one"), *ARITH))
    ok(genlab("arith", "train", "--out", str(tmp_path / "two"), *ARITH, nproc=2))
    assert close(tmp_path / "one" / "last.safetensors", tmp_path / "two" / "last.safetensors", atol=1e-4)


def test_resume_under_two_processes_is_exact_and_one_process_can_continue(tmp_path, data_file):
    common = ["images", "train", "--data", data_file, *IMAGE]
    ok(genlab(*common, "--out", str(tmp_path / "whole"), nproc=2))
    ok(genlab(*common, "--out", str(tmp_path / "cut"), "--max-steps", "3", nproc=2))
    ok(genlab("images", "train", "--out", str(tmp_path / "cut"), "--resume", nproc=2))
    whole = weights(tmp_path / "whole" / "last.safetensors")
    cut = weights(tmp_path / "cut" / "last.safetensors")
    assert all(torch.equal(whole[k], cut[k]) for k in whole)
    ok(genlab(*common, "--out", str(tmp_path / "mixed"), "--max-steps", "3", nproc=2))
    ok(genlab("images", "train", "--out", str(tmp_path / "mixed"), "--resume"))
    assert RunDir(tmp_path / "mixed").load_state()["step"] == RunDir(tmp_path / "whole").load_state()["step"]
    assert close(tmp_path / "whole" / "last.safetensors", tmp_path / "mixed" / "last.safetensors")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_torchrun_agents_on_loopback_train_one_run(tmp_path):
    port = free_port()
    out = tmp_path / "two-nodes"
    agents = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes",
                "2",
                "--nproc-per-node",
                "1",
                "--node-rank",
                str(node),
                "--rdzv-backend",
                "c10d",
                "--rdzv-endpoint",
                f"127.0.0.1:{port}",
                "--rdzv-id",
                "genlab-test",
                "-m",
                "genlab",
                "arith",
                "train",
                "--out",
                str(out),
                *ARITH,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
        )  # fmt: skip
        for node in (0, 1)
    ]
    results = [a.communicate(timeout=240) for a in agents]
    assert [a.returncode for a in agents] == [0, 0], results[0][1][-3000:] + results[1][1][-3000:]
    assert RunDir(out).load_state()["step"] > 0 and (out / "model.safetensors").exists()
    ok(genlab("arith", "train", "--out", str(tmp_path / "one"), *ARITH))
    assert close(tmp_path / "one" / "last.safetensors", out / "last.safetensors", atol=1e-4)


def test_a_rank_that_fails_stops_the_job_with_its_message(tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import os\n"
        "if os.environ.get('RANK') == '1':\n"
        "    import genlab.core.training as training\n"
        "    from genlab.core.errors import GenlabError\n"
        "    def fail(*args, **kwargs):\n"
        "        raise GenlabError('rank 1 could not go on (a test told it to fail)')\n"
        "    training.check_finite_loss = fail\n"
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "genlab", "arith", "train", "--out", str(tmp_path / "run"), *ARITH]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=240,
        env={**env(), "PYTHONPATH": f"{hook}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"},
    )  # fmt: skip
    assert done.returncode != 0
    assert "rank 1 could not go on" in done.stderr
    assert time.perf_counter() - started < 120  # stopped, not hung until a collective times out


def test_batch_size_must_split_over_the_processes(tmp_path):
    done = genlab("arith", "train", "--out", str(tmp_path / "odd"), *ARITH, "--batch-size", "33", nproc=2)
    assert done.returncode != 0 and "must split evenly over 2" in done.stderr


def test_nproc_is_taken_out_of_the_relaunched_command_line():
    argv = ["images", "train", "--nproc", "2", "--out", "r"]
    assert argv_without_nproc(argv) == ["images", "train", "--out", "r"]
    assert argv_without_nproc(["arith", "train", "--nproc=4"]) == ["arith", "train"]


def test_the_nproc_option_launches_torchrun(tmp_path):
    out = tmp_path / "launched"
    ok(genlab("arith", "train", "--out", str(out), *ARITH, "--nproc", "2"))
    assert (out / "model.safetensors").exists() and (out / "figures" / "curves.png").exists()
