"""Data-parallel training across processes: torchrun's environment, replica synchronisation.

`torchrun --nproc_per_node=N -m core train ...` starts N copies of the command line; each reads
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT, trains on its own shard of the corpus
and keeps its model equal to the others': the book mode averages gradients before every Adam
step, the fast mode merges the replicas' weight changes every `sync_every` steps. Without those
variables a process is alone and nothing here talks to anyone.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import torch
import torch.distributed as dist

from core.config import ConfigError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def start() -> World:
    """Join the process group torchrun describes in the environment; a lone process stays alone.

    Collectives on CPU tensors go through gloo, those on CUDA tensors through NCCL.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
    return current()


def current() -> World:
    if not dist.is_initialized():
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def finish() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def exit_skipping_teardown(code: int) -> NoReturn:
    """End a torchrun process once its work is done and saved, without C++ static destructors.

    About one book-mode rank in eight aborted in them at interpreter exit ("terminate called
    without an active exception", after the run was complete), which torchrun reports as failure.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def local_device(device: torch.device, world: World) -> torch.device:
    """Each process of a node takes its own GPU."""
    if device.type == "cuda" and world.size > 1:
        torch.cuda.set_device(world.local_rank)
        return torch.device("cuda", world.local_rank)
    return device


def shared_path(world: World, path: Path | None) -> Path:
    """Rank 0's `path`, handed to every rank (the others pass None)."""
    if world.size == 1:
        assert path is not None
        return path
    box = [str(path) if world.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return Path(box[0])


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


class Replicas:
    """Keeps the ranks' models equal and lets them agree on step counts, stopping and speed.

    The fast mode's Hogwild SGD changes the tables in place; every sync adds up the ranks'
    changes since the last sync, as Hogwild threads add theirs to shared tables (only later).
    Averaging them instead would shrink every word's learning by the number of ranks: on PTB it
    cost a third of the WordSim353 score (docs/scale.md), while the sum matched one process.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self.tables: list[torch.Tensor] = []  # the weights merged at each sync (none where gradients are averaged)
        self.base: list[torch.Tensor] = []
        self.comm_s = 0.0  # seconds spent in collectives (merges, gradient all-reduces): the scale plan's input

    def share(self, *tables: torch.Tensor) -> None:
        """Merge these weights, changed in place by every rank, at each sync."""
        self.tables.extend(tables)

    def reset(self) -> None:
        """Remember the current tables as the common starting point of the next merge."""
        self.base = [t.clone() for t in self.tables]

    def agree_steps(self, steps: int) -> int:
        count = torch.tensor([steps], dtype=torch.int64)
        dist.all_reduce(count, op=dist.ReduceOp.MAX)
        return int(count)

    def sync(self, stop: bool, tokens_per_s: float) -> tuple[bool, list[float]]:
        """Merge the tables (fast mode); whether any rank asked to stop, and every rank's speed."""
        began = time.perf_counter()
        for table, base in zip(self.tables, self.base, strict=True):
            _merge(table, base)
        self.comm_s += time.perf_counter() - began
        mine = torch.tensor([float(stop), tokens_per_s], dtype=torch.float64)
        every = [torch.zeros_like(mine) for _ in range(self.world.size)]
        dist.all_gather(every, mine)
        return any(bool(t[0]) for t in every), [float(t[1]) for t in every]

    def total(self, values: list[float]) -> list[float]:
        summed = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(summed)
        return summed.tolist()


def _merge(table: torch.Tensor, base: torch.Tensor) -> None:
    """table = base + the sum of every rank's change since base; base = table."""
    delta = table - base
    dist.all_reduce(delta)
    table.copy_(base.add_(delta))


class GradientMean:
    """An optimizer whose step first averages every parameter's gradient over the ranks.

    Each replica then applies the same update to the same parameters, so all stay identical.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, replicas: Replicas) -> None:
        self.optimizer = optimizer
        self.replicas = replicas

    @property
    def state(self) -> dict:
        return self.optimizer.state

    def step(self) -> None:
        began = time.perf_counter()
        for group in self.optimizer.param_groups:
            for param in group["params"]:
                dist.all_reduce(param.grad)
                param.grad /= self.replicas.world.size
        self.replicas.comm_s += time.perf_counter() - began
        self.optimizer.step()


def process_limit(device: str) -> tuple[int, str]:
    """How many local processes a run on `device` may use, and of what: one per GPU on CUDA, else per CPU core."""
    if device in ("cuda", "auto") and torch.cuda.is_available():
        return torch.cuda.device_count(), "GPU"
    return os.cpu_count() or 1, "CPU core"


def check_processes(processes: int, device: str) -> None:
    """Refuse a process count this machine cannot give the device, naming the limit."""
    limit, what = process_limit(device)
    if not 1 <= processes <= limit:
        raise ConfigError(
            "processes", f"{processes} is out of range: this machine allows 1 to {limit} (one per {what})"
        )
