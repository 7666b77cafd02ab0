"""Person boxes from a detector: COCO / MOT box files, stable ids, people entering and leaving, restarts."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from tiny_models import person_frames, tiny_checkpoint, write_video

from dkdpose.cli import main
from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.errors import InputError
from dkdpose.inference.boxes import Roster, box_iou, match_boxes, read_boxes
from dkdpose.inference.predict import predict
from dkdpose.inference.tracker import PoseTracker, TrackerOptions, track_video
from dkdpose.inference.tracking import ReinitPolicy
from dkdpose.inference.video_io import open_video
from dkdpose.skeleton import PENN_ACTION

K = PENN_ACTION.num_joints
SIZE = (96, 80)
NAMES = [f"{i:03d}.png" for i in range(6)]


# --- box files ----------------------------------------------------------------------------------------------


def test_coco_detections_by_frame_index_or_file_name(tmp_path):
    path = tmp_path / "det.json"
    path.write_text(json.dumps([
        {"image_id": 0, "category_id": 1, "bbox": [10, 5, 20, 40], "score": 0.9},
        {"image_id": "002.png", "category_id": 1, "bbox": [80, 5, 30, 40], "score": 0.8},  # clipped at 96
        {"image_id": "003", "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.2},  # below the threshold
        {"image_id": 3, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.99},  # a car
    ]))  # fmt: skip
    boxes = read_boxes(path, NAMES, SIZE, min_score=0.5)
    assert sorted(boxes.boxes) == [0, 2]
    np.testing.assert_allclose(boxes.at(0), [[10, 5, 30, 45]])
    np.testing.assert_allclose(boxes.at(2), [[80, 5, 96, 45]])
    assert boxes.at(1).shape == (0, 4) and boxes.scores[0].tolist() == [0.9]


def test_mot_text_is_1_based_and_ignores_its_ids(tmp_path):
    path = tmp_path / "det.txt"
    path.write_text("1,-1,10,5,20,40,0.9,-1,-1,-1\n\n1,7,50,5,20,40,-1,-1,-1,-1\n3,-1,10,5,20,40,0.3,-1,-1,-1\n")
    boxes = read_boxes(path, NAMES, SIZE, min_score=0.5)
    assert sorted(boxes.boxes) == [0]
    np.testing.assert_allclose(boxes.at(0), [[10, 5, 30, 45], [50, 5, 70, 45]])  # conf -1: no score, kept


@pytest.mark.parametrize(
    "name, text, words",
    [
        ("a.json", "[{", "not valid JSON"),
        ("a.json", '{"image_id": 0}', "expected a COCO detection results list"),
        ("a.json", '[{"image_id": 0}]', "entry 0 is not an object with image_id and bbox"),
        ("a.json", '[{"image_id": 0, "bbox": [1, 2, 3]}]', "entry 0: bbox must be"),
        ("a.json", '[{"image_id": 0, "bbox": [1, NaN, 3, 4]}]', "entry 0: bbox: nan is not a finite number"),
        ("a.json", '[{"image_id": "nope.png", "bbox": [1, 2, 3, 4]}]', "'nope.png' is neither a frame index"),
        ("a.json", '[{"image_id": -1, "bbox": [1, 2, 3, 4]}]', "negative"),
        ("a.json", '[{"image_id": 0, "bbox": [1, 2, 0, 4]}]', "width and height must be > 0"),
        ("a.json", '[{"image_id": 0, "bbox": [200, 2, 10, 4]}]', "lies outside the 96x80 frame"),
        ("a.json", '[{"image_id": 0, "category_id": 2, "bbox": [1, 2, 3, 4]}]', "no person boxes"),
        ("a.json", '[{"image_id": 0, "bbox": [1, 2, 3, 4], "score": 0.1}]', "no boxes with a score >= 0.5"),
        ("a.txt", "1,-1,10,5\n", "line 1: expected frame,id,x,y,w,h"),
        ("a.txt", "1,-1,10,5,a,4,1\n", "line 1: not a row of numbers"),
        ("a.txt", "0,-1,10,5,3,4,1\n", "line 1: frame 0 is not a 1-based frame number"),
        ("a.txt", "1,-1,10,5,3,nan,1\n", "line 1: NaN"),
    ],
)
def test_bad_box_files_name_the_file_and_the_entry(tmp_path, name, text, words):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=str(path)) as e:
        read_boxes(path, NAMES, SIZE)
    assert words in str(e.value)


# --- matching and the roster --------------------------------------------------------------------------------


def test_matching_is_one_to_one_by_overlap():
    windows = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float)
    boxes = np.array([[21, 0, 31, 10], [100, 0, 110, 10], [1, 0, 11, 10]], float)
    assert box_iou(windows[:1], windows[:1])[0, 0] == pytest.approx(1.0)
    assert sorted(match_boxes(windows, boxes, min_iou=0.2)) == [(0, 2), (1, 0)]
    assert match_boxes(windows, boxes[1:2], min_iou=0.2) == []


def test_roster_keeps_ids_adds_newcomers_and_ends_people_who_left():
    a, b, c = np.array([[0, 0, 20, 40]]), np.array([[40, 0, 60, 40]]), np.array([[70, 0, 90, 40]])
    roster = Roster(max_missed=1)
    none = np.zeros(0, bool)
    step = roster.step(np.zeros((0, 4)), np.zeros((0, 4)), none, np.concatenate([a, b]))
    assert roster.ids == [0, 1] and step.start.all() and (step.keep == -1).all()
    windows = step.boxes
    swapped = np.concatenate([b + 2, a + 1, a])  # the order changed, and a is detected twice
    step = roster.step(windows, windows, np.zeros(2, bool), swapped)
    assert roster.ids == [0, 1] and step.keep.tolist() == [0, 1] and not step.start.any()
    np.testing.assert_allclose(step.boxes, windows)  # tracked people keep their own windows
    step = roster.step(windows, windows, np.zeros(2, bool), np.concatenate([b, c]))  # a missed once, c enters
    assert roster.ids == [0, 1, 2] and step.start.tolist() == [False, False, True]
    step = roster.step(step.boxes, step.boxes, np.zeros(3, bool), np.concatenate([b, c]))  # a missed twice
    assert roster.ids == [1, 2] and step.keep.tolist() == [1, 2]


def test_a_lost_stream_restarts_from_the_box_nearest_its_last_window():
    roster = Roster()
    last = np.array([[0, 0, 20, 40.0]])
    roster.step(np.zeros((0, 4)), np.zeros((0, 4)), np.zeros(0, bool), last)
    drifted = np.array([[50, 0, 90, 80.0]])  # the window wandered off; the stream is due to restart
    boxes = np.array([[60, 0, 80, 40], [2, 1, 22, 41.0]])
    step = roster.step(drifted, last, np.array([True]), boxes)
    assert roster.ids[0] == 0 and step.start[0]
    np.testing.assert_allclose(step.boxes[0], boxes[1])
    assert roster.ids == [0, 1]  # the other box is somebody new


# --- tracking with a detector's boxes -----------------------------------------------------------------------


class _SpreadRunner:
    """Joints spread over the middle of the crop (a person-sized keypoint box); P gives peaks of 1, the step
    gives `step_peak`. Counts the streams that run P."""

    def __init__(self, codec: HeatmapCodec, step_peak: float = 0.9):
        cells = np.stack([np.linspace(3, 12, K), np.linspace(2, 13, K)], axis=1)
        self.heat = torch.from_numpy(codec.encode(codec.heatmap_to_input(cells), np.ones(K))[0])
        self.step_peak, self.init_rows = step_peak, []

    def init(self, frames):
        self.init_rows.append(frames.shape[0])
        return self.heat.expand(frames.shape[0], -1, -1, -1).clone(), (torch.zeros(frames.shape[0], 1),)

    def step(self, frames, state):
        return self.heat.expand(frames.shape[0], -1, -1, -1) * self.step_peak, state


def _mot(path: Path, rows: list[tuple[int, list[float]]]) -> Path:
    path.write_text("".join(f"{t + 1},-1,{x1},{y1},{x2 - x1},{y2 - y1},0.9,-1,-1,-1\n"
                            for t, (x1, y1, x2, y2) in rows))  # fmt: skip
    return path


def test_people_enter_and_leave_with_stable_ids(tmp_path):
    source = open_video(write_video(tmp_path / "v.mp4", person_frames(8, SIZE)))
    codec = HeatmapCodec((64, 64), (16, 16))
    a, b = [4, 4, 40, 76], [56, 4, 92, 76]
    rows = [(t, a) for t in range(4)] + [(t, b) for t in range(2, 8)]  # a leaves after 3, b enters at 2
    det = read_boxes(_mot(tmp_path / "det.txt", rows), [], SIZE)
    runner = _SpreadRunner(codec)
    tracker = PoseTracker.from_runner(runner, codec, K, None, TrackerOptions())
    tracker.roster = Roster(max_missed=2)
    result = track_video(source, tracker, detections=det)
    present = np.isfinite(result.keypoints).all(axis=(2, 3))  # (T, people)
    assert present.T.tolist() == [[True] * 6 + [False] * 2, [False] * 2 + [True] * 6]  # a: 2 missed frames
    np.testing.assert_allclose(result.boxes[0, 0], a)
    np.testing.assert_allclose(result.boxes[2, 1], b)
    assert runner.init_rows == [1, 1] and result.reinits == []


def test_a_lost_person_restarts_from_the_detector_box(tmp_path):
    source = open_video(write_video(tmp_path / "v.mp4", person_frames(5, SIZE)))
    codec = HeatmapCodec((64, 64), (16, 16))
    a = [4, 4, 40, 76]
    det = read_boxes(_mot(tmp_path / "det.txt", [(t, a) for t in range(5)]), [], SIZE)
    runner = _SpreadRunner(codec, step_peak=0.1)  # every step is unsure: restart on the next frame
    result = track_video(source, runner, codec, np.zeros((0, 4)), K, ReinitPolicy(below=0.5), detections=det)
    assert result.reinits == [(2, 0, "low"), (4, 0, "low")]
    np.testing.assert_allclose(result.boxes[[0, 2, 4], 0], [a, a, a])  # the detector's box, not a guess
    assert result.keypoints.shape == (5, 1, K, 2)


# --- the command --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("box_assets")
    frames = person_frames(6, SIZE)
    folder = d / "frames"
    folder.mkdir()
    for name, f in zip(NAMES, frames, strict=True):
        cv2.imwrite(str(folder / name), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    video = write_video(d / "walk.mp4", frames)
    return {"ckpt": tiny_checkpoint(d / "dkd.pt"), "video": video, "folder": folder}


def test_predict_with_a_coco_box_file_writes_null_where_a_person_is_absent(assets, tmp_path):
    det = tmp_path / "det.json"
    entries = [{"image_id": n, "category_id": 1, "bbox": [20, 4, 50, 72], "score": 0.9} for n in NAMES[2:]]
    det.write_text(json.dumps(entries))
    js, cs = tmp_path / "p.json", tmp_path / "p.csv"
    rc = main(["predict", str(assets["folder"]), "--weights", str(assets["ckpt"]), "--boxes", str(det),
               "--json", str(js), "--csv", str(cs), "--out", str(tmp_path / "o.mp4")])  # fmt: skip
    assert rc == 0
    (person,) = json.loads(js.read_text())["people"]
    assert person["keypoints"][:2] == [None, None] and person["boxes"][2] == [20, 4, 70, 76]
    assert np.asarray(person["keypoints"][2:]).shape == (4, K, 2)
    assert [int(r.split(",")[0]) for r in cs.read_text().splitlines()[1:]] == [2, 3, 4, 5]


def test_box_files_and_start_boxes_are_refused_cleanly(assets, tmp_path, capsys):
    (tmp_path / "bad.txt").write_text("1,2,3\n")
    cases = {
        "bad file": ["--boxes", str(tmp_path / "bad.txt")],
        "missing": ["--boxes", str(tmp_path / "none.json")],
        "both": ["--boxes", str(tmp_path / "bad.txt"), "--box", "1,1,20,20"],
        "threshold": ["--boxes", str(tmp_path / "bad.txt"), "--box-threshold", "2"],
        "box file is an output": ["--boxes", str(tmp_path / "bad.txt"), "--csv", str(tmp_path / "bad.txt")],
    }
    for name, args in cases.items():
        rc = main(["predict", str(assets["video"]), "--weights", str(assets["ckpt"]), *args,
                   "--json", str(tmp_path / "p.json")])  # fmt: skip
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1, (name, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt"]
    assert (tmp_path / "bad.txt").read_text() == "1,2,3\n"


def test_predict_python_api_takes_a_box_file(assets, tmp_path):
    det = _mot(tmp_path / "det.txt", [(t, [10, 4, 60, 76]) for t in range(6)])
    result = predict(assets["video"], assets["ckpt"], box_file=det, progress=False)
    assert [p["id"] for p in result["people"]] == [0] and result["frames"] == 6


def test_a_window_that_drifted_off_its_person_restarts_from_the_box_and_keeps_the_id():
    roster = Roster()
    person = np.array([[0, 0, 40, 80.0]])
    roster.step(np.zeros((0, 4)), np.zeros((0, 4)), np.zeros(0, bool), person)
    shrunk = np.array([[18, 30, 24, 36.0]])  # the window collapsed onto a limb: IoU with the box ~0.01
    step = roster.step(shrunk, shrunk, np.zeros(1, bool), person + 1)
    assert roster.ids == [0] and step.start.tolist() == [True] and step.drifted.tolist() == [True]
    np.testing.assert_allclose(step.boxes, person + 1)
    away = np.array([[300, 0, 340, 80.0]])
    far = roster.step(away, away, np.zeros(1, bool), person)
    assert roster.ids == [0, 1] and not far.drifted.any()  # too far to be the same person: somebody new


def test_pose_tracker_takes_a_detectors_boxes_frame_by_frame(assets):
    tracker = PoseTracker(assets["ckpt"])
    frames = person_frames(4, SIZE)
    a, b = [4.0, 4, 40, 76], [56.0, 4, 92, 76]
    seen = []
    for t, frame in enumerate(frames):
        kp, sc, bx = tracker.update(frame, detections=np.array([a, b] if t < 2 else [b]).reshape(-1, 4))
        assert kp.shape == (len(tracker.ids), K, 2) and sc.shape == (len(tracker.ids), K)
        seen.append(tracker.ids.tolist())
    assert seen[:2] == [[0, 1], [0, 1]] and 1 in seen[2] and 1 in seen[3]
    assert tracker.update(frames[0], detections=np.zeros((0, 4)))[0].shape[1:] == (K, 2)
