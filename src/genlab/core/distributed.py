"""Data-parallel training on PyTorch's own stack: torchrun + DistributedDataParallel.

    torchrun --nproc-per-node 2 -m genlab images train ...      # or: genlab images train ... --nproc 2
    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:PORT -m genlab ...

Under torchrun every process runs the same command. `setup()` reads torchrun's environment, joins
the process group (nccl on CUDA, gloo on CPU) and says which rank this process is. Each rank trains
on a disjoint shard of every global batch (`shard`), whose order depends only on (seed, epoch), so
the run is the same whatever the number of processes, up to float rounding; rank 0 alone writes
the run directory and prints; logged numbers are averaged over ranks (`mean_over_ranks`).
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.run import main as torchrun

from genlab.core.errors import GenlabError
from genlab.core.progress import set_quiet

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Ranks:
    """Where this process stands in a data-parallel job; a plain run is rank 0 of 1."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.world > 1


SINGLE = Ranks()


def launched_by_torchrun() -> bool:
    return all(name in os.environ for name in TORCHRUN_VARIABLES) and int(os.environ["WORLD_SIZE"]) > 1


def setup(device: torch.device) -> tuple[Ranks, torch.device]:
    """Join torchrun's process group (once per process) and pick this rank's device.

    On CUDA each process takes the GPU of its local rank. Ranks other than 0 are quiet: they print
    only errors.
    """
    if not launched_by_torchrun():
        return SINGLE, device
    ranks = Ranks(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]))
    if device.type == "cuda":
        device = torch.device("cuda", ranks.local_rank % max(1, torch.cuda.device_count()))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        # a gloo group left to the interpreter's exit can abort a rank whose peers closed first
        atexit.register(_leave_process_group)
    if not ranks.is_main:
        set_quiet(True)
    return ranks, device


def finish_together() -> None:
    """After a command that succeeded on this rank: meet the other ranks, then leave the group. A gloo
    rank whose peers tore their connections down first can abort at exit ("terminate called without
    an active exception"); a rank that failed never gets here, so its peers cannot wait on it."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _leave_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def check_batch(batch_size: int, ranks: Ranks) -> None:
    if batch_size % ranks.world:
        raise GenlabError(
            f"--batch-size {batch_size} is the global batch and must split evenly over {ranks.world} "
            f"processes: use a multiple of {ranks.world}"
        )


def shard(indices: Any, ranks: Ranks) -> Any:
    """This rank's part of a global batch: every `world`-th item from `rank`."""
    return indices[ranks.rank :: ranks.world] if ranks.parallel else indices


def barrier(ranks: Ranks) -> None:
    if ranks.parallel:
        dist.barrier()


def mean_over_ranks(values: dict[str, float], ranks: Ranks) -> dict[str, float]:
    """Average logged numbers over all ranks (every rank must call it with the same keys)."""
    if not ranks.parallel or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return {k: float(v) / ranks.world for k, v in zip(keys, tensor.tolist(), strict=True)}


def gather_objects(value: Any, ranks: Ranks) -> list[Any]:
    """Every rank's `value`, in rank order (e.g. the RNG states a checkpoint keeps)."""
    if not ranks.parallel:
        return [value]
    out: list[Any] = [None] * ranks.world
    dist.all_gather_object(out, value)
    return out


def wrap(
    module: torch.nn.Module,
    ranks: Ranks,
    device: torch.device,
    sync_batchnorm: bool = False,
    find_unused: bool = False,
) -> Any:
    """DistributedDataParallel around `module` when the job is parallel, else the module itself.

    With `sync_batchnorm` its batch-norm layers share statistics over the global batch (they stay
    the module's own layers, so saved weights keep their names)."""
    if not ranks.parallel:
        return module
    if sync_batchnorm:
        module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(
        module, device_ids=ids, find_unused_parameters=find_unused
    )


def launch(nproc: int, argv: Sequence[str]) -> None:
    """Run this same genlab command under torch's own launcher with `nproc` processes on this machine.

    `argv` is the command line after `genlab`, without --nproc. A failing rank stops the job; its
    message is what that rank printed.
    """
    if nproc < 1:
        raise GenlabError(f"--nproc {nproc}: use 1 or more processes")
    args = ["--standalone", "--nproc-per-node", str(nproc), "-m", "genlab", *argv]
    try:
        torchrun(args)
    except Exception as exc:  # torch's ChildFailedError: the failing rank has printed its error
        raise GenlabError(
            f"the {nproc}-process job failed ({type(exc).__name__}); see the rank's error above"
        ) from None


def argv_without_nproc(argv: Sequence[str] | None = None) -> list[str]:
    """The command line after `genlab`, with `--nproc N` / `--nproc=N` taken out."""
    args = list(sys.argv[1:] if argv is None else argv)
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out
