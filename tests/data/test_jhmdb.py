"""Sub-JHMDB reader: splits, 1-based -> 0-based joints, puppet-mask boxes, and every refusal."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import scipy.io
from fake_datasets import rewrite_mat, write_jhmdb_video

from dkdpose.data.jhmdb import puppet_mask_boxes, read_sub_jhmdb
from dkdpose.errors import InputError

KICK = "kick_ball/Kick_the_ball_kick_ball_f_cm_np1_ri_goo_0"


@pytest.mark.parametrize("split", [1, 2, 3])
def test_split_membership_follows_the_split_files(fake_sub_jhmdb, split):
    root, labels = fake_sub_jhmdb
    recs = read_sub_jhmdb(root, split=split)
    assert [r.video_id for r in recs] == sorted(labels)
    for r in recs:
        assert r.split == {1: "train", 2: "test"}[labels[r.video_id]["splits"][split - 1]]
    test_ids = [r.video_id for r in read_sub_jhmdb(root, split=split, subset="test")]
    assert test_ids == sorted(v for v, lab in labels.items() if lab["splits"][split - 1] == 2)


def test_records_are_zero_based_with_mask_boxes(fake_sub_jhmdb):
    root, labels = fake_sub_jhmdb
    for rec in read_sub_jhmdb(root):
        lab = labels[rec.video_id]
        t = lab["pos_img"].shape[2]
        action, video = rec.video_id.split("/")
        assert rec.action == action and rec.joint_set == "sub_jhmdb" and rec.num_frames == t
        assert rec.frames[0] == root / "Rename_Images" / action / video / "00001.png"
        np.testing.assert_allclose(rec.joints, lab["pos_img"].transpose(2, 1, 0) - 1, atol=1e-4)
        np.testing.assert_array_equal(rec.visibility, np.ones((t, 15)))
        for f in range(t):  # first/last nonzero column and row of each frame's mask
            rows, cols = np.nonzero(lab["part_mask"][:, :, f])
            np.testing.assert_array_equal(rec.boxes[f], [cols.min(), rows.min(), cols.max(), rows.max()])


def test_puppet_mask_box_by_hand():
    mask = np.zeros((10, 12, 2), dtype=np.uint8)
    mask[2:6, 3:8, 0] = 1  # rows 2..5, columns 3..7
    mask[7, 1, 1] = 4  # a single pixel
    mask[0, 11, 1] = 2  # and one in the top-right corner
    np.testing.assert_array_equal(puppet_mask_boxes(mask), [[3, 2, 7, 5], [1, 0, 11, 7]])


def test_empty_puppet_mask_frame_is_refused():
    mask = np.ones((4, 5, 3), dtype=np.uint8)
    mask[:, :, 1] = 0
    with pytest.raises(InputError, match=r"m\.mat: puppet mask of frame 2 is empty"):
        puppet_mask_boxes(mask, "m.mat")


def test_one_frame_video_with_dropped_matlab_dimension(tmp_path):
    root = tmp_path / "J"
    rng = np.random.default_rng(0)
    mask = np.zeros((30, 40), dtype=np.uint8)  # MATLAB saves H x W x 1 as H x W
    mask[3:9, 4:20] = 1
    pos = rng.uniform(5, 9, (2, 15))  # and 2 x 15 x 1 as 2 x 15
    write_jhmdb_video(root, "jump", "v", {"pos_img": pos[..., None], "part_mask": mask[..., None]})
    scipy.io.savemat(str(root / "joint_positions/jump/v/joint_positions.mat"), {"pos_img": pos})
    scipy.io.savemat(str(root / "puppet_mask/jump/v/puppet_mask.mat"), {"part_mask": mask})
    (root / "sub_splits").mkdir()
    (root / "sub_splits/jump_test_split_1.txt").write_text("v.avi 2\n")
    (rec,) = read_sub_jhmdb(root)
    assert rec.video_id == "jump/v" and rec.num_frames == 1 and rec.split == "test"
    np.testing.assert_allclose(rec.joints[0], pos.T - 1, atol=1e-4)
    np.testing.assert_array_equal(rec.boxes, [[4, 3, 19, 8]])


def test_blank_lines_and_crlf_in_split_files_are_fine(fake_sub_jhmdb):
    root, _ = fake_sub_jhmdb
    f = root / "sub_splits" / "swing_baseball_test_split_1.txt"
    f.write_bytes(f.read_bytes().replace(b"\n", b"\r\n") + b"\n\n")
    assert len(read_sub_jhmdb(root)) == 3


@pytest.mark.parametrize(
    "line",
    ["Kick_the_ball.avi", "Kick_the_ball.avi 3", "Kick_the_ball 1", "Kick_the_ball.avi 1 extra", ".avi 1"],
)
def test_malformed_split_line(fake_sub_jhmdb, line):
    root, _ = fake_sub_jhmdb
    f = root / "sub_splits" / "kick_ball_test_split_2.txt"
    f.write_text(f.read_text() + line + "\n")
    with pytest.raises(InputError, match=r"kick_ball_test_split_2\.txt:3: malformed split line"):
        read_sub_jhmdb(root, split=2)


def test_video_listed_twice(fake_sub_jhmdb):
    root, _ = fake_sub_jhmdb
    f = root / "sub_splits" / "kick_ball_test_split_1.txt"
    f.write_text(f.read_text() * 2)
    with pytest.raises(InputError, match="listed twice"):
        read_sub_jhmdb(root)


@pytest.mark.parametrize("folder", ["", "sub_splits", "Rename_Images", "joint_positions", "puppet_mask"])
def test_missing_root_or_folder(fake_sub_jhmdb, folder):
    root, _ = fake_sub_jhmdb
    shutil.rmtree(root / folder)
    with pytest.raises(InputError, match=f"{root / folder}: Sub-JHMDB .*not found"):
        read_sub_jhmdb(root)


def test_missing_files_of_one_video(fake_sub_jhmdb):
    root, _ = fake_sub_jhmdb
    (root / "joint_positions" / KICK / "joint_positions.mat").unlink()
    with pytest.raises(InputError, match=r"goo_0/joint_positions\.mat: label file not found"):
        read_sub_jhmdb(root)
    shutil.rmtree(root / "Rename_Images" / KICK)
    with pytest.raises(InputError, match=r"goo_0: frame folder not found"):
        read_sub_jhmdb(root)


def test_no_split_files_for_that_split(fake_sub_jhmdb):
    root, _ = fake_sub_jhmdb
    for f in (root / "sub_splits").glob("*_split_3.txt"):
        f.unlink()
    with pytest.raises(InputError, match=r"no split files \*_test_split_3\.txt"):
        read_sub_jhmdb(root, split=3)
    with pytest.raises(InputError, match="split must be 1, 2 or 3"):
        read_sub_jhmdb(root, split=4)


def test_frame_count_mismatch_is_refused(fake_sub_jhmdb):
    root, _ = fake_sub_jhmdb
    (root / "Rename_Images" / KICK / "00003.png").unlink()
    with pytest.raises(
        InputError, match=rf"{KICK}: frame counts disagree \(images 2, pos_img 3, part_mask 3\)"
    ):
        read_sub_jhmdb(root)


def test_mask_frame_count_mismatch_is_refused(fake_sub_jhmdb):
    root, labels = fake_sub_jhmdb
    rewrite_mat(
        root / "puppet_mask" / KICK / "puppet_mask.mat", part_mask=labels[KICK]["part_mask"][:, :, :2]
    )
    with pytest.raises(InputError, match=r"images 3, pos_img 3, part_mask 2"):
        read_sub_jhmdb(root)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros((3, 15, 3)), r"'pos_img' has shape \(3, 15, 3\), expected \(2, 15, T\)"),
        (np.zeros((2, 14, 3)), r"'pos_img' has shape \(2, 14, 3\)"),
        (np.zeros((2, 15, 3, 2)), r"'pos_img' must have 3 dimensions"),
        (np.full((2, 15, 3), np.nan), r"'pos_img' holds non-finite numbers"),
    ],
)
def test_wrong_pos_img(fake_sub_jhmdb, value, message):
    root, _ = fake_sub_jhmdb
    rewrite_mat(root / "joint_positions" / KICK / "joint_positions.mat", pos_img=value)
    with pytest.raises(InputError, match=r"joint_positions\.mat: field " + message):
        read_sub_jhmdb(root)


def test_label_without_a_field(fake_sub_jhmdb):
    root, _ = fake_sub_jhmdb
    rewrite_mat(root / "puppet_mask" / KICK / "puppet_mask.mat", drop=("part_mask",), other=np.zeros(2))
    with pytest.raises(InputError, match=r"puppet_mask\.mat: missing field\(s\) part_mask"):
        read_sub_jhmdb(root)
