"""Adversarial discriminators (paper section 3.2 "Temporally adversarial discriminator", Table 2 w-SAT).

Both are BEGAN-style auto-encoders built from the same SimpleBaseline family as the frame encoder F. Heatmaps
are upsampled to the image size and stacked with the images along channels; the output lives at heatmap
resolution.

- `TemporalDiscriminator` D(I_t, h_t, I_{t+1}, h_{t+1}) reconstructs the heatmap change d_t = h_{t+1} - h_t.
- `SpatialDiscriminator` D(I_t, h_t) reconstructs h_t (the spatial adversarial training of Chen et al., ICCV
  2017).
Used in training only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dkdpose.models.backbone import DECONV_CHANNELS, SimpleBaseline


def _stack(image: Tensor, heatmaps: Tensor) -> Tensor:
    """image (B, 3, H, W), heatmaps (B, K, h, w) -> (B, 3 + K, H, W)."""
    up = F.interpolate(heatmaps, size=image.shape[-2:], mode="bilinear", align_corners=False)
    return torch.cat([image, up], dim=1)


class TemporalDiscriminator(nn.Module):
    """(I_t, h_t, I_{t+1}, h_{t+1}), images (B, 3, H, W), heatmaps (B, K, H/8, W/8) -> (B, K, H/8, W/8)."""

    def __init__(self, num_joints: int, depth: int = 18, channels: int = DECONV_CHANNELS):
        super().__init__()
        self.net = SimpleBaseline(num_joints, depth, channels, in_channels=2 * (3 + num_joints))

    def forward(self, image0: Tensor, heat0: Tensor, image1: Tensor, heat1: Tensor) -> Tensor:
        return self.net(torch.cat([_stack(image0, heat0), _stack(image1, heat1)], dim=1))


class SpatialDiscriminator(nn.Module):
    """(I_t, h_t), image (B, 3, H, W), heatmaps (B, K, H/8, W/8) -> reconstructed heatmaps (B, K, H/8, W/8)"""

    def __init__(self, num_joints: int, depth: int = 18, channels: int = DECONV_CHANNELS):
        super().__init__()
        self.net = SimpleBaseline(num_joints, depth, channels, in_channels=3 + num_joints)

    def forward(self, image: Tensor, heat: Tensor) -> Tensor:
        return self.net(_stack(image, heat))
