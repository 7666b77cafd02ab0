"""The one model builder: a model name and keyword options -> a video pose model (see `dkd.py` for the API).

Names (paper Tables 1-3):
    baseline_r18, baseline_r34, baseline_r50, baseline_r101   single-frame SimpleBaseline(ResNet-x)
    dkd_r18, dkd_r34, dkd_r50                                 DKD with frame encoder F = ResNet-x
    dkd_rX_no_pkd                                             DKD w/o-PKD (no distillator)
    dkd_rX_lstm                                               DKD w-LSTM (a ConvLSTM replaces the distillator)
    lstm_pm                                                   LSTM Pose Machines (368x368 native input)
"""

from __future__ import annotations

import re
from pathlib import Path

from torch import nn

from dkdpose.errors import InputError
from dkdpose.models.backbone import DECONV_CHANNELS, parse_depth
from dkdpose.models.dkd import DKD, BaselinePose, DKDConvLSTM, DKDNoPKD
from dkdpose.models.lstm_pm import NATIVE_INPUT, LSTMPoseMachines

BASELINE_DEPTHS = (18, 34, 50, 101)
DKD_DEPTHS = (18, 34, 50)
MODEL_NAMES = (
    *(f"baseline_r{d}" for d in BASELINE_DEPTHS),
    *(f"dkd_r{d}{v}" for v in ("", "_no_pkd", "_lstm") for d in DKD_DEPTHS),
    "lstm_pm",
)
_NAME = re.compile(r"(baseline|dkd)_r(\d+)(_no_pkd|_lstm)?")


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
) -> nn.Module:
    """Build model `name` (one of MODEL_NAMES) for `num_joints` joints.

    input_size: the square input the model is meant for (stored as `model.input_size`; every model is fully
        convolutional and takes any multiple of 8); default 256, 368 for lstm_pm.
    initializer: backbone of P for the dkd models (default resnet101; e.g. resnet18 for CPU experiments).
    kernel_size: S of the kernel bases (dkd); channels: C, the feature / deconv-head width (not lstm_pm).
    pretrained: ImageNet weights of the ResNet trunks: a file, a folder of torchvision files or "torchvision".
    lstm_hidden: hidden channels of the ConvLSTM in dkd_rX_lstm.
    Options a model has no use for are ignored. Unknown names and bad values raise InputError.
    """
    if not isinstance(num_joints, int) or num_joints < 1:
        raise InputError(f"model {name!r}: num_joints must be a positive int, got {num_joints!r}")
    model = _construct(name, num_joints, initializer, kernel_size, channels, pretrained, lstm_hidden)
    model.name = name
    model.num_joints = num_joints
    model.input_size = int(input_size or (NATIVE_INPUT if name == "lstm_pm" else 256))
    if model.input_size % 8:
        raise InputError(
            f"model {name!r}: input_size must be a multiple of 8 (stride 8), got {model.input_size}"
        )
    return model


def _construct(
    name: str,
    num_joints: int,
    initializer: str,
    kernel_size: int,
    channels: int,
    pretrained: str | Path | None,
    lstm_hidden: int,
) -> nn.Module:
    if name == "lstm_pm":
        if pretrained:
            raise InputError(
                "model 'lstm_pm' has no ResNet trunk: ImageNet weights (pretrained) do not apply"
            )
        return LSTMPoseMachines(num_joints)
    m = _NAME.fullmatch(name)
    if m is None or name not in MODEL_NAMES:
        raise InputError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    family, depth, variant = m.group(1), int(m.group(2)), m.group(3)
    if family == "baseline":
        return BaselinePose(num_joints, depth, channels, pretrained)
    common = dict(num_joints=num_joints, encoder_depth=depth, initializer_depth=parse_depth(initializer))
    if variant == "_no_pkd":
        return DKDNoPKD(**common, channels=channels, pretrained=pretrained)
    if variant == "_lstm":
        return DKDConvLSTM(**common, channels=channels, hidden_channels=lstm_hidden, pretrained=pretrained)
    return DKD(**common, channels=channels, kernel_size=kernel_size, pretrained=pretrained)
