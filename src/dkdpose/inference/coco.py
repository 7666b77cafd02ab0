"""COCO keypoint results: the format pycocotools, xtcocotools, MMPose and most pose tools read.

Two files are written for one run:

- the results, `FILE`: `[{"image_id": int, "category_id": 1, "keypoints": [x1, y1, s1, ..., xK, yK, sK],
  "score": float}]`, one entry per person and frame; x, y in 0-based original-image pixels, s the joint's
  confidence (heatmap peak) in the place of COCO's visibility flag, as MMPose writes it; "score" the mean
  joint confidence; joints in the joint set's order (`dkdpose.skeleton`).
- beside it, `FILE` with `_categories.json` in place of `.json`: a COCO dataset file without annotations,
  `{"info", "images": [{"id", "file_name", "width", "height", ...}], "annotations": [],
  "categories": [{"id": 1, "name": "person", "keypoints": [joint names], "skeleton": [[a, b], ...] (1-based,
  as COCO), "joint_set"}]}`.
  It names the joint set and its skeleton, and it is what `pycocotools.coco.COCO(...).loadRes(FILE)` needs.

`image_id` is the 0-based frame index of a video or image folder (`predict`); for the many videos of `eval` it
counts frames over the videos in order, and each image entry names its `video_id` and `frame`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from dkdpose.data.records import VideoRecord
from dkdpose.errors import InputError
from dkdpose.skeleton import JointSet

PERSON_CATEGORY = 1


def categories_path(results_path: str | Path) -> Path:
    """Where the dataset file with the categories goes: `x.json` -> `x_categories.json`, beside it."""
    p = Path(results_path)
    if p.suffix.lower() != ".json":
        raise InputError(f"{p}: the COCO results file must end in .json")
    return p.with_name(p.stem + "_categories.json")


def coco_category(joint_set: JointSet) -> dict:
    """The person category: joint names and the skeleton as 1-based joint index pairs."""
    return {
        "id": PERSON_CATEGORY,
        "name": "person",
        "supercategory": "person",
        "keypoints": list(joint_set.names),
        "skeleton": [[a + 1, b + 1] for a, b in joint_set.edges],
        "joint_set": joint_set.name,
    }


def coco_results(keypoints: np.ndarray, scores: np.ndarray, image_ids: Sequence[int]) -> list[dict]:
    """Result entries for keypoints (T, P, K, 2) and scores (T, P, K); one image id per frame (T,).

    A person absent from a frame (NaN keypoints) gets no entry there. Rounded to 1/1000 px.
    """
    kp, sc = np.asarray(keypoints, np.float64), np.asarray(scores, np.float64)
    if kp.ndim != 4 or sc.shape != kp.shape[:3] or len(image_ids) != kp.shape[0]:
        raise ValueError(f"keypoints {kp.shape}, scores {sc.shape} and {len(image_ids)} image ids disagree")
    results = []
    for t, image_id in enumerate(image_ids):
        for p in range(kp.shape[1]):
            if not np.isfinite(kp[t, p]).all():
                continue
            triples = np.concatenate([kp[t, p], sc[t, p][:, None]], axis=1)  # (K, 3)
            results.append(
                {
                    "image_id": int(image_id),
                    "category_id": PERSON_CATEGORY,
                    "keypoints": [round(float(v), 3) for v in triples.ravel()],
                    "score": round(float(np.nan_to_num(sc[t, p]).mean()), 4),
                }
            )
    return results


def coco_dataset(joint_set: JointSet, images: list[dict], description: str) -> dict:
    """The dataset file without annotations (module docstring); `images` are COCO image entries."""
    return {
        "info": {"description": description, "joint_set": joint_set.name},
        "images": images,
        "annotations": [],
        "categories": [coco_category(joint_set)],
    }


def image_entry(image_id: int, file_name: str, width: int, height: int, **extra: object) -> dict:
    """One COCO image entry; `extra` adds fields such as video_id and frame."""
    return {"id": int(image_id), "file_name": file_name, "width": int(width), "height": int(height), **extra}


def coco_texts(results: list[dict], dataset: dict) -> tuple[str, str]:
    """The JSON texts of the results file and of the dataset file (compact; one line each)."""
    return (
        json.dumps(results, separators=(",", ":")) + "\n",
        json.dumps(dataset, separators=(",", ":")) + "\n",
    )


def video_coco_texts(
    keypoints: np.ndarray,
    scores: np.ndarray,
    joint_set: JointSet,
    frame_names: Sequence[str],
    size: tuple[int, int],
    description: str,
) -> tuple[str, str]:
    """Both texts for one video: keypoints (T, P, K, 2), scores (T, P, K), T frame names, size (W, H).

    image_id = the 0-based frame index.
    """
    images = [image_entry(t, name, *size) for t, name in enumerate(frame_names)]
    results = coco_results(keypoints, scores, range(len(frame_names)))
    return coco_texts(results, coco_dataset(joint_set, images, description))


def records_coco_texts(
    records: Sequence[VideoRecord],
    keypoints: dict[str, np.ndarray],
    scores: dict[str, np.ndarray],
    joint_set: JointSet,
    description: str,
) -> tuple[str, str]:
    """Both texts for many videos, one person each: keypoints (T, K, 2) and scores (T, K) per video id.

    image_id counts the frames over `records` in order; each image entry names its video_id and frame.
    """
    images, results, first = [], [], 0
    for rec in records:
        height, width = _image_size(rec.frames[0])
        ids = range(first, first + rec.num_frames)
        images += [image_entry(i, str(f), width, height, video_id=rec.video_id, frame=t)
                   for t, (i, f) in enumerate(zip(ids, rec.frames, strict=True))]  # fmt: skip
        results += coco_results(keypoints[rec.video_id][:, None], scores[rec.video_id][:, None], ids)
        first += rec.num_frames
    return coco_texts(results, coco_dataset(joint_set, images, description))


def _image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image file."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{path}: cannot read the image")
    return image.shape[0], image.shape[1]


def check_coco_target(path: str | Path) -> tuple[Path, Path]:
    """(results path, dataset path) for `--coco PATH`, checked before a long run: .json, folder exists."""
    results, dataset = Path(path), categories_path(path)
    folder = results.parent if str(results.parent) else Path(".")
    if results.is_dir() or not folder.is_dir():
        raise InputError(f"{results}: cannot write the COCO results here (no such folder, or a folder)")
    return results, dataset
