"""Writers for one video in the on-disk layouts of Penn Action and Sub-JHMDB (`docs/protocol.md`).

They are the inverse of the readers in `penn_action.py` and `jhmdb.py`: they take the project's internal
convention (0-based pixels, (T, K, 2) joints) and write the datasets' own (MATLAB 1-based pixels, their field
names and shapes), converting exactly once. Images are encoded with fixed settings (JPEG quality 95, PNG
Huffman-only), so equal frames give byte-identical files. Extra `.mat` fields (e.g. the synthetic benchmark's
`distractor_bbox`) are written alongside; the readers load only the fields they know.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import scipy.io

JPEG_PARAMS = [cv2.IMWRITE_JPEG_QUALITY, 95]
# Huffman-only PNG: on noisy frames faster than deflate level 1 and ~7% smaller; still lossless
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]


def write_frame(path: Path, image: np.ndarray) -> None:
    """Encode one (H, W, 3) uint8 BGR frame by `path`'s suffix (.jpg or .png) with fixed settings."""
    params = JPEG_PARAMS if path.suffix == ".jpg" else PNG_PARAMS
    ok, buf = cv2.imencode(path.suffix, image, params)
    if not ok:
        raise OSError(f"{path}: OpenCV could not encode the frame")
    path.write_bytes(buf.tobytes())


def penn_video_id(index: int) -> str:
    """The 4-digit Penn Action id of 0-based video `index` ("0001" for index 0)."""
    return f"{index + 1:04d}"


def write_penn_action_video(
    root: Path,
    video_id: str,
    frames: list[np.ndarray],
    joints: np.ndarray,
    visibility: np.ndarray,
    boxes: np.ndarray,
    action: str,
    train: bool,
    pose: str = "front",
    extra: dict[str, np.ndarray] | None = None,
) -> None:
    """Write `ROOT/frames/<id>/NNNNNN.jpg` and `ROOT/labels/<id>.mat` for one video.

    `joints` (T, 13, 2), `visibility` (T, 13) and `boxes` (T, 4) x1 y1 x2 y2 are 0-based pixels; the label
    file gets 1-based `x`, `y`, `bbox`, `train` = 1 / -1, `dimensions` = [H W T] and `nframes`.
    """
    frame_dir = root / "frames" / video_id
    frame_dir.mkdir(parents=True, exist_ok=True)
    for t, image in enumerate(frames):
        write_frame(frame_dir / f"{t + 1:06d}.jpg", image)
    h, w = frames[0].shape[:2]
    labels = {
        "action": action,
        "pose": pose,
        "x": joints[..., 0].astype(np.float64) + 1.0,
        "y": joints[..., 1].astype(np.float64) + 1.0,
        "visibility": visibility.astype(np.float64),
        "train": np.array([[1.0 if train else -1.0]]),
        "bbox": boxes.astype(np.float64) + 1.0,
        "dimensions": np.array([[h, w, len(frames)]], dtype=np.float64),
        "nframes": np.array([[float(len(frames))]]),
        **(extra or {}),
    }
    (root / "labels").mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(root / "labels" / f"{video_id}.mat"), labels)


def write_sub_jhmdb_video(
    root: Path,
    action: str,
    video: str,
    frames: list[np.ndarray],
    joints: np.ndarray,
    masks: np.ndarray,
    viewpoint: str = "E",
    extra: dict[str, np.ndarray] | None = None,
) -> None:
    """Write one Sub-JHMDB video: `Rename_Images/<action>/<video>/NNNNN.png`, `joint_positions.mat` and
    `puppet_mask.mat`.

    `joints` (T, 15, 2) are 0-based pixels; `pos_img` is written 1-based as (2, 15, T), `scale` (1, T) is the
    person's height in pixels and `pos_world` the joints centred on the body and divided by that scale, as the
    real files (approximately) hold them. `masks` (T, H, W), nonzero = person, become `part_mask` (H, W, T)
    uint8.
    """
    image_dir = root / "Rename_Images" / action / video
    image_dir.mkdir(parents=True, exist_ok=True)
    for t, image in enumerate(frames):
        write_frame(image_dir / f"{t + 1:05d}.png", image)
    pos_img = joints.transpose(2, 1, 0).astype(np.float64) + 1.0  # (T, 15, 2) -> (2, 15, T), 1-based
    extent = joints[..., 1].max(axis=1) - joints[..., 1].min(axis=1)  # (T,) person height, px
    scale = np.maximum(extent, 1.0)[None, :]
    centre = joints.mean(axis=1).T[:, None, :]  # (2, 1, T)
    pos_world = (pos_img - 1.0 - centre) / scale[None]
    pose_dir = root / "joint_positions" / action / video
    pose_dir.mkdir(parents=True, exist_ok=True)
    fields = {
        "pos_img": pos_img,
        "pos_world": pos_world,
        "scale": scale,
        "viewpoint": viewpoint,
        **(extra or {}),
    }
    scipy.io.savemat(str(pose_dir / "joint_positions.mat"), fields)
    mask_dir = root / "puppet_mask" / action / video
    mask_dir.mkdir(parents=True, exist_ok=True)
    part_mask = (np.asarray(masks) != 0).astype(np.uint8).transpose(1, 2, 0)  # (T, H, W) -> (H, W, T)
    scipy.io.savemat(str(mask_dir / "puppet_mask.mat"), {"part_mask": part_mask}, do_compression=True)


def write_sub_jhmdb_splits(root: Path, videos: list[tuple[str, str, int]]) -> None:
    """Write `sub_splits/<action>_test_split_<N>.txt` for N = 1..3 from (action, video, fold) triples:
    a video is a test video (`2`) of split N when its fold is N - 1, and a train video (`1`) otherwise."""
    folder = root / "sub_splits"
    folder.mkdir(parents=True, exist_ok=True)
    actions = sorted({a for a, _, _ in videos})
    for split in (1, 2, 3):
        for action in actions:
            lines = [f"{v}.avi {2 if fold == split - 1 else 1}\n" for a, v, fold in videos if a == action]
            (folder / f"{action}_test_split_{split}.txt").write_text("".join(lines))
