"""The scripts in tools/: paired bootstrap over videos, PCK by stream position, miss persistence, PCK by where
the distractor is, track
summary, untrained checkpoint, thread timing, step compilation, ONNX Runtime profile."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dkdpose.errors import InputError
from dkdpose.models.weights import load_checkpoint, save_checkpoint

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score(pcks: list[float]) -> dict:
    row = lambda p: {"frames": 4, "joints_counted": 40, "person": p, "torso": p}  # noqa: E731
    return {"per_video": {f"{i:04d}": row(p) for i, p in enumerate(pcks)}}


def test_paired_bootstrap_interval_brackets_the_difference():
    cmp = load_tool("compare_runs")
    rng = np.random.default_rng(1)
    a = rng.uniform(30, 70, 30).tolist()
    same = cmp.paired_bootstrap(score(a), score(a), "torso")
    assert same["diff"] == 0 and same["low"] == same["high"] == 0
    better = cmp.paired_bootstrap(score(a), score([v + 5 for v in a]), "torso")
    assert better["diff"] == pytest.approx(5) and better["low"] == pytest.approx(5)
    noisy = cmp.paired_bootstrap(score(a), score((np.array(a) + rng.normal(0, 10, 30)).tolist()), "person")
    assert noisy["low"] < noisy["diff"] < noisy["high"]
    with pytest.raises(InputError, match="not on the same videos"):
        cmp.paired_bootstrap(score(a), score(a[:-1]), "torso")


def test_compare_runs_refuses_bad_score_files_in_one_line(tmp_path, capsys):
    cmp = load_tool("compare_runs")
    good = tmp_path / "a.json"
    good.write_text(json.dumps(score([40.0, 60.0, 50.0])))
    better = tmp_path / "b.json"
    better.write_text(json.dumps(score([45.0, 65.0, 55.0])))
    assert cmp.main([str(good), str(better)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "[torso]: 55.0 - 50.0 = +5.0" in out[1]
    bad = {"missing.json": None, "broken.json": "{not json", "list.json": "[1, 2]",
           "no_videos.json": json.dumps({"torso": {"mean": 50}}),
           "nan.json": json.dumps(score([40.0, float("nan"), 50.0])),
           "count.json": json.dumps({"per_video": {"1": {"joints_counted": -3, "torso": 5, "person": 5}}}),
           "short.json": json.dumps(score([40.0, 60.0]))}  # fmt: skip
    for name, text in bad.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        assert cmp.main([str(good), str(path)]) == 2, name
        captured = capsys.readouterr()
        assert captured.out == "" and len(captured.err.strip().splitlines()) == 1, (name, captured)
        assert captured.err.startswith("compare_runs: error:") and name in captured.err


def _still_video(t: int, k: int = 13) -> SimpleNamespace:
    """A Penn Action record of `t` frames whose joints stand still on a diagonal, 10+ px apart (so the
    torso joints, shoulder and hip, are too), in a 200-px box."""
    gt = np.zeros((t, k, 3))
    gt[:, :, 0] = np.arange(k) * 10.0
    gt[:, :, 1] = np.arange(k) * 10.0
    return SimpleNamespace(joint_set="penn_action", joints=gt, visibility=np.ones((t, k)),
                           boxes=np.tile([0.0, 0.0, 200.0, 200.0], (t, 1)))  # fmt: skip


def test_pck_by_bin_separates_frame_1_from_the_rest():
    tool = load_tool("pck_by_frame")
    rec = _still_video(30)
    pred = rec.joints[:, :, :2].copy()
    pred[0] += 500.0  # frame 1 wrong, every later frame exact
    preds = {"videos": {"0001": {"keypoints": pred.tolist()}}}
    for norm in ("torso", "person"):
        assert tool.pck_by_bin({"0001": rec}, preds, norm) == [0.0, 100.0, 100.0, 100.0, 100.0]


def test_miss_persistence_tells_lasting_misses_from_passing_ones():
    tool = load_tool("pck_by_frame")
    rec = _still_video(20)
    lasting = rec.joints[:, :, :2].copy()
    lasting[:, 0] += 500.0  # joint 0 missed in every frame
    passing = rec.joints[:, :, :2].copy()
    passing[1::2, 0] += 500.0  # joint 0 missed every other frame
    last, passed = (
        tool.persistence({"0001": rec}, {"videos": {"0001": {"keypoints": kp.tolist()}}}, "person")
        for kp in (lasting, passing)
    )
    assert last["miss"] == pytest.approx(100 / 13) and last["miss after miss"] == 100.0
    assert last["hit before"] == 0.0 and last["copy hits"] == 0.0
    assert passed["miss after miss"] == 0.0 and passed["hit before"] == 100.0
    assert passed["copy hits"] == 100.0  # the joint does not move: the previous frame's guess is right


def test_pck_by_glitch_scores_the_degraded_frames_apart():
    tool = load_tool("pck_by_frame")
    from dkdpose.data.synthetic.render import GLITCH_STREAM, glitch_frames

    rec = _still_video(40)
    bad = glitch_frames(np.random.default_rng([3, 4, GLITCH_STREAM]), 40, 0.3)  # video "0005" = index 4
    assert bad.any() and not bad.all()
    pred = rec.joints[:, :, :2].copy()
    pred[bad] += 500.0  # wrong exactly on the degraded frames
    preds = {"videos": {"0005": {"keypoints": pred.tolist()}}}
    assert tool.pck_by_glitch({"0005": rec}, preds, "person", 0.3, seed=3) == [0.0, 100.0, 100.0]
    assert tool.pck_by_glitch({"0005": rec}, preds, "person", 0.3, seed=4) != [0.0, 100.0, 100.0]  # not these


def test_pck_by_distractor_splits_frames_by_where_the_second_person_is(tmp_path):
    tool = load_tool("pck_by_frame")
    rec = _still_video(6)  # target box 0..200 in every frame
    far, near = [300.0, 0.0, 400.0, 200.0], [150.0, 0.0, 450.0, 200.0]
    boxes = np.array([[np.nan] * 4, [np.nan] * 4, far, far, near, near])
    pred = rec.joints[:, :, :2].copy()
    pred[4:, 0] = [420.0, 100.0]  # joint 0 looked for on the overlapping distractor, outside the target
    pred[2, 0] += 500.0  # a miss off both people
    preds = {"videos": {"0001": {"keypoints": pred.tolist()}}}
    row = tool.pck_by_distractor({"0001": rec}, preds, "person", {"0001": (boxes, None)})
    nan = float("nan")
    expected = [100.0, 100 * 25 / 26, 100 * 24 / 26, 100 / 3, 100 * 2 / 3, nan, nan, nan]
    assert row == pytest.approx(expected, nan_ok=True)
    # with the distractor's joints: misses at one of them count wherever the boxes are
    other = np.full((6, 13, 2), np.nan)
    other[2:] = [430.0, 90.0]  # every joint of the distractor near (420, 100) in frames 3-6 ...
    other[2, 5] = [70.0, 50.0]  # ... but in frame 3 one inside the target's body
    pred[3, 1] = [425.0, 95.0]  # frame 4: joint 1 at the apart distractor, outside its box (x2 = 400)
    pred[2, 12] = [62.0, 58.0]  # frame 3: a miss 11 px from that joint, 3 px from the target's joint 6
    preds = {"videos": {"0001": {"keypoints": pred.tolist()}}}
    row = tool.pck_by_distractor({"0001": rec}, preds, "person", {"0001": (boxes, other)})
    assert row[4] == pytest.approx(100 * 2 / 5)  # in its box and outside the target's: frames 5-6, joint 0
    assert row[5] == pytest.approx(100 * 3 / 5)  # at its joints: those two and frame 4's joint 1
    assert row[6] == pytest.approx(100 * 1 / 5)  # 3 frames later (T/2): only frame 5's joint 0 meets it there
    assert row[7] == 0.0  # nothing on the target's other side
    pred[5, 2] = [-305.0, 92.0]  # frame 6: a miss at the mirror image of (430, 90) about x = 60
    preds = {"videos": {"0001": {"keypoints": pred.tolist()}}}
    row = tool.pck_by_distractor({"0001": rec}, preds, "person", {"0001": (boxes, other)})
    assert row[5] == pytest.approx(100 * 3 / 6) and row[7] == pytest.approx(100 * 1 / 6)
    (tmp_path / "labels").mkdir()
    import scipy.io

    scipy.io.savemat(tmp_path / "labels" / "0001.mat", {"distractor_bbox": boxes + 1.0})  # 1-based on disk
    boxes_read, joints_read = tool.read_distractors(str(tmp_path), ["0001"])["0001"]
    np.testing.assert_array_equal(boxes_read, boxes)
    assert joints_read is None
    scipy.io.savemat(tmp_path / "labels" / "0003.mat", {"distractor_bbox": boxes + 1.0,
                     "distractor_x": other[..., 0] + 1.0, "distractor_y": other[..., 1] + 1.0})  # fmt: skip
    np.testing.assert_array_equal(tool.read_distractors(str(tmp_path), ["0003"])["0003"][1], other)
    scipy.io.savemat(tmp_path / "labels" / "0002.mat", {"bbox": boxes})
    with pytest.raises(SystemExit, match="0002.mat: no distractor_bbox"):
        tool.read_distractors(str(tmp_path), ["0002"])


def test_distractor_joints_of_the_wrong_shape_are_refused_in_one_line(tmp_path):
    import scipy.io

    tool = load_tool("pck_by_frame")
    (tmp_path / "labels").mkdir()
    boxes = np.zeros((6, 4))
    short = np.ones((5, 13))  # 5 frames of joints for 6 frames of boxes
    fields = {"distractor_bbox": boxes, "distractor_x": short, "distractor_y": short}
    scipy.io.savemat(tmp_path / "labels" / "0001.mat", fields)
    with pytest.raises(SystemExit) as stop:
        tool.read_distractors(str(tmp_path), ["0001"])
    message = str(stop.value)
    assert "0001.mat" in message and "distractor_x" in message and "6 frames" in message
    assert len(message.splitlines()) == 1


def test_pck_by_frame_takes_one_mode_at_a_time(monkeypatch, capsys, tmp_path):
    tool = load_tool("pck_by_frame")
    argv = ["pck_by_frame.py", "--persistence", "--distractor", str(tmp_path), "p.json"]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as stop:
        tool.main()
    assert stop.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_track_summary_gives_window_width_and_confidence_ranges():
    tool = load_tool("track_summary")
    person = {"id": 0, "boxes": [[0, 0, 50, 80], [10, 0, 70, 80], [5, 5, 60.5, 90]],
              "scores": [[0.5, 0.7], [0.9, 0.9], [0.1, 0.3]]}  # fmt: skip
    (row,) = tool.summarize({"people": [person]})
    assert row["frames"] == 3
    assert (row["width_min"], row["width_max"]) == (50.0, 60.0)
    assert row["conf_min"] == pytest.approx(0.2) and row["conf_max"] == pytest.approx(0.9)


def test_untrained_checkpoint_loads_as_a_dkdpose_checkpoint(tmp_path, monkeypatch):
    tool = load_tool("untrained_checkpoint")
    calls = []

    def tiny_model(name: str, num_joints: int, **kwargs) -> torch.nn.Module:  # a ResNet is slow to build
        calls.append((name, num_joints, kwargs))
        return torch.nn.Conv2d(3, num_joints, 1)

    monkeypatch.setattr(tool, "build_model", tiny_model)
    state = tool.untrained_state("baseline_r18", "sub_jhmdb", {"input_size": 64, "channels": 16})
    assert calls == [("baseline_r18", 15, {"input_size": 64, "channels": 16})]
    save_checkpoint(tmp_path / "u.pt", state)
    ckpt = load_checkpoint(tmp_path / "u.pt", expect_model="baseline_r18", expect_joint_set="sub_jhmdb")
    assert ckpt["num_joints"] == 15 and ckpt["variant"] == "untrained"
    assert ckpt["model_kwargs"] == {"input_size": 64, "channels": 16}
    assert ckpt["state_dict"]["weight"].shape == (15, 3, 1, 1)


def test_thread_timing_times_every_repetition_and_restores_the_thread_count():
    tool = load_tool("thread_timing")
    before = torch.get_num_threads()
    times = tool.time_threads("squeezenet1_1", batch=1, size=64, threads=[1], repeats=2, steps=1)
    assert list(times) == [1] and len(times[1]) == 2 and all(t > 0 for t in times[1])
    assert torch.get_num_threads() == before


def test_check_docs_finds_each_kind_of_problem(tmp_path):
    tool = load_tool("check_docs")
    (tmp_path / "other.md").write_text("# Other page\n")
    good = tmp_path / "good.md"
    good.write_text("# Title\n[a](other.md#other-page) [b](#title) `dkdpose.models.build.build_model`\n"
                    "```bash\ndkdpose train --config x.yaml --out runs/x\n```\n")  # fmt: skip
    assert tool.check(good) == []
    bad = tmp_path / "bad.md"
    bad.write_text("# Title\n[a](missing.md) [b](other.md#nowhere) `dkdpose.models.no_such_name`\n"
                   "Measured in a session.\n```bash\ndkdpose train --no-such-flag\n```\n")  # fmt: skip
    problems = "\n".join(tool.check(bad))
    for expected in ("missing file: missing.md", "missing heading: other.md#nowhere",
                     "dkdpose.models.no_such_name does not resolve", "history word 'session'",
                     "refused by the parser: dkdpose train --no-such-flag"):  # fmt: skip
        assert expected in problems


def test_the_user_docs_match_the_code():
    tool = load_tool("check_docs")
    problems = [f"{path.name}: {p}" for path in tool.doc_files(tool.REPO) for p in tool.check(path)]
    assert problems == []


def _fake_mediapipe(calls: list[int]) -> SimpleNamespace:
    """A stand-in for mediapipe: Pose(...) as a context manager whose process() counts the frames it sees."""

    class Pose:
        def __init__(self, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def process(self, rgb):
            calls.append(rgb.shape[0])

    return SimpleNamespace(solutions=SimpleNamespace(pose=SimpleNamespace(Pose=Pose)))


def test_peer_mediapipe_times_dkdpose_and_skips_a_missing_mediapipe(tmp_path, monkeypatch, capsys):
    import sys

    from tiny_models import tiny_checkpoint

    peer = load_tool("peer_mediapipe")
    ckpt = tiny_checkpoint(tmp_path / "dkd.pt")
    argv = ["--weights", str(ckpt), "--frames", "3", "--rounds", "1"]
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # `import mediapipe` raises ImportError
    assert peer.main(argv) == 0
    out = capsys.readouterr().out
    assert "MediaPipe Pose: skipped (mediapipe is not installed" in out
    assert "dkdpose predict (fp32):" in out and "dkdpose / MediaPipe" not in out

    calls: list[int] = []
    monkeypatch.setitem(sys.modules, "mediapipe", _fake_mediapipe(calls))
    assert peer.main([*argv, "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert len(calls) == 2 * (1 + 3)  # per round: one start-up frame, then the 3 timed frames
    assert "dkdpose / MediaPipe:" in out and "3 frames; medians over 2 interleaved rounds" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the skip on a machine without CUDA")
def test_gpu_check_skips_in_one_line_without_cuda(tmp_path):
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "PYTHONPATH": str(TOOLS.parent / "src")}
    proc = subprocess.run(["bash", str(TOOLS / "gpu_check.sh"), str(tmp_path / "gpu")], env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["gpu_check: skipped, no CUDA device visible to torch"]
    assert not (tmp_path / "gpu").exists()  # nothing written


@pytest.mark.parametrize("limits", [{"GPU_CHECK_TESTS_S": "abc"}, {"GPU_CHECK_BENCH_S": "0"}])
def test_gpu_check_refuses_a_bad_time_limit_in_one_line(tmp_path, limits):
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, **limits}
    proc = subprocess.run(["bash", str(TOOLS / "gpu_check.sh"), str(tmp_path / "gpu")], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "whole seconds" in proc.stderr
    assert not (tmp_path / "gpu").exists()  # nothing written


def test_compile_step_times_eager_and_compiled_steps_at_each_precision(monkeypatch):
    from dkdpose.models.build import build_model

    tool = load_tool("compile_step")
    calls = []
    assert tool.median_ms(lambda: calls.append(1), repeats=5, warmup=2) >= 0 and len(calls) == 7
    tiny = lambda name, joints: build_model(name, joints, initializer="resnet18", channels=16)  # noqa: E731
    monkeypatch.setattr(tool, "build_model", tiny)
    compiled = []
    monkeypatch.setattr(tool.torch, "compile", lambda fn: compiled.append(fn) or fn)  # no compiler needed
    for precision in ("fp32", "bf16"):
        r = tool.time_precision("dkd_r18", 64, precision, repeats=2)
        assert set(r) == {"eager_ms", "compile_s", "compiled_ms", "ratio"}
        assert r["eager_ms"] > 0 and r["ratio"] == pytest.approx(r["compiled_ms"] / r["eager_ms"])
    assert len(compiled) == 2


def test_ort_profile_breaks_the_kernel_time_down_by_operator(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    tool = load_tool("ort_profile")
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 1))
    path = tmp_path / "net.onnx"
    torch.onnx.export(net.eval(), (torch.randn(1, 3, 16, 16),), str(path), dynamo=False,
                      input_names=["x"], dynamic_axes={"x": {0: "batch"}})  # fmt: skip
    before = set(Path.cwd().glob("onnxruntime_profile*"))
    ms, ops = tool.profile(str(path), threads=1, runs=3)
    assert ms > 0
    by_op = {op: (t, n) for op, t, n in ops}
    conv_nodes = sum(n for op, (t, n) in by_op.items() if "Conv" in op)
    assert conv_nodes == 2 and all(t >= 0 for t, _ in by_op.values())
    assert set(Path.cwd().glob("onnxruntime_profile*")) == before  # the profiler's trace file is removed


def test_first_pose_copy_repeats_the_annotated_first_frame(tmp_path):
    from fake_datasets import write_fake_penn_action

    from dkdpose.data.readers import read_records
    from dkdpose.evaluation.predictions import read_predictions, write_predictions
    from dkdpose.evaluation.score import score_predictions

    tool = load_tool("first_pose_copy")
    write_fake_penn_action(tmp_path / "root")
    records = read_records("penn_action", tmp_path / "root", subset="test")
    copies = tool.copied_first_poses(records)
    for r in records:
        assert copies[r.video_id].shape == r.joints.shape
        np.testing.assert_array_equal(copies[r.video_id][-1], np.nan_to_num(r.joints[0]))
    write_predictions(tmp_path / "copy.json", "penn_action", copies)
    assert set(read_predictions(tmp_path / "copy.json").keypoints) == {r.video_id for r in records}
    root, copy = tmp_path / "root", tmp_path / "copy.json"
    every = score_predictions("penn_action", root, copy)
    later = score_predictions("penn_action", root, copy, first_frame_given=True)
    assert later["frames"] == every["frames"] - len(records)
    assert later["torso"]["mean"] < every["torso"]["mean"]  # frame 1, exact, no longer counted


def test_first_pose_copy_refuses_bad_input_in_one_line_and_writes_nothing(tmp_path, capsys):
    from fake_datasets import write_fake_penn_action

    tool = load_tool("first_pose_copy")
    root = tmp_path / "root"
    write_fake_penn_action(root)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    for out, root_arg, word in ((root / "copy.json", root, "inside"),  # among the labels it came from
                                (tmp_path, root, "folder"),  # an existing folder, not a file
                                (tmp_path / "c.json", tmp_path / "missing", "missing")):  # fmt: skip
        assert tool.main(["--dataset", "penn_action", "--root", str(root_arg), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("first_pose_copy: error:") and word in err, err
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    assert not (tmp_path / "c.json").exists()
    good = ["--dataset", "penn_action", "--root", str(root), "--out", str(tmp_path / "c.json")]
    assert tool.main(good) == 0 and (tmp_path / "c.json").exists()


def test_first_pose_copy_from_predictions_repeats_their_first_frame(tmp_path, capsys):
    from fake_datasets import write_fake_penn_action

    from dkdpose.data.readers import read_records
    from dkdpose.evaluation.predictions import read_predictions, write_predictions

    tool = load_tool("first_pose_copy")
    root = tmp_path / "root"
    write_fake_penn_action(root)
    records = read_records("penn_action", root, subset="test")
    rng = np.random.default_rng(0)
    model = {r.video_id: rng.uniform(0, 50, (r.num_frames, r.joints.shape[1], 2)) for r in records}
    write_predictions(tmp_path / "model.json", "penn_action", model)
    out = tmp_path / "copy.json"
    assert tool.main(["--dataset", "penn_action", "--root", str(root), "--out", str(out),
                      "--from", str(tmp_path / "model.json")]) == 0  # fmt: skip
    copies = read_predictions(out).keypoints
    for r in records:  # every frame is the model's frame 1 (rounded as written), not the label
        want = np.repeat(np.round(model[r.video_id][:1], 3), r.num_frames, axis=0)
        np.testing.assert_allclose(copies[r.video_id], want, atol=1e-9)
    # refused in one line, nothing written: predictions missing a video; the output is the file read
    short = dict(list(model.items())[1:])
    write_predictions(tmp_path / "short.json", "penn_action", short)
    for src, dst, word in ((tmp_path / "short.json", tmp_path / "c2.json", "missing"),
                           (tmp_path / "model.json", tmp_path / "model.json", "input")):  # fmt: skip
        before = src.read_bytes()
        args = ["--dataset", "penn_action", "--root", str(root), "--out", str(dst), "--from", str(src)]
        assert tool.main(args) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and word in err, err
        assert src.read_bytes() == before
    assert not (tmp_path / "c2.json").exists()


def test_warmup_probe_refuses_a_bad_override_in_one_line(tmp_path, capsys):
    tool = load_tool("warmup_probe")
    for override, word in (("model.kernels_from=somewhere", "kernels_from"), ("train.freeze", "=")):
        args = ["--config", "configs/demo_dkd.yaml", "--init", str(tmp_path / "none.pt"), "--set", override]
        assert tool.main(args) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and len(captured.err.strip().splitlines()) == 1, captured
        assert captured.err.startswith("warmup_probe: error:") and word in captured.err, captured.err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_temporal_average_probe_lags_behind_a_moving_peak():
    from dkdpose.data.heatmaps import HeatmapCodec

    tool = load_tool("temporal_average_probe")
    codec = HeatmapCodec((64, 64), (8, 8), 2.0)
    heats = torch.zeros(2, 1, 8, 8)
    heats[0, 0, 2, 2] = heats[1, 0, 5, 5] = 1.0  # the joint jumps from cell (2, 2) to cell (5, 5)
    identity = [np.array([[1.0, 0, 0], [0, 1.0, 0]])] * 2
    alone = tool.averaged_keypoints(heats, identity, codec, 0.0)
    for t, cell in ((0, 2), (1, 5)):
        np.testing.assert_allclose(alone[t, 0], codec.decode(heats[t])[0][0].numpy())
        assert abs(alone[t, 0, 0] - (cell + 0.5) * 8) <= 2.5  # near the cell's centre (quarter-cell step)
    np.testing.assert_allclose(tool.averaged_keypoints(heats, identity, codec, 0.2), alone)  # 0.8 h_2 wins
    lagging = tool.averaged_keypoints(heats, identity, codec, 0.8)
    np.testing.assert_allclose(lagging[1], alone[0])  # 0.8 of the past wins: the peak stays behind


def test_temporal_average_probe_scores_the_network_alone_as_eval_does(tmp_path, capsys):
    from fake_datasets import write_fake_penn_action
    from tiny_models import tiny_checkpoint

    from dkdpose.evaluation.evaluate import evaluate

    tool = load_tool("temporal_average_probe")
    root = tmp_path / "root"
    write_fake_penn_action(root)
    weights = tiny_checkpoint(tmp_path / "baseline.pt", name="baseline_r18")
    assert tool.main(["--weights", str(weights), "--root", str(root), "--videos", "test",
                      "--weights-previous", "0,0.5"]) == 0  # fmt: skip
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 0")]
    assert [r.split("|")[1].strip() for r in rows] == ["0", "0.5"]
    torso = evaluate(weights, "penn_action", root, tmp_path / "eval")["score"]["torso"]["mean"]
    assert rows[0].split("|")[2].strip() == f"{torso:.1f}"


def test_temporal_average_probe_refuses_bad_input_in_one_line(tmp_path, capsys):
    from fake_datasets import write_fake_penn_action
    from tiny_models import tiny_checkpoint

    tool = load_tool("temporal_average_probe")
    root = tmp_path / "root"
    write_fake_penn_action(root)
    weights = str(tiny_checkpoint(tmp_path / "baseline.pt", name="baseline_r18"))  # no config: no val videos
    other = str(tiny_checkpoint(tmp_path / "jhmdb.pt", name="baseline_r18", joint_set="sub_jhmdb"))
    for args, word in ((["--weights-previous", "0,1"], "[0, 1)"), (["--weights-previous", "nan"], "[0, 1)"),
                       (["--weights-previous", "0,x"], "numbers"), (["--videos", "val"], "validation"),
                       (["--weights", str(tmp_path / "missing.pt")], "missing.pt"),
                       (["--weights", other], "sub_jhmdb"),  # a checkpoint of another joint set
                       (["--root", str(tmp_path / "nowhere")], "nowhere")):  # fmt: skip
        argv = ["--weights", weights, "--root", str(root), "--videos", "test", *args]
        assert tool.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and word in err, err
        assert err.startswith("temporal_average_probe: error:"), err
