"""`dkdpose predict`: outputs and their shapes, several people, re-initialization, every refusal."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from tiny_models import person_frames, tiny_checkpoint, write_video

from dkdpose.cli import main
from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.inference.predict import PredictOutputs, csv_header, predict
from dkdpose.inference.runners import advance_streams
from dkdpose.inference.tracker import PoseTracker, TrackerOptions, track_video
from dkdpose.inference.tracking import ReinitPolicy
from dkdpose.inference.video_io import open_video
from dkdpose.skeleton import PENN_ACTION

K = PENN_ACTION.num_joints


@pytest.fixture
def assets(walking_person: dict[str, Path]) -> dict[str, Path]:
    """The tiny model and walking video shared with the export tests (conftest.py)."""
    return walking_person


# --- outputs ------------------------------------------------------------------------------------------------


def test_predict_writes_overlay_json_and_csv_with_the_right_shapes(assets, tmp_path):
    out, js, cs = tmp_path / "overlay.mp4", tmp_path / "poses.json", tmp_path / "poses.csv"
    result = predict(assets["video"], assets["ckpt"], PredictOutputs(out, js, cs), progress=False)
    t = 6
    doc = json.loads(js.read_text())
    assert set(doc) == {"joints", "fps", "width", "height", "people"}
    assert doc["joints"] == list(PENN_ACTION.names)
    assert (doc["width"], doc["height"]) == (96, 80) and doc["fps"] == pytest.approx(25.0)
    (person,) = doc["people"]
    assert person["id"] == 0
    assert np.asarray(person["keypoints"]).shape == (t, K, 2)
    assert np.asarray(person["scores"]).shape == (t, K)
    assert np.asarray(person["boxes"]).shape == (t, 4)
    assert person["boxes"][0] == [0, 0, 96, 80]  # frame 1: the whole frame
    kp = np.asarray(person["keypoints"])
    assert np.isfinite(kp).all()

    rows = list(csv.reader(cs.open()))
    assert rows[0] == csv_header(PENN_ACTION) and len(rows) == 1 + t
    assert [int(r[0]) for r in rows[1:]] == list(range(t))
    np.testing.assert_allclose(np.asarray(rows[3][7:], float).reshape(K, 3)[:, :2], kp[2], atol=2e-3)

    cap = cv2.VideoCapture(str(out))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (96, 80)
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == t
    assert result["frames"] == t and result["frames_per_second"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["overlay.mp4", "poses.csv", "poses.json"]


def test_two_boxes_give_two_people_and_batched_streams_stay_independent(assets):
    boxes = [(10, 0, 60, 80), (40, 5, 96, 75)]
    both = predict(assets["video"], assets["ckpt"], boxes=boxes, progress=False)
    alone = predict(assets["video"], assets["ckpt"], boxes=boxes[1:], progress=False)
    assert [p["id"] for p in both["people"]] == [0, 1]
    assert both["people"][0]["boxes"][0] == [10, 0, 60, 80]
    np.testing.assert_allclose(both["people"][1]["keypoints"], alone["people"][0]["keypoints"], atol=1e-2)
    assert not np.allclose(both["people"][0]["keypoints"], both["people"][1]["keypoints"])


def test_smoothing_changes_the_output_but_not_the_first_frame(assets):
    raw = predict(assets["video"], assets["ckpt"], progress=False)
    smooth = predict(assets["video"], assets["ckpt"], options=TrackerOptions(smooth=True), progress=False)
    a, b = np.asarray(raw["people"][0]["keypoints"]), np.asarray(smooth["people"][0]["keypoints"])
    np.testing.assert_allclose(a[0], b[0], atol=1e-3)
    assert np.abs(a[1:] - b[1:]).max() > 1e-3
    np.testing.assert_allclose(raw["people"][0]["boxes"], smooth["people"][0]["boxes"])  # tracking uses raw


# --- PoseTracker --------------------------------------------------------------------------------------------


def test_pose_tracker_frame_by_frame_matches_predict(assets):
    boxes = [(0.0, 0.0, 60.0, 80.0), (30.0, 0.0, 96.0, 80.0)]
    options = TrackerOptions(reinit=ReinitPolicy(every=3), smooth=True)
    result = predict(assets["video"], assets["ckpt"], boxes=boxes, options=options, progress=False)
    source = open_video(assets["video"])
    tracker = PoseTracker(assets["ckpt"], boxes=boxes, options=options, fps=source.fps)
    frames = [tracker.update(frame) for frame in source]
    assert len(frames) == result["frames"] == 6
    for p, person in enumerate(result["people"]):
        np.testing.assert_allclose(np.round([f[0][p] for f in frames], 3), person["keypoints"], atol=1e-9)
        np.testing.assert_allclose(np.round([f[1][p] for f in frames], 4), person["scores"], atol=1e-9)
        np.testing.assert_allclose(np.round([f[2][p] for f in frames], 2), person["boxes"], atol=1e-9)
    assert [list(r) for r in tracker.reinits] == result["reinits"] == [[3, 0, "periodic"], [3, 1, "periodic"]]


def test_pose_tracker_without_boxes_tracks_the_whole_frame_and_resets(assets):
    tracker = PoseTracker(assets["ckpt"])
    frame = person_frames(1)[0]
    kp, sc, bx = tracker.update(frame)
    assert kp.shape == (1, K, 2) and sc.shape == (1, K) and bx.tolist() == [[0.0, 0.0, 96.0, 80.0]]
    tracker.update(frame)
    tracker.reset([(10.0, 0.0, 70.0, 80.0)])  # start again, with P, from a new box
    again, _, bx = tracker.update(frame)
    assert bx.tolist() == [[10.0, 0.0, 70.0, 80.0]] and tracker.frame_index == 1
    assert not np.allclose(again, kp)  # another crop of the frame gives other keypoints


# --- re-initialization --------------------------------------------------------------------------------------


class _FakeRunner:
    """Heatmaps with one peak per joint at cell (3, 3); the step's peak height is `step_peak[stream]`.

    The state is one (B, 1) tensor holding each stream's id, so wrong merging after a partial re-init shows.
    """

    def __init__(self, codec: HeatmapCodec, step_peak: list[float]):
        self.codec, self.step_peak, self.init_batches = codec, step_peak, []
        centre = codec.heatmap_to_input(np.full((K, 2), 3.0))  # a cell centre: the peak is exactly 1
        self.heat = torch.from_numpy(codec.encode(centre, np.ones(K))[0])  # (K, h, w)

    def init(self, frames):
        self.init_batches.append(frames.shape[0])
        return self.heat.expand(frames.shape[0], -1, -1, -1).clone(), (self._ids(frames),)

    def _ids(self, frames):
        return frames[:, 0, 0, :1].clone()  # streams paint their id into the crop's corner (see below)

    def step(self, frames, state):
        assert torch.equal(state[0], self._ids(frames)), "state rows were mixed up between streams"
        peaks = torch.tensor([self.step_peak[int(i)] for i in state[0][:, 0]])[:, None, None, None]
        return self.heat * peaks, state


def _id_crops(monkeypatch):
    """Make the crop of stream p carry p in its corner, so the fake runner can check the state's rows."""
    import dkdpose.inference.tracker as tracker_module

    real = tracker_module._crop_all

    def crop_all(frame, boxes, size, source):
        crops, affines = real(frame, boxes, size, source)
        crops[:, 0, 0, 0] = torch.arange(len(boxes), dtype=crops.dtype)
        return crops, affines

    monkeypatch.setattr(tracker_module, "_crop_all", crop_all)


def test_reinit_triggers_for_the_stream_whose_confidence_drops(tmp_path, monkeypatch):
    _id_crops(monkeypatch)
    source = open_video(write_video(tmp_path / "v.mp4", person_frames(5)))
    codec = HeatmapCodec((64, 64), (8, 8))
    runner = _FakeRunner(codec, step_peak=[0.9, 0.1])  # stream 1 loses confidence on every step
    boxes = np.array([[0, 0, 50, 80], [40, 0, 96, 80]], float)
    result = track_video(source, runner, codec, boxes, K, ReinitPolicy(below=0.5))
    assert result.reinits == [(2, 1, "low"), (4, 1, "low")]  # steps at 1, 3 are low -> P at 2, 4
    assert runner.init_batches == [2, 1, 1]  # only the lost stream re-runs P
    np.testing.assert_allclose(
        result.scores[:, 0], 0.9 * np.ones((5, K)) + 0.1 * (np.arange(5) == 0)[:, None]
    )
    np.testing.assert_allclose(result.scores[[0, 2, 4], 1], 1.0)


def test_periodic_reinit_and_no_reinit_by_default(tmp_path, monkeypatch):
    _id_crops(monkeypatch)
    source = open_video(write_video(tmp_path / "v.mp4", person_frames(7)))
    codec = HeatmapCodec((64, 64), (8, 8))
    runner = _FakeRunner(codec, step_peak=[0.9])
    boxes = np.array([[0, 0, 96, 80]], float)
    result = track_video(source, runner, codec, boxes, K, ReinitPolicy(every=3))
    assert [r[0] for r in result.reinits] == [3, 6] and {r[2] for r in result.reinits} == {"periodic"}
    runner = _FakeRunner(codec, step_peak=[0.01])
    assert track_video(source, runner, codec, boxes, K).reinits == []
    assert runner.init_batches == [1]


def test_advance_streams_merges_states_by_stream():
    class Echo:
        def init(self, frames):
            return frames[:, :1] * 10, (frames[:, :1] * 10,)

        def step(self, frames, state):
            return frames[:, :1] + state[0], (state[0] + 1,)

    crops = torch.arange(3, dtype=torch.float32)[:, None, None, None].expand(3, 3, 2, 2).clone()
    heat, state = advance_streams(Echo(), crops, None, np.ones(3, bool))
    heat, state = advance_streams(Echo(), crops, state, np.array([False, True, False]))
    assert heat[:, 0, 0, 0].tolist() == [0.0, 10.0, 22.0]  # 0 + 0, restart 1 * 10, 2 + 20
    assert state[0][:, 0, 0, 0].tolist() == [1.0, 10.0, 21.0]


# --- refusals -----------------------------------------------------------------------------------------------


def _refusals(assets: dict, tmp: Path) -> dict[str, list[str]]:
    (tmp / "empty").mkdir()
    (tmp / "corrupt.mp4").write_bytes(b"\x00\x01 not a video" * 100)
    (tmp / "zero.mp4").write_bytes(b"")
    other = tiny_checkpoint(tmp / "jhmdb.pt", joint_set="sub_jhmdb")
    arch = torch.load(assets["ckpt"], weights_only=True)
    arch["model_kwargs"] = {**arch["model_kwargs"], "channels": 64}  # weights of C = 32, model of C = 64
    torch.save(arch, tmp / "arch.pt")
    v, w = str(assets["video"]), str(assets["ckpt"])
    out = str(tmp / "o.mp4")
    return {
        "missing video": [str(tmp / "nope.mp4"), "--weights", w, "--out", out],
        "corrupt video": [str(tmp / "corrupt.mp4"), "--weights", w, "--out", out],
        "empty video": [str(tmp / "zero.mp4"), "--weights", w, "--out", out],
        "empty folder": [str(tmp / "empty"), "--weights", w, "--out", out],
        "box outside": [v, "--weights", w, "--box", "50,10,120,70", "--out", out],
        "box no area": [v, "--weights", w, "--box", "30,10,30,70", "--out", out],
        "box not numbers": [v, "--weights", w, "--box", "1,2,3", "--out", out],
        "other joint set": [v, "--weights", str(other), "--joint-set", "penn_action", "--out", out],
        "other architecture": [v, "--weights", str(tmp / "arch.pt"), "--out", out],
        "missing weights": [v, "--weights", str(tmp / "none.pt"), "--out", out],
        "unwritable out": [v, "--weights", w, "--out", str(tmp / "no_dir" / "o.mp4")],
        "bad out suffix": [v, "--weights", w, "--out", str(tmp / "o.gif")],
        "onnx without dir": [v, "--weights", w, "--runtime", "onnxruntime", "--out", out],
    }


def test_every_refusal_exits_2_with_one_line_and_leaves_no_file(assets, tmp_path, capsys):
    cases = _refusals(assets, tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for name, args in cases.items():
        code = main(["predict", *args, "--json", str(tmp_path / "p.json"), "--csv", str(tmp_path / "p.csv")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2, name
        assert len(err) == 1 and err[0].startswith("dkdpose predict: error: "), (name, err)
        assert sorted(p.name for p in tmp_path.rglob("*")) == before, name


def test_a_failure_mid_video_leaves_no_output_behind(assets, tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(person_frames(4)):
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    (folder / "004.png").write_bytes(b"broken")
    outs = tmp_path / "outs"
    outs.mkdir()
    args = ["--out", str(outs / "o.mp4"), "--json", str(outs / "p.json"), "--csv", str(outs / "p.csv")]
    assert main(["predict", str(folder), "--weights", str(assets["ckpt"]), *args]) == 2
    assert "004.png" in capsys.readouterr().err
    assert list(outs.iterdir()) == []
