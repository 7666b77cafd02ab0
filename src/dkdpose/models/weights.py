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
RESUME_KEYS = ("epoch", "step", "optimizer", "scheduler", "lambda", "best_pck", "rng")
# the model options a checkpoint may record, with the range of the numeric ones: checked before allocating
MODEL_KWARG_RANGES: dict[str, tuple[int, int] | None] = {
    "input_size": (32, 4096), "kernel_size": (1, 31), "channels": (1, 4096), "lstm_hidden": (1, 4096),
    "initializer": None, "pretrained": None, "kernel_signed": None,
    "distill_input": None, "pose_prior": None, "static_head": None, "kernels_from": None,
}  # fmt: skip
MAX_JOINTS = 1000


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
    check_model_kwargs(ckpt, path)
    return ckpt


def check_model_kwargs(ckpt: Mapping[str, Any], path: Path | str) -> None:
    """Refuse unknown model options and sizes outside MODEL_KWARG_RANGES (before anything is allocated)."""
    k = ckpt["num_joints"]
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_JOINTS:
        raise InputError(f"{path}: num_joints must be an int in 1..{MAX_JOINTS}, got {k!r}")
    if not isinstance(ckpt["model"], str) or not isinstance(ckpt["joint_set"], str):
        raise InputError(f"{path}: model and joint_set must be names (strings)")
    for key, value in ckpt["model_kwargs"].items():
        if key not in MODEL_KWARG_RANGES:
            raise InputError(f"{path}: unknown model option {key!r} in model_kwargs "
                             f"(known: {', '.join(MODEL_KWARG_RANGES)})")  # fmt: skip
        bounds = MODEL_KWARG_RANGES[key]
        if bounds is None or (key == "input_size" and value is None):
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not bounds[0] <= value <= bounds[1]:
            lo, hi = bounds
            raise InputError(f"{path}: model_kwargs {key}={value!r} is not an int in {lo}..{hi}")


def check_finite_weights(state_dict: Mapping[str, Any], source: str) -> None:
    """Refuse weights holding NaN or infinite values (a diverged run): they would predict garbage silently."""
    for name, t in state_dict.items():
        if torch.is_tensor(t) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise InputError(f"{source}: weight {name} holds NaN or infinite values (a diverged run?)")


def check_resumable(ckpt: Mapping[str, Any], with_discriminator: bool) -> None:
    """Refuse to resume from a checkpoint without the training state (e.g. weights only)."""
    keys = RESUME_KEYS + (("disc", "optimizer_d", "scheduler_d") if with_discriminator else ())
    missing = [k for k in keys if ckpt.get(k) is None]
    if missing:
        raise InputError(f"{ckpt.get('path', 'checkpoint')}: cannot resume from it: no training state "
                         f"({', '.join(missing)} missing; weights only?)")  # fmt: skip


def load_training_state(opt: Any, scheduler: Any, opt_state: Any, sch_state: Any, source: str) -> None:
    """Load an optimizer and its scheduler state; a mismatch (the model changed) is one InputError."""
    try:
        opt.load_state_dict(opt_state)
        scheduler.load_state_dict(sch_state)
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise InputError(f"{source}: the optimizer state does not fit this model ({_short(e)})") from None


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
    if not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state_dict.items()):
        raise InputError(f"{source}: weights must map names to tensors")
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
