"""Hand cases of the acceleration-error jitter metric (`dkdpose.evaluation.jitter`)."""

from __future__ import annotations

import numpy as np
import pytest

from dkdpose.evaluation.jitter import JitterAccumulator, acceleration_errors, second_difference, triplet_mask
from dkdpose.skeleton import PENN_ACTION, SUB_JHMDB


def _walk(t: int, k: int, velocity: float = 3.0, accel: float = 0.0) -> np.ndarray:
    """(T, K, 2) joints moving along x at constant velocity (+ acceleration), joint j offset by 10 j in y."""
    time = np.arange(t, dtype=np.float64)[:, None]
    x = 50.0 + velocity * time + 0.5 * accel * time**2 + np.zeros((t, k))
    y = 20.0 + 10.0 * np.arange(k)[None, :] + np.zeros((t, k))
    return np.stack([x, y], axis=-1)


def _boxes(t: int, size: float = 200.0) -> np.ndarray:
    return np.tile([0.0, 0.0, size, size / 2], (t, 1))


def test_second_difference_of_a_parabola_is_its_acceleration():
    acc = second_difference(_walk(6, 2, velocity=1.0, accel=2.0))
    assert acc.shape == (4, 2, 2)
    np.testing.assert_allclose(acc[..., 0], 2.0)
    np.testing.assert_allclose(acc[..., 1], 0.0)


def test_a_constant_offset_and_true_motion_cost_nothing():
    gt = _walk(8, 13, velocity=5.0, accel=1.5)  # the person accelerates: no jitter in that
    acc = JitterAccumulator(PENN_ACTION)
    acc.add("v", gt + [3.0, -2.0], gt, np.ones((8, 13)), _boxes(8))
    s = acc.summary()
    assert s["triplets"] == 6 * 13
    assert s["accel_error_px"] == pytest.approx(0.0, abs=1e-9)
    assert s["gt_accel_px"] == pytest.approx(1.5) and s["pred_accel_px"] == pytest.approx(1.5)


def test_alternating_flicker_of_one_joint():
    t, k, d = 7, 13, 2.0
    gt = _walk(t, k)
    pred = gt.copy()
    pred[:, 4, 0] += d * (-1.0) ** np.arange(t)  # +-d flicker: second difference 4 d in magnitude
    acc = JitterAccumulator(PENN_ACTION)
    acc.add("v", pred, gt, np.ones((t, k)), _boxes(t, size=200.0))
    s = acc.summary()
    assert s["accel_error_px"] == pytest.approx(4 * d / k)
    assert s["accel_error_pct_person"] == pytest.approx(100 * 4 * d / k / 200.0)
    err, mask = acceleration_errors(pred, gt, np.ones((t, k), bool))
    np.testing.assert_allclose(err[:, 4], 4 * d)
    assert mask.all() and err[:, [0, 5, 12]].max() == 0


def test_only_joints_counted_in_three_consecutive_frames():
    t, k = 5, 13
    vis = np.ones((t, k))
    vis[2, 0] = 0  # joint 0 invisible in the middle frame: kills the triplets centred on frames 1, 2, 3
    assert triplet_mask(vis > 0)[:, 0].tolist() == [False, False, False]
    gt = _walk(t, k)
    pred = gt.copy()
    pred[2, 0] += [100.0, 0.0]  # a huge error on a frame where joint 0 is not counted (Penn Action)
    penn = JitterAccumulator(PENN_ACTION)
    penn.add("v", pred, gt, vis, _boxes(t))
    assert penn.summary()["accel_error_px"] == pytest.approx(0.0)
    assert penn.summary()["triplets"] == 3 * (k - 1)
    jhmdb = JitterAccumulator(SUB_JHMDB)  # Sub-JHMDB counts every joint, visible or not
    gt15, pred15 = _walk(t, 15), _walk(t, 15)
    pred15[2, 0] += [100.0, 0.0]
    vis15 = np.zeros((t, 15))
    jhmdb.add("v", pred15, gt15, vis15, _boxes(t))
    assert jhmdb.summary()["triplets"] == 3 * 15
    assert jhmdb.summary()["accel_error_px"] == pytest.approx((100 + 200 + 100) / (3 * 15))


def test_short_videos_and_per_video_breakdown():
    acc = JitterAccumulator(PENN_ACTION)
    acc.add("short", _walk(2, 13), _walk(2, 13), np.ones((2, 13)), _boxes(2))
    assert acc.summary() == {
        "triplets": 0, "accel_error_px": None, "accel_error_pct_person": None,
        "pred_accel_px": None, "gt_accel_px": None,
    }  # fmt: skip
    pred = _walk(4, 13)
    pred[1, 3] += [0.0, 6.0]
    acc.add("long", pred, _walk(4, 13), np.ones((4, 13)), _boxes(4, size=100.0))
    per = acc.per_video()
    assert per["short"]["triplets"] == 0 and per["long"]["triplets"] == 2 * 13
    # frame 1 bump of 6 px: second differences -12 at t=1 and +6 at t=2 on joint 3
    assert per["long"]["accel_error_px"] == pytest.approx((12 + 6) / 26)
    assert acc.summary()["accel_error_px"] == pytest.approx(per["long"]["accel_error_px"])
    assert per["long"]["accel_error_pct_person"] == pytest.approx(100 * (12 + 6) / 26 / 100.0)
