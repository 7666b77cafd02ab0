"""MPII reader (SimpleBaseline JSON): one-frame records, the center/scale box convention, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dkdpose.data.mpii import mpii_box, read_mpii
from dkdpose.data.readers import read_records
from dkdpose.errors import InputError


def test_box_from_center_and_scale_by_hand():
    # center (101, 51) 1-based, scale 1: moved down 15 px -> (101, 66), 0-based (100, 65); side 200 px
    np.testing.assert_allclose(mpii_box(np.array([101.0, 51.0]), 1.0), [0.0, -35.0, 200.0, 165.0])
    np.testing.assert_allclose(
        mpii_box(np.array([11.0, 11.0]), 0.5), [-40.0, -32.5, 60.0, 67.5]
    )  # cy = 11 + 7.5 - 1


def test_records_are_one_frame_zero_based(fake_mpii):
    root, people = fake_mpii
    recs = read_mpii(root / "annot" / "train.json", root / "images")
    assert [r.video_id for r in recs] == ["000001/0", "000001/1", "000002/0"]
    for rec, p in zip(recs, people["train.json"], strict=True):
        assert rec.num_frames == 1 and rec.frames == [root / "images" / p["image"]]
        assert rec.joint_set == "mpii" and rec.split == "train"
        np.testing.assert_allclose(rec.joints[0], np.array(p["joints"]) - 1, atol=1e-4)
        np.testing.assert_array_equal(rec.visibility[0], p["joints_vis"])
        np.testing.assert_allclose(rec.boxes[0], mpii_box(np.array(p["center"]), p["scale"]), atol=1e-4)
        side = rec.boxes[0, 2] - rec.boxes[0, 0]
        assert side == pytest.approx(p["scale"] * 200, abs=1e-4)


def test_dispatcher_reads_the_simplebaseline_layout(fake_mpii):
    root, _ = fake_mpii
    assert [r.split for r in read_records("mpii", root)] == ["train"] * 3 + ["test"]
    assert [r.video_id for r in read_records("mpii", root, "test")] == ["000003/0"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"image": "nope.jpg"}, r"record 1: image .*nope\.jpg not found"),
        ({"joints": [[1, 2]] * 15}, r"record 1: field 'joints' has shape \(15, 2\), expected \(16, 2\)"),
        ({"joints_vis": [1] * 17}, r"record 1: field 'joints_vis' has shape \(17,\)"),
        ({"center": [1, None]}, r"record 1: field 'center' holds non-finite numbers"),
        ({"scale": "big"}, r"record 1: field 'scale' is not numeric"),
        ({"scale": 0}, r"record 1: field 'scale' must be positive"),
    ],
)
def test_bad_person_record(fake_mpii, change, message):
    root, people = fake_mpii
    items = people["train.json"]
    items[1] = {**items[1], **change}
    (root / "annot" / "train.json").write_text(json.dumps(items))
    with pytest.raises(InputError, match=r"train\.json: " + message):
        read_mpii(root / "annot" / "train.json", root / "images")


def test_bad_files(fake_mpii):
    root, people = fake_mpii
    ann = root / "annot" / "train.json"
    with pytest.raises(InputError, match="MPII image folder not found"):
        read_mpii(ann, root / "imgs")
    item = dict(people["train.json"][0])
    del item["joints_vis"]
    ann.write_text(json.dumps([item]))
    with pytest.raises(InputError, match=r"record 0: missing field\(s\) joints_vis"):
        read_mpii(ann, root / "images")
    ann.write_text(json.dumps({"image": "x"}))
    with pytest.raises(InputError, match="expected a JSON list"):
        read_mpii(ann, root / "images")
    ann.write_text("[{")
    with pytest.raises(InputError, match="not valid JSON"):
        read_mpii(ann, root / "images")
    with pytest.raises(InputError, match="annotation file not found"):
        read_mpii(root / "annot" / "test.json", root / "images")


def test_dispatcher_refuses_unknown_dataset_and_subset(fake_mpii):
    root, _ = fake_mpii
    with pytest.raises(InputError, match="unknown dataset 'coco'"):
        read_records("coco", root)
    with pytest.raises(InputError, match="unknown subset 'valid'"):
        read_records("mpii", root, "valid")
    with pytest.raises(InputError, match="MPII root not found"):
        read_records("mpii", root / "nope")
