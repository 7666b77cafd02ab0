"""Pose kernel distillator Φ (paper section 3.2, Fig. 2c, Eqn. 1 with the factorization of Eqn. 6).

Φ maps the previous frame's features and heatmaps, concat(f_t, h_t), to kernel *bases* k'_t of shape (B, C, S,
S) in one feed-forward pass: three conv+BN+ReLU layers and two pooling layers. The second pooling is adaptive
so that any input size gives S x S bases.

`signed=True` (the default) drops the ReLU of the third layer, so the bases can take either sign: a kernel can
then sharpen and suppress (a centre-surround filter), not only blur. The paper's text lists conv+BN+ReLU for
every layer and is silent on whether the bases are constrained; with the ReLU (`signed=False`, the literal
reading) every basis is >= 0 after the average pooling. The one-shot learner the paper builds on predicts
unconstrained weights.

`pose_gated=True` multiplies f_t by the previous pose before Φ reads it: Φ(f_t ⊙ m_t, h_t) with the mask
m_t = clip(max_j h_t^j, 0, 1) (B, 1, h, w), the union of the joint maps. Φ then only sees the appearance of
the person the pose belongs to, and the kernels cannot be distilled without h_t. The paper (`False`) feeds the
plain concatenation, and leaves it to Φ's three layers to learn where to look.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _pool_matrix(n_in: int, n_out: int, like: Tensor) -> Tensor:
    """(n_out, n_in) averaging matrix with the bins of `adaptive_avg_pool` (floor start, ceil end)."""
    rows = torch.zeros(n_out, n_in, dtype=like.dtype, device=like.device)
    for i in range(n_out):
        start, end = (i * n_in) // n_out, math.ceil((i + 1) * n_in / n_out)
        rows[i, start:end] = 1.0 / (end - start)
    return rows


class AdaptiveAvgPool(nn.Module):
    """Adaptive average pooling to (S, S), written as two matrix products.

    Same numbers as `F.adaptive_avg_pool2d`, but exportable to ONNX when S does not divide the input size:
    ONNX has no adaptive pooling, and the bins only depend on the static shape, so they become constants.
    """

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, h, w) -> (B, C, S, S)."""
        h, w = int(x.shape[-2]), int(x.shape[-1])
        rows, cols = _pool_matrix(h, self.size, x), _pool_matrix(w, self.size, x)
        return rows @ x @ cols.transpose(0, 1)  # (S, h) @ (B, C, h, w) @ (w, S)


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class KernelDistillator(nn.Module):
    """Φ: concat(f_t (B, C, h, w), h_t (B, K, h, w)) -> kernel bases k'_t (B, C, S, S).

    Layers: conv-BN-ReLU at h x w, 2x2 max-pool, two conv-BN(-ReLU) at h/2 x w/2, adaptive avg-pool to S x S;
    the last ReLU only when `signed` is False; f_t masked by the pose when `pose_gated` (module doc).
    """

    def __init__(
        self,
        channels: int = 256,
        num_joints: int = 13,
        kernel_size: int = 7,
        signed: bool = True,
        pose_gated: bool = False,
    ):
        super().__init__()
        last = _conv_bn_relu(channels, channels)
        self.layers = nn.Sequential(
            *_conv_bn_relu(channels + num_joints, channels),
            nn.MaxPool2d(2),
            *_conv_bn_relu(channels, channels),
            *(last[:2] if signed else last),
            AdaptiveAvgPool(kernel_size),
        )
        self.signed = signed
        self.pose_gated = pose_gated
        self.kernel_size = kernel_size

    def forward(self, features: Tensor, heatmaps: Tensor) -> Tensor:
        """features (B, C, h, w), heatmaps (B, K, h, w) -> kernel bases (B, C, S, S)."""
        if self.pose_gated:
            features = features * pose_mask(heatmaps)
        return self.layers(torch.cat([features, heatmaps], dim=1))


def pose_mask(heatmaps: Tensor) -> Tensor:
    """The union of the joint maps (B, K, h, w) -> (B, 1, h, w), clipped to [0, 1]."""
    return heatmaps.amax(dim=1, keepdim=True).clamp(0.0, 1.0)
