"""Pose kernel distillator Φ (paper section 3.2, Fig. 2c, Eqn. 1 with the factorization of Eqn. 6).

Φ maps the previous frame's features and heatmaps, concat(f_t, h_t), to kernel *bases* k'_t of shape (B, C, S,
S) in one feed-forward pass: three conv+BN+ReLU layers and two pooling layers. The second pooling is adaptive
so that any input size gives S x S bases.

`signed=True` (the default) drops the ReLU of the third layer, so the bases can take either sign: a kernel can
then sharpen and suppress (a centre-surround filter), not only blur. The paper's text lists conv+BN+ReLU for
every layer and is silent on whether the bases are constrained; with the ReLU (`signed=False`, the literal
reading) every basis is >= 0 after the average pooling. The one-shot learner the paper builds on predicts
unconstrained weights.

What Φ reads (`reads`, the config's `model.distill_input`):
- "concat" (the paper): the plain concatenation; Φ's three layers must learn where to look.
- "gated": f_t multiplied by the previous pose before Φ reads it, Φ(f_t ⊙ m_t, h_t) with the mask
  m_t = clip(max_j h_t^j, 0, 1) (B, 1, h, w), the union of the joint maps. Φ then only sees the appearance of
  the person the pose belongs to, and the kernels cannot be distilled without h_t.
- "pooled": Φ's layers map concat(f_t, h_t) to g_t (B, C, h, w) at full resolution (no max-pooling), and the
  last pooling is replaced by a pooling under the pose: k'_t[c, i, j] = Σ_p w_t(p) g_t[c, p + δ_ij], δ_ij the
  (i - S//2, j - S//2) offset of tap (i, j) and w_t = mean over joints of relu(h_t^j) / Σ_p relu(h_t^j). The
  kernels are the S x S neighbourhood of the joints in g_t, a template of what the tracked person looks like
  around its joints (the one-shot template of a Siamese tracker). With h_t zero they are zero: the kernels
  exist only through the pose.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
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


DISTILL_INPUTS = ("concat", "gated", "pooled")  # what Φ reads (module doc); "concat" is the paper's


class KernelDistillator(nn.Module):
    """Φ: concat(f_t (B, C, h, w), h_t (B, K, h, w)) -> kernel bases k'_t (B, C, S, S).

    Layers: conv-BN-ReLU at h x w, 2x2 max-pool, two conv-BN(-ReLU) at h/2 x w/2, adaptive avg-pool to S x S;
    the last ReLU only when `signed` is False. `reads` (module doc): f_t masked by the pose ("gated"), or no
    max-pool and the pooling under the pose instead of the average pooling ("pooled").
    """

    def __init__(
        self,
        channels: int = 256,
        num_joints: int = 13,
        kernel_size: int = 7,
        signed: bool = True,
        reads: str = "concat",
    ):
        super().__init__()
        if reads not in DISTILL_INPUTS:
            raise ValueError(f"reads must be one of {DISTILL_INPUTS}, got {reads!r}")
        last = _conv_bn_relu(channels, channels)
        self.layers = nn.Sequential(
            *_conv_bn_relu(channels + num_joints, channels),
            nn.Identity() if reads == "pooled" else nn.MaxPool2d(2),
            *_conv_bn_relu(channels, channels),
            *(last[:2] if signed else last),
        )
        self.pool = AdaptiveAvgPool(kernel_size)  # no weights: the state dict is the same without it
        self.signed = signed
        self.reads = reads
        self.kernel_size = kernel_size

    def forward(self, features: Tensor, heatmaps: Tensor) -> Tensor:
        """features (B, C, h, w), heatmaps (B, K, h, w) -> kernel bases (B, C, S, S)."""
        if self.reads == "gated":
            features = features * pose_mask(heatmaps)
        out = self.layers(torch.cat([features, heatmaps], dim=1))
        if self.reads == "pooled":
            return pose_pooled_patches(out, heatmaps, self.kernel_size)
        return self.pool(out)


def pose_mask(heatmaps: Tensor) -> Tensor:
    """The union of the joint maps (B, K, h, w) -> (B, 1, h, w), clipped to [0, 1]."""
    return heatmaps.amax(dim=1, keepdim=True).clamp(0.0, 1.0)


def pose_weights(heatmaps: Tensor, eps: float = 1e-6) -> Tensor:
    """(B, K, h, w) -> (B, 1, h, w): the mean over joints of relu(h^j) normalised to sum 1 (zero maps: 0)."""
    positive = heatmaps.clamp(min=0.0)
    per_joint = positive / (positive.sum(dim=(2, 3), keepdim=True) + eps)
    return per_joint.mean(dim=1, keepdim=True)


def pose_pooled_patches(values: Tensor, heatmaps: Tensor, size: int) -> Tensor:
    """S x S neighbourhoods of `values` (B, C, h, w) averaged under `pose_weights(heatmaps)` -> (B, C, S, S).

    out[b, c, i, j] = Σ_p w[b, p] values_pad[b, c, p + (i, j)] (zero padding of S//2), written as S*S shifted
    weighted sums so that it exports to ONNX as plain multiplies.
    """
    h, w = values.shape[-2:]
    weights = pose_weights(heatmaps)
    padded = F.pad(values, (size // 2, size // 2, size // 2, size // 2))
    offsets = [(i, j) for i in range(size) for j in range(size)]
    taps = [(padded[:, :, i : i + h, j : j + w] * weights).sum(dim=(2, 3)) for i, j in offsets]
    return torch.stack(taps, dim=-1).unflatten(-1, (size, size))
