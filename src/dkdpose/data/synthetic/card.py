"""The dataset card (`card.json`) and the contact sheet (`contact_sheet.png`) of a synthetic benchmark.

Both are computed from what was written to disk, through the project's own readers: the card's figures are
those a user of the dataset would measure from its labels, not the generator's intentions. Besides the
layout's standard fields, each label file carries `distractor_bbox` (T x 4, 1-based x1 y1 x2 y2, NaN rows
where there is no distractor) and the distractor's joints `distractor_x`, `distractor_y` (T x K): the card
uses the box for the share of frames in which a distractor's box overlaps the target's box.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from dkdpose.data._files import load_mat, mat_numeric
from dkdpose.data.readers import read_records
from dkdpose.data.records import VideoRecord
from dkdpose.errors import InputError
from dkdpose.skeleton import get_joint_set


def label_path(root: Path, record: VideoRecord) -> Path:
    """The label file of one video of a synthetic benchmark in either layout."""
    if record.joint_set == "penn_action":
        return root / "labels" / f"{record.video_id}.mat"
    return root / "joint_positions" / record.video_id / "joint_positions.mat"


def distractor_boxes(root: Path, record: VideoRecord) -> np.ndarray:
    """(T, 4) 0-based distractor boxes of one video (NaN rows without a distractor), from its label file."""
    return read_distractor_labels(label_path(root, record))[0]


def read_distractor_labels(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The distractor's (T, 4) boxes and (T, K, 2) joints, 0-based pixels, NaN where it is absent, from one
    label file; joints None for label files written without them. InputError for a file that is not a
    synthetic benchmark's, or whose fields have the wrong shape."""
    data = load_mat(path, (), optional=("distractor_bbox", "distractor_x", "distractor_y"))
    if "distractor_bbox" not in data:
        raise InputError(f"{path}: no distractor_bbox (not a synthetic benchmark)")
    boxes = mat_numeric(data["distractor_bbox"], path, "distractor_bbox", ndim=2).reshape(-1, 4) - 1.0
    if "distractor_x" not in data or "distractor_y" not in data:
        return boxes, None
    x, y = (mat_numeric(data[f], path, f, ndim=2) for f in ("distractor_x", "distractor_y"))
    if x.shape != y.shape or x.shape[0] != boxes.shape[0]:
        raise InputError(f"{path}: distractor_x {x.shape} and distractor_y {y.shape} must both be "
                         f"({boxes.shape[0]} frames, joints)")  # fmt: skip
    return boxes, np.stack([x, y], axis=-1) - 1.0


def boxes_overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T,) True where inclusive-pixel boxes a (T, 4) and b (T, 4) share a pixel (False for NaN)."""
    with np.errstate(invalid="ignore"):
        return (a[:, 0] <= b[:, 2]) & (b[:, 0] <= a[:, 2]) & (a[:, 1] <= b[:, 3]) & (b[:, 1] <= a[:, 3])


def joint_speeds(record: VideoRecord) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint displacement between consecutive frames, px (n,) and in person sizes (n,), for joints
    labelled visible in both frames (all joints for Sub-JHMDB)."""
    if record.num_frames < 2:
        return np.zeros(0), np.zeros(0)
    step = np.linalg.norm(np.diff(record.joints, axis=0), axis=-1)  # (T-1, K)
    both = (record.visibility[1:] > 0) & (record.visibility[:-1] > 0)
    size = np.maximum(record.boxes[:-1, 2:] - record.boxes[:-1, :2], 1.0).max(axis=1)  # (T-1,)
    return step[both], (step / size[:, None])[both]


def compute_card(root: str | Path, fmt: str) -> dict[str, object]:
    """The card's figures, measured from the labels under `root` (Sub-JHMDB: train/test of split 1)."""
    root = Path(root)
    records = read_records(fmt, root, None, split=1)
    test = [r for r in records if r.split == "test"]
    overlap = _cat([boxes_overlap(r.boxes, distractor_boxes(root, r)) for r in test])
    present = _cat([np.isfinite(distractor_boxes(root, r)).all(axis=1) for r in test])
    vis_all = _cat([r.visibility.ravel() for r in records])
    vis_test = _cat([r.visibility.ravel() for r in test])
    speeds = [joint_speeds(r) for r in records]
    px, rel = np.concatenate([s[0] for s in speeds]), np.concatenate([s[1] for s in speeds])
    first = cv2.imread(str(records[0].frames[0]), cv2.IMREAD_UNCHANGED)
    return {
        "format": fmt,
        "joints": list(get_joint_set(fmt).names),
        "frame_size": [int(first.shape[1]), int(first.shape[0])],
        "videos": len(records),
        "train_videos": len(records) - len(test),
        "test_videos": len(test),
        "frames": int(sum(r.num_frames for r in records)),
        "test_frames": int(overlap.size),
        "actions": dict(sorted(Counter(r.action for r in records).items())),
        "test_frames_with_distractor": _share(present),
        "test_frames_distractor_overlaps_target": _share(overlap),
        "invisible_joint_share": _share(vis_all == 0),
        "invisible_joint_share_test": _share(vis_test == 0),
        "mean_joint_speed_px_per_frame": round(float(px.mean()), 3) if px.size else 0.0,
        "mean_joint_speed_person_sizes_per_frame": round(float(rel.mean()), 4) if rel.size else 0.0,
    }


def _cat(arrays: list[np.ndarray]) -> np.ndarray:
    """Concatenate, giving an empty array for no arrays (a tiny set may have no test video)."""
    return np.concatenate(arrays) if arrays else np.zeros(0)


def _share(flags: np.ndarray) -> float:
    return round(float(np.mean(flags)), 4) if flags.size else 0.0


# --- contact sheet ------------------------------------------------------------------------------------------

_LEFT, _RIGHT, _CENTRE = (0, 140, 255), (255, 200, 0), (255, 255, 255)  # BGR: orange, cyan, white
_TARGET_BOX, _DISTRACTOR_BOX, _HIDDEN = (0, 220, 0), (255, 0, 255), (160, 160, 160)


def write_contact_sheet(
    root: str | Path, fmt: str, path: str | Path, cols: int = 4, rows: int = 3, cell: int = 256
) -> None:
    """A grid of test frames (evenly spaced videos, varied times) with the labels drawn, written to `path`.
    A set without test videos shows its train videos."""
    root = Path(root)
    records = read_records(fmt, root, None, split=1)
    records = [r for r in records if r.split == "test"] or records
    picks = np.linspace(0, len(records) - 1, min(cols * rows, len(records))).round().astype(int)
    tiles = []
    for i, idx in enumerate(picks):
        rec = records[idx]
        t = (7 * i + rec.num_frames // 3) % rec.num_frames
        tiles.append(_tile(rec, t, distractor_boxes(root, rec)[t], cell))
    blank = np.zeros_like(tiles[0])
    tiles += [blank] * (cols * rows - len(tiles))
    grid = np.vstack([np.hstack(tiles[r * cols : (r + 1) * cols]) for r in range(len(tiles) // cols)])
    legend = np.zeros((22, grid.shape[1], 3), np.uint8)
    text = "orange: left joints  cyan: right  x: invisible  green: target box  magenta: distractor box"
    cv2.putText(legend, text, (6, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    ok, buf = cv2.imencode(".png", np.vstack([grid, legend]))
    Path(path).write_bytes(buf.tobytes())


def _tile(rec: VideoRecord, t: int, dbox: np.ndarray, cell: int) -> np.ndarray:
    """One frame scaled into a `cell` x `cell` tile with its skeleton, boxes and caption drawn."""
    img = cv2.imread(str(rec.frames[t]), cv2.IMREAD_COLOR)
    s = cell / max(img.shape[:2])
    img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_LINEAR)
    img = cv2.copyMakeBorder(img, 0, cell - img.shape[0], 0, cell - img.shape[1], cv2.BORDER_CONSTANT)
    js = get_joint_set(rec.joint_set)
    pts = [tuple(int(v) for v in np.round((p + 0.5) * s - 0.5)) for p in rec.joints[t]]
    _rect(img, rec.boxes[t] * s, _TARGET_BOX)
    if np.isfinite(dbox).all():
        _rect(img, dbox * s, _DISTRACTOR_BOX)
    for a, b in js.edges:
        cv2.line(img, pts[a], pts[b], _side_colour(js.names[b]), 2, cv2.LINE_AA)
    for k, p in enumerate(pts):
        if rec.visibility[t, k] > 0:
            cv2.circle(img, p, 3, _side_colour(js.names[k]), -1, cv2.LINE_AA)
        else:
            cv2.drawMarker(img, p, _HIDDEN, cv2.MARKER_TILTED_CROSS, 9, 2)
    caption = f"{rec.video_id} {rec.action} t={t + 1}"
    cv2.putText(img, caption, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, caption, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def _side_colour(name: str) -> tuple[int, int, int]:
    return _LEFT if name.startswith("left") else _RIGHT if name.startswith("right") else _CENTRE


def _rect(img: np.ndarray, box: np.ndarray, colour: tuple[int, int, int]) -> None:
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    cv2.rectangle(img, (x1, y1), (x2, y2), colour, 1)
