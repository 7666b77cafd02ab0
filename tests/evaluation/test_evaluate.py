"""`dkdpose eval`: stream fusion geometry, the end-to-end outputs on fake datasets, the Sub-JHMDB split mean,
the refusals, and the speed-vs-accuracy plot."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fake_datasets import write_fake_penn_action, write_fake_sub_jhmdb
from torch import nn

from dkdpose.cli import main
from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.data.records import VideoRecord
from dkdpose.data.transforms import apply_affine_points, flip_joints
from dkdpose.errors import InputError
from dkdpose.evaluation.compare import paired_bootstrap
from dkdpose.evaluation.evaluate import EvalOptions, predict_video, predict_videos, video_batches
from dkdpose.inference.decode import decode_to_image
from dkdpose.inference.tta import (
    StreamPlan,
    fuse_streams,
    parse_scales,
    stream_crops,
    stream_pose_heatmaps,
    unflip_streams,
)
from dkdpose.models.build import build_model
from dkdpose.models.weights import save_checkpoint
from dkdpose.skeleton import PENN_ACTION

SIZE = 256
PLANS = [
    StreamPlan((1.0,)),
    StreamPlan((0.8, 1.0, 1.2)),
    StreamPlan((1.0,), True),
    StreamPlan((0.8, 1.0, 1.2), True),
]


# --- fusion geometry ----------------------------------------------------------------------------------------


def _stream_heatmaps(
    points: np.ndarray, affines: np.ndarray, plan: StreamPlan, codec: HeatmapCodec
) -> torch.Tensor:
    """What a perfect model outputs per stream: Gaussians at the joints in that stream's (flipped) crop."""
    maps = []
    for (_, flip), affine in zip(plan.streams, affines, strict=True):
        crop_pts = apply_affine_points(affine, points)
        vis = np.ones(len(points))
        if flip:  # the network sees the mirrored crop, where left and right have swapped names
            crop_pts[:, 0] = SIZE - 1 - crop_pts[:, 0]
            crop_pts, vis = flip_joints(crop_pts, vis, PENN_ACTION.flip_index)
        heat, weight = codec.encode(crop_pts, vis)
        assert weight.all(), "test joints must lie inside every stream's crop"
        maps.append(torch.from_numpy(heat))
    return torch.stack(maps)


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: f"scales{list(p.scales)}-flip{p.flip}")
def test_fused_streams_decode_to_the_joints_in_original_pixels(plan):
    rng = np.random.default_rng(3)
    image = np.zeros((150, 200, 3), np.uint8)
    box = np.array([70.0, 40.0, 110.0, 90.0])  # 40 x 50 px person: the crops zoom in ~4x
    points = np.stack(
        [rng.uniform(75, 105, 13), rng.uniform(45, 85, 13)], axis=1
    )  # distinct left/right joints
    codec = HeatmapCodec((SIZE, SIZE), (SIZE // 8, SIZE // 8))
    crops, affines, ref = stream_crops(image, box, plan, SIZE)
    assert crops.shape == (len(plan.streams), 3, SIZE, SIZE)
    heat = unflip_streams(_stream_heatmaps(points, affines, plan, codec), plan, PENN_ACTION.flip_index)
    kp, scores = decode_to_image(fuse_streams(heat, affines, ref, codec), ref, codec)
    err = np.linalg.norm(kp - points, axis=1)
    assert err.max() < 1.0, (
        err
    )  # quarter-cell decoding: 2 input px = 0.4 original px here, plus interpolation
    assert (scores > 0.5).all()


def test_fusion_without_unflipping_lands_on_the_mirror_joint():
    """Guard for the test above: skipping flip_back must break it (so the test can see a flip bug)."""
    plan = StreamPlan((1.0,), True)
    image, box = np.zeros((150, 200, 3), np.uint8), np.array([70.0, 40.0, 110.0, 90.0])
    points = np.tile([[75.0, 50.0]], (13, 1))
    points[PENN_ACTION.index("right_wrist")] = [104.0, 80.0]
    codec = HeatmapCodec((SIZE, SIZE), (SIZE // 8, SIZE // 8))
    _, affines, ref = stream_crops(image, box, plan, SIZE)
    heat = _stream_heatmaps(points, affines, plan, codec)[1:]  # the flipped stream alone, not flipped back
    kp, _ = decode_to_image(fuse_streams(heat, affines[1:], ref, codec), ref, codec)
    assert np.linalg.norm(kp[PENN_ACTION.index("right_wrist")] - [104.0, 80.0]) > 10


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: f"scales{list(p.scales)}-flip{p.flip}")
def test_a_given_pose_becomes_every_streams_perfect_heatmaps(plan):
    """stream_pose_heatmaps (the h_1 of `--first-pose ground_truth`) agrees with the test's own construction
    of a perfect model's streams, flipped crops included, and decodes back to the pose."""
    rng = np.random.default_rng(4)
    box = np.array([70.0, 40.0, 110.0, 90.0])
    points = np.stack([rng.uniform(75, 105, 13), rng.uniform(45, 85, 13)], axis=1)
    codec = HeatmapCodec((SIZE, SIZE), (SIZE // 8, SIZE // 8))
    _, affines, ref = stream_crops(np.zeros((150, 200, 3), np.uint8), box, plan, SIZE)
    given = stream_pose_heatmaps(points, np.ones(13), affines, plan, codec, PENN_ACTION.flip_index)
    torch.testing.assert_close(given, _stream_heatmaps(points, affines, plan, codec))
    heat = unflip_streams(given, plan, PENN_ACTION.flip_index)
    kp, _ = decode_to_image(fuse_streams(heat, affines, ref, codec), ref, codec)
    assert np.linalg.norm(kp - points, axis=1).max() < 1.0
    hidden = stream_pose_heatmaps(points, np.zeros(13), affines, plan, codec, PENN_ACTION.flip_index)
    assert not hidden.any()  # an unlabelled joint gives no map


class BlobModel(nn.Module):
    """A stand-in streaming model whose every heatmap is the brightness of the crop, pooled to stride 8.

    It checks that the state of `init_stream` is handed to `step` and counts frames in it.
    """

    def __init__(self, num_joints: int = 13):
        super().__init__()
        self.k = num_joints

    def _heat(self, frames: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(frames[:, :1], 8).expand(-1, self.k, -1, -1)

    def init_stream(self, frames):
        return self._heat(frames), (torch.ones(frames.shape[0]),)

    def step(self, frames, state):
        assert state[0].shape == (frames.shape[0],)
        return self._heat(frames), (state[0] + 1,)


def test_predict_video_follows_a_moving_blob_through_crops_scales_and_flips(tmp_path):
    centres = np.array([[90.0, 60.0], [93.5, 62.0], [97.0, 64.5]])
    frames = []
    yy, xx = np.mgrid[0:150, 0:200]
    for t, (cx, cy) in enumerate(centres):
        img = (255 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 2.0**2))).astype(np.uint8)
        frames.append(tmp_path / f"{t:06d}.png")
        cv2.imwrite(str(frames[-1]), np.repeat(img[..., None], 3, axis=2))
    boxes = np.array([[c[0] - 18, c[1] - 30, c[0] + 22, c[1] + 20] for c in centres], np.float32)
    rec = VideoRecord("0001", frames, np.zeros((3, 13, 2), np.float32), np.ones((3, 13), np.float32), boxes,
                      "test", "test", "penn_action")  # fmt: skip
    codec = HeatmapCodec((SIZE, SIZE), (SIZE // 8, SIZE // 8))
    for plan in PLANS:
        kp, scores = predict_video(BlobModel(), rec, plan, codec)
        assert kp.shape == (3, 13, 2) and scores.shape == (3, 13)
        err = np.linalg.norm(kp - centres[:, None, :], axis=-1)
        assert err.max() < 1.0, (plan, err.max())


class GivenPoseModel(BlobModel):
    """BlobModel that can start from a given pose: frame 1 is the given heatmaps, later frames the blob."""

    takes_first_pose = True

    def init_stream(self, frames, first_heatmaps=None):
        heat, state = super().init_stream(frames)
        return (heat if first_heatmaps is None else first_heatmaps), state


def test_first_pose_ground_truth_starts_a_pose_model_from_the_annotation_and_no_other(tmp_path):
    centres = np.array([[90.0, 60.0], [93.5, 62.0], [97.0, 64.5]])
    rec = _blob_video(tmp_path, "0001", centres, 0.0)
    rng = np.random.default_rng(5)
    joints = centres[:, None, :] + rng.uniform(-15, 15, (3, 13, 2))
    rec = VideoRecord("0001", rec.frames, joints.astype(np.float32), rec.visibility, rec.boxes,
                      "test", "test", "penn_action")  # fmt: skip
    codec = HeatmapCodec((SIZE, SIZE), (SIZE // 8, SIZE // 8))
    for plan in PLANS:
        kp, _ = predict_video(GivenPoseModel(), rec, plan, codec, first_pose="ground_truth")
        assert np.linalg.norm(kp[0] - joints[0], axis=-1).max() < 1.0, plan  # frame 1: the annotation
        assert np.linalg.norm(kp[1:] - centres[1:, None, :], axis=-1).max() < 1.0  # then the model
        own, _ = predict_video(GivenPoseModel(), rec, plan, codec)
        assert np.linalg.norm(own[0] - centres[0], axis=-1).max() < 1.0  # the protocol: its own frame 1
    # BlobModel.init_stream takes no pose: a model that cannot start from one is never handed one
    kp, _ = predict_video(BlobModel(), rec, PLANS[0], codec, first_pose="ground_truth")
    assert np.linalg.norm(kp - centres[:, None, :], axis=-1).max() < 1.0


def _blob_video(folder: Path, vid: str, centres: np.ndarray, shift: float) -> VideoRecord:
    """Frames of a bright blob at `centres` + shift (x), with person boxes around it."""
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:150, 0:200]
    frames, boxes = [], []
    for t, (cx, cy) in enumerate(centres):
        cx += shift
        img = (255 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 3.0**2))).astype(np.uint8)
        frames.append(folder / f"{vid}_{t:06d}.png")
        cv2.imwrite(str(frames[-1]), np.repeat(img[..., None], 3, axis=2))
        boxes.append([cx - 18, cy - 30, cx + 22, cy + 20])
    t = len(centres)
    return VideoRecord(vid, frames, np.zeros((t, 13, 2), np.float32), np.ones((t, 13), np.float32),
                       np.array(boxes, np.float32), "test", "test", "penn_action")  # fmt: skip


@pytest.mark.parametrize("plan", [PLANS[0], PLANS[3]], ids=["one-stream", "scales-flip"])
def test_videos_in_one_batch_give_each_video_its_own_result(tmp_path, plan):
    """A DKD model carries per-stream kernels from frame to frame: side by side in one batch, every video
    must get what it gets alone (a mixed-up state would give a video another video's kernels)."""
    centres = np.array([[90.0, 60.0], [93.5, 62.0], [97.0, 64.5], [99.0, 66.0]])
    shifts = (-30.0, 0.0, 25.0)
    records = [_blob_video(tmp_path, f"{i:04d}", centres, shift) for i, shift in enumerate(shifts)]
    torch.manual_seed(0)
    model = build_model("dkd_r18", 13, initializer="resnet18", channels=16, kernel_size=3).eval()
    codec = HeatmapCodec((64, 64), (8, 8))
    together = predict_videos(model, records, plan, codec)
    for rec, (kp, sc) in zip(records, together, strict=True):
        alone_kp, alone_sc = predict_video(model, rec, plan, codec)
        assert kp.shape == (4, 13, 2) and sc.shape == (4, 13)
        np.testing.assert_allclose(kp, alone_kp, atol=1e-3)
        np.testing.assert_allclose(sc, alone_sc, rtol=1e-4, atol=1e-5)
    # the videos differ, so equal results above are not a constant model
    assert np.abs(together[0][0] - together[2][0]).max() > 10


def test_video_batches_group_equal_lengths_in_order_and_cap_the_size():
    def rec(vid: str, t: int) -> VideoRecord:
        return VideoRecord(vid, [Path(f"{i}.png") for i in range(t)], np.zeros((t, 13, 2)), np.ones((t, 13)),
                           np.zeros((t, 4)), "test", "test", "penn_action")  # fmt: skip

    records = [rec("a", 3), rec("b", 5), rec("c", 3), rec("d", 3), rec("e", 5)]
    groups = [[r.video_id for r in g] for g in video_batches(records, 2)]
    assert groups == [["a", "c"], ["d"], ["b", "e"]]
    assert [[r.video_id for r in g] for g in video_batches(records, 1)] == [[v] for v in "acdbe"]
    with pytest.raises(ValueError, match="one length"):
        predict_videos(nn.Identity(), records[:2], PLANS[0], HeatmapCodec((64, 64), (8, 8)))


def test_parse_scales_and_refusals():
    assert parse_scales("0.8, 1,1.2") == (0.8, 1.0, 1.2)
    from dkdpose.errors import InputError

    for bad in ("", "a,1", "0,1", "-1", "nan"):
        with pytest.raises(InputError):
            parse_scales(bad)


# --- end to end on fake datasets ----------------------------------------------------------------------------


def _save_tiny(path: Path, joint_set: str, num_joints: int, seed: int = 0) -> Path:
    """A small DKD (R18 encoder, R18 initializer, 16 channels) for 64 x 64 input, random weights."""
    torch.manual_seed(seed)
    kwargs = {"initializer": "resnet18", "channels": 16, "kernel_size": 3}
    model = build_model("dkd_r18", num_joints, **kwargs)
    save_checkpoint(path, {
        "model": "dkd_r18", "model_kwargs": kwargs, "joint_set": joint_set, "num_joints": num_joints,
        "state_dict": model.state_dict(), "epoch": 0, "config": {"data": {"input_size": 64, "sigma": 2.0}},
    })  # fmt: skip
    return path


@pytest.fixture(scope="module")
def penn(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("penn")
    write_fake_penn_action(d / "root")
    return {"root": d / "root", "ckpt": _save_tiny(d / "penn.pt", "penn_action", 13), "dir": d}


@pytest.fixture(scope="module")
def jhmdb(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("jhmdb")
    write_fake_sub_jhmdb(d / "root")
    return {"root": d / "root", "ckpt": _save_tiny(d / "jhmdb.pt", "sub_jhmdb", 15), "dir": d}


@pytest.fixture(scope="module")
def penn_eval(penn) -> Path:
    out = penn["dir"] / "eval"
    args = ["--dataset", "penn_action", "--root", str(penn["root"]), "--scales", "0.9,1.1", "--flip"]
    coco = ["--coco", str(penn["dir"] / "eval_coco.json")]
    rc = main(["eval", "--weights", str(penn["ckpt"]), *args, "--out", str(out), *coco])
    assert rc == 0
    return out


@pytest.mark.slow
def test_eval_writes_every_output(penn_eval):
    names = {p.name for p in penn_eval.iterdir()}
    assert {"predictions.json", "score.json", "jitter.json", "report.md", "per_video.csv"} <= names
    for png in ("pck_person.png", "pck_torso.png"):
        assert (penn_eval / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    preds = json.loads((penn_eval / "predictions.json").read_text())
    assert preds["dataset"] == "penn_action" and set(preds["videos"]) == {"0002", "0004"}
    assert np.array(preds["videos"]["0004"]["keypoints"]).shape == (5, 13, 2)
    csv = (penn_eval / "per_video.csv").read_text().splitlines()
    assert csv[0].startswith("video,frames,joints_counted,pck_person,pck_torso,accel_error_px")
    assert [row.split(",")[:2] for row in csv[1:]] == [["0002", "4"], ["0004", "5"]]
    report = (penn_eval / "report.md").read_text()
    assert (
        "| person |" in report
        and "| torso |" in report
        and "![PCK normalized by person size](pck_person.png)" in report
    )
    assert "scales [0.9, 1.1], flip on" in report and "accel. error" in report
    jitter = json.loads((penn_eval / "jitter.json").read_text())
    assert jitter["triplets"] > 0 and set(jitter["per_video"]) == {"0002", "0004"}


@pytest.mark.slow
def test_eval_config_section_gives_the_defaults_and_flags_override_it(penn, tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    data = f"data: {{dataset: penn_action, root: {penn['root']}}}\n"
    cfg.write_text(data + "eval: {scales: [0.9, 1.1], flip: true}\n")
    out = tmp_path / "from_config"
    assert main(["eval", "--weights", str(penn["ckpt"]), "--config", str(cfg), "--out", str(out)]) == 0
    assert "scales [0.9, 1.1], flip on" in (out / "report.md").read_text()
    out = tmp_path / "overridden"
    args = ["--config", str(cfg), "--scales", "1", "--out", str(out)]
    assert main(["eval", "--weights", str(penn["ckpt"]), *args]) == 0
    assert "scales [1], flip on" in (out / "report.md").read_text()


def test_eval_without_dataset_or_config_exits_2(penn, tmp_path, capsys):
    assert main(["eval", "--weights", str(penn["ckpt"]), "--out", str(tmp_path / "o")]) == 2
    assert "--dataset and --root" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_eval_writes_coco_keypoint_results_of_its_predictions(penn, penn_eval):
    coco = pytest.importorskip("pycocotools.coco")
    gt = coco.COCO(str(penn["dir"] / "eval_coco_categories.json"))
    dt = gt.loadRes(str(penn["dir"] / "eval_coco.json"))
    images = {im["id"]: (im["video_id"], im["frame"]) for im in dt.dataset["images"]}
    preds = json.loads((penn_eval / "predictions.json").read_text())["videos"]
    assert len(dt.anns) == len(images) == sum(len(v["keypoints"]) for v in preds.values())
    for a in dt.anns.values():
        video, t = images[a["image_id"]]
        kp = np.reshape(a["keypoints"], (-1, 3))[:, :2]
        np.testing.assert_allclose(kp, preds[video]["keypoints"][t], atol=1e-3)


@pytest.mark.slow
def test_eval_score_equals_dkdpose_score_of_its_predictions(penn, penn_eval, tmp_path, capsys):
    out = tmp_path / "score.json"
    rc = main(["score", "--dataset", "penn_action", "--root", str(penn["root"]),
               "--predictions", str(penn_eval / "predictions.json"), "--out", str(out)])  # fmt: skip
    assert rc == 0
    assert json.loads(out.read_text()) == json.loads((penn_eval / "score.json").read_text())


@pytest.mark.slow
def test_sub_jhmdb_three_checkpoints_give_the_split_mean(jhmdb, tmp_path, capsys):
    ck = str(jhmdb["ckpt"])
    out = tmp_path / "eval"
    rc = main(
        [
            "eval",
            "--weights",
            ck,
            ck,
            ck,
            "--dataset",
            "sub_jhmdb",
            "--root",
            str(jhmdb["root"]),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    splits = [json.loads((out / f"split{i}" / "score.json").read_text()) for i in (1, 2, 3)]
    assert [s["split"] for s in splits] == [1, 2, 3]
    mean = json.loads((out / "score_mean.json").read_text())
    for norm in ("person", "torso"):
        assert mean[norm]["groups"]["Mean"] == pytest.approx(
            np.mean([s[norm]["groups"]["Mean"] for s in splits])
        )
        assert mean[norm]["mean"] == pytest.approx(np.mean([s[norm]["mean"] for s in splits]))
    assert mean["frames"] == sum(s["frames"] for s in splits)
    assert "mean over the three splits" in (out / "report.md").read_text()
    assert "sub_jhmdb mean over splits [1, 2, 3]" in capsys.readouterr().out


def _refused(argv: list[str], capsys, *words: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("dkdpose eval: error:"), err
    for w in words:
        assert w in err, err


def test_refusals_exit_2_with_one_line_and_write_nothing(penn, jhmdb, tmp_path, capsys):
    out = tmp_path / "never"
    common = ["--out", str(out)]
    jroot = ["--root", str(jhmdb["root"])]
    _refused(["eval", "--weights", str(penn["ckpt"]), "--dataset", "sub_jhmdb", *jroot, *common],
             capsys, "joint set", "penn_action")  # fmt: skip
    _refused(["eval", "--weights", str(jhmdb["ckpt"]), "--dataset", "sub_jhmdb", "--root", str(jhmdb["root"]),
              "--split", "4", *common], capsys, "split")  # fmt: skip
    _refused(["eval", "--weights", str(penn["ckpt"]), "--dataset", "penn_action", "--root", str(penn["root"]),
              "--split", "2", *common], capsys, "--split")  # fmt: skip
    _refused(["eval", "--weights", str(penn["ckpt"]), str(penn["ckpt"]), "--dataset", "penn_action",
              "--root", str(penn["root"]), *common], capsys, "--weights")  # fmt: skip
    _refused(["eval", "--weights", str(tmp_path / "missing.pt"), "--dataset", "penn_action",
              "--root", str(penn["root"]), *common], capsys, "missing.pt")  # fmt: skip
    _refused(["eval", "--weights", str(penn["ckpt"]), "--dataset", "penn_action", "--root", str(penn["root"]),
              "--alpha", "-1", *common], capsys, "alpha")  # fmt: skip
    _refused(["eval", "--weights", str(penn["ckpt"]), "--dataset", "penn_action", "--root", str(penn["root"]),
              "--scales", "1,x", *common], capsys, "--scales")  # fmt: skip
    _refused(["eval", "--weights", str(penn["ckpt"]), "--dataset", "penn_action", "--root", str(penn["root"]),
              "--video-batch", "0", *common], capsys, "video batch")  # fmt: skip
    assert not out.exists()
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep me")
    _refused(["eval", "--weights", str(penn["ckpt"]), "--dataset", "penn_action", "--root", str(penn["root"]),
              "--out", str(a_file)], capsys, "not a folder")  # fmt: skip
    assert a_file.read_text() == "keep me"


def test_a_missing_split_is_refused(jhmdb, tmp_path, capsys):
    root = tmp_path / "jhmdb"
    write_fake_sub_jhmdb(root)
    for f in (root / "sub_splits").glob("*_test_split_3.txt"):
        f.unlink()
    ck = str(jhmdb["ckpt"])
    _refused(["eval", "--weights", ck, "--dataset", "sub_jhmdb", "--root", str(root), "--split", "3",
              "--out", str(tmp_path / "o")], capsys, "split")  # fmt: skip
    _refused(["eval", "--weights", ck, ck, ck, "--dataset", "sub_jhmdb", "--root", str(root),
              "--out", str(tmp_path / "o")], capsys, "split_3")  # fmt: skip
    assert not (tmp_path / "o").exists()


# --- speed vs accuracy plot ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_plot_speed_from_bench_and_score_files(penn_eval, tmp_path, capsys):
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"device": "cpu", "peak_gflops": 50.0, "models": [
        {"name": "dkd_r18", "ms_per_frame_median": 12.5, "ms_per_frame_p90": 13.0, "fps_streams": 80.0,
         "peak_mem_mb": 100.0, "efficiency": 0.4}]}))  # fmt: skip
    png = tmp_path / "speed.png"
    score = penn_eval / "score.json"
    assert main(["plot-speed", "--bench", str(bench), "--scores", f"dkd_r18={score}", "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    mean = json.loads(score.read_text())["person"]["groups"]["Mean"]
    assert f"{mean:6.1f} %" in capsys.readouterr().out
    assert main(["plot-speed", "--bench", str(bench), "--scores", f"lstm_pm={score}", "--out", str(png)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "lstm_pm" in err


def test_plot_speed_takes_a_precision_per_point_and_latency_only_models(tmp_path, capsys):
    row = {"ms_per_frame_p90": 1.0, "fps_streams": 1.0, "peak_mem_mb": None, "efficiency": 0.1}
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"models": [
        {**row, "name": "dkd_r18", "precision": "fp32", "ms_per_frame_median": 40.0},
        {**row, "name": "dkd_r18", "precision": "int8", "ms_per_frame_median": 15.0},
        {**row, "name": "dkd_mobilenetv3", "precision": "int8", "ms_per_frame_median": 9.0}]}))  # fmt: skip
    fp32, int8 = tmp_path / "fp32.json", tmp_path / "int8.json"
    fp32.write_text(json.dumps({"person": {"groups": {"Mean": 91.0}}}))
    int8.write_text(json.dumps({"person": {"groups": {"Mean": 90.5}}}))
    png = tmp_path / "speed.png"
    argv = ["plot-speed", "--bench", str(bench), "--scores", f"dkd_r18={fp32}", f"dkd_r18:int8={int8}",
            "--latency-only", "dkd_mobilenetv3:int8", "--out", str(png)]  # fmt: skip
    assert main(argv) == 0 and png.read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out] == [["dkd_r18", "40.0"], ["dkd_r18:int8", "15.0"],
                                                  ["dkd_mobilenetv3:int8", "9.0"]]  # fmt: skip
    assert "91.0 %" in out[0] and "90.5 %" in out[1] and "(no score)" in out[2]
    argv = ["plot-speed", "--bench", str(bench), "--scores", f"dkd_r18:bf16={fp32}", "--out", str(png)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "dkd_r18:bf16" in err and "dkd_r18:int8" in err  # names what the bench file has


def test_pose_input_diagnostic_runs_on_dkd_and_is_refused_for_other_models(penn, tmp_path, capsys):
    out = tmp_path / "zero"
    args = ["--dataset", "penn_action", "--root", str(penn["root"])]
    weights = ["--weights", str(penn["ckpt"])]
    assert main(["eval", *weights, *args, "--pose-input", "zero", "--out", str(out)]) == 0
    assert (out / "score.json").exists()
    torch.manual_seed(0)
    baseline = build_model("baseline_r18", 13, channels=16)
    ckpt = tmp_path / "baseline.pt"
    save_checkpoint(ckpt, {
        "model": "baseline_r18", "model_kwargs": {"channels": 16}, "joint_set": "penn_action",
        "num_joints": 13,
        "state_dict": baseline.state_dict(), "epoch": 0, "config": {"data": {"input_size": 64, "sigma": 2.0}},
    })  # fmt: skip
    capsys.readouterr()
    never = tmp_path / "never"
    _refused(["eval", "--weights", str(ckpt), *args, "--pose-input", "scramble", "--out", str(never)],
             capsys, "needs a DKD model")  # fmt: skip
    assert not never.exists()


# --- the propagation protocol (--first-pose ground_truth) ---------------------------------------------------


@pytest.mark.slow
def test_propagation_protocol_scores_from_frame_2_and_score_reproduces_it(penn, penn_eval, tmp_path, capsys):
    out = tmp_path / "given"
    args = ["--dataset", "penn_action", "--root", str(penn["root"]), "--first-pose", "ground_truth"]
    assert main(["eval", "--weights", str(penn["ckpt"]), *args, "--out", str(out)]) == 0
    score = json.loads((out / "score.json").read_text())
    assert score["first_frame"] == "given, not scored" and score["frames"] == (4 - 1) + (5 - 1)
    assert {v: r["frames"] for v, r in score["per_video"].items()} == {"0002": 3, "0004": 4}
    assert "first frames given, not scored" in capsys.readouterr().out
    assert "Propagation protocol" in (out / "report.md").read_text()
    assert "the model starts from it" in (out / "report.md").read_text()
    predictions = json.loads((out / "predictions.json").read_text())["videos"]
    from dkdpose.data.readers import read_records

    for r in read_records("penn_action", penn["root"], subset="test"):  # frame 1 is the annotated pose
        err = np.linalg.norm(np.array(predictions[r.video_id]["keypoints"][0]) - r.joints[0], axis=-1)
        size = np.ptp(r.boxes[0].reshape(2, 2), axis=0).max()
        assert err[r.visibility[0] > 0].max() < 0.1 * size
    rescored = tmp_path / "rescored.json"
    rc = main(["score", "--dataset", "penn_action", "--root", str(penn["root"]), "--skip-first-frame",
               "--predictions", str(out / "predictions.json"), "--out", str(rescored)])  # fmt: skip
    assert rc == 0 and json.loads(rescored.read_text()) == score
    every_frame = json.loads((penn_eval / "score.json").read_text())
    with pytest.raises(InputError, match="first frames"):
        paired_bootstrap(every_frame, score, "torso")


def test_first_pose_refusals(penn, tmp_path, capsys):
    with pytest.raises(InputError, match="first pose"):
        EvalOptions(first_pose="annotated")
    never = tmp_path / "never"
    _refused(["eval", "--weights", str(penn["ckpt"]), "--dataset", "penn_action", "--root", str(penn["root"]),
              "--first-pose", "ground_truth", "--precision", "int8", "--out", str(never)],
             capsys, "--first-pose ground_truth", "fp32")  # fmt: skip
    with pytest.raises(SystemExit) as e:  # argparse's refusal of a value outside the choices
        main(["eval", "--weights", str(penn["ckpt"]), "--dataset", "penn_action", "--root", str(penn["root"]),
              "--first-pose", "annotated", "--out", str(never)])  # fmt: skip
    assert e.value.code == 2
    assert "--first-pose" in capsys.readouterr().err
    assert not never.exists()
