"""Checkpoints: one dict, written atomically, read with `torch.load(weights_only=True)` (runs no code).

A checkpoint dict holds:
    "model": builder name (`dkdpose.models.build.build_model`), "model_kwargs": its keyword options,
    "joint_set": joint set name, "num_joints": K, "state_dict": the model weights,
    "variant", "epoch", and optionally "optimizer", "scheduler", "lambda", "rng", "config".
Loading checks the structure and the expected model / joint set, and turns every mismatch into an InputError
that names the file. `dkdpose.models.build.build_model_from_checkpoint` rebuilds the model of a checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dkdpose.errors import InputError
from dkdpose.io import atomic_path
from dkdpose.skeleton import JOINT_SETS

log = logging.getLogger(__name__)

REQUIRED_KEYS = ("model", "model_kwargs", "joint_set", "num_joints", "state_dict")


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> None:
    """Write `state` (a checkpoint dict, see the module docstring) to `path` atomically."""
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint dict lacks {missing}")  # a caller bug, not bad user input
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(dict(state), tmp)


def _read(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many unrelated types for corrupt or foreign files
        raise InputError(
            f"{path}: not a readable dkdpose checkpoint ({type(e).__name__}: {_short(e)})"
        ) from e
    if not isinstance(ckpt, dict):
        raise InputError(f"{path}: not a dkdpose checkpoint (holds a {type(ckpt).__name__}, not a dict)")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise InputError(f"{path}: not a dkdpose checkpoint (missing {', '.join(missing)})")
    if not isinstance(ckpt["state_dict"], dict) or not isinstance(ckpt["model_kwargs"], dict):
        raise InputError(f"{path}: not a dkdpose checkpoint (state_dict/model_kwargs are not dicts)")
    return ckpt


def load_checkpoint(
    path: str | Path, expect_model: str | None = None, expect_joint_set: str | None = None
) -> dict:
    """Read and validate a checkpoint dict (on CPU). Every problem is an InputError naming `path`.

    `expect_model` / `expect_joint_set`: refuse a checkpoint of another architecture or joint set.
    """
    path = Path(path)
    ckpt = _read(path)
    if expect_model is not None and ckpt["model"] != expect_model:
        raise InputError(f"{path}: checkpoint holds model {ckpt['model']!r}, expected {expect_model!r}")
    if expect_joint_set is not None and ckpt["joint_set"] != expect_joint_set:
        raise InputError(
            f"{path}: checkpoint was trained for joint set {ckpt['joint_set']!r} "
            f"({ckpt['num_joints']} joints), expected {expect_joint_set!r}"
        )
    known = JOINT_SETS.get(ckpt["joint_set"])  # an unknown (user) joint set name: nothing to cross-check
    if known is not None and known.num_joints != ckpt["num_joints"]:
        raise InputError(
            f"{path}: joint set {ckpt['joint_set']!r} has {known.num_joints} joints "
            f"but the checkpoint says {ckpt['num_joints']}"
        )
    ckpt["path"] = str(path)
    return ckpt


def load_state_dict_checked(module: nn.Module, state_dict: Mapping[str, Tensor], source: str) -> None:
    """`module.load_state_dict(strict=True)`; missing/unexpected keys and shape mismatches: one InputError."""
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing weights (e.g. {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected weights (e.g. {unexpected[0]})")
    if shapes:
        problems.append(
            f"{len(shapes)} shape mismatches (e.g. {shapes[0]}: other architecture or joint count?)"
        )
    if problems:
        raise InputError(f"{source}: weights do not fit {type(module).__name__}: {'; '.join(problems)}")
    module.load_state_dict(state_dict, strict=True)


def _short(e: Exception) -> str:
    return " ".join(str(e).split())[:200]
