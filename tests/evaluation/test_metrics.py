"""PCK by hand: the `<=` threshold, person and torso sizes, torso fallback, visibility, groups and Mean."""

from __future__ import annotations

import numpy as np
import pytest

from dkdpose.data.jhmdb import puppet_mask_boxes
from dkdpose.evaluation.metrics import (
    CURVE_ALPHAS,
    PCKAccumulator,
    counted_joints,
    joint_distances,
    pck_hits,
    pck_summary,
    person_sizes,
    torso_sizes,
)
from dkdpose.skeleton import PENN_ACTION, SUB_JHMDB


def _gt(t: int, k: int) -> np.ndarray:
    """Ground truth with a 50 px torso (for both joint sets): all joints at (100, 100) but the torso pair."""
    gt = np.full((t, k, 2), 100.0)
    a, b = PENN_ACTION.torso if k == 13 else SUB_JHMDB.torso
    gt[:, a] = (70.0, 60.0)
    gt[:, b] = (100.0, 100.0)  # |(30, 40)| = 50
    return gt


def test_person_size_and_distances():
    np.testing.assert_allclose(person_sizes(np.array([[10, 20, 110, 70], [0, 0, 30, 80]])), [100, 80])
    np.testing.assert_allclose(joint_distances(np.array([[[3.0, 4.0]]]), np.zeros((1, 1, 2))), [[5.0]])


def test_joint_exactly_at_the_threshold_counts():
    # person size 100, alpha 0.2 -> threshold 20 px; (12, 16) is exactly 20 px away
    dist = joint_distances(np.array([[[12.0, 16.0], [12.0, 16.001]]]), np.zeros((1, 2, 2)))
    np.testing.assert_array_equal(pck_hits(dist, np.array([100.0]), 0.2), [[True, False]])


def test_torso_size_and_fallback_to_the_prediction():
    gt, pred = _gt(3, 13), _gt(3, 13)
    gt[1, 2] = gt[1, 7] + (0.6, 0.0)  # frame 1: ground-truth torso 0.6 px < 1 -> use the prediction's 50 px
    gt[2, 2] = gt[2, 7] + (1.0, 0.0)  # frame 2: exactly 1 px is kept
    pred[1, 2] = pred[1, 7] + (0.0, 8.0)  # prediction's torso in frame 1: 8 px
    np.testing.assert_allclose(torso_sizes(gt, pred, PENN_ACTION.torso), [50.0, 8.0, 1.0])


def test_penn_counts_only_visible_joints_sub_jhmdb_counts_all():
    vis = np.array([[1, 0, 1]])
    np.testing.assert_array_equal(counted_joints(vis, PENN_ACTION.visible_only), [[True, False, True]])
    np.testing.assert_array_equal(counted_joints(vis, SUB_JHMDB.visible_only), [[True, True, True]])


def test_summary_groups_and_mean_by_hand():
    # Penn Action, 2 frames. Hits: head 2/2, left_shoulder 1/2, right_shoulder 0/1 (one invisible), others 2/2
    # except left_ankle 0/2.
    counted = np.ones((2, 13), dtype=bool)
    counted[1, 2] = False
    hits = np.ones((2, 13), dtype=bool)
    hits[0, 1] = False
    hits[:, 2] = False
    hits[:, 11] = False
    s = pck_summary(hits, counted, PENN_ACTION)
    assert s["per_joint"]["head"] == 100.0
    assert s["per_joint"]["left_shoulder"] == 50.0
    assert s["per_joint"]["right_shoulder"] == 0.0
    assert s["per_joint"]["left_ankle"] == 0.0
    assert s["groups"]["Head"] == 100.0
    assert s["groups"]["Sho"] == 25.0  # mean of 50 and 0
    assert s["groups"]["Ank"] == 50.0
    assert s["groups"]["Elb"] == s["groups"]["Knee"] == 100.0
    assert s["groups"]["Mean"] == pytest.approx((100 + 25 + 100 + 100 + 100 + 100 + 50) / 7)
    # pooled: 25 counted, misses = 1 (l_sho) + 1 (r_sho counted once) + 2 (l_ankle) = 4
    assert s["mean"] == pytest.approx(100 * 21 / 25)


def test_sub_jhmdb_groups_ignore_neck_and_belly_and_use_face():
    counted = np.ones((1, 15), dtype=bool)
    hits = np.zeros((1, 15), dtype=bool)
    hits[0, SUB_JHMDB.index("face")] = True
    s = pck_summary(hits, counted, SUB_JHMDB)
    assert s["groups"]["Head"] == 100.0
    assert s["groups"]["Mean"] == pytest.approx(100 / 7)
    hits[0, [0, 1]] = True  # neck and belly change the pooled mean, not the groups
    s2 = pck_summary(hits, counted, SUB_JHMDB)
    assert s2["groups"] == s["groups"] and s2["mean"] == pytest.approx(100 * 3 / 15)


def test_never_counted_joint_is_none_and_left_out():
    counted = np.ones((1, 13), dtype=bool)
    counted[0, 5] = False  # left_wrist never visible
    hits = counted.copy()
    hits[0, 6] = False  # right_wrist missed
    s = pck_summary(hits, counted, PENN_ACTION)
    assert s["per_joint"]["left_wrist"] is None
    assert s["groups"]["Wri"] == 0.0  # only the right wrist counts
    empty = pck_summary(np.zeros((0, 13), bool), np.zeros((0, 13), bool), PENN_ACTION)
    assert empty["mean"] is None and empty["groups"]["Mean"] is None


def test_accumulator_penn_person_and_torso():
    # one video, 2 frames, box 100 x 60 -> person size 100 (threshold 20); torso 50 (threshold 10)
    gt = _gt(2, 13)
    vis = np.ones((2, 13))
    vis[:, 12] = 0  # right_ankle invisible: its huge error must not count
    pred = gt.copy()
    pred[:, 0] += (12.0, 16.0)  # head 20 px off: person hit (<=), torso miss
    pred[0, 3] += (6.0, 8.0)  # left_elbow 10 px off in frame 0: hit for both (torso exactly at threshold)
    pred[:, 12] += 500.0
    boxes = np.tile([0.0, 0.0, 100.0, 60.0], (2, 1))
    acc = PCKAccumulator(PENN_ACTION)
    acc.add("0001", pred, gt, vis, boxes)
    sc = acc.score(0.2, "penn_action", None)
    assert sc["frames"] == 2 and sc["joints_counted"] == 24 and sc["videos"] == 1
    assert sc["person"]["mean"] == 100.0
    assert sc["person"]["per_joint"]["right_ankle"] is None
    assert sc["torso"]["per_joint"]["head"] == 0.0
    assert sc["torso"]["per_joint"]["left_elbow"] == 100.0
    assert sc["torso"]["mean"] == pytest.approx(100 * 22 / 24)
    assert sc["per_video"]["0001"] == {
        "frames": 2,
        "joints_counted": 24,
        "person": 100.0,
        "torso": sc["torso"]["mean"],
    }


def test_accumulator_pools_over_videos_and_sub_jhmdb_counts_all():
    acc = PCKAccumulator(SUB_JHMDB)
    gt = _gt(1, 15)
    boxes = np.array([[0.0, 0.0, 50.0, 50.0]])
    far = gt + 100.0
    acc.add("a/1", gt, gt, np.zeros((1, 15)), boxes)  # visibility zeros are ignored for Sub-JHMDB
    acc.add("a/2", far, gt, np.zeros((1, 15)), boxes)
    acc.add("b/1", gt, gt, np.zeros((1, 15)), boxes)
    sc = acc.score(0.2, "sub_jhmdb", 1)
    assert sc["joints_counted"] == 45 and sc["split"] == 1
    assert sc["person"]["mean"] == pytest.approx(200 / 3)
    assert {v: r["person"] for v, r in sc["per_video"].items()} == {"a/1": 100.0, "a/2": 0.0, "b/1": 100.0}


def test_curves_are_monotone_and_match_the_summary():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 200, (6, 13, 2))
    pred = gt + rng.normal(0, 15, gt.shape)
    acc = PCKAccumulator(PENN_ACTION)
    acc.add("0001", pred, gt, np.ones((6, 13)), np.tile([0.0, 0.0, 150.0, 200.0], (6, 1)))
    curves = acc.curves()
    assert curves["alpha"] == list(CURVE_ALPHAS) and CURVE_ALPHAS[0] == 0.0 and CURVE_ALPHAS[-1] == 0.2
    for norm in ("person", "torso"):
        means = curves[norm]["mean"]
        assert means[0] == 0.0 and all(a <= b for a, b in zip(means, means[1:], strict=False))
        assert means[-1] == acc.summary(norm, 0.2)["mean"]
        assert curves[norm]["groups"]["Mean"][10] == acc.summary(norm, 0.1)["groups"]["Mean"]


def test_puppet_mask_box_gives_the_person_size():
    mask = np.zeros((40, 30, 1), dtype=np.uint8)
    mask[5:36, 10:21, 0] = 1  # columns 10..20, rows 5..35 -> box (10, 5, 20, 35): size max(10, 30) = 30
    np.testing.assert_allclose(person_sizes(puppet_mask_boxes(mask)), [30.0])
