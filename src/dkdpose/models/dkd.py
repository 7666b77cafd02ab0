"""The video pose models of the paper (section 3.2, Fig. 2a, Tables 1-2): DKD, its ablations, the Baseline.

Every model here has the same API:

- `forward(clip)`: clip (B, T, 3, H, W) -> heatmaps (B, T, K, H/8, W/8), differentiable through time
  (training).
- `init_stream(frame)` -> `(heat, state)` and `step(frame, state)` -> `(heat, state)`: frame (B, 3, H, W),
  heat (B, K, H/8, W/8), state a tuple of tensors. Stepping through a clip gives `forward`'s heatmaps (eval
  mode).
- `single_frame(frame)`: (B, 3, H, W) -> (B, K, H/8, W/8), the network pre-trained in stage 1.
- `initializer` (P), `encoder` (F), `distillator` (Φ) attributes (None where a model has no such part) and
  `load_initializer_state` / `load_encoder_state` to start from a stage-1 single-frame checkpoint
  (`stage1_parts` names the parts they fill).

Models:
- `BaselinePose`: SimpleBaseline on every frame (stateless).
- `DKD`: P on frame 1; then Φ(f_t, h_t) -> kernel bases, matched against f_{t+1} = F(I_{t+1}) (Eqns. 1, 2, 6).
- `DKDNoPKD` (w/o-PKD): P on frame 1, then F + a static 1x1 classifier (no distillator, stateless).
- `DKDConvLSTM` (w-LSTM): P on frame 1, then a ConvLSTM over concat(f_t, h_{t-1}) instead of Φ and matching.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from dkdpose.errors import InputError
from dkdpose.models.backbone import DECONV_CHANNELS, SimpleBaseline
from dkdpose.models.convlstm import ConvLSTMCell
from dkdpose.models.distillator import KernelDistillator
from dkdpose.models.encoders import build_encoder
from dkdpose.models.matching import KernelMatching
from dkdpose.models.weights import load_state_dict_checked

State = tuple[Tensor, ...]

# Prefixes under which a single-frame network (SimpleBaseline) sits in the models of this module.
_SINGLE_FRAME_PREFIXES = ("net.", "initializer.")


def single_frame_state(state_dict: Mapping[str, Tensor], source: str) -> dict[str, Tensor]:
    """The SimpleBaseline weights inside a Baseline (`net.*`) or DKD-family (`initializer.*`) state dict."""
    for prefix in _SINGLE_FRAME_PREFIXES:
        sub = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
        if sub:
            return sub
    raise InputError(f"{source}: holds no single-frame pose network (no 'net.*' or 'initializer.*' weights)")


def load_classifier_state(classifier: nn.Module, state_dict: Mapping[str, Tensor], source: str) -> None:
    """Copy the 1x1 classifier of a stage-1 single-frame network (Baseline or DKD) into `classifier`."""
    sub = single_frame_state(state_dict, source)
    cls = {k.removeprefix("classifier."): v for k, v in sub.items() if k.startswith("classifier.")}
    load_state_dict_checked(classifier, cls, source)


class _VideoPoseModel(nn.Module):
    """Shared parts: the stage-1 loaders and `single_frame` (P, or the Baseline's network)."""

    initializer: SimpleBaseline
    encoder: nn.Module  # F: PoseBackbone or an encoder of encoders.py
    distillator: nn.Module | None  # set in __init__: a class-level None would shadow the registered submodule
    # whether init_stream(frame, first_heatmaps) starts the stream from a given h_1 that later frames use
    takes_first_pose = False

    def single_frame(self, frame: Tensor) -> Tensor:
        """(B, 3, H, W) -> (B, K, H/8, W/8) with the single-frame network (P, or the Baseline's network)."""
        return self.initializer(frame)

    def load_initializer_state(
        self, state_dict: Mapping[str, Tensor], source: str | Path = "state dict"
    ) -> None:
        """Copy a stage-1 single-frame network (Baseline or DKD family) into P (InputError on mismatch)."""
        load_state_dict_checked(self.initializer, single_frame_state(state_dict, str(source)), str(source))

    def stage1_parts(self, initializer: bool, encoder: bool) -> list[nn.Module]:
        """The parts `load_initializer_state` (initializer) and `load_encoder_state` (encoder) fill."""
        return ([self.initializer] if initializer else []) + ([self.encoder] if encoder else [])

    def load_encoder_state(self, state_dict: Mapping[str, Tensor], source: str | Path = "state dict") -> None:
        """Copy backbone + deconv head of a stage-1 single-frame network into F (InputError on mismatch)."""
        sub = single_frame_state(state_dict, str(source))
        feats = {k.removeprefix("features."): v for k, v in sub.items() if k.startswith("features.")}
        load_state_dict_checked(self.encoder, feats, str(source))


class BaselinePose(_VideoPoseModel):
    """Single-frame Baseline(ResNet-x) applied to every frame independently; its stream state is ()."""

    def __init__(
        self,
        num_joints: int,
        depth: int | str = 18,
        channels: int = DECONV_CHANNELS,
        pretrained: str | Path | None = None,
    ):
        """depth: a ResNet depth or another encoder kind of `encoders.build_encoder` ("smallcpm", ...)."""
        super().__init__()
        features = build_encoder(depth, channels, pretrained)
        self.net = SimpleBaseline(num_joints, channels=channels, features=features)
        self.distillator = None

    @property
    def initializer(self) -> SimpleBaseline:  # stage 1 trains the whole network
        return self.net

    @property
    def encoder(self) -> nn.Module:
        return self.net.features

    def forward(self, clip: Tensor) -> Tensor:
        """(B, T, 3, H, W) -> (B, T, K, H/8, W/8)."""
        return self.net(clip.flatten(0, 1)).unflatten(0, clip.shape[:2])

    def init_stream(self, frame: Tensor) -> tuple[Tensor, State]:
        return self.net(frame), ()

    def step(self, frame: Tensor, state: State) -> tuple[Tensor, State]:
        return self.net(frame), ()


class _InitializedVideoModel(_VideoPoseModel):
    """P (SimpleBaseline, default ResNet-101) on the first frame, F on every later frame.

    F is a PoseBackbone for a ResNet `encoder_depth`, or the `encoders.build_encoder` kind "smallcpm" or
    "mobilenetv3".
    """

    def __init__(
        self,
        num_joints: int,
        encoder_depth: int | str,
        initializer_depth: int,
        channels: int,
        pretrained: str | Path | None,
    ):
        super().__init__()
        # P and F share the head width C: stage-1 Baselines built with one `channels` value initialize both.
        self.initializer = SimpleBaseline(num_joints, initializer_depth, channels, pretrained=pretrained)
        # ImageNet weights are for P's ResNet and a ResNet / MobileNet F; SmallCPM has none.
        f_pretrained = None if encoder_depth == "smallcpm" else pretrained
        self.encoder = build_encoder(encoder_depth, channels, f_pretrained)
        self.distillator = None  # DKD replaces it with Φ

    def _encode_clip(self, clip: Tensor) -> Tensor:
        """F on all frames as one batch: (B, T, 3, H, W) -> (B, T, C, H/8, W/8)."""
        return self.encoder(clip.flatten(0, 1)).unflatten(0, clip.shape[:2])


POSE_INPUTS = ("predicted", "zero", "scramble")
# Where DKD's kernels for frame t+1 come from: "previous" (the paper: Φ(f_t, h_t)) or "first" (Φ(f_1, h_1),
# distilled once and kept: a one-shot template of the person frame 1's pose names; not in the paper)
KERNEL_SOURCES = ("previous", "first")


class DKD(_InitializedVideoModel):
    """Dynamic Kernel Distillation; stream state (k'_t,): the kernel bases (B, C, S, S) for the next frame
    (and h_t (B, K, h, w) with the pose prior).

    `pose_input` is a diagnostic switch for what Φ reads as h_t: "predicted" (the model), "zero" (no pose) or
    "scramble" (each joint's channel replaced by the next joint's map). How much accuracy the last two lose
    shows how much DKD uses the pose it carries from frame to frame (`dkdpose eval --pose-input`).
    """

    pose_input = "predicted"
    takes_first_pose = True

    def __init__(
        self,
        num_joints: int,
        encoder_depth: int | str = 18,
        initializer_depth: int = 101,
        channels: int = DECONV_CHANNELS,
        kernel_size: int = 7,
        pretrained: str | Path | None = None,
        kernel_signed: bool = True,
        distill_input: str = "concat",
        pose_prior: bool = False,
        static_head: bool = False,
        kernels_from: str = "previous",
    ):
        super().__init__(num_joints, encoder_depth, initializer_depth, channels, pretrained)
        self.kernels_from = kernels_from  # KERNEL_SOURCES: with "first" the stream keeps frame 1's kernels
        self.distillator = KernelDistillator(
            channels, num_joints, kernel_size, signed=kernel_signed, reads=distill_input
        )
        self.matching = KernelMatching(channels, num_joints, kernel_size)
        # Not in the paper (model.pose_prior): a per-joint S x S filter of h_t added to the matching output,
        # zero at the start. The kernels are applied everywhere, so they carry what the person looks like;
        # this carries where each joint was.
        self.prior = None
        if pose_prior:
            self.prior = nn.Conv2d(num_joints, num_joints, kernel_size, padding=kernel_size // 2,
                                   groups=num_joints, bias=False)  # fmt: skip
            nn.init.zeros_(self.prior.weight)
        # Not in the paper (model.static_head): the single-frame network's 1x1 classifier of f_t, filled from
        # stage 1 with F, added to the matching output. The model starts as the single-frame network plus the
        # kernels' term, so what the kernels add on top of a static head can be measured.
        self.classifier = nn.Conv2d(channels, num_joints, kernel_size=1) if static_head else None

    def stage1_parts(self, initializer: bool, encoder: bool) -> list[nn.Module]:
        extra = [self.classifier] if encoder and self.classifier is not None else []
        return super().stage1_parts(initializer, encoder) + extra

    def load_encoder_state(self, state_dict: Mapping[str, Tensor], source: str | Path = "state dict") -> None:
        """F, and with the static head its classifier, from the same stage-1 single-frame network."""
        super().load_encoder_state(state_dict, source)
        if self.classifier is not None:
            load_classifier_state(self.classifier, state_dict, str(source))

    def forward(self, clip: Tensor, first_heatmaps: Tensor | None = None) -> Tensor:
        """(B, T, 3, H, W) -> (B, T, K, H/8, W/8); h_t feeds Φ undetached (gradients flow through time).

        first_heatmaps (B, K, H/8, W/8): h_1 given instead of P's output (a diagnostic: h_1 = ground truth).
        """
        feats = self._encode_clip(clip)  # (B, T, C, h, w)
        heat = self.initializer(clip[:, 0]) if first_heatmaps is None else first_heatmaps
        out, kernels, first = [heat], None, heat
        for t in range(1, clip.shape[1]):
            if kernels is None or self.kernels_from == "previous":
                kernels = self._kernels(feats[:, t - 1], heat)
            heat = self._match(feats[:, t], kernels, heat if self.kernels_from == "previous" else first)
            out.append(heat)
        return torch.stack(out, dim=1)

    def init_stream(self, frame: Tensor, first_heatmaps: Tensor | None = None) -> tuple[Tensor, State]:
        """h_1 = P(I_1) and the kernel bases Φ(F(I_1), h_1) for frame 2.

        first_heatmaps (B, K, H/8, W/8): h_1 given instead of P's output (a known first pose, e.g. annotated).
        """
        heat = self.initializer(frame) if first_heatmaps is None else first_heatmaps
        return heat, self._state(self._kernels(self.encoder(frame), heat), heat)

    def step(self, frame: Tensor, state: State) -> tuple[Tensor, State]:
        """h_{t+1} from the kernels in `state` and F(I_{t+1}); returns the kernels for frame t+2 (with
        `kernels_from` "first" the state is kept: frame 1's kernels, and h_1 for the pose prior)."""
        feats = self.encoder(frame)
        heat = self._match(feats, state[0], state[1] if self.prior is not None else None)
        if self.kernels_from == "first":  # the stream's memory stays frame 1's: its kernels (and its pose)
            return heat, state
        return heat, self._state(self._kernels(feats, heat), heat)

    def _state(self, kernels: Tensor, heat: Tensor) -> State:
        """(k'_t,), and h_t after it when the pose prior needs it."""
        return (kernels,) if self.prior is None else (kernels, heat)

    def _match(self, feats: Tensor, kernels: Tensor, previous: Tensor | None) -> Tensor:
        """h_{t+1} = matching(f_{t+1}, k'_t), plus the static head's map and the filtered h_t if present."""
        heat = self.matching(feats, kernels)
        if self.classifier is not None:
            heat = heat + self.classifier(feats)
        return heat if self.prior is None else heat + self.prior(previous)

    def _kernels(self, feats: Tensor, heat: Tensor) -> Tensor:
        """Φ(f_t (B, C, h, w), h_t (B, K, h, w)) -> (B, C, S, S), h_t as `pose_input` says."""
        if self.pose_input == "zero":
            heat = torch.zeros_like(heat)
        elif self.pose_input == "scramble":
            heat = heat.roll(1, dims=1)
        return self.distillator(feats, heat)


def set_pose_input(model: nn.Module, mode: str) -> None:
    """Switch what a DKD model's Φ reads as h_t (POSE_INPUTS); InputError for other models or modes."""
    if mode not in POSE_INPUTS:
        raise InputError(f"pose input must be one of {', '.join(POSE_INPUTS)}, got {mode!r}")
    if mode != "predicted" and not isinstance(model, DKD):
        raise InputError(f"pose input {mode!r} needs a DKD model (Φ reads h_t), not {type(model).__name__}")
    if isinstance(model, DKD):
        model.pose_input = mode


class DKDNoPKD(_InitializedVideoModel):
    """DKD w/o-PKD: P on frame 1, then F + a static 1x1 classifier per frame; stream state ()."""

    def __init__(
        self,
        num_joints: int,
        encoder_depth: int | str = 18,
        initializer_depth: int = 101,
        channels: int = DECONV_CHANNELS,
        pretrained: str | Path | None = None,
    ):
        super().__init__(num_joints, encoder_depth, initializer_depth, channels, pretrained)
        self.classifier = nn.Conv2d(channels, num_joints, kernel_size=1)

    def stage1_parts(self, initializer: bool, encoder: bool) -> list[nn.Module]:
        return super().stage1_parts(initializer, encoder) + ([self.classifier] if encoder else [])

    def load_encoder_state(self, state_dict: Mapping[str, Tensor], source: str | Path = "state dict") -> None:
        """F and the classifier come from the same stage-1 single-frame network."""
        super().load_encoder_state(state_dict, source)
        load_classifier_state(self.classifier, state_dict, str(source))

    def forward(self, clip: Tensor) -> Tensor:
        first = self.initializer(clip[:, 0]).unsqueeze(1)
        rest = self.classifier(self._encode_clip(clip[:, 1:]).flatten(0, 1)).unflatten(0, (clip.shape[0], -1))
        return torch.cat([first, rest], dim=1)

    def init_stream(self, frame: Tensor) -> tuple[Tensor, State]:
        return self.initializer(frame), ()

    def step(self, frame: Tensor, state: State) -> tuple[Tensor, State]:
        return self.classifier(self.encoder(frame)), ()


class DKDConvLSTM(_InitializedVideoModel):
    """DKD w-LSTM: a ConvLSTM over concat(f_t, h_{t-1}) replaces Φ and matching; state (h_t, hidden, cell)."""

    takes_first_pose = True

    def __init__(
        self,
        num_joints: int,
        encoder_depth: int | str = 34,
        initializer_depth: int = 101,
        channels: int = DECONV_CHANNELS,
        hidden_channels: int = 256,
        pretrained: str | Path | None = None,
    ):
        super().__init__(num_joints, encoder_depth, initializer_depth, channels, pretrained)
        self.lstm = ConvLSTMCell(channels + num_joints, hidden_channels, kernel_size=3)
        self.classifier = nn.Sequential(
            nn.Conv2d(hidden_channels, num_joints, kernel_size=1, bias=False), nn.BatchNorm2d(num_joints)
        )

    def _start(self, feats: Tensor, heat: Tensor) -> State:
        """Memory after frame 1: the LSTM reads (f_1, h_1) from a zero state."""
        x = torch.cat([feats, heat], dim=1)
        return (heat, *self.lstm(x, self.lstm.zero_state(x)))

    def _advance(self, feats: Tensor, state: State) -> tuple[Tensor, State]:
        heat, hidden, cell = state
        hidden, cell = self.lstm(torch.cat([feats, heat], dim=1), (hidden, cell))
        heat = self.classifier(hidden)
        return heat, (heat, hidden, cell)

    def forward(self, clip: Tensor, first_heatmaps: Tensor | None = None) -> Tensor:
        """(B, T, 3, H, W) -> (B, T, K, H/8, W/8); first_heatmaps (B, K, H/8, W/8): a given h_1."""
        feats = self._encode_clip(clip)
        heat = self.initializer(clip[:, 0]) if first_heatmaps is None else first_heatmaps
        state, out = self._start(feats[:, 0], heat), [heat]
        for t in range(1, clip.shape[1]):
            heat, state = self._advance(feats[:, t], state)
            out.append(heat)
        return torch.stack(out, dim=1)

    def init_stream(self, frame: Tensor, first_heatmaps: Tensor | None = None) -> tuple[Tensor, State]:
        """h_1 = P(I_1) (or the given first_heatmaps (B, K, H/8, W/8)) and the memory after frame 1."""
        heat = self.initializer(frame) if first_heatmaps is None else first_heatmaps
        return heat, self._start(self.encoder(frame), heat)

    def step(self, frame: Tensor, state: State) -> tuple[Tensor, State]:
        return self._advance(self.encoder(frame), state)
