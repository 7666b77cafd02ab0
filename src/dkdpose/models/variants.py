"""The variants table: every model name and training variant of the paper's Tables 1-3 in one place.

Three tables, read by everything that needs to know what a name means (config checks, the builder,
training, checkpoints, FLOPs and latency):

- `ARCHITECTURES`: a model family -> its constructor, the `build_model` keyword options it uses (the
  `model:` config keys stored in checkpoints), its family for config checks and its native input size.
- `MODELS`: a model name (`dkd_r18`, `baseline_r50`, ...) -> its architecture and frame-encoder depth.
- `VARIANTS`: a training variant (`train.variant`: dkd, no_tat, sat, ...) -> the architecture it trains,
  its discriminator kind (temporal, spatial or none) and the shortest clip it can train on.

To add a model, add a constructor row to `ARCHITECTURES` (or reuse one) and a name row to `MODELS`; to add
a training variant, add a row to `VARIANTS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from dkdpose.errors import InputError
from dkdpose.models.backbone import DECONV_CHANNELS, parse_depth
from dkdpose.models.dkd import DKD, BaselinePose, DKDConvLSTM, DKDNoPKD
from dkdpose.models.encoders import ENCODER_KINDS
from dkdpose.models.lstm_pm import NATIVE_INPUT, LSTMPoseMachines


@dataclass(frozen=True)
class BuildOptions:
    """The keyword options of `build_model`; each architecture reads the ones it uses."""

    initializer: str = "resnet101"  # backbone of P (DKD family)
    kernel_size: int = 7  # S of the kernel bases (DKD)
    channels: int = DECONV_CHANNELS  # C, the feature / deconv-head width
    pretrained: str | Path | None = None  # ImageNet weights of the ResNet trunks
    lstm_hidden: int = 256  # hidden channels of the ConvLSTM (DKD w-LSTM)
    kernel_signed: bool = True  # signed kernel bases (DKD; False: ReLU before Φ's last pooling)
    distill_input: str = "concat"  # what Φ reads: "concat" (the paper), "gated" or "pooled" (distillator.py)
    pose_prior: bool = False  # DKD: a learned per-joint filter of h_t added to the matching (not the paper)
    static_head: bool = False  # DKD: a static 1x1 classifier of f_t added to the matching (not the paper)
    kernels_from: str = "previous"  # DKD: "previous" frame (the paper) or the "first" frame's kernels kept


# (num_joints, encoder depth or kind, options) -> model
Constructor = Callable[[int, "int | str | None", BuildOptions], nn.Module]


@dataclass(frozen=True)
class Architecture:
    """How one model family is built, and which `model:` config keys it takes."""

    construct: Constructor
    options: tuple[str, ...]  # ModelConfig keys passed to build_model (and stored in checkpoints)
    family: str  # the model-name family a training variant of this architecture needs
    native_input: int = 256


@dataclass(frozen=True)
class ModelSpec:
    """One model name: its architecture and its frame encoder: a ResNet depth, another kind of
    `encoders.build_encoder` ("smallcpm", "mobilenetv3"), or None (none)."""

    architecture: str
    encoder_depth: int | str | None


@dataclass(frozen=True)
class Variant:
    """One training variant (`train.variant`), paper Tables 1-2."""

    architecture: str  # what it trains (a `dkd_r18` model.name becomes `dkd_r18_no_pkd` for no_pkd)
    discriminator: str | None  # "temporal" | "spatial" | None (no adversarial term)
    min_clip_length: int  # shortest data.clip_length it can train on


def _baseline(k: int, depth: int | str | None, o: BuildOptions) -> nn.Module:
    return BaselinePose(k, depth, o.channels, o.pretrained)


def _dkd_common(k: int, depth: int | str | None, o: BuildOptions) -> dict:
    return dict(num_joints=k, encoder_depth=depth, initializer_depth=parse_depth(o.initializer),
                channels=o.channels, pretrained=o.pretrained)  # fmt: skip


def _dkd(k: int, depth: int | str | None, o: BuildOptions) -> nn.Module:
    return DKD(**_dkd_common(k, depth, o), kernel_size=o.kernel_size, kernel_signed=o.kernel_signed,
               distill_input=o.distill_input, pose_prior=o.pose_prior,
               static_head=o.static_head, kernels_from=o.kernels_from)  # fmt: skip


def _dkd_no_pkd(k: int, depth: int | str | None, o: BuildOptions) -> nn.Module:
    return DKDNoPKD(**_dkd_common(k, depth, o))


def _dkd_lstm(k: int, depth: int | str | None, o: BuildOptions) -> nn.Module:
    return DKDConvLSTM(**_dkd_common(k, depth, o), hidden_channels=o.lstm_hidden)


def _lstm_pm(k: int, depth: int | str | None, o: BuildOptions) -> nn.Module:
    if o.pretrained:
        raise InputError("model 'lstm_pm' has no ResNet trunk: ImageNet weights (pretrained) do not apply")
    return LSTMPoseMachines(k)


_DKD_OPTIONS = ("initializer", "kernel_size", "channels")
ARCHITECTURES: dict[str, Architecture] = {
    "baseline": Architecture(_baseline, ("channels",), "baseline"),
    "dkd": Architecture(
        _dkd,
        (*_DKD_OPTIONS, "kernel_signed", "distill_input", "pose_prior", "static_head", "kernels_from"),
        "dkd",
    ),
    "dkd_no_pkd": Architecture(_dkd_no_pkd, _DKD_OPTIONS, "dkd"),
    "dkd_lstm": Architecture(_dkd_lstm, _DKD_OPTIONS, "dkd"),
    "lstm_pm": Architecture(_lstm_pm, (), "lstm_pm", native_input=NATIVE_INPUT),
}

MODELS: dict[str, ModelSpec] = {
    **{f"baseline_r{d}": ModelSpec("baseline", d) for d in (18, 34, 50, 101)},
    **{f"dkd_r{d}": ModelSpec("dkd", d) for d in (18, 34, 50)},
    **{f"dkd_r{d}_no_pkd": ModelSpec("dkd_no_pkd", d) for d in (18, 34, 50)},
    **{f"dkd_r{d}_lstm": ModelSpec("dkd_lstm", d) for d in (18, 34, 50)},
    "lstm_pm": ModelSpec("lstm_pm", None),
    **{f"{fam}_{kind}": ModelSpec(fam, kind) for kind in ENCODER_KINDS for fam in ("dkd", "baseline")},
}

VARIANTS: dict[str, Variant] = {
    "dkd": Variant("dkd", "temporal", 2),  # DKD + temporally adversarial training
    "no_tat": Variant("dkd", None, 2),  # DKD without the discriminator
    "no_pkd": Variant("dkd_no_pkd", "temporal", 2),  # per-frame F + classifier, no distillator
    "sat": Variant("dkd", "spatial", 2),  # DKD + a spatial discriminator (one frame and its heatmaps)
    "lstm": Variant("dkd_lstm", "temporal", 2),  # a ConvLSTM instead of Φ
    "baseline": Variant("baseline", None, 1),  # the single-frame network (stage 1)
    "lstm_pm": Variant("lstm_pm", None, 1),  # LSTM Pose Machines, the peer method
}

DISCRIMINATOR_DEPTH = 18  # ResNet depth of D for models whose encoder is not a ResNet


def scaled_kernel_size(heatmap_size: int) -> int:
    """The odd S that covers the share of the heatmap the paper's S = 7 covers of its 32 x 32 maps (22%).

    12 -> 3, 16 -> 3, 24 -> 5, 32 -> 7, 48 -> 11 (`model.kernel_size: 0`).
    """
    return max(3, 2 * round((7 * heatmap_size / 32 - 1) / 2) + 1)


def model_spec(name: str) -> ModelSpec:
    """The table row of model `name`; InputError naming the known models otherwise."""
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def variant_spec(variant: str) -> Variant:
    if variant not in VARIANTS:
        raise InputError(f"train.variant {variant!r} is not one of {', '.join(VARIANTS)}")
    return VARIANTS[variant]


def family_of(name: str) -> str:
    """The family of model `name` (baseline, dkd or lstm_pm)."""
    return ARCHITECTURES[model_spec(name).architecture].family


def model_for_variant(name: str, variant: str) -> str:
    """The model a variant trains from the config's model.name: `dkd_r18` + `no_pkd` -> `dkd_r18_no_pkd`.

    A name that already is of the variant's architecture, or a variant that trains the family's plain
    architecture (dkd, no_tat, sat), keeps the name.
    """
    spec, arch = model_spec(name), variant_spec(variant).architecture
    if spec.architecture == arch or arch == family_of(name):
        return name
    for other, s in MODELS.items():
        if s.architecture == arch and s.encoder_depth == spec.encoder_depth:
            return other
    raise InputError(f"variant {variant!r} has no model with the encoder of {name!r}")


def variant_options(variant: str, values: dict, input_size: int) -> dict:
    """The `build_model` options of `variant`'s architecture, taken from `values` (the `model:` keys).

    kernel_size 0 becomes the S scaled to the `input_size`'s heatmap, so checkpoints record the S they use.
    """
    options = {key: values[key] for key in ARCHITECTURES[variant_spec(variant).architecture].options}
    if options.get("kernel_size") == 0:
        options["kernel_size"] = scaled_kernel_size(input_size // 8)
    return options


def discriminator_depth(name: str) -> int:
    """The ResNet depth of D for model `name`: its encoder's if that is a ResNet, else DISCRIMINATOR_DEPTH."""
    depth = model_spec(name).encoder_depth
    return depth if isinstance(depth, int) else DISCRIMINATOR_DEPTH


def input_size_for(name: str, size: int) -> int:
    """The input model `name` runs at for a `size` crop of the ResNet models: scaled by its native input
    (lstm_pm: 368 for 256), a multiple of 8."""
    native = ARCHITECTURES[model_spec(name).architecture].native_input
    return size if native == 256 else 8 * max(1, round(size * native / 256 / 8))


def lstm_pm_size(size: int) -> int:
    """LSTM PM's input for the ResNet models' `size`: 368 for 256 (its native size), scaled, multiple of 8."""
    return input_size_for("lstm_pm", size)
