"""Penn Action reader (Zhang et al., ICCV 2013), the on-disk layout of `docs/protocol.md`.

`ROOT/labels/NNNN.mat` holds one video's labels (`x`, `y`, `visibility`: nframes x 13, MATLAB 1-based pixels;
`bbox`: rows of x1 y1 x2 y2; `train`: 1 / -1; `action`); `ROOT/frames/NNNN/NNNNNN.jpg` its frames. The frames
are listed, never decoded, so reading all 2,326 label files takes seconds.

Quirks of the real files that this reader survives (the same fixes as the reference LSTM Pose Machines
scripts):
- `bbox` with fewer rows than frames (videos 1154 and 1865 lack the last frame's box): the last row is
  repeated.
- `dimensions` and `nframes` may disagree with the real frames: both are ignored; the frame count is the
  number of `.jpg` files, and `x`, `y`, `visibility` must have that many rows.
- invisible joints may carry coordinates or zeros: they are kept (converted like the others) and PCK skips
  them; non-finite coordinates of *invisible* joints are set to 0, of visible joints they are an error.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from dkdpose.data._files import (
    check_subset,
    list_frames,
    load_mat,
    mat_numeric,
    mat_scalar,
    mat_string,
    require_dir,
)
from dkdpose.data.records import VideoRecord
from dkdpose.errors import InputError
from dkdpose.skeleton import PENN_ACTION

log = logging.getLogger(__name__)

_FIELDS = ("action", "x", "y", "visibility", "train", "bbox")
_K = PENN_ACTION.num_joints


def read_penn_action(root: str | Path, subset: str | None = None) -> list[VideoRecord]:
    """Read every Penn Action video under `root` (subset "train", "test" or None = all), sorted by video id.

    Each record has joints (T, 13, 2) and boxes (T, 4) in 0-based original-image pixels, visibility (T, 13),
    video id = the label file's stem ("0042") and split from the `train` flag.
    """
    check_subset(subset)
    root = require_dir(Path(root), "Penn Action root")
    labels_dir = require_dir(root / "labels", "Penn Action labels folder")
    frames_dir = require_dir(root / "frames", "Penn Action frames folder")
    label_files = sorted(labels_dir.glob("*.mat"))
    if not label_files:
        raise InputError(f"{labels_dir}: no label files (*.mat)")
    records = []
    for path in label_files:
        data = load_mat(path, _FIELDS)
        if subset is None or _split(data["train"], path) == subset:  # skip listing the other subset's frames
            records.append(_video_record(path, data, frames_dir / path.stem))
    log.debug("read %d Penn Action videos (subset %s) from %s", len(records), subset, root)
    return records


def read_penn_video(label_path: Path, frame_dir: Path) -> VideoRecord:
    """One video: its label file and its frame folder. InputError names the file on any bad field or shape."""
    return _video_record(label_path, load_mat(label_path, _FIELDS), frame_dir)


def _video_record(label_path: Path, data: dict[str, np.ndarray], frame_dir: Path) -> VideoRecord:
    frames = list_frames(frame_dir, ".jpg")
    t = len(frames)
    x, y, vis = (_per_frame(data[f], label_path, f, t) for f in ("x", "y", "visibility"))
    if not np.isin(vis, (0.0, 1.0)).all():
        raise InputError(f"{label_path}: field 'visibility' must hold only 0 and 1")
    joints = np.stack([x, y], axis=-1) - 1.0  # (T, 13, 2), MATLAB 1-based -> 0-based
    joints = _clean_joints(joints, vis, label_path)
    return VideoRecord(
        video_id=label_path.stem,
        frames=frames,
        joints=joints.astype(np.float32),
        visibility=vis.astype(np.float32),
        boxes=_boxes(data["bbox"], label_path, t).astype(np.float32),
        action=mat_string(data["action"], label_path, "action"),
        split=_split(data["train"], label_path),
        joint_set=PENN_ACTION.name,
    )


def _per_frame(value: np.ndarray, path: Path, field: str, t: int) -> np.ndarray:
    """A (T, 13) field; its row count must match the T frames found on disk."""
    arr = mat_numeric(value, path, field, ndim=2)
    if arr.shape != (t, _K):
        raise InputError(
            f"{path}: field {field!r} has shape {arr.shape}, expected ({t}, {_K}) for {t} frames"
        )
    return arr


def _clean_joints(joints: np.ndarray, vis: np.ndarray, path: Path) -> np.ndarray:
    """Refuse non-finite visible joints; zero non-finite coordinates of invisible ones (PCK skips them)."""
    bad = ~np.isfinite(joints).all(axis=-1)  # (T, 13)
    if (bad & (vis > 0)).any():
        t, k = np.argwhere(bad & (vis > 0))[0]
        raise InputError(
            f"{path}: visible joint {PENN_ACTION.names[k]} of frame {t + 1} is not a finite number"
        )
    joints[bad] = 0.0
    return joints


def _boxes(value: np.ndarray, path: Path, t: int) -> np.ndarray:
    """(T, 4) boxes x1 y1 x2 y2, 0-based; a short `bbox` (real-data quirk) repeats its last row."""
    bbox = mat_numeric(value, path, "bbox", ndim=2)
    if bbox.ndim != 2 or bbox.shape[1] != 4 or not 1 <= bbox.shape[0] <= t:
        raise InputError(f"{path}: field 'bbox' has shape {bbox.shape}, expected (n, 4) with 1 <= n <= {t}")
    if not np.isfinite(bbox).all():
        raise InputError(f"{path}: field 'bbox' holds non-finite numbers")
    if bbox.shape[0] < t:
        log.debug("%s: bbox has %d rows for %d frames; repeating the last row", path, bbox.shape[0], t)
        bbox = np.concatenate([bbox, np.repeat(bbox[-1:], t - bbox.shape[0], axis=0)])
    return bbox - 1.0


def _split(value: np.ndarray, path: Path) -> str:
    flag = mat_scalar(value, path, "train")
    if flag not in (1.0, -1.0):
        raise InputError(f"{path}: field 'train' must be 1 (train) or -1 (test), got {flag:g}")
    return "train" if flag == 1.0 else "test"
