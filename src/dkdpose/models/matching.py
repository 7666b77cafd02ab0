"""Matching of pose kernels against frame features (paper Eqn. 2 with the factorization of Eqn. 6).

h_{t+1} = BN(U * (k'_t ⊛_depthwise (V * f_{t+1}))): a 1x1 conv V (C -> C), a per-sample dynamic depthwise S x
S convolution with the distilled kernel bases k'_t, a 1x1 conv U (C -> K), then BatchNorm.

The per-sample convolution has two equal forms (`dynamic_depthwise_conv` picks one):
- `grouped_depthwise_conv`: ONE grouped convolution with the batch folded into the channels (groups = B x C).
  The fastest in PyTorch (one conv kernel call), but an ONNX Conv's group count is a constant of the graph,
  so an exported graph would only take the batch it was traced with.
- `shifted_depthwise_conv`: the sum over the S x S kernel taps of (shifted input x per-sample tap weight),
  elementwise ops that broadcast over any batch (the reference for the export form below).

When exporting to ONNX, `KernelMatching` uses a third form of U * (k' ⊛ x) with no shape constant of the
batch, `tap_matmul_matching`: a spatial shift commutes with the 1x1 conv U, so the matching is one batched
MatMul of the per-tap joint weights U·diag(k'_tap) (B, S*S*K, C) with x (B, C, h*w), then the sum of the
S*S shifted (B, K, h, w) slices. The shifts then move K joint maps instead of C feature channels: at C = 256
and K = 13 this takes about a third of the shifted form's time in ONNX Runtime.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dkdpose.errors import InputError

BN_INIT_SCALE = 0.1  # initial BatchNorm scale of the matching output (see KernelMatching)


def dynamic_depthwise_conv(x: Tensor, kernels: Tensor) -> Tensor:
    """Convolve each sample's channels with its own S x S kernels ('same' padding, S odd).

    x (B, C, h, w), kernels (B, C, S, S) -> (B, C, h, w); sample b only ever sees kernels[b]. The grouped
    form in PyTorch, the batch-agnostic shifted form while exporting to ONNX (module doc).
    """
    if torch.onnx.is_in_onnx_export():
        return shifted_depthwise_conv(x, kernels)
    return grouped_depthwise_conv(x, kernels)


def shifted_depthwise_conv(x: Tensor, kernels: Tensor) -> Tensor:
    """`dynamic_depthwise_conv` as S*S shifted multiply-adds: x (B, C, h, w), kernels (B, C, S, S).

    out[b, c] = sum_{i,j} kernels[b, c, i, j] * x_pad[b, c, i:i+h, j:j+w] (cross-correlation, as F.conv2d),
    with no shape constant of the batch.
    """
    h, w = x.shape[-2:]
    s = kernels.shape[-1]
    padded = F.pad(x, (s // 2, s // 2, s // 2, s // 2))
    out = padded[:, :, :h, :w] * kernels[:, :, :1, :1]
    for i in range(s):
        for j in range(s):
            if i or j:
                out = out + padded[:, :, i : i + h, j : j + w] * kernels[:, :, i : i + 1, j : j + 1]
    return out


def tap_matmul_matching(x: Tensor, kernels: Tensor, joint_weight: Tensor) -> Tensor:
    """U * (kernels ⊛_depthwise x) as one batched MatMul plus S*S shifted sums (the ONNX export form).

    x (B, C, h, w), kernels (B, C, S, S), joint_weight: U's weight (K, C, 1, 1) -> (B, K, h, w), equal to
    `U(dynamic_depthwise_conv(x, kernels))`. Every reshape infers the batch (-1): the graph takes any batch.
    """
    c, h, w = x.shape[1:]
    s, k = kernels.shape[-1], joint_weight.shape[0]
    taps = kernels.flatten(2).transpose(1, 2)  # (B, S*S, C)
    per_tap = joint_weight.view(1, 1, k, c) * taps.unsqueeze(2)  # (B, S*S, K, C): U·diag(k'_tap)
    maps = torch.matmul(per_tap.reshape(-1, s * s * k, c), x.reshape(-1, c, h * w))  # (B, S*S*K, h*w)
    maps = F.pad(maps.reshape(-1, s * s * k, h, w), (s // 2, s // 2, s // 2, s // 2))
    out = maps[:, :k, :h, :w]
    for i in range(s):
        for j in range(s):
            if i or j:
                tap = (i * s + j) * k
                out = out + maps[:, tap : tap + k, i : i + h, j : j + w]
    return out


def grouped_depthwise_conv(x: Tensor, kernels: Tensor) -> Tensor:
    """`dynamic_depthwise_conv` as one grouped F.conv2d: x (B, C, h, w), kernels (B, C, S, S)."""
    b, c, h, w = x.shape
    s = kernels.shape[-1]
    # Fold the batch into the channel axis: groups = B*C turns B per-sample depthwise convs into one conv.
    out = F.conv2d(x.reshape(1, b * c, h, w), kernels.reshape(b * c, 1, s, s), padding=s // 2, groups=b * c)
    return out.view(b, c, h, w)


class KernelMatching(nn.Module):
    """features f (B, C, h, w) and kernel bases k' (B, C, S, S) -> heatmaps (B, K, h, w)."""

    def __init__(self, channels: int = 256, num_joints: int = 13, kernel_size: int = 7):
        super().__init__()
        if kernel_size % 2 != 1:
            raise InputError(
                f"kernel size S must be odd ('same' padding of the dynamic conv), got {kernel_size}"
            )
        self.V = nn.Conv2d(channels, channels, kernel_size=1, bias=False)
        self.U = nn.Conv2d(channels, num_joints, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(num_joints)  # scales the responses of the dynamic kernels (paper 3.2)
        # Start the BN scale small: unit-variance heatmaps are ~25x the variance of Gaussian targets, and
        # RMSprop moves a scale by about lr per step, so gamma = 1 would take thousands of steps to come down.
        nn.init.constant_(self.bn.weight, BN_INIT_SCALE)

    def forward(self, features: Tensor, kernels: Tensor) -> Tensor:
        if torch.onnx.is_in_onnx_export():
            return self.bn(tap_matmul_matching(self.V(features), kernels, self.U.weight))
        return self.bn(self.U(dynamic_depthwise_conv(self.V(features), kernels)))
