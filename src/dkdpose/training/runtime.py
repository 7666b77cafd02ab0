"""Where and how a training run executes: DDP process group, device, seeds and the RNG state of a resume.

Under `torchrun` (RANK / WORLD_SIZE set) every process joins the group (NCCL on GPU, gloo on CPU) and
trains on its own device; otherwise `Dist()` describes the one process. `rng_state` / `restore_rng` carry
torch, numpy and python RNG states through a weights-only checkpoint, so a resumed run continues the same
random streams.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from dkdpose.devices import resolve_device
from dkdpose.errors import InputError


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_kind: str) -> Dist:
    """Join the process group when started by torchrun (RANK/WORLD_SIZE set): NCCL on GPU, gloo on CPU."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def pick_device(name: str, dd: Dist) -> torch.device:
    """`train.device` (auto | cpu | cuda) -> this process's device (cuda: the local rank's GPU)."""
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("train.device is cuda but no CUDA device is available")
    device = resolve_device(name)
    if device.type == "cuda":
        torch.cuda.set_device(dd.local_rank)
        return torch.device("cuda", dd.local_rank)
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def average_gradients(module: nn.Module, world: int) -> None:
    """All-reduce (mean) the gradients of a module that is not wrapped in DDP."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def unwrap(m: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or `m` itself)."""
    return m.module if isinstance(m, nn.parallel.DistributedDataParallel) else m


def _numpy_rng_state() -> dict:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "gauss": float(gauss)}  # fmt: skip


def rng_state() -> dict:
    """torch, numpy and python RNG states in weights-only-loadable types."""
    version, state, _ = random.getstate()
    return {"torch": torch.get_rng_state(), "numpy": _numpy_rng_state(), "python": [version, *state]}


def restore_rng(rng: dict) -> None:
    torch.set_rng_state(rng["torch"])
    n = rng["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    random.setstate((rng["python"][0], tuple(rng["python"][1:]), None))
