"""`dkdpose bench --latency` on the CPU with tiny sizes: the JSON schema, sane measurements, refusals."""

from __future__ import annotations

import json
import time

import pytest
import torch

from dkdpose.cli import main
from dkdpose.efficiency.flops import model_flops
from dkdpose.efficiency.latency import (
    bench_latency,
    matmul_peak_gflops,
    model_input_size,
    model_spec,
    time_call,
)
from dkdpose.errors import InputError
from dkdpose.models.build import build_model

ISSUE_KEYS = {"name", "ms_per_frame_median", "ms_per_frame_p90", "fps_streams", "peak_mem_mb", "efficiency"}


def test_time_call_measures_the_call():
    assert time_call(lambda: time.sleep(0.05), torch.device("cpu")) >= 0.05


def test_matmul_peak_is_a_positive_rate():
    assert matmul_peak_gflops(torch.device("cpu"), n=128, repeats=2) > 0


def test_lstm_pm_runs_at_its_native_input_for_a_256_crop():
    assert model_input_size("lstm_pm", 256) == 368 and model_input_size("dkd_r18", 256) == 256
    assert model_input_size("lstm_pm", 32) == 48  # 368/256 of the crop, a multiple of 8


@pytest.mark.slow
def test_bench_latency_writes_the_issue_schema(tmp_path, capsys):
    out = tmp_path / "bench" / "latency.json"
    argv = ["bench", "--latency", "--models", "baseline_r18", "--size", "32", "--streams", "2",
            "--repeats", "3", "--warmup", "1", "--threads", "1", "--out", str(out)]  # fmt: skip
    threads = torch.get_num_threads()
    assert main(argv) == 0
    assert torch.get_num_threads() == threads and torch.is_grad_enabled()  # no global state left behind
    result = json.loads(out.read_text())
    assert result["torch_threads"] == 1 and result["streams"] == 2 and result["repeats"] == 3
    assert isinstance(result["device"], str) and result["device"].startswith("cpu")
    assert result["peak_gflops"] > 0
    assert [m["name"] for m in result["models"]] == ["baseline_r18"]
    for m in result["models"]:
        assert ISSUE_KEYS <= set(m)
        assert 0 < m["ms_per_frame_median"] <= m["ms_per_frame_p90"]
        assert m["fps_streams"] > 0 and 0 < m["efficiency"]
    (base,) = result["models"]
    assert base["input"] == [32, 32] and base["gmacs_per_frame"] > 0
    # efficiency is the achieved FLOP rate over the measured peak: check the arithmetic from the JSON
    achieved = 2 * base["gmacs_per_frame"] / (base["ms_per_frame_median"] / 1e3)
    assert base["efficiency"] == pytest.approx(
        achieved / result["peak_gflops"], rel=0.01, abs=1e-4
    )  # rounded
    # the peak memory of a model holds at least its weights (float32)
    weights_mib = sum(p.numel() for p in build_model("baseline_r18", 13).parameters()) * 4 / 2**20
    assert base["peak_mem_mb"] >= 0.9 * weights_mib
    printed = capsys.readouterr().out
    assert "matmul peak" in printed and "baseline_r18" in printed


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--models", "baseline_r18,resnet_magic"], ["resnet_magic"]),
        (["--models", "baseline_r18", "--size", "30"], ["multiple of 8"]),
        (["--models", "baseline_r18", "--streams", "0"], ["--streams"]),
        (["--models", "baseline_r18", "--device", "tpu"], ["device"]),
        (["--models", "baseline_r18", "--threads", "0"], ["--threads"]),
    ],
)
def test_bad_latency_arguments_exit_2_with_one_line(args, words, tmp_path, capsys):
    out = tmp_path / "never.json"
    assert main(["bench", "--latency", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("dkdpose bench: error:"), err
    assert all(w in err for w in words), err
    assert not out.exists()


@pytest.mark.slow
def test_a_checkpoint_is_benched_as_its_recorded_architecture_and_size(tmp_path):
    from tiny_models import tiny_checkpoint

    ckpt = tiny_checkpoint(tmp_path / "dkd.pt")
    spec = model_spec(str(ckpt), size=256)
    assert (spec.name, spec.size, spec.num_joints, spec.checkpoint) == ("dkd_r18", 64, 13, str(ckpt))
    assert spec.kwargs["channels"] == 32 and "input_size" not in spec.kwargs
    result = bench_latency([str(ckpt)], size=256, streams=1, repeats=1, warmup=0, stream_repeats=1, threads=1)
    (row,) = result["models"]
    assert row["name"] == "dkd_r18" and row["checkpoint"] == str(ckpt) and row["input"] == [64, 64]
    default = model_flops("dkd_r18", 64)["gmacs_per_frame"]
    assert 0 < row["gmacs_per_frame"] < default  # C = 32 of the checkpoint, not the default width
    with pytest.raises(InputError, match="nothing.pt"):
        model_spec(str(tmp_path / "nothing.pt"), 256)


def test_machine_description_names_the_gpu_only_for_a_cuda_device(monkeypatch):
    from dkdpose import devices

    assert devices.describe_machine("cpu").endswith("CPU only")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Some GPU")
    described = devices.describe_machine("cuda")
    assert described.startswith("Some GPU") and "CPU only" not in described
    assert devices.describe_machine("cpu").endswith("CPU only")
