"""Training on a CUDA device: mixed-precision steps (bf16, fp16 with a grad scaler) and one-process NCCL DDP.
Skipped without CUDA; `tools/gpu_check.sh` runs them on a GPU machine."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
from tiny_models import CUDA_ONLY, cuda_clip, cuda_model
from torch import nn

pytestmark = CUDA_ONLY


def _train_step(model: nn.Module, dtype: torch.dtype, scaler: torch.amp.GradScaler | None) -> float:
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-4)
    with torch.autocast("cuda", dtype=dtype):
        loss = model(cuda_clip()).float().square().mean()
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()
    return float(loss)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", ["dkd_r18", "dkd_smallcpm", "dkd_mobilenetv3"])
def test_amp_training_step_gives_finite_loss_and_gradients(name, dtype):
    model = cuda_model(name).train()
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    loss = _train_step(model, dtype, scaler)
    assert np.isfinite(loss)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_one_process_nccl_ddp_step():
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{_free_port()}", world_size=1, rank=0)
    try:
        device = torch.cuda.current_device()
        model = nn.parallel.DistributedDataParallel(cuda_model().train(), device_ids=[device])
        loss = model(cuda_clip()).square().mean()
        loss.backward()
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    finally:
        dist.destroy_process_group()
