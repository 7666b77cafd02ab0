"""Penn Action reader: round trip of the fake on-disk dataset, its quirks, and every refusal."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from fake_datasets import rewrite_mat

from dkdpose.data.penn_action import read_penn_action
from dkdpose.errors import InputError


def test_reads_every_video_sorted_with_subsets(fake_penn_action):
    root, labels = fake_penn_action
    assert [r.video_id for r in read_penn_action(root)] == ["0001", "0002", "0003", "0004", "0005"]
    assert [r.video_id for r in read_penn_action(root, "train")] == ["0001", "0003", "0005"]
    assert [r.video_id for r in read_penn_action(root, "test")] == ["0002", "0004"]
    assert {r.split for r in read_penn_action(root, "test")} == {"test"}


def test_labels_become_zero_based_records(fake_penn_action):
    root, labels = fake_penn_action
    for rec in read_penn_action(root):
        lab = labels[rec.video_id]
        t = len(lab["x"])
        assert rec.num_frames == t and rec.joint_set == "penn_action"
        assert [p.name for p in rec.frames] == [f"{i:06d}.jpg" for i in range(1, t + 1)]
        assert rec.joints.shape == (t, 13, 2) and rec.joints.dtype == np.float32
        np.testing.assert_allclose(rec.joints[..., 0], lab["x"] - 1, atol=1e-5)
        np.testing.assert_allclose(rec.joints[..., 1], lab["y"] - 1, atol=1e-5)
        np.testing.assert_array_equal(rec.visibility, lab["visibility"])
        np.testing.assert_allclose(rec.boxes[: len(lab["bbox"])], lab["bbox"] - 1, atol=1e-5)
        assert rec.action == lab["action"]


def test_short_bbox_repeats_last_row(fake_penn_action):
    root, labels = fake_penn_action
    rec = {r.video_id: r for r in read_penn_action(root)}["0004"]
    assert len(labels["0004"]["bbox"]) == rec.num_frames - 1  # the fake has the real quirk
    np.testing.assert_array_equal(rec.boxes[-1], rec.boxes[-2])
    np.testing.assert_allclose(rec.boxes[-1], labels["0004"]["bbox"][-1] - 1, atol=1e-5)


def test_zero_coordinates_of_invisible_joints_survive(fake_penn_action):
    root, labels = fake_penn_action
    recs = read_penn_action(root)
    zeros = [(r, np.argwhere((labels[r.video_id]["x"] == 0) & (r.visibility == 0))) for r in recs]
    assert sum(len(z) for _, z in zeros) > 0  # the fake stores some invisible joints as zeros
    for rec, idx in zeros:
        for t, k in idx:
            np.testing.assert_array_equal(rec.joints[t, k], [-1.0, -1.0])


def test_nan_invisible_joint_is_zeroed_but_nan_visible_joint_refused(fake_penn_action):
    root, labels = fake_penn_action
    lab = labels["0001"]
    t, k = np.argwhere(lab["visibility"] == 0)[0]
    x = lab["x"].copy()
    x[t, k] = np.nan
    rewrite_mat(root / "labels" / "0001.mat", x=x)
    rec = read_penn_action(root)[0]
    np.testing.assert_array_equal(rec.joints[t, k], [0.0, 0.0])
    x[0, 2] = np.nan  # right_shoulder is always visible in the fake
    rewrite_mat(root / "labels" / "0001.mat", x=x)
    with pytest.raises(InputError, match=r"0001\.mat.*right_shoulder.*frame 1"):
        read_penn_action(root)


def test_frames_are_listed_not_decoded(fake_penn_action):
    root, _ = fake_penn_action
    (root / "frames" / "0001" / "000002.jpg").write_bytes(b"not a jpeg")
    assert read_penn_action(root)[0].num_frames == 3


def test_lying_dimensions_and_nframes_are_ignored(fake_penn_action):
    root, labels = fake_penn_action
    rewrite_mat(
        root / "labels" / "0002.mat", nframes=np.array([[99.0]]), dimensions=np.array([[1.0, 2.0, 99.0]])
    )
    assert read_penn_action(root, "test")[0].num_frames == len(labels["0002"]["x"])


@pytest.mark.parametrize("missing", ["", "labels", "frames"])
def test_missing_root_or_folder(fake_penn_action, missing):
    root, _ = fake_penn_action
    gone = root / missing if missing else root
    shutil.rmtree(gone)
    with pytest.raises(InputError, match=str(gone.name if missing else root)):
        read_penn_action(root)


def test_missing_frame_folder_names_it(fake_penn_action):
    root, _ = fake_penn_action
    shutil.rmtree(root / "frames" / "0003")
    with pytest.raises(InputError, match=r"frames/0003: frame folder not found"):
        read_penn_action(root)


@pytest.mark.parametrize("field", ["x", "y", "visibility", "train", "bbox", "action"])
def test_label_without_a_field(fake_penn_action, field):
    root, _ = fake_penn_action
    rewrite_mat(root / "labels" / "0002.mat", drop=(field,))
    with pytest.raises(InputError, match=rf"0002\.mat: missing field\(s\) {field}"):
        read_penn_action(root)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("x", np.zeros((3, 13)), r"field 'x' has shape \(3, 13\), expected \(4, 13\)"),
        ("visibility", np.zeros((4, 12)), r"field 'visibility' has shape \(4, 12\), expected \(4, 13\)"),
        ("visibility", np.full((4, 13), 2.0), r"field 'visibility' must hold only 0 and 1"),
        ("bbox", np.zeros((5, 4)), r"field 'bbox' has shape \(5, 4\)"),
        ("bbox", np.zeros((4, 3)), r"field 'bbox' has shape \(4, 3\)"),
        ("train", np.array([[0.0]]), r"field 'train' must be 1 \(train\) or -1 \(test\), got 0"),
        ("action", np.zeros((1, 1)), r"field 'action' is not a string"),
    ],
)
def test_wrong_shapes_and_values(fake_penn_action, field, value, message):
    root, _ = fake_penn_action
    rewrite_mat(root / "labels" / "0002.mat", **{field: value})
    with pytest.raises(InputError, match=r"0002\.mat: " + message):
        read_penn_action(root)


def test_corrupt_label_file(fake_penn_action):
    root, _ = fake_penn_action
    (root / "labels" / "0005.mat").write_bytes(b"garbage")
    with pytest.raises(InputError, match=r"0005\.mat: cannot read \.mat file"):
        read_penn_action(root)


def test_unknown_subset(fake_penn_action):
    with pytest.raises(InputError, match="unknown subset 'val'"):
        read_penn_action(fake_penn_action[0], "val")
