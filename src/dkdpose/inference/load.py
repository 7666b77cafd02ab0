"""A trained model ready for inference: checkpoint -> (model in eval mode on a device, checkpoint, codec).

The one loader of `dkdpose eval`, `predict`, `export` and `PoseTracker`. The codec's input size and sigma
are the training config's (`data.input_size`, `data.sigma`), else the model's own input size and 2; an
explicit `input_size` overrides the size.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.devices import resolve_device
from dkdpose.errors import InputError
from dkdpose.models.build import build_model_from_checkpoint, check_input_size
from dkdpose.models.weights import load_checkpoint
from dkdpose.skeleton import JOINT_SETS, JointSet, get_joint_set


def load_pose_model(
    weights: str | Path,
    joint_set: str | None = None,
    device: torch.device | str = "cpu",
    input_size: int | None = None,
) -> tuple[nn.Module, dict, HeatmapCodec]:
    """Checkpoint -> (model in eval mode on `device`, checkpoint dict, codec for its input size).

    `joint_set`: refuse weights trained for another joint set; a joint set this package does not know is
    refused too (it has no names or skeleton). `input_size`: run at this square size instead of the
    training size (a multiple of 8, at least 32).
    """
    ckpt = load_checkpoint(weights, expect_joint_set=joint_set)
    checkpoint_joint_set(ckpt)
    dev = resolve_device(device) if isinstance(device, str) else device
    model = build_model_from_checkpoint(ckpt).eval().to(dev)
    return model, ckpt, checkpoint_codec(ckpt, model, input_size)


def checkpoint_codec(ckpt: dict, model: nn.Module, input_size: int | None = None) -> HeatmapCodec:
    """The heatmap codec the checkpoint's model was trained with (or for `input_size`), stride 8."""
    data_cfg = (ckpt.get("config") or {}).get("data") or {}
    size = int(input_size or data_cfg.get("input_size") or getattr(model, "input_size", 256))
    check_input_size(size, f"{ckpt['path']}: input size", minimum=32)
    return HeatmapCodec((size, size), (size // 8, size // 8), float(data_cfg.get("sigma", 2.0)))


def checkpoint_joint_set(ckpt: dict) -> JointSet:
    """The checkpoint's joint set; one this package does not know has no names or skeleton to draw."""
    if ckpt["joint_set"] not in JOINT_SETS:
        known = ", ".join(JOINT_SETS)
        raise InputError(f"{ckpt['path']}: unknown joint set {ckpt['joint_set']!r}; known: {known}")
    return get_joint_set(ckpt["joint_set"])
