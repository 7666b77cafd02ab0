"""LSTM Pose Machines (Luo et al., CVPR 2018), the DKD paper's comparison peer (Table 3: 70.98 GFlops, 25 ms).

Built layer for layer from the authors' deploy networks (github.com/lawy623/LSTM_Pose_Machines,
`model/PENN/LSTM_deploy2.prototxt` and `model/sub-JHMDB/LSTM_deploy1.prototxt`): 368x368 input, stride 8.

- encoder (shared by all frames >= 1): three 9x9 conv-128 + ReLU, each followed by a 3x3/2 max-pool (Caffe's
  ceil rounding), then a 5x5 conv-32 + ReLU -> (B, 32, H/8, W/8);
- stage 1 (first frame only, CPM stage 1 with its own weights): the same four convs, then 9x9 conv-512, 1x1
  conv-512 (each + ReLU + dropout) and 1x1 conv to K+1 belief maps (joints + background);
- LSTM: 3x3 gates, 48 hidden channels, over concat(encoder features, previous K+1 belief maps, Gaussian centre
  map); for frame 1 the previous maps are stage 1's and the memory starts at zero;
- decoder: three 11x11 conv-128, a 1x1 conv-128 (each + ReLU) and a 1x1 conv to K+1.
The model returns the K joint maps; the background map only travels in the recurrent state.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dkdpose.models.convlstm import ConvLSTMCell

CENTRE_SIGMA_PX = 21.0  # the CPM/LSTM-PM centre-map Gaussian, in input pixels
NATIVE_INPUT = 368


def _conv(in_channels: int, out_channels: int, kernel_size: int, relu: bool = True) -> list[nn.Module]:
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
    return [conv, nn.ReLU(inplace=True)] if relu else [conv]


def _pool() -> nn.Module:
    return nn.MaxPool2d(3, stride=2, ceil_mode=True)  # Caffe pooling rounds up: 368 -> 184 -> 92 -> 46


def _encoder_layers() -> list[nn.Module]:
    return [
        *_conv(3, 128, 9), _pool(), *_conv(128, 128, 9), _pool(), *_conv(128, 128, 9), _pool(),
        *_conv(128, 32, 5),
    ]  # fmt: skip


def centre_map(like: Tensor, stride: int = 8, sigma: float = CENTRE_SIGMA_PX) -> Tensor:
    """Gaussian at the crop centre, sampled at the stride-8 cell centres: like (B, _, h, w) -> (B, 1, h, w)"""
    b, _, h, w = like.shape
    ys = torch.arange(h, device=like.device, dtype=like.dtype) * stride + (stride - 1) / 2
    xs = torch.arange(w, device=like.device, dtype=like.dtype) * stride + (stride - 1) / 2
    cy, cx = h * stride / 2, w * stride / 2
    g = torch.exp(-((ys[:, None] - cy) ** 2 + (xs[None, :] - cx) ** 2) / (2 * sigma**2))
    return g.expand(b, 1, h, w)


class LSTMPoseMachines(nn.Module):
    """Video model with the dkdpose API: `forward` (B, T, 3, H, W) -> (B, T, K, H/8, W/8); stream state is
    (previous K+1 belief maps, LSTM hidden, LSTM cell)."""

    def __init__(self, num_joints: int, hidden_channels: int = 48):
        super().__init__()
        maps = num_joints + 1
        self.stage1 = nn.Sequential(
            *_encoder_layers(),
            *_conv(32, 512, 9), nn.Dropout(0.5), *_conv(512, 512, 1), nn.Dropout(0.5),
            *_conv(512, maps, 1, relu=False),
        )  # fmt: skip
        self.encoder = nn.Sequential(*_encoder_layers())
        # Gate biases (input, forget, output, candidate) as initialized by the authors' Scale layers.
        self.lstm = ConvLSTMCell(32 + maps + 1, hidden_channels, 3, gate_bias=(1.4, 1.0, 0.2, 0.0))
        self.decoder = nn.Sequential(
            *_conv(hidden_channels, 128, 11), *_conv(128, 128, 11), *_conv(128, 128, 11), *_conv(128, 128, 1),
            *_conv(128, maps, 1, relu=False),
        )  # fmt: skip
        for m in (*self.stage1, *self.encoder, *self.decoder):  # the prototxts' gaussian(0.01) fillers
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        self.num_joints = num_joints
        self.initializer, self.distillator = None, None  # no P / Φ: stage 1 plays P's part

    def _recur(
        self, feats: Tensor, prev_maps: Tensor, memory: tuple[Tensor, Tensor] | None
    ) -> tuple[Tensor, ...]:
        """One LSTM + decoder step: feats (B, 32, h, w), prev_maps (B, K+1, h, w) -> (maps, hidden, cell)."""
        x = torch.cat([feats, prev_maps, centre_map(feats)], dim=1)
        hidden, cell = self.lstm(x, self.lstm.zero_state(x) if memory is None else memory)
        return self.decoder(hidden), hidden, cell

    def init_stream(self, frame: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        state = self._recur(self.encoder(frame), self.stage1(frame), None)
        return state[0][:, : self.num_joints], state

    def step(self, frame: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        maps, hidden, cell = state
        state = self._recur(self.encoder(frame), maps, (hidden, cell))
        return state[0][:, : self.num_joints], state

    def single_frame(self, frame: Tensor) -> Tensor:
        """(B, 3, H, W) -> (B, K, H/8, W/8): the first-frame path (stage 1, LSTM, decoder)."""
        return self.init_stream(frame)[0]

    def forward(self, clip: Tensor) -> Tensor:
        feats = self.encoder(clip.flatten(0, 1)).unflatten(0, clip.shape[:2])  # (B, T, 32, h, w), one batch
        state = self._recur(feats[:, 0], self.stage1(clip[:, 0]), None)
        out = [state[0]]
        for t in range(1, clip.shape[1]):
            state = self._recur(feats[:, t], state[0], state[1:])
            out.append(state[0])
        return torch.stack(out, dim=1)[:, :, : self.num_joints]
