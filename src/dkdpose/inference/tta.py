"""Test-time augmentation: multi-scale and flip testing as parallel streams of one streaming model.

With scales s_1..s_n and flip, a video is n x 2 streams that share every batched step, each stream keeping
its own state (for DKD: its own kernel bases). Heatmaps of every stream are warped into the heatmap grid
of the scale-1, unflipped crop (a similarity transform of the original image, so this is averaging in the
original image over that region; the paper's "seven-scale testing with flipping") and averaged:

    frame -> `stream_crops` (N crops) -> model -> `unflip_streams` -> `fuse_streams` (K, h, w) -> decode
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dkdpose.data.clips import box_center_size
from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.data.transforms import crop_affine, normalize, warp_image
from dkdpose.errors import InputError

# An example seven-scale set for `--scales`: the paper tests at seven scales but does not list them.
SEVEN_SCALES = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)


@dataclass(frozen=True)
class StreamPlan:
    """Which crops run as parallel streams: every (scale, flip) pair, scale-major, unflipped first."""

    scales: tuple[float, ...] = (1.0,)
    flip: bool = False

    def __post_init__(self) -> None:
        if not self.scales or not all(math.isfinite(s) and s > 0 for s in self.scales):
            raise InputError(f"test scales must be positive finite numbers, got {list(self.scales)}")

    @property
    def streams(self) -> list[tuple[float, bool]]:
        return [(s, f) for s in self.scales for f in ((False, True) if self.flip else (False,))]


def parse_scales(text: str) -> tuple[float, ...]:
    """Parse "0.8,1,1.2" -> (0.8, 1.0, 1.2); InputError for anything but a list of positive numbers."""
    try:
        scales = tuple(float(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise InputError(
            f"--scales must be comma-separated numbers such as 0.8,1,1.2, got {text!r}"
        ) from None
    StreamPlan(scales)  # validates
    return scales


def stream_crops(
    image: np.ndarray, box: np.ndarray, plan: StreamPlan, input_size: int, source: str = "image"
) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """Crop one frame for every stream, centred on the box centre (the test-time protocol).

    image (H, W, 3) uint8 RGB, box (4,) x1 y1 x2 y2 original px. Returns crops (N, 3, S, S) normalized, the
    *unflipped* affines (N, 2, 3) original -> crop px of every stream, and the reference affine (2, 3) of the
    scale-1 unflipped crop. A flipped stream's crop is the column mirror of the unflipped crop of its scale
    (exactly the flip of `crop_affine`, see `transforms.py`), and its heatmaps are flipped back
    (`HeatmapCodec.flip_back`) before fusion, so they live in the unflipped crop's grid.
    """
    center, size = box_center_size(np.asarray(box), source)
    out = (input_size, input_size)
    crops, affines, by_scale = [], [], {}
    for scale, flip in plan.streams:
        if scale not in by_scale:
            affine = crop_affine(center, size * scale, 0.0, False, out)
            by_scale[scale] = (torch.from_numpy(normalize(warp_image(image, affine, out))), affine)
        crop, affine = by_scale[scale]
        crops.append(crop.flip(-1) if flip else crop)
        affines.append(affine)
    return torch.stack(crops), np.stack(affines), crop_affine(center, size, 0.0, False, out)


def _h(a: np.ndarray) -> np.ndarray:
    """(2, 3) affine -> (3, 3) homogeneous matrix."""
    return np.vstack([a, [0.0, 0.0, 1.0]])


def fuse_streams(heat: Tensor, affines: np.ndarray, ref_affine: np.ndarray, codec: HeatmapCodec) -> Tensor:
    """Warp every stream's heatmaps into the reference crop's heatmap grid and average them.

    heat (N, K, h, w) (flipped streams already flipped back), affines (N, 2, 3) unflipped original -> crop px,
    ref_affine (2, 3) the reference crop's. Returns (K, h, w) in the reference grid. Where a zoomed-in stream
    does not cover a reference cell it contributes 0 (it has seen nothing there), as in the reference
    multi-scale tests that average padded maps.
    """
    if heat.shape[0] == 1 and np.allclose(affines[0], ref_affine):
        return heat[0]
    _, _, h, w = heat.shape
    cell_to_px = _h(codec.heatmap_to_input_affine)
    ref_cell_to_orig = np.linalg.inv(_h(ref_affine)) @ cell_to_px
    thetas = []
    for affine in affines:
        # grid_sample pulls: for each reference cell, where to read in the stream's grid (ref -> stream cell)
        m = np.linalg.inv(cell_to_px) @ _h(affine) @ ref_cell_to_orig
        thetas.append(_normalized_theta(m, w, h))
    theta = torch.tensor(np.stack(thetas), dtype=torch.float32, device=heat.device)
    grid = F.affine_grid(theta, list(heat.shape), align_corners=True)
    warped = F.grid_sample(heat.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return warped.mean(dim=0)


def stream_pose_heatmaps(
    joints: np.ndarray, visibility: np.ndarray, affines: np.ndarray, plan: StreamPlan, codec: HeatmapCodec,
    flip_index: np.ndarray,
) -> Tensor:
    """A known pose as every stream's heatmaps: what the model would output were it right (a given h_1).

    joints (K, 2) original px, visibility (K,), affines (N, 2, 3) the streams' unflipped original -> crop px
    (`stream_crops`). Returns (N, K, h, w) float32: the codec's Gaussian targets in each stream's crop,
    mirrored with left/right swapped for a flipped stream (the inverse of `unflip_streams`).
    """
    crop_xy = np.einsum("nij,kj->nki", affines[:, :, :2], joints) + affines[:, None, :, 2]  # (N, K, 2)
    vis = np.broadcast_to(np.asarray(visibility), crop_xy.shape[:2])
    heat = torch.from_numpy(codec.encode(crop_xy, vis)[0])
    return unflip_streams(heat, plan, flip_index)


def unflip_streams(heat: Tensor, plan: StreamPlan, flip_index: np.ndarray) -> Tensor:
    """(N, K, h, w) heatmaps of the streams -> flipped streams mirrored back with left/right swapped."""
    if not plan.flip:
        return heat
    flips = torch.tensor([f for _, f in plan.streams], device=heat.device)[:, None, None, None]
    return torch.where(flips, HeatmapCodec.flip_back(heat, flip_index), heat)


def _normalized_theta(m: np.ndarray, w: int, h: int) -> np.ndarray:
    """A (3, 3) cell -> cell map in affine_grid's [-1, 1] frame (align_corners=True: -1 = cell 0's centre)."""
    to_norm = np.array([[2.0 / max(w - 1, 1), 0, -1], [0, 2.0 / max(h - 1, 1), -1], [0, 0, 1]])
    return (to_norm @ m @ np.linalg.inv(to_norm))[:2]
