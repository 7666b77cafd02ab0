"""The predictions JSON of `docs/protocol.md`: what `dkdpose score` reads and `dkdpose eval` writes.

```
{"dataset": "penn_action" | "sub_jhmdb",
 "joints": [joint names in the dataset's order],
 "videos": {"<video id>": {"keypoints": [[[x, y] x K] x T], "scores": [[s x K] x T] (optional)}}}
```
Keypoints are 0-based original-image pixels. Reading checks the structure of every video; `check_predictions`
checks them against the ground-truth records (every video present, T and K match). Any problem is an
InputError naming the file and the video.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dkdpose.data.records import VideoRecord
from dkdpose.errors import InputError
from dkdpose.io import json_text, read_json, write_text
from dkdpose.skeleton import get_joint_set

SCORED_DATASETS = ("penn_action", "sub_jhmdb")


@dataclass
class Predictions:
    """A parsed predictions file: keypoints (T, K, 2) float64 per video id; scores (T, K) where given."""

    dataset: str
    joints: tuple[str, ...]
    keypoints: dict[str, np.ndarray]
    scores: dict[str, np.ndarray]


def read_predictions(path: str | Path) -> Predictions:
    """Parse and check a predictions file: finite numbers, (T, K, 2) keypoints, (T, K) scores."""
    path = Path(path)
    obj = _load_json(path)
    dataset = obj.get("dataset")
    if dataset not in SCORED_DATASETS:
        raise InputError(f"{path}: 'dataset' must be one of {', '.join(SCORED_DATASETS)}, got {dataset!r}")
    names = tuple(get_joint_set(dataset).names)
    if obj.get("joints") != list(names):
        raise InputError(
            f"{path}: 'joints' must list the {len(names)} {dataset} joints in order: {list(names)}"
        )
    videos = obj.get("videos")
    if not isinstance(videos, dict):
        raise InputError(f"{path}: 'videos' must be an object mapping video ids to predictions")
    keypoints, scores = {}, {}
    for vid, entry in videos.items():
        where = f"{path}: video {vid}"
        if not isinstance(entry, dict) or "keypoints" not in entry:
            raise InputError(f"{where}: expected an object with 'keypoints'")
        keypoints[vid] = _finite_array(entry["keypoints"], 3, where, "keypoints")
        if keypoints[vid].shape[2] != 2:
            raise InputError(f"{where}: keypoints have shape {keypoints[vid].shape}, expected (T, K, 2)")
        if entry.get("scores") is not None:
            scores[vid] = _finite_array(entry["scores"], 2, where, "scores")
            if scores[vid].shape != keypoints[vid].shape[:2]:
                raise InputError(
                    f"{where}: scores have shape {scores[vid].shape}, expected {keypoints[vid].shape[:2]}"
                )
    return Predictions(dataset, names, keypoints, scores)


def check_predictions(preds: Predictions, records: list[VideoRecord], path: str | Path, dataset: str) -> None:
    """Refuse predictions that are for another dataset, miss a record's video, or have the wrong T or K."""
    if preds.dataset != dataset:
        raise InputError(f"{path}: predictions are for {preds.dataset}, not {dataset}")
    missing = [r.video_id for r in records if r.video_id not in preds.keypoints]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise InputError(f"{path}: video {missing[0]} is missing from the predictions{more}")
    for r in records:
        t, k = preds.keypoints[r.video_id].shape[:2]
        if t != r.num_frames:
            raise InputError(
                f"{path}: video {r.video_id} has {t} predicted frames, the video has {r.num_frames}"
            )
        if k != r.joints.shape[1]:
            raise InputError(
                f"{path}: video {r.video_id} has {k} predicted joints, expected {r.joints.shape[1]}"
            )


def predictions_dict(
    dataset: str,
    keypoints: dict[str, np.ndarray],
    scores: dict[str, np.ndarray] | None = None,
    decimals: int = 3,
) -> dict:
    """The JSON object for keypoints (T, K, 2) and optional scores (T, K) per video id, rounded."""
    names = list(get_joint_set(dataset).names)
    videos = {}
    for vid, kp in keypoints.items():
        entry = {"keypoints": np.round(np.asarray(kp, np.float64), decimals).tolist()}
        if scores is not None and vid in scores:
            entry["scores"] = np.round(np.asarray(scores[vid], np.float64), decimals).tolist()
        videos[vid] = entry
    return {"dataset": dataset, "joints": names, "videos": videos}


def write_predictions(
    path: str | Path,
    dataset: str,
    keypoints: dict[str, np.ndarray],
    scores: dict[str, np.ndarray] | None = None,
    decimals: int = 3,
) -> None:
    """Write a predictions file atomically (compact JSON: a Penn Action test set is ~2 million numbers)."""
    for vid, kp in keypoints.items():
        if not np.isfinite(kp).all():  # a model producing NaN is a bug, not bad user input
            raise ValueError(f"keypoints of video {vid} hold NaN or infinite values")
    obj = predictions_dict(dataset, keypoints, scores, decimals)
    write_text(path, json_text(obj, indent=None))


def _load_json(path: Path) -> dict:
    return read_json(path, "predictions file", dict, "a JSON object with 'dataset', 'joints' and 'videos'")


def _finite_array(value: object, ndim: int, where: str, field: str) -> np.ndarray:
    """A float64 array of rank `ndim` with only finite numbers (null, NaN, Infinity, booleans and strings
    are refused)."""
    if _holds_non_number(value):
        raise InputError(f"{where}: {field} must be numbers, not booleans or strings")
    try:
        arr = np.asarray(value, dtype=np.float64)  # JSON null becomes NaN here and is refused below
    except (TypeError, ValueError):
        raise InputError(f"{where}: {field} are not a rectangular array of numbers") from None
    if arr.ndim != ndim or arr.shape[0] == 0:
        raise InputError(f"{where}: {field} have shape {arr.shape}, expected a non-empty {ndim}-D array")
    if not np.isfinite(arr).all():
        raise InputError(f"{where}: {field} hold NaN, infinite or null values")
    return arr


def _holds_non_number(value: object) -> bool:
    """True when a nested list holds a boolean or a string (numpy would silently turn them into numbers)."""
    if isinstance(value, list):
        return any(_holds_non_number(v) for v in value)
    return isinstance(value, bool | str)
