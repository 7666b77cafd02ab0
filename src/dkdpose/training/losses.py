"""Losses of DKD training (paper section 3.1, Eqns. 3, 4, 5 and 7).

- `pose_l2`: ℓ2 between predicted and target heatmaps, masked by the target weights (Eqn. 3 per frame).
- `heatmap_change`: d_t = h_{t+1} - h_t over a clip.
- `reconstruction_l2`: ℓ2 between a discriminator's reconstruction and its target (d^f vs d, d^r vs d̂).
- `update_lambda`: the balance of Eqn. 7, clipped to [0, 1].

ℓ2 is the mean squared error, averaged over joints and pixels and summed over time, as in the paper's sums.
"""

from __future__ import annotations

import torch
from torch import Tensor


def pose_l2(pred: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Σ_t ℓ2(h_t, ĥ_t) with unlabelled joints masked out.

    pred, target: (B, T, K, h, w); weight: (B, T, K) in {0, 1}. Returns a scalar: the per-frame mean
    squared error over joints and pixels (SimpleBaseline's JointsMSELoss without its 0.5), summed over the T
    frames and averaged over the batch.
    """
    w = weight[..., None, None]
    per_frame = ((pred - target) ** 2 * w).mean(dim=(2, 3, 4))  # (B, T)
    return per_frame.sum(dim=1).mean()


def heatmap_change(heatmaps: Tensor) -> Tensor:
    """d_t = h_{t+1} - h_t. (B, T, K, h, w) -> (B, T-1, K, h, w)."""
    return heatmaps[:, 1:] - heatmaps[:, :-1]


def reconstruction_l2(reconstruction: Tensor, target: Tensor) -> Tensor:
    """Σ_t ℓ2(d_t^*, d_t): two (B, N, K, h, w) -> scalar (mean over K, h, w; sum over N; mean over B)."""
    return ((reconstruction - target) ** 2).mean(dim=(2, 3, 4)).sum(dim=1).mean()


def update_lambda(lam: float, real_l2: float, fake_l2: float, gamma: float) -> float:
    """Eqn. 7: λ ← λ + γ (Σ ℓ2(d^r, d̂) − Σ ℓ2(d^f, d)), kept in [0, 1].

    When the discriminator reconstructs real changes worse than fake ones (the generator fools it), λ
    grows and the discriminator's objective puts more weight on pushing fake reconstructions away.
    """
    return float(min(1.0, max(0.0, lam + gamma * (real_l2 - fake_l2))))


def is_finite(*values: Tensor) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in values)
