"""Inference precision (fp32, bf16, int8): one mechanism for predict, eval and bench --latency."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from fake_datasets import write_fake_penn_action  # noqa: E402
from tiny_models import person_frames, tiny_checkpoint, write_video  # noqa: E402

from dkdpose.cli import main  # noqa: E402
from dkdpose.efficiency.latency import bench_latency  # noqa: E402
from dkdpose.errors import InputError  # noqa: E402
from dkdpose.inference.load import load_pose_model  # noqa: E402
from dkdpose.inference.precision import AutocastStreamModel, parse_precisions, prepare_model  # noqa: E402
from dkdpose.inference.predict import predict  # noqa: E402
from dkdpose.inference.quantize import calibration_frames  # noqa: E402
from dkdpose.inference.runners import OnnxStreamRunner  # noqa: E402
from dkdpose.inference.tracker import TrackerOptions  # noqa: E402


def _relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got.float() - want).abs().max() / want.abs().max())


@pytest.fixture(scope="module")
def int8_export(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("int8")
    ckpt = tiny_checkpoint(d / "dkd.pt")
    video = write_video(d / "walk.mp4", person_frames(6))
    argv = ["export", "--weights", str(ckpt), "--out", str(d / "onnx"), "--int8", "--calibrate", str(video)]
    assert main(argv) == 0
    return {"dir": d, "ckpt": ckpt, "video": video, "onnx": d / "onnx"}


@pytest.mark.slow
def test_bf16_runs_the_model_under_autocast_in_channels_last_and_returns_float32(int8_export):
    frames = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    model, _, _ = load_pose_model(int8_export["ckpt"])
    bf16 = prepare_model(load_pose_model(int8_export["ckpt"])[0], "bf16", "cpu", 64)
    with torch.no_grad():
        want, state = model.init_stream(frames)
        want_step, _ = model.step(frames, state)
        heat, state16 = bf16.init_stream(frames)
        step, _ = bf16.step(frames, state16)
    assert isinstance(bf16, AutocastStreamModel) and heat.dtype == step.dtype == torch.float32
    assert bf16.model.encoder.trunk.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert state16[0].dtype == torch.bfloat16  # autocast did run the network in bfloat16
    # bf16 keeps 8 bits of mantissa: a few percent of the peak after a dozen layers, never 0 (it did run)
    assert 0 < _relative_error(heat, want) < 0.1 and _relative_error(step, want_step) < 0.1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["step_int8", "first_frame_int8"])
def test_int8_export_writes_qdq_graphs_with_per_channel_weights(int8_export, name):
    import onnx

    meta = json.loads((int8_export["onnx"] / "export.json").read_text())
    assert meta["graphs"][name]["file"] == f"{name}.onnx"
    assert meta["graphs"][name]["calibration_frames"] == 6
    graph = onnx.load(str(int8_export["onnx"] / f"{name}.onnx")).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("QuantizeLinear") > 5 and ops.count("DequantizeLinear") > 5
    weights = {i.name: i for i in graph.initializer}
    scales = [
        weights[n.input[1]] for n in graph.node if n.op_type == "DequantizeLinear" and n.input[1] in weights
    ]
    assert any(len(s.dims) == 1 and s.dims[0] > 1 for s in scales)  # a scale per output channel
    zero_points = [weights[n.input[2]] for n in graph.node if n.op_type == "QuantizeLinear"]
    assert zero_points and all(z.data_type == onnx.TensorProto.UINT8 for z in zero_points)  # unsigned
    # every convolution, the deconvolution heads' sub-pixel convs included, reads int8 weights
    dequantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    convs = [n for n in graph.node if n.op_type in ("Conv", "ConvTranspose")]
    assert convs and all(n.op_type == "Conv" and n.input[1] in dequantized for n in convs)


def test_quantization_holds_the_root_logger_at_warning(caplog):
    from dkdpose.inference.quantize import _quiet_root_logger

    with caplog.at_level(logging.INFO):
        with _quiet_root_logger():  # onnxruntime.quantization logs per shared bias with logging.info
            logging.info("Created a copy of bias input 'b' called 'b0'")
            logging.warning("kept")
        assert logging.getLogger().level == logging.INFO  # restored
    assert [r.getMessage() for r in caplog.records] == ["kept"]


@pytest.mark.slow
@pytest.mark.parametrize("batch", [1, 3])
def test_int8_step_stays_close_to_pytorch_at_any_batch(int8_export, batch):
    model, _, _ = load_pose_model(int8_export["ckpt"])
    runner = OnnxStreamRunner(int8_export["onnx"], threads=1, int8=True)
    crops = calibration_frames(int8_export["video"], 64)  # frames like those it was calibrated on
    frames = torch.stack([crops[:batch], crops[1 : batch + 1]])
    with torch.no_grad():
        _, state = model.init_stream(frames[0])
        want, _ = model.step(frames[1], state)
        want_first, _ = model.init_stream(frames[0])
    first, state8 = runner.init(frames[0])  # P quantized too
    heat, _ = runner.step(frames[1], state8)
    assert heat.shape == want.shape == (batch, 13, 8, 8)
    for got, ref in ((first, want_first), (heat, want)):
        corr = np.corrcoef(got.flatten().numpy(), ref.flatten().numpy())[0, 1]
        assert 0 < _relative_error(got, ref) and corr > 0.97, corr  # random weights: quantization noise shows


@pytest.mark.slow
def test_predict_at_every_precision_and_its_refusals(int8_export, capsys):
    e = int8_export
    frames = len(predict(e["video"], e["ckpt"], progress=False)["people"][0]["keypoints"])
    for precision, extra in (("bf16", {}), ("int8", {"runtime": "onnxruntime", "onnx_dir": e["onnx"]})):
        got = predict(
            e["video"], e["ckpt"], options=TrackerOptions(precision=precision, **extra), progress=False
        )
        assert got["precision"] == precision and len(got["people"][0]["keypoints"]) == frames
    threads = torch.get_num_threads()
    video = [str(e["video"]), "--weights", str(e["ckpt"])]
    assert (
        main(["predict", *video, "--precision", "int8"]) == 0
    )  # quantized in process (synthetic calibration)
    assert "(torch, int8)" in capsys.readouterr().out
    assert torch.get_num_threads() == threads  # the one-thread hold around ONNX Runtime is released
    ort = ["--runtime", "onnxruntime", "--onnx-dir", str(e["onnx"])]
    assert main(["predict", *video, "--precision", "bf16", *ort]) == 2
    assert "ONNX Runtime" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["predict", *video, "--precision", "fp16"])


@pytest.mark.slow
def test_an_export_without_int8_is_refused_for_int8(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "dkd.pt")
    assert main(["export", "--weights", str(ckpt), "--out", str(tmp_path / "onnx")]) == 0
    with pytest.raises(InputError, match="no int8 step graph"):
        OnnxStreamRunner(tmp_path / "onnx", int8=True)
    assert main(["export", "--weights", str(ckpt), "--out", str(tmp_path / "o2"), "--calibrate", "x"]) == 2
    assert "--int8" in capsys.readouterr().err


@pytest.mark.slow
def test_eval_records_its_precision(tmp_path, capsys):
    write_fake_penn_action(tmp_path / "root")
    ckpt = tiny_checkpoint(tmp_path / "penn.pt")
    args = ["--dataset", "penn_action", "--root", str(tmp_path / "root")]
    assert (
        main(["eval", "--weights", str(ckpt), *args, "--out", str(tmp_path / "bf16"), "--precision", "bf16"])
        == 0
    )
    assert "precision bf16" in (tmp_path / "bf16" / "report.md").read_text()


@pytest.mark.slow
def test_bench_latency_measures_each_precision_in_one_run():
    result = bench_latency(
        ["baseline_r18"], size=32, streams=2, repeats=1, warmup=0, stream_repeats=1, threads=1,
        precisions=["fp32", "bf16", "int8"],
    )  # fmt: skip
    rows = result["models"]
    assert [(r["name"], r["precision"]) for r in rows] == [
        ("baseline_r18", p) for p in ("fp32", "bf16", "int8")
    ]
    assert all(r["ms_per_frame_median"] > 0 and r["fps_streams"] > 0 for r in rows)
    assert rows[2]["peak_mem_mb"] is None and rows[0]["peak_mem_mb"] > 0
    assert result["precisions"] == ["fp32", "bf16", "int8"]


def test_precision_lists_are_checked():
    assert parse_precisions("fp32, int8") == ["fp32", "int8"]
    for bad in ("", "fp16", "fp32,int4"):
        with pytest.raises(InputError, match="precision"):
            parse_precisions(bad)


@pytest.mark.slow
def test_an_int8_export_without_a_quantized_p_runs_p_in_float32(int8_export, tmp_path):
    import shutil

    old = tmp_path / "onnx"
    shutil.copytree(int8_export["onnx"], old)
    meta = json.loads((old / "export.json").read_text())
    del meta["graphs"]["first_frame_int8"]  # an export made before P was quantized
    (old / "export.json").write_text(json.dumps(meta))
    frames = calibration_frames(int8_export["video"], 64)[:2]
    first_float, _ = OnnxStreamRunner(old, threads=1).init(frames)
    first_old, _ = OnnxStreamRunner(old, threads=1, int8=True).init(frames)
    first_new, _ = OnnxStreamRunner(int8_export["onnx"], threads=1, int8=True).init(frames)
    torch.testing.assert_close(first_old, first_float)
    assert not torch.equal(first_new, first_float)


@pytest.mark.slow
def test_an_edited_quantized_p_is_refused(int8_export, tmp_path, capsys):
    import shutil

    swapped = tmp_path / "onnx"
    shutil.copytree(int8_export["onnx"], swapped)
    with (swapped / "first_frame_int8.onnx").open("ab") as f:
        f.write(b"\0")  # the graph file no longer matches export.json
    before = sorted(p.name for p in tmp_path.rglob("*"))
    argv = ["predict", str(int8_export["video"]), "--weights", str(int8_export["ckpt"]), "--runtime",
            "onnxruntime", "--onnx-dir", str(swapped), "--precision", "int8",
            "--json", str(tmp_path / "p.json")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "first_frame_int8.onnx" in err[0] and "sha256 differs" in err[0]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written
