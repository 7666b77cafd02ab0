"""`dkdpose export`: checked ONNX graphs, predict's ONNX Runtime path agreeing with PyTorch, refusals."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from tiny_models import person_frames, tiny_checkpoint, write_video  # noqa: E402

from dkdpose.cli import main  # noqa: E402
from dkdpose.efficiency.latency import time_onnx_step  # noqa: E402
from dkdpose.export import export_onnx  # noqa: E402
from dkdpose.inference.load import load_pose_model  # noqa: E402
from dkdpose.inference.predict import predict  # noqa: E402
from dkdpose.inference.runners import OnnxStreamRunner  # noqa: E402
from dkdpose.inference.tracker import TrackerOptions  # noqa: E402
from dkdpose.inference.tracking import ReinitPolicy  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory, walking_person) -> dict:
    d = tmp_path_factory.mktemp("export")
    ckpt, video = walking_person["ckpt"], walking_person["video"]
    assert main(["export", "--weights", str(ckpt), "--out", str(d / "onnx")]) == 0
    return {"dir": d, "ckpt": ckpt, "video": video, "onnx": d / "onnx"}


def test_export_writes_checked_graphs_and_a_description(exported):
    import onnx

    onnx_dir = exported["onnx"]
    assert sorted(p.name for p in onnx_dir.iterdir()) == ["export.json", "first_frame.onnx", "step.onnx"]
    meta = json.loads((onnx_dir / "export.json").read_text())
    assert meta["model"] == "dkd_r18" and meta["joint_set"] == "penn_action" and meta["num_joints"] == 13
    assert meta["input_size"] == [64, 64] and meta["heatmap_size"] == [8, 8]
    assert meta["state_names"] == ["state_0"]
    first, step = meta["graphs"]["first_frame"], meta["graphs"]["step"]
    assert [o["shape"] for o in first["outputs"]] == [[1, 13, 8, 8], [1, 32, 3, 3]]  # heatmaps, kernel bases
    assert [i["name"] for i in step["inputs"]] == ["frame", "state_0"]
    assert meta["max_abs_diff_vs_torch"] < 1e-3
    for name in ("first_frame.onnx", "step.onnx"):
        graph = onnx.load(str(onnx_dir / name))
        onnx.checker.check_model(graph)
        # the deconv heads are exported as sub-pixel convs (int8-friendly), the matching as one MatMul
        ops = {node.op_type for node in graph.graph.node}
        assert "ConvTranspose" not in ops and "DepthToSpace" in ops
    assert "MatMul" in {node.op_type for node in onnx.load(str(onnx_dir / "step.onnx")).graph.node}


def test_onnxruntime_keypoints_agree_with_pytorch_within_half_a_pixel(exported):
    e, boxes = exported, [(0, 0, 60, 80), (30, 0, 96, 80)]
    common = dict(boxes=boxes, progress=False)
    ref = predict(e["video"], e["ckpt"], options=TrackerOptions(reinit=ReinitPolicy(every=3)), **common)
    onnx_options = TrackerOptions(reinit=ReinitPolicy(every=3), runtime="onnxruntime", onnx_dir=e["onnx"])
    ort = predict(e["video"], e["ckpt"], options=onnx_options, **common)
    assert ort["reinits"] == ref["reinits"] and len(ref["reinits"]) == 2 * 1  # frame 3, both people
    for a, b in zip(ref["people"], ort["people"], strict=True):
        diff = np.abs(np.asarray(a["keypoints"]) - np.asarray(b["keypoints"]))
        assert diff.max() <= 0.5
        np.testing.assert_allclose(a["scores"], b["scores"], atol=1e-3)


def test_a_dkd_with_the_pose_prior_exports_its_two_states_and_agrees(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "prior.pt", pose_prior=True)
    meta = export_onnx(ckpt, tmp_path / "onnx")
    assert len(meta["state_names"]) == 2  # the kernel bases and h_t
    video = write_video(tmp_path / "v.mp4", person_frames(4))
    ref = predict(video, ckpt, progress=False)
    onnx_options = TrackerOptions(runtime="onnxruntime", onnx_dir=tmp_path / "onnx")
    ort = predict(video, ckpt, options=onnx_options, progress=False)
    assert np.abs(np.subtract(ref["people"][0]["keypoints"], ort["people"][0]["keypoints"])).max() <= 0.5


@pytest.mark.parametrize(
    "option", [{"static_head": True}, {"distill_input": "pooled"}, {"kernels_from": "first"},
               {"kernels_from": "first", "pose_prior": True}], ids=str
)
def test_dkd_with_a_non_paper_option_exports_and_agrees(tmp_path, option):
    ckpt = tiny_checkpoint(tmp_path / "variant.pt", **option)
    export_onnx(ckpt, tmp_path / "onnx")
    video = write_video(tmp_path / "v.mp4", person_frames(4))
    ref = predict(video, ckpt, progress=False)
    onnx_options = TrackerOptions(runtime="onnxruntime", onnx_dir=tmp_path / "onnx")
    ort = predict(video, ckpt, options=onnx_options, progress=False)
    assert np.abs(np.subtract(ref["people"][0]["keypoints"], ort["people"][0]["keypoints"])).max() <= 0.5


def test_a_stateless_baseline_exports_one_graph_and_runs(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "base.pt", name="baseline_r18")
    meta = export_onnx(ckpt, tmp_path / "onnx")
    assert meta["graphs"]["step"] is None and meta["state_names"] == []
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == ["export.json", "first_frame.onnx"]
    video = write_video(tmp_path / "v.mp4", person_frames(3))
    ref = predict(video, ckpt, progress=False)
    onnx_options = TrackerOptions(runtime="onnxruntime", onnx_dir=tmp_path / "onnx")
    ort = predict(video, ckpt, options=onnx_options, progress=False)
    assert np.abs(np.subtract(ref["people"][0]["keypoints"], ort["people"][0]["keypoints"])).max() <= 0.5


@pytest.mark.parametrize("batch", [1, 3])
def test_exported_graphs_take_any_number_of_people_in_one_call(exported, batch):
    import onnx

    graph = onnx.load(str(exported["onnx"] / "step.onnx")).graph
    assert all(i.type.tensor_type.shape.dim[0].dim_param == "batch" for i in graph.input)
    model, _, _ = load_pose_model(exported["ckpt"])
    runner = OnnxStreamRunner(exported["onnx"], threads=1)
    frames = torch.randn(2, batch, 3, 64, 64, generator=torch.Generator().manual_seed(batch))
    with torch.no_grad():
        want_heat, want_state = model.init_stream(frames[0])
        want_heat, want_state = model.step(frames[1], want_state)
    _, state = runner.init(frames[0])
    heat, state = runner.step(frames[1], state)
    assert heat.shape == want_heat.shape == (batch, 13, 8, 8)
    torch.testing.assert_close(heat, want_heat, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(state[0], want_state[0], rtol=1e-3, atol=1e-4)


def test_time_onnx_step_reports_positive_latency(exported):
    row = time_onnx_step(exported["onnx"], streams=2, repeats=2, warmup=1)
    assert row["runtime"] == "onnxruntime" and row["input"] == [64, 64] and row["streams"] == 2
    assert 0 < row["ms_per_frame_median"] <= row["ms_per_frame_p90"] and row["fps_streams"] > 0


def test_refusals_exit_2_with_one_line_and_leave_no_file(exported, tmp_path, capsys):
    e = exported
    ckpt = torch.load(e["ckpt"], weights_only=True)
    ckpt["state_dict"]["matching.U.weight"] += 0.1  # same model, other weights
    other = tmp_path / "other.pt"
    torch.save(ckpt, other)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = str(tmp_path / "o.json")
    v, w = str(e["video"]), str(e["ckpt"])
    ort = ["--runtime", "onnxruntime", "--json", out]
    cases = {
        "export missing weights": ["export", "--weights", str(tmp_path / "no.pt"), "--out", out[:-5]],
        "export out is a file": ["export", "--weights", w, "--out", str(blocker)],
        "onnx dir missing": ["predict", v, "--weights", w, *ort, "--onnx-dir", str(tmp_path / "none")],
        "onnx of other weights": ["predict", v, "--weights", str(other), *ort, "--onnx-dir", str(e["onnx"])],
        "onnx other joint set": [
            "predict",
            v,
            "--weights",
            w,
            *ort,
            "--onnx-dir",
            str(e["onnx"]),
            "--joint-set",
            "sub_jhmdb",
        ],
    }
    swapped = tmp_path / "swapped"  # graphs swapped: export.json's hashes no longer match
    shutil.copytree(e["onnx"], swapped)
    first, step = swapped / "first_frame.onnx", swapped / "step.onnx"
    first_bytes = first.read_bytes()
    first.write_bytes(step.read_bytes())
    step.write_bytes(first_bytes)
    cases["onnx graphs swapped"] = ["predict", v, "--weights", w, *ort, "--onnx-dir", str(swapped)]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for name, args in cases.items():
        code = main(args)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2, name
        assert len(err) == 1 and err[0].startswith(f"dkdpose {args[0]}: error: "), (name, err)
        assert sorted(p.name for p in tmp_path.rglob("*")) == before, name


def test_export_leaves_no_partial_graphs_when_it_fails(exported, tmp_path, monkeypatch):
    import dkdpose.inference.onnx_graphs as export_module

    ckpt = exported["ckpt"]

    def broken_export(module, args, path, inputs, outputs):
        if "step" in path.name:
            raise RuntimeError("simulated exporter failure")
        return real(module, args, path, inputs, outputs)

    real = export_module._export_graph
    monkeypatch.setattr(export_module, "_export_graph", broken_export)
    with pytest.raises(RuntimeError):
        export_onnx(ckpt, tmp_path / "onnx")
    assert list((tmp_path / "onnx").iterdir()) == []
    assert torch.load(ckpt, weights_only=True)["model"] == "dkd_r18"
