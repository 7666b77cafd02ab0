"""Joint sets against `docs/protocol.md`: names, flip pairs, groups, torso pairs, the MPII mapping."""

from __future__ import annotations

import numpy as np
import pytest

from dkdpose.skeleton import (
    GROUP_NAMES,
    MPII,
    PENN_ACTION,
    SUB_JHMDB,
    get_joint_set,
    map_from_mpii,
    mpii_mapping,
)


def test_names_in_protocol_order():
    assert PENN_ACTION.names[:3] == ("head", "left_shoulder", "right_shoulder")
    assert PENN_ACTION.names[11:] == ("left_ankle", "right_ankle") and PENN_ACTION.num_joints == 13
    assert SUB_JHMDB.names[:5] == ("neck", "belly", "face", "right_shoulder", "left_shoulder")
    assert SUB_JHMDB.names[13:] == ("right_ankle", "left_ankle") and SUB_JHMDB.num_joints == 15
    assert MPII.names[6:10] == ("pelvis", "thorax", "upper_neck", "head_top") and MPII.num_joints == 16
    assert get_joint_set("sub_jhmdb") is SUB_JHMDB
    with pytest.raises(ValueError, match="unknown joint set"):
        get_joint_set("coco")


@pytest.mark.parametrize("js", [PENN_ACTION, SUB_JHMDB, MPII])
def test_flip_pairs_swap_left_and_right_of_the_same_part(js):
    pairs = js.flip_pairs
    assert len(pairs) == 6  # shoulders, elbows, wrists, hips, knees, ankles
    for a, b in pairs:
        left, right = js.names[a], js.names[b]
        assert left.split("_", 1)[1] == right.split("_", 1)[1]
        assert left.startswith("l") and right.startswith("r")
    perm = js.flip_index
    np.testing.assert_array_equal(perm[perm], np.arange(js.num_joints))  # an involution
    unpaired = {i for i in range(js.num_joints)} - {i for p in pairs for i in p}
    assert all(perm[i] == i for i in unpaired)


def test_penn_flip_index_by_hand():
    np.testing.assert_array_equal(PENN_ACTION.flip_index, [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11])


def test_groups():
    assert tuple(PENN_ACTION.groups) == GROUP_NAMES == ("Head", "Sho", "Elb", "Wri", "Hip", "Knee", "Ank")
    assert PENN_ACTION.groups["Head"] == (0,) and PENN_ACTION.groups["Wri"] == (5, 6)
    assert SUB_JHMDB.groups["Head"] == (2,)  # face
    grouped = {j for g in SUB_JHMDB.groups.values() for j in g}
    assert grouped == set(range(15)) - {0, 1}  # neck and belly are in no group
    for js in (PENN_ACTION, SUB_JHMDB, MPII):
        for g in GROUP_NAMES[1:]:
            names = {js.names[j] for j in js.groups[g]}
            assert len(names) == 2 and all(n.startswith(("l", "r")) for n in names)


def test_torso_pairs_and_visibility_rule():
    assert PENN_ACTION.torso == (2, 7)  # right_shoulder, left_hip
    assert SUB_JHMDB.torso == (4, 5)  # left_shoulder, right_hip
    assert PENN_ACTION.visible_only and not SUB_JHMDB.visible_only


def test_edges_are_valid_index_pairs():
    for js in (PENN_ACTION, SUB_JHMDB, MPII):
        assert all(0 <= a < js.num_joints and 0 <= b < js.num_joints and a != b for a, b in js.edges)


@pytest.mark.parametrize("target", ["penn_action", "sub_jhmdb"])
def test_mpii_mapping_rows_average_matching_joints(target):
    m = mpii_mapping(target)
    js = get_joint_set(target)
    assert m.shape == (js.num_joints, 16)
    np.testing.assert_allclose(m.sum(1), 1.0)
    assert m[js.index("left_knee"), MPII.index("l_knee")] == 1.0
    assert m[js.index("right_wrist"), MPII.index("r_wrist")] == 1.0


def test_map_from_mpii_by_hand():
    joints = np.arange(32, dtype=np.float64).reshape(16, 2)
    vis = np.ones(16)
    vis[MPII.index("head_top")] = 0
    out, out_vis = map_from_mpii(joints, vis, "penn_action")
    np.testing.assert_allclose(out[0], (joints[8] + joints[9]) / 2)  # head = mean(upper_neck, head_top)
    np.testing.assert_allclose(out[PENN_ACTION.index("right_ankle")], joints[0])
    assert out_vis[0] == 0 and out_vis[1:].all()  # head needs both sources visible
    with pytest.raises(ValueError, match="no MPII mapping"):
        mpii_mapping("mpii")
