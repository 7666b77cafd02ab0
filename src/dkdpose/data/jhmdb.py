"""Sub-JHMDB reader (Jhuang et al., ICCV 2013), the on-disk layout of `docs/protocol.md`.

Sub-JHMDB is the set of videos listed in `ROOT/sub_splits/<action>_test_split_<N>.txt` (`<video>.avi 1` =
train, `<video>.avi 2` = test). Per video: frames `ROOT/Rename_Images/<action>/<video>/NNNNN.png`, joints
`pos_img` (2 x 15 x T, 1-based) in `ROOT/joint_positions/<action>/<video>/joint_positions.mat`, and the puppet
mask `part_mask` (H x W x T, nonzero = person) in `ROOT/puppet_mask/<action>/<video>/puppet_mask.mat`.

The per-frame person box is the tight box of the nonzero mask pixels (first and last nonzero column and row,
no +1), as in the reference protocol. All 15 joints count in PCK (the puppet gives every joint a position), so
visibility is all ones. The number of frames must agree between the images, `pos_img` and `part_mask`; the
reference preparation script (LSTM Pose Machines, `JHMDB_PreData.m`) refuses a mismatch too, so this reader
does not truncate.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from dkdpose.data._files import check_subset, list_frames, load_mat, mat_numeric, require_dir
from dkdpose.data.records import VideoRecord
from dkdpose.errors import InputError
from dkdpose.skeleton import SUB_JHMDB

log = logging.getLogger(__name__)

_SPLIT_FILE = re.compile(r"^(?P<action>.+)_test_split_(?P<split>\d+)\.txt$")
_SPLIT_LABEL = {"1": "train", "2": "test"}
_K = SUB_JHMDB.num_joints


def read_sub_jhmdb(root: str | Path, split: int = 1, subset: str | None = None) -> list[VideoRecord]:
    """Sub-JHMDB videos of split `split` (1-3), subset "train", "test" or None (all), sorted by video id.

    Each record has joints (T, 15, 2) and boxes (T, 4) in 0-based original-image pixels, visibility (T, 15) of
    ones, video id "<action>/<video>" and split "train"/"test" as listed in that split's files.
    """
    check_subset(subset)
    if split not in (1, 2, 3):
        raise InputError(f"Sub-JHMDB split must be 1, 2 or 3, got {split}")
    root = require_dir(Path(root), "Sub-JHMDB root")
    for sub in ("sub_splits", "Rename_Images", "joint_positions", "puppet_mask"):
        require_dir(root / sub, f"Sub-JHMDB {sub} folder")
    entries = read_split_files(root / "sub_splits", split)
    records = [
        read_jhmdb_video(root, action, video, which)
        for action, video, which in entries
        if subset is None or which == subset
    ]
    log.debug("read %d Sub-JHMDB videos (split %d, subset %s) from %s", len(records), split, subset, root)
    return sorted(records, key=lambda r: r.video_id)


def read_split_files(folder: Path, split: int) -> list[tuple[str, str, str]]:
    """(action, video, "train"/"test") for every line of the `*_test_split_<split>.txt` files of `folder`."""
    files = sorted(
        p for p in folder.iterdir() if (m := _SPLIT_FILE.match(p.name)) and int(m["split"]) == split
    )
    if not files:
        raise InputError(f"{folder}: no split files *_test_split_{split}.txt")
    actions = {m["action"] for p in folder.iterdir() if (m := _SPLIT_FILE.match(p.name))}
    lacking = sorted(actions - {_SPLIT_FILE.match(p.name)["action"] for p in files})
    if lacking:  # an action would silently drop out of the score
        raise InputError(f"{folder}: {lacking[0]}_test_split_{split}.txt is missing (action {lacking[0]} "
                         "has split files for other splits)")  # fmt: skip
    entries, seen = [], set()
    for path in files:
        action = _SPLIT_FILE.match(path.name)["action"]
        listed = read_split_file(path)
        if not listed:
            raise InputError(f"{path}: empty split file (action {action} would drop out of split {split})")
        for video, which in listed:
            if (action, video) in seen:
                raise InputError(f"{path}: video {video} is listed twice in split {split}")
            seen.add((action, video))
            entries.append((action, video, which))
    return entries


def read_split_file(path: Path) -> list[tuple[str, str]]:
    """(video, "train"/"test") per non-blank line `<video>.avi 1|2`; InputError names the file and line."""
    out = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if (
            len(parts) != 2
            or not parts[0].endswith(".avi")
            or len(parts[0]) == 4
            or parts[1] not in _SPLIT_LABEL
        ):
            raise InputError(
                f"{path}:{lineno}: malformed split line {line.strip()!r}; "
                "expected '<video>.avi 1' (train) or '<video>.avi 2' (test)"
            )
        out.append((parts[0][: -len(".avi")], _SPLIT_LABEL[parts[1]]))
    return out


def read_jhmdb_video(root: Path, action: str, video: str, split: str) -> VideoRecord:
    """One Sub-JHMDB video: frames, `pos_img` joints and puppet-mask boxes, checked for equal frame counts."""
    frames = list_frames(root / "Rename_Images" / action / video, ".png")
    pose_path = root / "joint_positions" / action / video / "joint_positions.mat"
    mask_path = root / "puppet_mask" / action / video / "puppet_mask.mat"
    pos = mat_numeric(load_mat(pose_path, ("pos_img",))["pos_img"], pose_path, "pos_img", ndim=3)
    if pos.shape[:2] != (2, _K):
        raise InputError(f"{pose_path}: field 'pos_img' has shape {pos.shape}, expected (2, {_K}, T)")
    if not np.isfinite(pos).all():
        raise InputError(f"{pose_path}: field 'pos_img' holds non-finite numbers")
    mask = mat_numeric(
        load_mat(mask_path, ("part_mask",))["part_mask"], mask_path, "part_mask", ndim=3, dtype=None
    )
    counts = {"images": len(frames), "pos_img": pos.shape[2], "part_mask": mask.shape[2]}
    if len(set(counts.values())) != 1:
        raise InputError(f"Sub-JHMDB video {action}/{video}: frame counts disagree ({_fmt(counts)})")
    joints = pos.transpose(2, 1, 0) - 1.0  # (2, 15, T) -> (T, 15, 2); MATLAB 1-based -> 0-based
    return VideoRecord(
        video_id=f"{action}/{video}",
        frames=frames,
        joints=joints.astype(np.float32),
        visibility=np.ones(joints.shape[:2], dtype=np.float32),
        boxes=puppet_mask_boxes(mask, mask_path).astype(np.float32),
        action=action,
        split=split,
        joint_set=SUB_JHMDB.name,
    )


def puppet_mask_boxes(mask: np.ndarray, path: Path | str = "part_mask") -> np.ndarray:
    """(T, 4) tight boxes x1 y1 x2 y2 of the nonzero pixels of an (H, W, T) mask, 0-based, no +1.

    x1/x2 are the first/last nonzero columns, y1/y2 the first/last nonzero rows. An empty frame has no person
    box, so it is an InputError naming `path` and the 1-based frame.
    """
    person = np.asarray(mask) != 0
    cols = person.any(axis=0)  # (W, T)
    rows = person.any(axis=1)  # (H, T)
    empty = ~cols.any(axis=0)
    if empty.any():
        raise InputError(f"{path}: puppet mask of frame {int(np.argmax(empty)) + 1} is empty (no person box)")
    w, h = cols.shape[0], rows.shape[0]
    x1, x2 = cols.argmax(axis=0), w - 1 - cols[::-1].argmax(axis=0)
    y1, y2 = rows.argmax(axis=0), h - 1 - rows[::-1].argmax(axis=0)
    return np.stack([x1, y1, x2, y2], axis=1).astype(np.float64)


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())
