"""Following people through a video: the crop window, re-initialization decisions and One-Euro smoothing.

All coordinates are 0-based original-image pixels (the frame of `transforms.py`); P = people (streams),
K = joints. A person box is (x1, y1, x2, y2); `frame_crop` turns it into the network's square crop (its longer
side x PADDING 1.25, centred on it).

- `window_from_keypoints`: the crop box for frame t+1 from frame t's keypoints: the tight box of the confident
  joints, expanded by a margin on every side (joints sit inside the body outline: the head top and the feet
  stick out), its size change per frame bounded, then clipped to the frame. Where too few joints are
  confident, the previous box is kept: a guess from one or two joints would drag the window away.
- `ReinitPolicy`: which streams restart with the pose initializer P on the next frame (mean confidence below
  a threshold, or every N frames since the stream's last start).
- `OneEuroFilter`: the adaptive low-pass filter of Casiez et al. (CHI 2012), vectorized over (P, K, 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_CONFIDENT_JOINTS = 3


@dataclass(frozen=True)
class WindowParams:
    """How the crop window follows the keypoints.

    margin: added on every side, as a fraction of the keypoint box's longer side.
    min_score: joints at or above this confidence (heatmap peak) define the box.
    max_growth: the box's longer side may change by at most this factor per frame (both ways).
    min_side: the box's longer side never drops below this fraction of the frame's shorter side.
    """

    margin: float = 0.15
    min_score: float = 0.2
    max_growth: float = 1.5
    min_side: float = 0.05


def clip_box(box: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip boxes (..., 4) x1 y1 x2 y2 to the frame [0, W] x [0, H] (pixel edges)."""
    b = np.asarray(box, dtype=np.float64).copy()
    b[..., 0::2] = np.clip(b[..., 0::2], 0.0, float(width))
    b[..., 1::2] = np.clip(b[..., 1::2], 0.0, float(height))
    return b


def scale_box(box: np.ndarray, factor: float | np.ndarray) -> np.ndarray:
    """Boxes (..., 4) scaled about their centres by `factor` (scalar or (...,))."""
    b = np.asarray(box, dtype=np.float64)
    c = (b[..., :2] + b[..., 2:]) / 2
    half = (b[..., 2:] - b[..., :2]) / 2 * np.asarray(factor, dtype=np.float64)[..., None]
    return np.concatenate([c - half, c + half], axis=-1)


def _side(box: np.ndarray) -> np.ndarray:
    return np.maximum(box[..., 2] - box[..., 0], box[..., 3] - box[..., 1])


def keypoint_boxes(
    keypoints: np.ndarray, scores: np.ndarray, min_score: float
) -> tuple[np.ndarray, np.ndarray]:
    """Tight boxes (P, 4) of the confident, finite joints of keypoints (P, K, 2) / scores (P, K).

    Returns the boxes and a (P,) mask of the people with at least MIN_CONFIDENT_JOINTS such joints (the
    others' boxes are meaningless).
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    ok = (np.asarray(scores) >= min_score) & np.isfinite(kp).all(axis=-1)  # (P, K)
    lo = np.where(ok[..., None], kp, np.inf).min(axis=1)  # (P, 2)
    hi = np.where(ok[..., None], kp, -np.inf).max(axis=1)
    valid = ok.sum(axis=1) >= MIN_CONFIDENT_JOINTS
    boxes = np.where(valid[:, None], np.concatenate([lo, hi], axis=1), 0.0)
    return boxes, valid


def window_from_keypoints(
    keypoints: np.ndarray,
    scores: np.ndarray,
    previous: np.ndarray,
    frame_size: tuple[int, int],
    params: WindowParams = WindowParams(),
) -> np.ndarray:
    """The next frame's crop boxes (P, 4) from this frame's keypoints (P, K, 2) and scores (P, K).

    previous (P, 4): this frame's boxes, kept for a person with too few confident joints. frame_size (W, H).
    """
    width, height = frame_size
    prev = np.asarray(previous, dtype=np.float64)
    tight, valid = keypoint_boxes(keypoints, scores, params.min_score)
    side = np.maximum(_side(tight), 1.0)
    box = tight + np.array([-1.0, -1.0, 1.0, 1.0]) * (params.margin * side)[:, None]
    # Bound the size change: one bad frame may not blow the window up or shrink it onto one limb.
    prev_side = np.maximum(_side(prev), 1.0)
    floor = params.min_side * min(width, height)
    target = np.clip(_side(box), prev_side / params.max_growth, prev_side * params.max_growth)
    box = scale_box(box, np.maximum(target, floor) / np.maximum(_side(box), 1e-9))
    box = clip_box(box, width, height)
    usable = valid & (box[:, 2] - box[:, 0] >= 1.0) & (box[:, 3] - box[:, 1] >= 1.0)
    return np.where(usable[:, None], box, prev)


@dataclass(frozen=True)
class ReinitPolicy:
    """When a stream restarts with P: every `every` frames since its last start (0 = never), and/or when its
    mean joint confidence falls below `below` (None = never)."""

    every: int = 0
    below: float | None = None

    def due(self, since_start: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P,) masks (periodic, low confidence) for the next frame.

        since_start (P,): frames processed since each stream's last start, this frame included
        (1 right after a start); scores (P, K): this frame's joint confidences.
        """
        since = np.asarray(since_start)
        periodic = (since >= self.every) if self.every > 0 else np.zeros(since.shape, bool)
        if self.below is None:
            return periodic, np.zeros(since.shape, bool)
        return periodic, np.asarray(scores, dtype=np.float64).mean(axis=1) < self.below


class OneEuroFilter:
    """One-Euro filter (Casiez, Roussel, Vogel, CHI 2012) over arrays of any fixed shape, e.g. (P, K, 2).

    min_cutoff (Hz): the cut-off at rest (lower = smoother, more lag); beta: how fast the cut-off rises with
    speed (in 1/px for pixel inputs: higher = less lag on fast motion); d_cutoff (Hz): for the speed
    estimate. Time steps are 1 / fps. `reset(mask)` restarts the filter for the rows of the leading axis
    that are set (a re-initialized stream must not be dragged toward its old position).
    """

    def __init__(self, fps: float, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0):
        if not (fps > 0 and min_cutoff > 0 and d_cutoff > 0 and beta >= 0):
            raise ValueError("OneEuroFilter: fps, min_cutoff, d_cutoff must be > 0 and beta >= 0")
        self.dt = 1.0 / float(fps)
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._fresh: np.ndarray | None = None  # (P,) rows that take the next value as is

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray:
        tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
        return 1.0 / (1.0 + tau / self.dt)

    def reset(self, mask: np.ndarray | None = None) -> None:
        """Forget the history of the rows in `mask` (P,), or of everything when None."""
        if mask is None or self._x is None:
            self._x = self._dx = self._fresh = None
        else:
            self._fresh = self._fresh | np.asarray(mask, bool)

    def select(self, rows: np.ndarray) -> None:
        """Reorder the history to rows (P',) of the previous order; -1 is a new row, which starts fresh."""
        rows = np.asarray(rows, np.int64)
        if self._x is None or len(self._x) == 0 or not (rows >= 0).any():
            self._x = self._dx = self._fresh = None  # no history carries over
            return
        idx = np.where(rows >= 0, rows, 0)
        self._x, self._dx = self._x[idx], self._dx[idx]
        self._fresh = self._fresh[idx] | (rows < 0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Filter one new sample x (same shape every call); returns the smoothed sample (float64)."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            self._fresh = np.zeros(x.shape[0], bool)
            return x.copy()
        dx = (x - self._x) / self.dt
        dx_hat = self._dx + self._alpha(self.d_cutoff) * (dx - self._dx)
        a = self._alpha(self.min_cutoff + self.beta * np.abs(dx_hat))
        x_hat = self._x + a * (x - self._x)
        fresh = self._fresh.reshape((-1,) + (1,) * (x.ndim - 1))
        self._x = np.where(fresh, x, x_hat)
        self._dx = np.where(fresh, 0.0, dx_hat)
        self._fresh = np.zeros_like(self._fresh)
        return self._x.copy()
