"""Training in several processes (DistributedDataParallel): the process group, and what ranks must agree on.

Under `torchrun` every process reads its place from the environment (`from_env`); `launch` starts N local
processes itself (`shoplens train --nproc N`). gloo on CPU, NCCL when CUDA is there. Rank 0 alone writes
checkpoints, the bundle and its reports; every rank trains on its shard of each epoch (DistributedSampler).
"""

from __future__ import annotations

import os
import pickle
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import torch
import torch.distributed as tdist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from shoplens.errors import ShopLensError


@dataclass(frozen=True)
class Dist:
    """This process's place in the run: rank among `world` processes (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def main(self) -> bool:
        """Whether this process writes checkpoints, bundles and reports."""
        return self.rank == 0

    @property
    def device(self) -> torch.device:
        """Where this rank's model lives: its own GPU under NCCL, else the CPU."""
        if self.world > 1 and tdist.get_backend() == "nccl":
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model as this rank trains it: DistributedDataParallel across ranks, itself alone."""
        if self.world == 1:
            return model
        ids = [self.local_rank] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def sum(self, *values: float) -> list[float]:
        """The values summed over all ranks."""
        if self.world == 1:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
        return t.tolist()

    def max(self, value: float) -> float:
        """The largest of the ranks' values (progress by wall time: every rank stops at the same step)."""
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
        return float(t.item())

    def sync_buffers(self, model: nn.Module) -> None:
        """Rank 0's BatchNorm statistics everywhere, so that every rank validates the same model."""
        if self.world > 1:
            for buf in model.buffers():
                tdist.broadcast(buf, src=0)

    def share(self, obj: Any) -> Any:
        """Rank 0's value of obj on every rank (e.g. a timestamped output folder)."""
        if self.world == 1:
            return obj
        box = [obj]
        tdist.broadcast_object_list(box, src=0)
        return box[0]


def from_env() -> Dist:
    """This process's place from torchrun's variables (RANK, WORLD_SIZE, …), joining the group; one process if unset."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not tdist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(local_rank)
        tdist.init_process_group("nccl" if cuda else "gloo")
    return Dist(rank, world, local_rank, int(os.environ.get("LOCAL_WORLD_SIZE", str(world))))


def under_torchrun() -> bool:
    """Whether torchrun (or `launch`) started this process as one rank of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def leave(code: int = 0) -> NoReturn:
    """End this rank's process now with this exit code, skipping Python's finalization (why: below)."""
    # gloo's worker threads free a finished collective's tensors after the caller has its result. If the
    # interpreter is finalizing by then, their GIL request ends the thread inside a destructor: SIGABRT
    # ("terminate called without an active exception"), a finished run reported as a crash.
    if tdist.is_initialized():
        tdist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _worker(rank: int, world: int, port: int, fn: Callable[..., Any], args: tuple, result: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
    )
    try:
        value = fn(*args)
        if rank == 0:
            with open(result, "wb") as fh:
                pickle.dump(value, fh)
    except BaseException:
        if tdist.is_initialized():
            tdist.destroy_process_group()
        raise  # torch's spawn records it for `launch`
    leave(0)


def launch(nproc: int, fn: Callable[..., Any], *args: Any) -> Any:
    """Run fn(*args) in nproc new local processes forming one group; returns rank 0's result."""
    if nproc < 1:
        raise ShopLensError(f"--nproc must be at least 1, got {nproc}")
    with tempfile.TemporaryDirectory(prefix="shoplens-launch-") as tmp:
        result = os.path.join(tmp, "rank0.pickle")
        try:
            mp.start_processes(
                _worker, args=(nproc, _free_port(), fn, args, result), nprocs=nproc, start_method="spawn"
            )
        except mp.ProcessRaisedException as e:
            raise ShopLensError(f"a training process failed: {str(e).strip().splitlines()[-1]}") from e
        except mp.ProcessExitedException as e:  # killed, or aborted in native code
            raise ShopLensError(f"a training process failed: {e}") from e
        with open(result, "rb") as fh:
            return pickle.load(fh)
