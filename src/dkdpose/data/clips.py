"""Clip sampling for training (paper section 4.1, Algorithm 1): consecutive frames, one affine per clip.

`ClipDataset` is a `torch.utils.data.Dataset` over every window of `clip_length` consecutive frames (window
starts 0, stride, 2*stride, ... while the window fits) of each `VideoRecord`. A video shorter than
`clip_length` gives one window padded by repeating its last frame (so short videos still train).
`clip_length=1` is the single-frame dataset of stage-1 pre-training.

Each item is ONE crop transform for the whole clip: centre = centre of the union of the clip's person boxes,
size = that union's longer side times the sampled scale, plus the sampled rotation and flip (`transforms.py`),
with the same colour jitter on every frame. Flipping swaps left/right joint channels (`JointSet.flip_index`).

The batch contract (`__getitem__`; a DataLoader adds a leading batch dimension B):
    image          (T, 3, H, W) float32  RGB, ImageNet mean/std normalized
    heatmaps       (T, K, h, w) float32  Gaussian targets (`HeatmapCodec.encode`), peak 1
    target_weight  (T, K)       float32  1 = labelled and inside the crop, else 0
    joints         (T, K, 2)    float32  x, y in crop (input) pixels; 0 where the label is not finite
    visibility     (T, K)       float32  the label's visibility (1 even when the joint left the crop)
    affine         (2, 3)       float32  original-image pixels -> crop pixels (invert it to map back)
    index          int                   the item index
T = clip_length, (W, H) = input_size, (w, h) = heatmap_size; channels follow the (possibly flipped) joint
order.

Randomness: each item draws from `numpy.random.default_rng((seed, epoch, index))`, so an item is a pure
function of (seed, epoch, index): runs, resumed runs and any number of DataLoader workers see the same data.
Call `set_epoch(epoch)` before iterating an epoch; the epoch lives in shared memory, so persistent workers see
it too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.data.records import VideoRecord
from dkdpose.data.transforms import (
    ClipAugment,
    ClipParams,
    apply_affine_points,
    color_jitter,
    crop_affine,
    flip_joints,
    normalize,
    warp_image,
)
from dkdpose.errors import InputError
from dkdpose.skeleton import JointSet, get_joint_set

log = logging.getLogger(__name__)


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8 RGB; InputError naming the file when it cannot be read."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise InputError(f"{path}: cannot read image (missing, unreadable or corrupt)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def box_center_size(boxes: np.ndarray, source: str) -> tuple[np.ndarray, float]:
    """Centre (2,) and longer side of the union of person boxes (..., 4) x1 y1 x2 y2, in the boxes' pixels."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not np.isfinite(b).all() or (b[:, 2] <= b[:, 0]).any() or (b[:, 3] <= b[:, 1]).any():
        bad = b[~(np.isfinite(b).all(axis=1) & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1]))][0]
        raise InputError(
            f"{source}: person box {bad.tolist()} is not finite or has no area (need x2 > x1, y2 > y1)"
        )
    x1, y1 = b[:, 0].min(), b[:, 1].min()
    x2, y2 = b[:, 2].max(), b[:, 3].max()
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2]), float(max(x2 - x1, y2 - y1))


def frame_crop(
    image: np.ndarray,
    box: Sequence[float] | np.ndarray,
    input_size: tuple[int, int],
    scale: float = 1.0,
    flip: bool = False,
    source: str = "image",
) -> tuple[torch.Tensor, np.ndarray]:
    """The test-time crop of one frame: centred on `box`, person size = its longer side times `scale`.

    `image` (H0, W0, 3) uint8 RGB (`read_rgb`); `box` (4,) x1 y1 x2 y2 original pixels; `input_size` (W, H).
    Returns the normalized crop (3, H, W) float32 and the (2, 3) affine original -> crop pixels (the flip
    included, so `invert_affine` maps decoded crop coordinates of *this* crop back; for flip testing decode
    after `HeatmapCodec.flip_back` with the unflipped crop's affine instead). `source` names the image in
    errors.
    """
    center, size = box_center_size(np.asarray(box), source)
    affine = crop_affine(center, size * scale, 0.0, flip, input_size)
    crop = warp_image(image, affine, input_size)
    return torch.from_numpy(normalize(crop)), affine


class ClipDataset(torch.utils.data.Dataset):
    """Windows of `clip_length` consecutive frames, one augmentation per clip (see the module docstring)."""

    def __init__(
        self,
        records: Sequence[VideoRecord],
        clip_length: int = 5,
        input_size: tuple[int, int] = (256, 256),
        heatmap_size: tuple[int, int] | None = None,
        sigma: float = 2.0,
        augment: bool = True,
        seed: int = 0,
        stride: int = 1,
        joint_set: JointSet | str | None = None,
        augmentation: ClipAugment | None = None,
    ) -> None:
        """`heatmap_size` defaults to input_size // 8 (the networks' stride); `joint_set` to the records'."""
        if clip_length < 1 or stride < 1:
            raise ValueError(f"clip_length and stride must be >= 1, got {clip_length} and {stride}")
        self.records = list(records)
        self.clip_length, self.stride = int(clip_length), int(stride)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        hm = heatmap_size or (self.input_size[0] // 8, self.input_size[1] // 8)
        self.codec = HeatmapCodec(self.input_size, hm, sigma)
        self.augment, self.seed = bool(augment), int(seed)
        self.augmentation = augmentation or ClipAugment()
        self.joint_set = self._resolve_joint_set(joint_set)
        for rec in self.records:
            _check_record(rec, self.joint_set)
        self.windows = self._make_windows()  # (N, 2) int64: record index, first frame
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()

    def _resolve_joint_set(self, joint_set: JointSet | str | None) -> JointSet:
        if isinstance(joint_set, JointSet):
            return joint_set
        if joint_set is not None:
            return get_joint_set(joint_set)
        if not self.records:
            raise ValueError("ClipDataset: no records and no joint_set given")
        return get_joint_set(self.records[0].joint_set)

    def _make_windows(self) -> np.ndarray:
        rows = []
        for r, rec in enumerate(self.records):
            last_start = max(rec.num_frames - self.clip_length, 0)
            rows += [(r, s) for s in range(0, last_start + 1, self.stride)]
        return np.array(rows, dtype=np.int64).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.windows)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose augmentation `__getitem__` draws (seen by all workers)."""
        self._epoch[0] = int(epoch)

    @property
    def epoch(self) -> int:
        return int(self._epoch[0])

    def frame_indices(self, index: int) -> np.ndarray:
        """(T,) frame indices of item `index` in its record (the last frame repeated for short videos)."""
        r, start = self.windows[index]
        last = self.records[r].num_frames - 1
        return np.minimum(np.arange(start, start + self.clip_length), last)

    def clip_params(self, index: int) -> ClipParams:
        """The augmentation of item `index` in the current epoch (identity when `augment` is off)."""
        if not self.augment:
            return ClipParams()
        rng = np.random.default_rng((self.seed, self.epoch, int(index)))
        return self.augmentation.sample(rng)

    def __getitem__(self, index: int) -> dict:
        rec = self.records[int(self.windows[index][0])]
        frames = self.frame_indices(index)
        params = self.clip_params(index)
        center, size = box_center_size(rec.boxes[frames], f"video {rec.video_id}")
        affine = crop_affine(center, size * params.scale, params.rotation_deg, params.flip, self.input_size)
        images = np.stack([self._load_frame(rec.frames[f], affine, params) for f in frames])  # (T, 3, H, W)
        joints, vis = self._crop_labels(rec, frames, affine, params.flip)
        heatmaps, weight = self.codec.encode(joints, vis)  # (T, K, h, w), (T, K)
        return {
            "image": torch.from_numpy(images),
            "heatmaps": torch.from_numpy(heatmaps),
            "target_weight": torch.from_numpy(weight),
            "joints": torch.from_numpy(joints),
            "visibility": torch.from_numpy(vis),
            "affine": torch.from_numpy(affine.astype(np.float32)),
            "index": int(index),
        }

    def _load_frame(self, path: Path, affine: np.ndarray, params: ClipParams) -> np.ndarray:
        """Decode, crop and normalize one frame -> (3, H, W) float32."""
        crop = warp_image(read_rgb(path), affine, self.input_size)
        if params.brightness != 1.0 or params.contrast != 1.0 or params.saturation != 1.0:
            crop = color_jitter(crop.astype(np.float32) / 255.0, params)
        return normalize(crop)

    def _crop_labels(
        self, rec: VideoRecord, frames: np.ndarray, affine: np.ndarray, flip: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Joints (T, K, 2) in crop pixels and visibility (T, K); non-finite labels become 0 / invisible."""
        crop = apply_affine_points(affine, rec.joints[frames])  # NaN labels stay NaN here
        finite = np.isfinite(crop).all(axis=-1)
        crop = np.where(finite[..., None], crop, 0.0).astype(np.float32)
        vis = np.where(finite, rec.visibility[frames], 0.0).astype(np.float32)
        if flip:
            crop, vis = flip_joints(crop, vis, self.joint_set.flip_index)
        return np.ascontiguousarray(crop), np.ascontiguousarray(vis)


def _check_record(rec: VideoRecord, joint_set: JointSet) -> None:
    """Shapes of one record against the contract in `records.py`; InputError naming the video."""
    t, k = rec.num_frames, joint_set.num_joints
    if t == 0:
        raise InputError(f"video {rec.video_id}: has no frames")
    if rec.joint_set != joint_set.name:
        raise InputError(
            f"video {rec.video_id}: labelled with joint set {rec.joint_set}, expected {joint_set.name}"
        )
    expected = {"joints": (t, k, 2), "visibility": (t, k), "boxes": (t, 4)}
    for name, shape in expected.items():
        got = tuple(np.shape(getattr(rec, name)))
        if got != shape:
            raise InputError(
                f"video {rec.video_id}: {name} has shape {got}, expected {shape} ({joint_set.name})"
            )
