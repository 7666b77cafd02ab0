"""The heatmap codec (dkdpose.data.heatmaps): encode, decode, flip_back and their conventions."""

from __future__ import annotations

import numpy as np
import torch

from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.data.transforms import apply_affine_points, crop_affine, flip_joints
from dkdpose.skeleton import PENN_ACTION

CODEC = HeatmapCodec(input_size=(128, 96), heatmap_size=(32, 24), sigma=2.0)  # stride 4 on both axes


def _reference_decode(heat: np.ndarray, stride: np.ndarray) -> np.ndarray:
    """Per-map loop of SimpleBaseline's get_final_preds in this module's cell convention, for (N, h, w)."""
    out = []
    for hm in heat:
        py, px = np.unravel_index(np.argmax(hm), hm.shape)
        x, y = float(px), float(py)
        if 0 < px < hm.shape[1] - 1:
            x += 0.25 * np.sign(hm[py, px + 1] - hm[py, px - 1])
        if 0 < py < hm.shape[0] - 1:
            y += 0.25 * np.sign(hm[py + 1, px] - hm[py - 1, px])
        out.append((np.array([x, y]) + 0.5) * stride - 0.5)
    return np.array(out)


def test_round_trip_within_a_quarter_cell_for_subpixel_positions():
    rng = np.random.default_rng(0)
    cells = rng.uniform([0.5, 0.5], [30.5, 22.5], size=(50, 13, 2))  # argmax not on a border cell
    joints = CODEC.heatmap_to_input(cells)
    heat, weight = CODEC.encode(joints, np.ones((50, 13)))
    assert heat.shape == (50, 13, 24, 32) and heat.dtype == np.float32 and (weight == 1).all()
    coords, scores = CODEC.decode(torch.from_numpy(heat))
    err = np.abs(coords.numpy() - joints)
    assert (err <= 0.25 * CODEC.stride + 1e-4).all()  # a quarter cell = 1 input px here
    assert err.mean() < 0.2 * CODEC.stride.mean()  # not a constant quarter-cell bias
    assert (scores.numpy() > 0.85).all()  # peak 1 at the joint, a grid cell within half a cell of it


def test_round_trip_near_the_border_within_half_a_cell():
    joints = np.array([[0.0, 0.0], [127.0, 95.0], [1.0, 50.0], [126.4, 3.3]])
    heat, weight = CODEC.encode(joints, np.ones(4))
    assert (weight == 1).all()
    coords, _ = CODEC.decode(torch.from_numpy(heat))
    assert (np.abs(coords.numpy() - joints) <= 0.5 * CODEC.stride + 1e-4).all()


def test_coordinate_maps_are_centre_aligned_inverses():
    pts = np.array([[-0.5, -0.5], [127.5, 95.5], [1.5, 1.5], [10.2, 77.7]])
    cells = CODEC.input_to_heatmap(pts)
    np.testing.assert_allclose(cells[:2], [[-0.5, -0.5], [31.5, 23.5]])  # extents coincide
    np.testing.assert_allclose(cells[2], [0.0, 0.0])  # cell 0's centre is input pixel 1.5 at stride 4
    np.testing.assert_allclose(CODEC.heatmap_to_input(cells), pts)
    np.testing.assert_allclose(apply_affine_points(CODEC.heatmap_to_input_affine, cells), pts)


def test_target_weight_zero_for_invisible_outside_and_nan():
    joints = np.array([[50.0, 40.0], [50.0, 40.0], [-3.0, 40.0], [50.0, 97.0], [np.nan, 1.0], [127.4, 95.4]])
    vis = np.array([1, 0, 1, 1, 1, 1], dtype=np.float32)
    heat, weight = CODEC.encode(joints, vis)
    np.testing.assert_array_equal(weight, [1, 0, 0, 0, 0, 1])
    assert np.isfinite(heat).all()
    assert (heat[weight == 0] == 0).all() and (heat[weight == 1].reshape(2, -1).max(axis=1) > 0.8).all()


def test_gaussian_shape_sigma_and_truncation():
    codec = HeatmapCodec((64, 64), (64, 64), sigma=1.5)  # stride 1: cells are input pixels
    heat, _ = codec.encode(np.array([[30.0, 20.0]]), np.ones(1))
    assert heat[0, 20, 30] == 1.0
    np.testing.assert_allclose(heat[0, 20, 32], np.exp(-4 / (2 * 1.5**2)), rtol=1e-6)
    assert heat[0, 20, 34] > 0 and heat[0, 20, 35] == 0  # zero beyond 3 sigma = 4.5 cells


def test_decode_batched_matches_per_map_reference_on_noise():
    rng = np.random.default_rng(1)
    heat = rng.random((2, 3, 13, 24, 32)).astype(np.float32)
    coords, scores = CODEC.decode(torch.from_numpy(heat))
    assert coords.shape == (2, 3, 13, 2) and scores.shape == (2, 3, 13) and coords.dtype == torch.float32
    ref = _reference_decode(heat.reshape(-1, 24, 32), CODEC.stride).reshape(2, 3, 13, 2)
    np.testing.assert_allclose(coords.numpy(), ref, atol=1e-4)
    np.testing.assert_allclose(scores.numpy(), heat.reshape(2, 3, 13, -1).max(-1))


def test_flip_back_of_flipped_input_heatmaps_matches_unflipped():
    """Heatmaps of a crop taken with the flipping affine, mapped back, equal those of the plain crop."""
    rng = np.random.default_rng(2)
    joints = rng.uniform(20, 80, size=(13, 2))
    vis = np.ones(13, dtype=np.float32)
    size = (128, 96)
    plain = apply_affine_points(crop_affine((50.0, 50.0), 70.0, 10.0, False, size), joints)
    flipped = apply_affine_points(crop_affine((50.0, 50.0), 70.0, 10.0, True, size), joints)
    flipped, fvis = flip_joints(flipped, vis, PENN_ACTION.flip_index)
    heat_plain, _ = CODEC.encode(plain, vis)
    heat_flip, _ = CODEC.encode(flipped, fvis)
    back = CODEC.flip_back(torch.from_numpy(heat_flip)[None], PENN_ACTION.flip_index)[0]
    np.testing.assert_allclose(back.numpy(), heat_plain, atol=1e-5)
    # and decoding the mapped-back heatmaps finds the unflipped joints
    coords, _ = CODEC.decode(back)
    assert (np.abs(coords.numpy() - plain) <= 0.5 * CODEC.stride).all()


def test_flip_back_swaps_channels_and_mirrors_columns():
    heat = torch.zeros(13, 24, 32)
    lw, rw = PENN_ACTION.index("left_wrist"), PENN_ACTION.index("right_wrist")
    heat[lw, 5, 2] = 1.0
    back = HeatmapCodec.flip_back(heat, PENN_ACTION.flip_index)
    assert back[rw, 5, 29] == 1.0 and back.sum() == 1.0
