"""Temporal stability beyond the paper: the mean joint acceleration error against the ground truth.

PCK scores every frame on its own, so a prediction that flickers by a few pixels between frames can score as
well as a smooth one. Users of video pose tools notice that flicker first. The acceleration of a joint at
frame t is the second difference a_t = p_{t+1} - 2 p_t + p_{t-1} (px / frame^2); the acceleration error is
||a_t(pred) - a_t(gt)||_2, so true motion (a swing, a jump) costs nothing and only added jitter (or
smoothed-away motion) counts. It is computed where the joint is counted (the PCK rule of `docs/protocol.md`:
visible joints for Penn Action, all for Sub-JHMDB) in all three frames t-1, t, t+1, and normalized by the
person size of frame t (max side of the ground-truth box), given in percent of the person size per frame^2.

The raw second difference of the prediction (`pred_accel_px`) and of the ground truth (`gt_accel_px`) are
reported too: their gap shows whether a model jitters more than the people move.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dkdpose.evaluation.metrics import counted_joints, person_sizes
from dkdpose.skeleton import JointSet


def second_difference(points: np.ndarray) -> np.ndarray:
    """(T, K, 2) points -> (T - 2, K, 2) accelerations p_{t+1} - 2 p_t + p_{t-1}, px / frame^2, t = 1..T-2."""
    p = np.asarray(points, np.float64)
    return p[2:] - 2.0 * p[1:-1] + p[:-2]


def triplet_mask(counted: np.ndarray) -> np.ndarray:
    """(T, K) bool counted joints -> (T - 2, K) bool: counted in frames t-1, t and t+1 (t = 1..T-2)."""
    c = np.asarray(counted, bool)
    return c[2:] & c[1:-1] & c[:-2]


def acceleration_errors(
    pred: np.ndarray, gt: np.ndarray, counted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint acceleration error ||a(pred) - a(gt)|| (T - 2, K) px / frame^2 and its (T - 2, K) bool mask.

    pred, gt (T, K, 2) original-image pixels; counted (T, K) bool. Entries outside the mask are 0 (not NaN:
    uncounted ground truth may hold arbitrary coordinates).
    """
    mask = triplet_mask(counted)  # videos under 3 frames give empty (0, K) arrays
    err = np.linalg.norm(second_difference(pred) - second_difference(np.nan_to_num(gt)), axis=-1)
    return np.where(mask, err, 0.0), mask


@dataclass
class _VideoJitter:
    video_id: str
    err: np.ndarray  # (T-2, K) px / frame^2, 0 outside mask
    err_norm: np.ndarray  # (T-2, K) percent of the person size of the middle frame
    pred_acc: np.ndarray  # (T-2, K) ||a(pred)||
    gt_acc: np.ndarray  # (T-2, K) ||a(gt)||
    mask: np.ndarray  # (T-2, K) bool


@dataclass
class JitterAccumulator:
    """Collects videos (`add`), then pools them (`summary`) or reports each alone (`per_video`)."""

    joint_set: JointSet
    videos: list[_VideoJitter] = field(default_factory=list)

    def add(
        self, video_id: str, pred: np.ndarray, gt: np.ndarray, visibility: np.ndarray, boxes: np.ndarray
    ) -> None:
        """One video: pred, gt (T, K, 2) and boxes (T, 4) original-image pixels, visibility (T, K)."""
        counted = counted_joints(visibility, self.joint_set.visible_only)
        err, mask = acceleration_errors(pred, gt, counted)
        sizes = person_sizes(boxes)[1:-1]  # (T-2,) the middle frame's person size
        err_norm = 100.0 * err / np.maximum(sizes, 1e-6)[:, None]
        pred_acc = np.linalg.norm(second_difference(pred), axis=-1)
        gt_acc = np.linalg.norm(second_difference(np.nan_to_num(gt)), axis=-1)
        self.videos.append(_VideoJitter(video_id, err, err_norm, pred_acc * mask, gt_acc * mask, mask))

    def summary(self) -> dict:
        """Pooled over every counted joint triplet of every video (None where there is none).

        {"triplets": n, "accel_error_px", "accel_error_pct_person", "pred_accel_px", "gt_accel_px"}
        """
        return _summarize(self.videos)

    def per_video(self) -> dict[str, dict]:
        """{video id: the `summary` keys for that video alone}."""
        return {v.video_id: _summarize([v]) for v in self.videos}


def _summarize(videos: list[_VideoJitter]) -> dict:
    n = int(sum(v.mask.sum() for v in videos))

    def mean(attr: str) -> float | None:
        return float(sum(getattr(v, attr).sum() for v in videos) / n) if n else None

    return {
        "triplets": n,
        "accel_error_px": mean("err"),
        "accel_error_pct_person": mean("err_norm"),
        "pred_accel_px": mean("pred_acc"),
        "gt_accel_px": mean("gt_acc"),
    }
