"""Affine crop helpers and clip augmentation parameters (dkdpose.data.transforms)."""

from __future__ import annotations

import numpy as np
import pytest

from dkdpose.data.transforms import (
    PADDING,
    ClipAugment,
    ClipParams,
    apply_affine_points,
    color_jitter,
    crop_affine,
    flip_joints,
    invert_affine,
    normalize,
    warp_image,
)
from dkdpose.skeleton import PENN_ACTION


def _blob_image(center: tuple[float, float], shape=(80, 100), sigma: float = 2.0) -> np.ndarray:
    """(H, W) float32 Gaussian blob on black: its intensity centroid is `center`."""
    ys, xs = np.mgrid[: shape[0], : shape[1]]
    return np.exp(-((xs - center[0]) ** 2 + (ys - center[1]) ** 2) / (2 * sigma**2)).astype(np.float32)


def _centroid(img: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[: img.shape[0], : img.shape[1]]
    return np.array([(xs * img).sum(), (ys * img).sum()]) / img.sum()


def test_crop_affine_centre_size_and_rotation_sense():
    out = (64, 48)
    a = crop_affine((40.0, 30.0), 20.0, 0.0, False, out)
    np.testing.assert_allclose(apply_affine_points(a, np.array([40.0, 30.0])), [31.5, 23.5])
    # size * padding fits the shorter crop side (48 px): a horizontal span of 25 px becomes 48 px
    span = apply_affine_points(a, np.array([[40 - 12.5, 30.0], [40 + 12.5, 30.0]]))
    assert span[1, 0] - span[0, 0] == pytest.approx(48.0)
    assert PADDING == 1.25
    # +90 deg turns the content counter-clockwise on screen: a point right of the centre goes up (smaller y)
    r = apply_affine_points(crop_affine((40.0, 30.0), 20.0, 90.0, False, out), np.array([50.0, 30.0]))
    np.testing.assert_allclose(r, [31.5, 23.5 - 10 * 48 / 25], atol=1e-9)


def test_flip_mirrors_about_the_crop_centre_line():
    out = (64, 48)
    pts = np.random.default_rng(0).uniform(0, 80, size=(10, 2))
    plain = apply_affine_points(crop_affine((40.0, 30.0), 30.0, 17.0, False, out), pts)
    flipped = apply_affine_points(crop_affine((40.0, 30.0), 30.0, 17.0, True, out), pts)
    np.testing.assert_allclose(flipped[:, 0], out[0] - 1 - plain[:, 0], atol=1e-9)
    np.testing.assert_allclose(flipped[:, 1], plain[:, 1], atol=1e-9)


def test_invert_affine_round_trip():
    rng = np.random.default_rng(1)
    for _ in range(20):
        a = crop_affine(
            rng.uniform(0, 500, 2), rng.uniform(10, 300), rng.uniform(-40, 40), rng.random() < 0.5, (96, 128)
        )
        pts = rng.uniform(-100, 600, size=(7, 13, 2))
        back = apply_affine_points(invert_affine(a), apply_affine_points(a, pts))
        np.testing.assert_allclose(back, pts, atol=1e-9)
        np.testing.assert_allclose(invert_affine(invert_affine(a)), a, atol=1e-12)


@pytest.mark.parametrize("rotation,flip", [(0.0, False), (33.0, False), (-25.0, True)])
def test_warp_image_agrees_with_point_mapping(rotation, flip):
    """The image warp and the point map use the same pixel-centre convention (no half-pixel offset)."""
    src = (57.3, 41.8)
    a = crop_affine((50.0, 40.0), 40.0, rotation, flip, (64, 64))
    crop = warp_image(_blob_image(src), a, (64, 64))
    np.testing.assert_allclose(_centroid(crop), apply_affine_points(a, np.array(src)), atol=0.05)


def test_warp_image_flip_equals_mirrored_crop_and_zero_border():
    img = np.random.default_rng(2).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    plain = warp_image(img, crop_affine((10.0, 30.0), 40.0, 12.0, False, (48, 40)), (48, 40))
    flipped = warp_image(img, crop_affine((10.0, 30.0), 40.0, 12.0, True, (48, 40)), (48, 40))
    assert plain.shape == (40, 48, 3)
    assert np.abs(flipped.astype(int) - plain[:, ::-1].astype(int)).max() <= 2  # cv2's 1/32-px fixed point
    assert (plain[:, 0] == 0).all()  # the crop reaches left of the image: constant zero border


def test_flip_joints_swaps_left_and_right_channels():
    k = PENN_ACTION.num_joints
    joints = np.arange(2 * 3 * k * 2, dtype=np.float32).reshape(2, 3, k, 2)
    vis = np.tile(np.arange(k, dtype=np.float32), (2, 3, 1))
    fj, fv = flip_joints(joints, vis, PENN_ACTION.flip_index)
    lw, rw, head = (PENN_ACTION.index(n) for n in ("left_wrist", "right_wrist", "head"))
    np.testing.assert_array_equal(fj[..., rw, :], joints[..., lw, :])
    np.testing.assert_array_equal(fj[..., lw, :], joints[..., rw, :])
    np.testing.assert_array_equal(fj[..., head, :], joints[..., head, :])
    np.testing.assert_array_equal(fv[..., rw], vis[..., lw])


def test_clip_augment_ranges_and_reproducibility():
    aug = ClipAugment()
    draws = [aug.sample(np.random.default_rng((7, i))) for i in range(400)]
    scales = np.array([d.scale for d in draws])
    rots = np.array([d.rotation_deg for d in draws])
    flips = np.array([d.flip for d in draws])
    assert scales.min() >= 0.8 and scales.max() <= 1.4 and scales.max() - scales.min() > 0.5
    assert rots.min() >= -40 and rots.max() <= 40 and rots.max() - rots.min() > 70
    assert 0.4 < flips.mean() < 0.6
    for d in draws:
        assert 0.8 <= d.brightness <= 1.2 and 0.8 <= d.contrast <= 1.2 and 0.8 <= d.saturation <= 1.2
    assert aug.sample(np.random.default_rng((7, 3))) == draws[3]
    assert aug.sample(np.random.default_rng((8, 3))) != draws[3]


def test_color_jitter_identity_and_range():
    img = np.random.default_rng(3).random((10, 12, 3), dtype=np.float32)
    np.testing.assert_allclose(color_jitter(img.copy(), ClipParams()), img, atol=1e-6)
    out = color_jitter(img.copy(), ClipParams(brightness=1.2, contrast=0.8, saturation=1.2))
    assert out.min() >= 0 and out.max() <= 1 and not np.allclose(out, img)
    grey = color_jitter(img.copy(), ClipParams(saturation=0.0))
    np.testing.assert_allclose(grey[..., 0], grey[..., 2], atol=1e-6)  # saturation 0 gives grey


def test_normalize_uint8_and_float_agree():
    img = np.random.default_rng(4).integers(0, 255, (5, 6, 3), dtype=np.uint8)
    a, b = normalize(img), normalize(img.astype(np.float32) / 255)
    assert a.shape == (3, 5, 6) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(normalize(np.full((1, 1, 3), 0.485, np.float32))[0], 0.0, atol=1e-6)
    want = (img.astype(np.float64) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(a, want.transpose(2, 0, 1), atol=1e-5)
    assert a.flags["C_CONTIGUOUS"]
    float_img = img.astype(np.float32) / 255
    normalize(float_img)
    assert np.array_equal(float_img, img.astype(np.float32) / 255)  # the caller's image is not modified
