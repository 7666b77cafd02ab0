"""The one model builder: a model name and keyword options -> a video pose model (see `dkd.py` for the API).

Names (paper Tables 1-3; the rows of `variants.MODELS`):
    baseline_r18, baseline_r34, baseline_r50, baseline_r101   single-frame SimpleBaseline(ResNet-x)
    dkd_r18, dkd_r34, dkd_r50                                 DKD with frame encoder F = ResNet-x
    dkd_rX_no_pkd                                             DKD w/o-PKD (no distillator)
    dkd_rX_lstm                                               DKD w-LSTM (a ConvLSTM replaces the distillator)
    lstm_pm                                                   LSTM Pose Machines (368x368 native input)
    dkd_smallcpm, baseline_smallcpm                           F = CPM with 3x3 kernels (Table 3)
    dkd_mobilenetv3, baseline_mobilenetv3                     F = MobileNetV3-Large to stride 16 + deconv

`build_model_from_checkpoint` rebuilds a checkpoint's model (`weights.py` reads and checks the file) and
`build_discriminator` makes the discriminator D of a training variant.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from dkdpose.errors import InputError
from dkdpose.models.backbone import DECONV_CHANNELS
from dkdpose.models.discriminator import SpatialDiscriminator, TemporalDiscriminator
from dkdpose.models.distillator import DISTILL_INPUTS
from dkdpose.models.dkd import KERNEL_SOURCES
from dkdpose.models.variants import (
    ARCHITECTURES,
    MODELS,
    BuildOptions,
    model_spec,
    scaled_kernel_size,
)
from dkdpose.models.weights import check_finite_weights, load_state_dict_checked

MODEL_NAMES = tuple(MODELS)


def build_model(
    name: str,
    num_joints: int,
    *,
    input_size: int | None = None,
    initializer: str = "resnet101",
    kernel_size: int = 7,
    channels: int = DECONV_CHANNELS,
    pretrained: str | Path | None = None,
    lstm_hidden: int = 256,
    kernel_signed: bool = True,
    distill_input: str = "concat",
    pose_prior: bool = False,
    static_head: bool = False,
    kernels_from: str = "previous",
) -> nn.Module:
    """Build model `name` (one of MODEL_NAMES) for `num_joints` joints.

    input_size: the square input the model is meant for (stored as `model.input_size`; every model is fully
        convolutional and takes any multiple of 8); default: the architecture's native size (256, 368 for
        lstm_pm).
    initializer: backbone of P for the dkd models (default resnet101; e.g. resnet18 for CPU experiments).
    kernel_size: S of the kernel bases (dkd); 0 scales S with the heatmap size (`scaled_kernel_size`).
    kernel_signed: signed kernel bases (dkd; False: the paper-literal ReLU before Φ's last pooling).
    distill_input: what Φ reads (dkd): "concat" (the paper: f_t and h_t), "gated" (f_t masked by h_t) or
        "pooled" (the kernels pooled under h_t); distillator.py.
    pose_prior: add a learned per-joint S x S filter of h_t to DKD's matching output (not in the paper).
    static_head: add a static 1x1 classifier of f_t (filled from stage 1 with F) to DKD's matching output (not
        in the paper).
    kernels_from: "previous" (the paper: Φ of the previous frame for every frame) or "first" (DKD distils the
        kernels once, from frame 1 and h_1, and keeps them for the whole clip or stream; not in the paper).
    channels: C, the feature / deconv-head width (not lstm_pm).
    pretrained: ImageNet weights of the ResNet trunks: a file, a folder of torchvision files or "torchvision".
    lstm_hidden: hidden channels of the ConvLSTM in dkd_rX_lstm.
    Options a model has no use for are ignored. Unknown names and bad values raise InputError.
    """
    if not isinstance(num_joints, int) or num_joints < 1:
        raise InputError(f"model {name!r}: num_joints must be a positive int, got {num_joints!r}")
    spec = model_spec(name)
    arch = ARCHITECTURES[spec.architecture]
    size = check_input_size(int(input_size or arch.native_input), f"model {name!r}: input_size")
    kernel_size = kernel_size or scaled_kernel_size(size // 8)
    _check_choice(name, "kernels_from", kernels_from, KERNEL_SOURCES)
    _check_choice(name, "distill_input", distill_input, DISTILL_INPUTS)
    options = BuildOptions(initializer, kernel_size, channels, pretrained, lstm_hidden, kernel_signed,
                           distill_input, pose_prior, static_head, kernels_from)  # fmt: skip
    model = arch.construct(num_joints, spec.encoder_depth, options)
    model.name = name
    model.num_joints = num_joints
    model.input_size = size
    return model



def _check_choice(name: str, option: str, value: object, choices: tuple[str, ...]) -> None:
    """InputError naming the model and the option when `value` is not one of `choices`."""
    if value not in choices:
        raise InputError(f"model {name!r}: {option} must be one of {', '.join(choices)}, got {value!r}")


def check_input_size(size: int, what: str, minimum: int = 8) -> int:
    """`size` if it is a multiple of 8 (the models' stride) and >= `minimum`, else an InputError."""
    if size % 8 or size < minimum:
        raise InputError(f"{what} must be a multiple of 8 (stride 8) and at least {minimum}, got {size}")
    return size


def build_model_from_checkpoint(ckpt: Mapping[str, Any]) -> nn.Module:
    """Build `ckpt["model"]` with its recorded options and load its weights (ImageNet files are not read)."""
    source = str(ckpt.get("path", "checkpoint"))
    kwargs = {k: v for k, v in ckpt["model_kwargs"].items() if k != "pretrained"}
    check_finite_weights(ckpt["state_dict"], source)
    if "kernel_size" in kwargs:  # checkpoints from before signed bases were trained with non-negative ones
        kwargs.setdefault("kernel_signed", False)
    model = build_model(ckpt["model"], int(ckpt["num_joints"]), **kwargs)
    load_state_dict_checked(model, ckpt["state_dict"], source)
    return model


def build_discriminator(kind: str | None, num_joints: int, depth: int) -> nn.Module | None:
    """D of a training variant: "temporal" (Eqn. 3), "spatial" (one frame and its heatmaps) or None."""
    if kind == "temporal":
        return TemporalDiscriminator(num_joints=num_joints, depth=depth)
    if kind == "spatial":
        return SpatialDiscriminator(num_joints=num_joints, depth=depth)
    return None
