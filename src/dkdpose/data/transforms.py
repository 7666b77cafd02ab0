"""Affine crop helpers and clip augmentation parameters (the paper's section 4.1: scale, rotation, flip).

Coordinate frame: 0-based pixels with integer coordinates at pixel *centres* (pixel (i, j) covers
[i - 0.5, i + 0.5] x [j - 0.5, j + 0.5]); this is the frame `cv2.warpAffine` samples in. An affine `A` is a
(2, 3) float64 matrix mapping a point p = (x, y) of one image to `A[:, :2] @ p + A[:, 2]` in another.

The crop follows SimpleBaseline: the person centre goes to the crop centre ((W - 1) / 2, (H - 1) / 2), the
person size times the padding 1.25 fits the crop's shorter side (aspect kept: one uniform scale, no
distortion), the rotation turns about the centre, and the flip mirrors about the crop's vertical centre line,
x -> W - 1 - x. That mirror is exactly what `np.flip` / `torch.flip` do to the crop's columns, so flip testing
needs no pixel shift.

Everything random is drawn from a passed `numpy.random.Generator`, so a clip's augmentation is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

PADDING = 1.25  # crop side = person size * PADDING (SimpleBaseline)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)  # RGB
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # RGB -> grey (ITU-R 601), as torchvision


def crop_affine(
    center: Sequence[float] | np.ndarray,
    size: float,
    rotation_deg: float,
    flip: bool,
    out_size: tuple[int, int],
) -> np.ndarray:
    """(2, 3) affine from original-image pixels to crop pixels.

    `center` (2,) x, y in original pixels; `size` the person size in original pixels (scalar, e.g. the longer
    box side, already times any augmentation scale); `rotation_deg` turns the content counter-clockwise on
    screen (the sense of `cv2.getRotationMatrix2D`); `flip` mirrors the crop horizontally; `out_size` (W, H)
    of the crop.
    """
    if not (math.isfinite(size) and size > 0):
        raise ValueError(f"crop size must be a positive finite number, got {size}")
    w, h = out_size
    zoom = min(w, h) / (size * PADDING)  # crop pixels per original pixel
    a = math.radians(rotation_deg)
    # Rotation with y pointing down: counter-clockwise on screen is [[cos, sin], [-sin, cos]].
    m = zoom * np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    if flip:
        m[0] = -m[0]  # mirror the x axis about the crop centre
    crop_centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    t = crop_centre - m @ np.asarray(center, dtype=np.float64)
    return np.concatenate([m, t[:, None]], axis=1)


def invert_affine(affine: np.ndarray) -> np.ndarray:
    """(2, 3) inverse of a (2, 3) affine (e.g. crop pixels -> original pixels)."""
    m, t = affine[:, :2].astype(np.float64), affine[:, 2].astype(np.float64)
    m_inv = np.linalg.inv(m)
    return np.concatenate([m_inv, (-m_inv @ t)[:, None]], axis=1)


def apply_affine_points(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map points (..., 2) x, y through a (2, 3) affine; returns (..., 2) float64. NaN stays NaN."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ affine[:, :2].T.astype(np.float64) + affine[:, 2].astype(np.float64)


def warp_image(image: np.ndarray, affine: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """Warp an (H0, W0[, C]) image into an (H, W[, C]) crop: bilinear, zero outside the source."""
    return cv2.warpAffine(
        image, affine.astype(np.float64), tuple(int(v) for v in out_size),
        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )  # fmt: skip


def flip_joints(
    joints: np.ndarray, visibility: np.ndarray, flip_index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Swap left/right joint channels: joints (..., K, 2), visibility (..., K) -> same shapes.

    Only the channel order changes; the coordinates must already be mirrored (by a flipping affine). After a
    mirror the person's left arm looks like a right arm, so it must be labelled as one.
    """
    idx = np.asarray(flip_index)
    return joints[..., idx, :], visibility[..., idx]


@dataclass(frozen=True)
class ClipParams:
    """One clip's augmentation: the same for every frame of the clip."""

    scale: float = 1.0  # multiplies the person size: > 1 zooms out
    rotation_deg: float = 0.0
    flip: bool = False
    brightness: float = 1.0  # multiplicative factors; 1 = unchanged
    contrast: float = 1.0
    saturation: float = 1.0


@dataclass(frozen=True)
class ClipAugment:
    """Ranges of the clip augmentation (paper: scale U[0.8, 1.4], rotation U[-40, 40] deg, flip p = 0.5)."""

    scale_range: tuple[float, float] = (0.8, 1.4)
    max_rotation_deg: float = 40.0
    flip_prob: float = 0.5
    brightness: float = 0.2  # factors drawn from U[1 - b, 1 + b]: "light" jitter
    contrast: float = 0.2
    saturation: float = 0.2

    def sample(self, rng: np.random.Generator) -> ClipParams:
        """Draw one clip's parameters from `rng` (a fixed number of draws, in a fixed order)."""
        u = rng.uniform(size=6)
        lo, hi = self.scale_range
        return ClipParams(
            scale=float(lo + (hi - lo) * u[0]),
            rotation_deg=float(self.max_rotation_deg * (2 * u[1] - 1)),
            flip=bool(u[2] < self.flip_prob),
            brightness=float(1 + self.brightness * (2 * u[3] - 1)),
            contrast=float(1 + self.contrast * (2 * u[4] - 1)),
            saturation=float(1 + self.saturation * (2 * u[5] - 1)),
        )


def color_jitter(image: np.ndarray, params: ClipParams) -> np.ndarray:
    """Brightness, contrast, saturation (in this order) on an (H, W, 3) RGB float image in [0, 1].

    The result is clipped to [0, 1]. Contrast blends with the frame's mean grey and saturation with each
    pixel's grey, as torchvision does.
    """
    img = image * np.float32(params.brightness)
    if params.contrast != 1.0:
        mean = np.float32((img @ _LUMA).mean())
        img = (img - mean) * np.float32(params.contrast) + mean
    if params.saturation != 1.0:
        grey = (img @ _LUMA)[..., None]
        img = (img - grey) * np.float32(params.saturation) + grey
    return np.clip(img, 0.0, 1.0, out=img)


_NORM_SCALE = (1.0 / IMAGENET_STD).reshape(3, 1, 1)
_NORM_OFFSET = (-IMAGENET_MEAN / IMAGENET_STD).reshape(3, 1, 1)


def normalize(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB, uint8 in [0, 255] or float in [0, 1] -> (3, H, W) float32 ImageNet-normalized.

    (x - mean) / std as one scale and one offset per channel, written channel-first in one pass (this runs
    once per frame and stream in `predict`).
    """
    scale = _NORM_SCALE / np.float32(255.0) if image.dtype == np.uint8 else _NORM_SCALE
    img = image.transpose(2, 0, 1).astype(np.float32, order="C")
    img *= scale
    img += _NORM_OFFSET
    return img
