"""PCK exactly as in `docs/protocol.md` (the protocol of the DKD paper, Sec. 4.1, and of LSTM Pose Machines).

For every frame and counted joint j, in original-image pixels: `hit = ||pred_j - gt_j|| <= alpha * L`, where L
is the person size (max side of the ground-truth box) or the torso size (ground-truth distance between the
dataset's torso pair; under 1 px, the same distance on the prediction). Penn Action counts only visible
joints, Sub-JHMDB all. Mean = pooled hits / counted; per joint = hits_j / counted_j; groups = mean of their
joints' values; group `Mean` = mean of the seven groups. All values are percentages (0-100).

Pure functions on arrays do the work; `PCKAccumulator` collects videos and produces the score dict of the
protocol, PCK-vs-alpha curves and a per-video breakdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dkdpose.skeleton import GROUP_NAMES, JointSet

NORMS = ("person", "torso")
CURVE_ALPHAS = tuple(round(0.01 * i, 2) for i in range(21))  # 0.00 .. 0.20, the paper's PCK-vs-alpha range


def joint_distances(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N, K) Euclidean distances between predicted and ground-truth joints, both (N, K, 2) in pixels."""
    return np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=-1)


def person_sizes(boxes: np.ndarray) -> np.ndarray:
    """(N,) person size max(x2 - x1, y2 - y1) of (N, 4) ground-truth boxes x1 y1 x2 y2."""
    b = np.asarray(boxes, np.float64)
    return np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])


def torso_sizes(gt: np.ndarray, pred: np.ndarray, torso: tuple[int, int]) -> np.ndarray:
    """(N,) ground-truth distance between the torso joints; where it is under 1 px, the prediction's distance.

    gt, pred: (N, K, 2) pixels; torso: the joint pair of `JointSet.torso`.
    """
    a, b = torso
    gt_size = np.linalg.norm(np.asarray(gt, np.float64)[:, a] - np.asarray(gt, np.float64)[:, b], axis=-1)
    pred_size = np.linalg.norm(
        np.asarray(pred, np.float64)[:, a] - np.asarray(pred, np.float64)[:, b], axis=-1
    )
    return np.where(gt_size < 1.0, pred_size, gt_size)


def counted_joints(visibility: np.ndarray, visible_only: bool) -> np.ndarray:
    """(N, K) bool: which joints PCK counts (visible ones for Penn Action, all for Sub-JHMDB)."""
    vis = np.asarray(visibility)
    return vis > 0 if visible_only else np.ones(vis.shape, dtype=bool)


def pck_hits(distances: np.ndarray, sizes: np.ndarray, alpha: float) -> np.ndarray:
    """(N, K) bool: distance <= alpha * size (`<=`, as the protocol says), sizes (N,)."""
    return distances <= alpha * sizes[:, None]


def pck_summary(hits: np.ndarray, counted: np.ndarray, joint_set: JointSet) -> dict:
    """Percentages {"mean", "per_joint": {name: ..}, "groups": {Head .. Ank, Mean}} from (N, K) bool arrays.

    A joint (or group, or the whole) with nothing counted is None, and is left out of the means above it.
    """
    hits = hits & counted
    per_joint = [_percent(h, c) for h, c in zip(hits.sum(0), counted.sum(0), strict=True)]
    groups = {g: _mean([per_joint[j] for j in joint_set.groups[g]]) for g in GROUP_NAMES}
    groups["Mean"] = _mean(list(groups.values()))
    return {
        "mean": _percent(hits.sum(), counted.sum()),
        "per_joint": dict(zip(joint_set.names, per_joint, strict=True)),
        "groups": groups,
    }


def _percent(hits: int, counted: int) -> float | None:
    return 100.0 * float(hits) / float(counted) if counted > 0 else None


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


@dataclass
class _Video:
    video_id: str
    distances: np.ndarray  # (T, K) px
    sizes: dict[str, np.ndarray]  # norm -> (T,) px
    counted: np.ndarray  # (T, K) bool


@dataclass
class PCKAccumulator:
    """Collects videos, then scores them: `add(...)` per video, `score(alpha)` for the protocol's dict."""

    joint_set: JointSet
    videos: list[_Video] = field(default_factory=list)

    def add(
        self, video_id: str, pred: np.ndarray, gt: np.ndarray, visibility: np.ndarray, boxes: np.ndarray
    ) -> None:
        """One video: pred, gt (T, K, 2) and boxes (T, 4) in original-image pixels, visibility (T, K)."""
        sizes = {"person": person_sizes(boxes), "torso": torso_sizes(gt, pred, self.joint_set.torso)}
        counted = counted_joints(visibility, self.joint_set.visible_only)
        self.videos.append(_Video(video_id, joint_distances(pred, gt), sizes, counted))

    @property
    def frames(self) -> int:
        return sum(len(v.distances) for v in self.videos)

    @property
    def joints_counted(self) -> int:
        return int(sum(v.counted.sum() for v in self.videos))

    def summary(self, norm: str, alpha: float) -> dict:
        """`pck_summary` over all videos, normalized by "person" or "torso" size."""
        return pck_summary(self._hits(norm, alpha), self._counted(), self.joint_set)

    def curves(self, alphas: tuple[float, ...] = CURVE_ALPHAS) -> dict:
        """PCK-vs-alpha: {"alpha": [..], "person"|"torso": {"mean": [..], "groups": {Head .. Mean: [..]}}}."""
        out: dict = {"alpha": list(alphas)}
        for norm in NORMS:
            rows = [self.summary(norm, a) for a in alphas]
            out[norm] = {
                "mean": [r["mean"] for r in rows],
                "groups": {g: [r["groups"][g] for r in rows] for g in (*GROUP_NAMES, "Mean")},
            }
        return out

    def per_video(self, alpha: float) -> dict:
        """{video id: {"frames", "joints_counted", "person", "torso"}}: pooled PCK of each video alone."""
        out = {}
        for v in self.videos:
            row = {"frames": len(v.distances), "joints_counted": int(v.counted.sum())}
            for norm in NORMS:
                hits = pck_hits(v.distances, v.sizes[norm], alpha) & v.counted
                row[norm] = _percent(hits.sum(), v.counted.sum())
            out[v.video_id] = row
        return out

    def score(self, alpha: float, dataset: str, split: int | None) -> dict:
        """The score dict of `docs/protocol.md`, plus "videos", "curves" and "per_video"."""
        return {
            "dataset": dataset,
            "split": split,
            "alpha": alpha,
            "frames": self.frames,
            "joints_counted": self.joints_counted,
            **{norm: self.summary(norm, alpha) for norm in NORMS},
            "videos": len(self.videos),
            "curves": self.curves(),
            "per_video": self.per_video(alpha),
        }

    def _hits(self, norm: str, alpha: float) -> np.ndarray:
        empty = np.zeros((0, self.joint_set.num_joints), dtype=bool)
        return np.concatenate([empty] + [pck_hits(v.distances, v.sizes[norm], alpha) for v in self.videos])

    def _counted(self) -> np.ndarray:
        empty = np.zeros((0, self.joint_set.num_joints), dtype=bool)
        return np.concatenate([empty] + [v.counted for v in self.videos])
