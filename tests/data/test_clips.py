"""Clip sampling, the per-clip affine and the batch contract (dkdpose.data.clips) on tiny tmp images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dkdpose.data.clips import ClipDataset, frame_crop, read_rgb
from dkdpose.data.records import VideoRecord
from dkdpose.data.transforms import IMAGENET_MEAN, IMAGENET_STD, ClipAugment, apply_affine_points
from dkdpose.errors import InputError
from dkdpose.skeleton import PENN_ACTION

K = PENN_ACTION.num_joints
IMG_W, IMG_H = 96, 80
INPUT = (48, 40)
NO_JITTER = dict(brightness=0.0, contrast=0.0, saturation=0.0)
LW, RW = PENN_ACTION.index("left_wrist"), PENN_ACTION.index("right_wrist")


def _joints(rng: np.random.Generator) -> np.ndarray:
    """(K, 2) joints inside the person box [30, 20, 66, 64]."""
    return rng.uniform([32, 22], [64, 62], size=(K, 2)).astype(np.float32)


def _record(folder: Path, vid: str, images: list[np.ndarray], joints: np.ndarray, boxes=None) -> VideoRecord:
    paths = []
    for t, img in enumerate(images):
        p = folder / vid / f"{t:05d}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(p), img[..., ::-1])  # RGB -> BGR on disk
        paths.append(p)
    n = len(images)
    boxes = np.tile(np.array([30, 20, 66, 64], np.float32), (n, 1)) if boxes is None else boxes
    return VideoRecord(vid, paths, joints, np.ones((n, K), np.float32), boxes, "x", "train", "penn_action")


def _blobs(joints: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """(H, W, 3) uint8 RGB: a bright blob at joint 0 (red) on black."""
    ys, xs = np.mgrid[:IMG_H, :IMG_W]
    g = np.exp(-((xs - joints[0, 0]) ** 2 + (ys - joints[0, 1]) ** 2) / (2 * sigma**2))
    img = np.zeros((IMG_H, IMG_W, 3), np.uint8)
    img[..., 0] = np.round(255 * g)
    return img


@pytest.fixture()
def static_record(tmp_path) -> VideoRecord:
    """Six identical frames of a textured scene with identical labels."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (IMG_H, IMG_W, 3), dtype=np.uint8)
    joints = _joints(rng)
    return _record(tmp_path, "static", [img] * 6, np.tile(joints, (6, 1, 1)))


@pytest.fixture()
def moving_record(tmp_path) -> VideoRecord:
    """Seven frames whose joint 0 moves; each frame shows a blob exactly at joint 0."""
    rng = np.random.default_rng(1)
    joints = np.stack([_joints(rng) for _ in range(7)])
    boxes = np.array([[30 + t, 20, 66 + t, 64 - t] for t in range(7)], np.float32)
    return _record(tmp_path, "moving", [_blobs(j) for j in joints], joints, boxes)


def _rgb01(image: torch.Tensor) -> np.ndarray:
    """(..., 3, H, W) normalized -> (..., H, W, 3) RGB in [0, 1]."""
    return np.moveaxis(image.numpy(), -3, -1) * IMAGENET_STD + IMAGENET_MEAN


def test_batch_contract(moving_record):
    ds = ClipDataset([moving_record], clip_length=5, input_size=INPUT, sigma=1.0, augment=True, seed=0)
    item = ds[1]
    expected = {
        "image": (5, 3, 40, 48), "heatmaps": (5, K, 5, 6), "target_weight": (5, K), "joints": (5, K, 2),
        "visibility": (5, K), "affine": (2, 3),
    }  # fmt: skip
    for key, shape in expected.items():
        assert item[key].shape == shape and item[key].dtype == torch.float32, key
    assert item["index"] == 1 and ds.codec.heatmap_size == (6, 5)  # input // 8 by default


def test_static_scene_gives_identical_crops_for_every_frame(static_record):
    ds = ClipDataset([static_record], clip_length=5, input_size=INPUT, augment=True, seed=3)
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            for key in ("image", "heatmaps", "joints", "target_weight"):
                assert torch.equal(item[key][0], item[key][-1]), key
            assert torch.equal(item["image"][0], item["image"][2])


def test_every_frame_maps_image_and_joints_with_the_clip_affine(moving_record):
    """The blob drawn at joint 0 lands where the clip's one affine maps joint 0, in every frame."""
    aug = ClipAugment(**NO_JITTER)
    ds = ClipDataset([moving_record], clip_length=5, input_size=INPUT, augment=True, seed=0, augmentation=aug)
    seen_flip = seen_plain = False
    for i in range(len(ds)):
        item, frames = ds[i], ds.frame_indices(i)
        affine = item["affine"].numpy().astype(np.float64)
        flip = ds.clip_params(i).flip
        seen_flip, seen_plain = seen_flip or flip, seen_plain or not flip
        expect = apply_affine_points(affine, moving_record.joints[frames])  # (T, K, 2), before the swap
        channels = PENN_ACTION.flip_index if flip else np.arange(K)
        np.testing.assert_allclose(item["joints"].numpy(), expect[:, channels], atol=1e-3)
        red = _rgb01(item["image"])[..., 0]  # (T, H, W)
        ys, xs = np.mgrid[: INPUT[1], : INPUT[0]]
        for t in range(5):
            w = np.clip(red[t] - 0.02, 0, None)  # drop the normalisation round-off of the black background
            centroid = np.array([(xs * w).sum(), (ys * w).sum()]) / w.sum()
            np.testing.assert_allclose(centroid, expect[t, 0], atol=0.35)
    assert seen_flip and seen_plain  # both branches exercised


def test_flip_puts_a_left_joint_on_the_left_into_the_right_channel_mirrored(moving_record):
    rec = moving_record
    rec.joints[:, LW] = [34.0, 40.0]  # left wrist on the image's left side
    rec.joints[:, RW] = [60.0, 40.0]
    still = dict(scale_range=(1.0, 1.0), max_rotation_deg=0.0, **NO_JITTER)
    plain = ClipDataset([rec], 5, INPUT, augment=True, augmentation=ClipAugment(flip_prob=0.0, **still))[0]
    flip = ClipDataset([rec], 5, INPUT, augment=True, augmentation=ClipAugment(flip_prob=1.0, **still))[0]
    assert plain["joints"][0, LW, 0] < INPUT[0] / 2 - 1  # left of the crop centre without the flip
    np.testing.assert_allclose(flip["joints"][:, RW, 0], INPUT[0] - 1 - plain["joints"][:, LW, 0], atol=1e-4)
    np.testing.assert_allclose(flip["joints"][:, RW, 1], plain["joints"][:, LW, 1], atol=1e-4)
    np.testing.assert_allclose(flip["joints"][:, LW, 0], INPUT[0] - 1 - plain["joints"][:, RW, 0], atol=1e-4)
    assert (flip["image"] - plain["image"].flip(-1)).abs().max() < 0.05  # the pixels are mirrored too
    assert torch.allclose(flip["heatmaps"][:, RW], plain["heatmaps"][:, LW].flip(-1), atol=1e-5)


def test_item_is_a_function_of_seed_epoch_and_index(moving_record):
    def make(seed):
        return ClipDataset([moving_record], clip_length=3, input_size=INPUT, augment=True, seed=seed)

    a, b = make(5), make(5)
    b.set_epoch(2)
    b.set_epoch(0)
    for i in range(len(a)):
        assert all(torch.equal(a[i][k], b[i][k]) for k in ("image", "heatmaps", "affine"))
    a.set_epoch(1)
    assert any(not torch.equal(a[i]["affine"], b[i]["affine"]) for i in range(len(a)))
    assert any(not torch.equal(make(6)[i]["affine"], b[i]["affine"]) for i in range(len(a)))


def test_dataloader_two_workers_equals_zero_workers(moving_record, static_record):
    ds = ClipDataset([moving_record, static_record], clip_length=5, input_size=INPUT, augment=True, seed=1)

    def batches(workers: int, persistent: bool = False, epochs=(1,)):
        dl = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=workers, persistent_workers=persistent)
        out = []
        for e in epochs:
            ds.set_epoch(e)
            out += [b for b in dl]
        return out

    serial = batches(0, epochs=(0, 1))
    for got in (batches(2, epochs=(0, 1)), batches(2, persistent=True, epochs=(0, 1))):
        assert len(got) == len(serial) == 2 * 3
        for x, y in zip(got, serial, strict=True):
            assert all(torch.equal(x[k], y[k]) for k in ("image", "heatmaps", "joints", "affine", "index"))


def test_windows_stride_and_short_video_padding(tmp_path, moving_record):
    assert len(ClipDataset([moving_record], clip_length=5, input_size=INPUT)) == 3  # starts 0, 1, 2
    assert len(ClipDataset([moving_record], clip_length=5, input_size=INPUT, stride=2)) == 2
    rng = np.random.default_rng(2)
    joints = np.stack([_joints(rng) for _ in range(3)])
    short = _record(tmp_path, "short", [_blobs(j) for j in joints], joints)
    ds = ClipDataset([short], clip_length=5, input_size=INPUT, augment=False)
    assert len(ds) == 1
    np.testing.assert_array_equal(ds.frame_indices(0), [0, 1, 2, 2, 2])
    item = ds[0]
    assert torch.equal(item["image"][2], item["image"][4]) and torch.equal(
        item["joints"][2], item["joints"][4]
    )


def test_single_frame_dataset_for_stage1(moving_record, static_record):
    ds = ClipDataset([moving_record, static_record], clip_length=1, input_size=INPUT, augment=True)
    assert len(ds) == 7 + 6
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["image"].shape == (4, 1, 3, 40, 48) and batch["heatmaps"].shape == (4, 1, K, 5, 6)


def test_unaugmented_crop_is_centred_on_the_box_union(moving_record):
    ds = ClipDataset([moving_record], clip_length=5, input_size=INPUT, augment=False)
    affine = ds[2]["affine"].numpy().astype(np.float64)
    boxes = moving_record.boxes[2:7]
    centre = [(boxes[:, 0].min() + boxes[:, 2].max()) / 2, (boxes[:, 1].min() + boxes[:, 3].max()) / 2]
    np.testing.assert_allclose(apply_affine_points(affine, np.array(centre)), [23.5, 19.5], atol=1e-4)
    side = max(boxes[:, 2].max() - boxes[:, 0].min(), boxes[:, 3].max() - boxes[:, 1].min())
    assert affine[0, 0] == pytest.approx(min(INPUT) / (1.25 * side), rel=1e-5)


def test_labels_outside_invisible_and_nan(moving_record):
    rec = moving_record
    rec.joints[:, 3] = [-500.0, 40.0]  # far outside the crop
    rec.visibility[:, 4] = 0
    rec.joints[:, 5] = np.nan
    item = ClipDataset([rec], clip_length=5, input_size=INPUT, augment=False)[0]
    w, v = item["target_weight"], item["visibility"]
    assert (w[:, 3] == 0).all() and (v[:, 3] == 1).all()  # labelled, but outside the crop
    assert (w[:, 4] == 0).all() and (v[:, 4] == 0).all()
    assert (w[:, 5] == 0).all() and (v[:, 5] == 0).all() and (item["joints"][:, 5] == 0).all()
    assert (w[:, 0] == 1).all() and torch.isfinite(item["heatmaps"]).all()
    assert (item["heatmaps"][:, 3:6] == 0).all()


def test_bad_input_is_refused_naming_the_file_or_video(tmp_path, moving_record):
    moving_record.frames[2].unlink()
    with pytest.raises(InputError, match="00002.png"):
        ClipDataset([moving_record], clip_length=5, input_size=INPUT)[0]
    moving_record.boxes[3] = [50, 20, 40, 60]
    with pytest.raises(InputError, match="video moving: person box"):
        ClipDataset([moving_record], clip_length=5, input_size=INPUT)[1]
    moving_record.joints = moving_record.joints[:, :12]
    with pytest.raises(InputError, match="video moving: joints has shape"):
        ClipDataset([moving_record], clip_length=5, input_size=INPUT)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match="bad.png"):
        read_rgb(tmp_path / "bad.png")


def test_frame_crop_matches_the_dataset_crop(moving_record):
    image = read_rgb(moving_record.frames[0])
    box = moving_record.boxes[0]
    tensor, affine = frame_crop(image, box, INPUT)
    single = ClipDataset([moving_record], clip_length=1, input_size=INPUT, augment=False)[0]
    assert tensor.shape == (3, 40, 48)
    assert torch.allclose(tensor, single["image"][0]) and np.allclose(affine, single["affine"].numpy())
    flipped, f_affine = frame_crop(image, box, INPUT, flip=True)
    assert (flipped - tensor.flip(-1)).abs().max() < 0.05
    wide, w_affine = frame_crop(image, box, INPUT, scale=2.0)
    assert w_affine[0, 0] == pytest.approx(affine[0, 0] / 2)
    with pytest.raises(InputError, match="frame 7: person box"):
        frame_crop(image, [5, 5, 5, 9], INPUT, source="frame 7")
