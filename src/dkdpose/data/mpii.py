"""MPII Human Pose reader for single-frame pre-training (the JSON files of the SimpleBaseline family).

Each JSON record is one person: `image` (a file under `image_root`), `center` [x, y], `scale` (person height /
200 px), `joints` (16 x 2) and `joints_vis` (16), in MATLAB 1-based pixels like the original annotation. Each
becomes a one-frame `VideoRecord` (T = 1, joint set "mpii").

Box convention (SimpleBaseline, `lib/dataset/mpii.py`): the annotated center sits high on the body, so it is
first moved down by 15 * scale px; both center and joints are then shifted to 0-based pixels. The person box
is the square of side `scale * 200` around that center — the person height that MPII's scale encodes.
SimpleBaseline's extra 1.25x context enlargement is *not* applied here: context padding belongs to the crop
transform, as for the other datasets.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from dkdpose.data._files import require_dir
from dkdpose.data.records import VideoRecord
from dkdpose.errors import InputError
from dkdpose.io import read_json
from dkdpose.skeleton import MPII

log = logging.getLogger(__name__)

_K = MPII.num_joints


def read_mpii(json_path: str | Path, image_root: str | Path, split: str = "train") -> list[VideoRecord]:
    """Read an MPII annotation JSON (a list of person records) into one-frame records labelled `split`.

    Video ids are "<image stem>/<n>" with n counting the people of that image in file order, since one image
    can hold several annotated people. Joints (1, 16, 2) and boxes (1, 4) are 0-based pixels; visibility
    is (1, 16).
    """
    json_path, image_root = Path(json_path), require_dir(Path(image_root), "MPII image folder")
    items = _load_json_list(json_path)
    with os.scandir(image_root) as it:  # one listing instead of one stat per image
        images = {e.name for e in it}
    records, per_image = [], {}
    for i, item in enumerate(items):
        rec = _record(item, f"{json_path}: record {i}", image_root, images, split)
        n = per_image.get(rec.video_id, 0)
        per_image[rec.video_id] = n + 1
        rec.video_id = f"{rec.video_id}/{n}"
        records.append(rec)
    log.debug("read %d MPII people from %s", len(records), json_path)
    return records


def mpii_box(center: np.ndarray, scale: float) -> np.ndarray:
    """(4,) square box x1 y1 x2 y2 of side scale * 200 around a 1-based MPII `center`, in 0-based pixels.

    The center is moved down by 15 * scale px first (SimpleBaseline's correction), then shifted to 0-based.
    """
    cx, cy = float(center[0]) - 1.0, float(center[1]) + 15.0 * scale - 1.0
    half = scale * 200.0 / 2.0
    return np.array([cx - half, cy - half, cx + half, cy + half], dtype=np.float64)


def _load_json_list(path: Path) -> list:
    return read_json(path, "MPII annotation file", list, "a JSON list of person records")


def _record(item: object, where: str, image_root: Path, images: set[str], split: str) -> VideoRecord:
    """One person record -> a one-frame VideoRecord; `where` names the file and record in errors."""
    if not isinstance(item, dict):
        raise InputError(f"{where}: expected an object")
    missing = [k for k in ("image", "center", "scale", "joints", "joints_vis") if k not in item]
    if missing:
        raise InputError(f"{where}: missing field(s) {', '.join(missing)}")
    image = str(item["image"])
    if (
        image not in images and not (image_root / image).is_file()
    ):  # names with sub-folders are not in `images`
        raise InputError(f"{where}: image {image_root / image} not found")
    center = _array(item["center"], (2,), where, "center")
    scale = float(_array(item["scale"], (), where, "scale"))
    if scale <= 0:
        raise InputError(f"{where}: field 'scale' must be positive, got {scale}")
    joints = _array(item["joints"], (_K, 2), where, "joints") - 1.0  # 1-based -> 0-based
    vis = (_array(item["joints_vis"], (_K,), where, "joints_vis") > 0).astype(np.float32)
    return VideoRecord(
        video_id=Path(image).stem,
        frames=[image_root / image],
        joints=joints[None].astype(np.float32),
        visibility=vis[None],
        boxes=mpii_box(center, scale)[None].astype(np.float32),
        action="",
        split=split,
        joint_set=MPII.name,
    )


def _array(value: object, shape: tuple[int, ...], where: str, field: str) -> np.ndarray:
    """A finite float array of exactly `shape`, else InputError naming the field."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{where}: field {field!r} is not numeric") from None
    if arr.shape != shape:
        raise InputError(f"{where}: field {field!r} has shape {arr.shape}, expected {shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"{where}: field {field!r} holds non-finite numbers")
    return arr
