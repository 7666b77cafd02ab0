"""Tiny models and videos for the inference tests: excited random weights, a walking stick figure.

`tiny_checkpoint` saves a 64 px model whose heatmaps are peaky (so keypoint comparisons mean something);
`person_frames` / `write_video` make a short video of a figure walking right.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from dkdpose.models.build import build_model
from dkdpose.models.weights import save_checkpoint
from dkdpose.skeleton import PENN_ACTION

K = PENN_ACTION.num_joints
TINY = {"input_size": 64, "initializer": "resnet18", "channels": 32, "kernel_size": 3}


def excite(model: nn.Module, seed: int = 0) -> nn.Module:
    """Fan-in scaled random conv weights and BN statistics of one random batch: peaky O(1) heatmaps.

    Freshly initialized models give nearly flat heatmaps whose argmax is decided by rounding noise, which
    would make keypoint comparisons meaningless.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                fan_in = m.weight[0].numel() if isinstance(m, nn.Conv2d) else m.weight.shape[0] * 4
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / math.sqrt(fan_in))
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 1.0  # running stats := this batch's
        model.train()
        model(torch.randn(2, 3, 3, 64, 64, generator=g))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.1
    return model.eval()


def tiny_checkpoint(
    path: Path, name: str = "dkd_r18", joint_set: str = "penn_action", seed: int = 0, **options: object
) -> Path:
    """A 64 px model (ResNet-18 P and F, C = 32, S = 3) with excited random weights, saved as a checkpoint.

    `options`: further `build_model` options (e.g. pose_prior=True), recorded in the checkpoint.
    """
    kwargs = {k: v for k, v in TINY.items() if name.startswith("dkd") or k in ("input_size", "channels")}
    kwargs.update(options)
    k = 15 if joint_set == "sub_jhmdb" else K
    model = excite(build_model(name, k, **kwargs), seed)
    state = {"model": name, "model_kwargs": kwargs, "joint_set": joint_set, "num_joints": k}
    save_checkpoint(path, {**state, "state_dict": model.state_dict(), "variant": "test", "epoch": 0})
    return path


def person_frames(n: int = 6, size: tuple[int, int] = (96, 80), step: float = 4.0) -> list[np.ndarray]:
    """n RGB frames of a stick figure walking right by `step` px per frame on a textured background."""
    w, h = size
    rng = np.random.default_rng(0)
    background = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    frames = []
    for t in range(n):
        img = background.copy()
        cx = 30 + step * t
        cv2.circle(img, (int(cx), 18), 6, (240, 200, 170), -1)
        cv2.line(img, (int(cx), 24), (int(cx), 50), (200, 60, 60), 4)
        for dx in (-10, 10):
            cv2.line(img, (int(cx), 30), (int(cx + dx), 42), (60, 200, 60), 3)
            cv2.line(img, (int(cx), 50), (int(cx + dx), 72), (60, 60, 200), 3)
        frames.append(img)
    return frames


def write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


# --- CUDA tests (tools/gpu_check.sh runs them on a GPU machine) ---------------------------------------------

CUDA_ONLY = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def cuda_model(name: str = "dkd_r18") -> nn.Module:
    """A seeded small model (ResNet-18 P, C = 32) of `name` on the GPU."""
    torch.manual_seed(0)
    return build_model(name, K, initializer="resnet18", channels=32).cuda()


def cuda_clip(batch: int = 2, frames: int = 3) -> torch.Tensor:
    """A seeded random clip (batch, frames, 3, 64, 64) on the GPU."""
    return torch.randn(batch, frames, 3, 64, 64, generator=torch.Generator().manual_seed(1)).cuda()
