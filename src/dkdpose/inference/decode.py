"""Heatmaps -> keypoints in original-image pixels: the one decode step of eval, predict and PoseTracker.

    heatmaps (N, K or K+1, h, w) -> `joint_heatmaps` (N, K, h, w) -> codec.decode (crop px)
             -> inverse crop affine -> keypoints (N, K, 2) original px, scores (N, K) (heatmap peaks)
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.data.transforms import apply_affine_points, invert_affine
from dkdpose.errors import InputError


def joint_heatmaps(heat: Tensor, k: int, codec: HeatmapCodec, source: str) -> Tensor:
    """(N, K or K+1, h, w) -> (N, K, h, w): a trailing background map (CPM / LSTM PM style) is dropped.

    Heatmaps of another size than the codec's would decode to wrong pixels, so they are refused, as are
    other channel counts; `source` names the video (and frame) in the message.
    """
    w, h = codec.heatmap_size
    if tuple(heat.shape[-2:]) != (h, w):
        raise InputError(
            f"{source}: the model gives {tuple(heat.shape[-2:])} heatmaps for "
            f"{codec.input_size} input, expected {(h, w)} (stride 8)"
        )
    if heat.shape[1] not in (k, k + 1):
        raise InputError(f"{source}: the model gives {heat.shape[1]} heatmaps, the joint set has {k} joints")
    return heat[:, :k]


def decode_to_image(
    heat: Tensor, affines: np.ndarray, codec: HeatmapCodec, dtype: type = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (N, K, h, w) of crops with affines (N, 2, 3) original -> crop px -> keypoints (N, K, 2)
    original px, scores (N, K) (peak values), both of `dtype`.

    A single crop may be given unbatched: heat (K, h, w) and affine (2, 3) -> (K, 2), (K,).
    """
    single = heat.dim() == 3
    heat, affines = (heat[None], np.asarray(affines)[None]) if single else (heat, np.asarray(affines))
    coords, scores = codec.decode(heat.float().cpu())
    kp = np.stack(
        [apply_affine_points(invert_affine(a), c) for a, c in zip(affines, coords.numpy(), strict=True)]
    ).astype(dtype)
    sc = scores.numpy().astype(dtype)
    return (kp[0], sc[0]) if single else (kp, sc)
