"""COCO keypoint results of `predict --coco` and `eval --coco`, read back by pycocotools as a client would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fake_datasets import write_fake_penn_action
from tiny_models import person_frames, tiny_checkpoint, write_video

from dkdpose.cli import main
from dkdpose.data.readers import read_records
from dkdpose.inference.coco import records_coco_texts
from dkdpose.skeleton import PENN_ACTION

coco = pytest.importorskip("pycocotools.coco")
K = PENN_ACTION.num_joints


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("coco_assets")
    return {"ckpt": tiny_checkpoint(d / "dkd.pt"), "video": write_video(d / "walk.mp4", person_frames())}


def _annotations_for(dataset: dict, keypoints: dict[int, np.ndarray]) -> dict:
    """A ground-truth file over the images of `dataset`: one person per image, every joint labelled."""
    anns = []
    for i, (image_id, kp) in enumerate(sorted(keypoints.items())):
        x, y = kp[:, 0], kp[:, 1]
        box = [float(x.min()), float(y.min()), float(np.ptp(x)) + 1, float(np.ptp(y)) + 1]
        triples = np.concatenate([kp, np.full((len(kp), 1), 2.0)], axis=1)
        anns.append({"id": i + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0, "bbox": box,
                     "area": box[2] * box[3], "num_keypoints": len(kp),
                     "keypoints": triples.ravel().tolist()})  # fmt: skip
    return {"images": dataset["images"], "annotations": anns, "categories": dataset["categories"]}


def test_predict_coco_results_load_in_pycocotools(assets, tmp_path):
    results, poses = tmp_path / "poses_coco.json", tmp_path / "poses.json"
    rc = main(["predict", str(assets["video"]), "--weights", str(assets["ckpt"]), "--coco", str(results),
               "--json", str(poses)])  # fmt: skip
    assert rc == 0
    dataset = json.loads((tmp_path / "poses_coco_categories.json").read_text())
    (cat,) = dataset["categories"]
    assert cat["id"] == 1 and cat["joint_set"] == "penn_action"
    assert cat["keypoints"] == list(PENN_ACTION.names)
    assert cat["skeleton"] == [[a + 1, b + 1] for a, b in PENN_ACTION.edges]
    assert [im["id"] for im in dataset["images"]] == list(range(6))
    assert (dataset["images"][0]["width"], dataset["images"][0]["height"]) == (96, 80)

    mine = json.loads(poses.read_text())["people"][0]
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps(_annotations_for(dataset, {t: np.asarray(kp) for t, kp in
                                                             enumerate(mine["keypoints"])})))  # fmt: skip
    gt = coco.COCO(str(gt_file))
    dt = gt.loadRes(str(results))
    anns = dt.loadAnns(dt.getAnnIds())
    assert sorted(a["image_id"] for a in anns) == list(range(6))
    for a in anns:
        triples = np.asarray(a["keypoints"]).reshape(K, 3)
        np.testing.assert_allclose(triples[:, :2], mine["keypoints"][a["image_id"]], atol=1e-3)
        np.testing.assert_allclose(triples[:, 2], mine["scores"][a["image_id"]], atol=1e-3)
        assert a["category_id"] == 1
        assert a["score"] == pytest.approx(np.mean(mine["scores"][a["image_id"]]), abs=1e-3)
        assert a["area"] > 0  # loadRes derived the box from the keypoints
    # the dataset file alone is enough for a client: it holds the images and the categories
    assert len(coco.COCO(str(tmp_path / "poses_coco_categories.json")).loadRes(str(results)).anns) == 6


def test_eval_coco_texts_number_the_frames_of_every_video(tmp_path):
    write_fake_penn_action(tmp_path)
    records = read_records("penn_action", tmp_path, subset="test")
    rng = np.random.default_rng(0)
    kps = {r.video_id: rng.uniform(0, 30, (r.num_frames, K, 2)) for r in records}
    scores = {r.video_id: rng.uniform(0, 1, (r.num_frames, K)) for r in records}
    texts = records_coco_texts(records, kps, scores, PENN_ACTION, "test")
    (tmp_path / "r.json").write_text(texts[0])
    (tmp_path / "r_categories.json").write_text(texts[1])
    dataset = json.loads(texts[1])
    frames = [(im["video_id"], im["frame"]) for im in dataset["images"]]
    assert frames == [(r.video_id, t) for r in records for t in range(r.num_frames)]
    assert [im["id"] for im in dataset["images"]] == list(range(len(frames)))
    dt = coco.COCO(str(tmp_path / "r_categories.json")).loadRes(str(tmp_path / "r.json"))
    assert len(dt.anns) == len(frames)
    for a in dt.loadAnns(dt.getAnnIds()):
        video, t = frames[a["image_id"]]
        np.testing.assert_allclose(np.reshape(a["keypoints"], (K, 3))[:, :2], kps[video][t], atol=1e-3)


def test_bad_coco_targets_are_refused_before_any_work(assets, tmp_path, capsys):
    for target, words in ((tmp_path / "out.txt", "must end in .json"),
                          (tmp_path / "missing/out.json", "cannot write")):  # fmt: skip
        rc = main(["predict", str(assets["video"]), "--weights", str(assets["ckpt"]), "--coco", str(target)])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and words in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
