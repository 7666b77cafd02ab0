"""`dkdpose bench --train-step`: fp32 and bf16 training steps of a run config side by side, tiny sizes."""

from __future__ import annotations

import json

import pytest
import torch

from dkdpose.cli import main
from dkdpose.config import from_dict
from dkdpose.efficiency.train_step import (
    _trainee,
    bench_train_step,
    parse_amps,
    parse_memory_formats,
    random_batch,
)
from dkdpose.errors import InputError

TINY = ["--set", "data.input_size=64", "--set", "model.channels=16", "--set", "train.batch_size=1",
        "--set", "model.initializer=resnet18"]  # fmt: skip


def _cfg():
    return from_dict({
        "data": {"input_size": 64, "clip_length": 2},
        "model": {"name": "dkd_r18", "initializer": "resnet18", "channels": 16},
        "train": {"variant": "dkd", "batch_size": 1},
    })  # fmt: skip


def test_every_precision_gets_the_same_weights_and_its_own_autocast():
    cfg, dev = _cfg(), torch.device("cpu")
    fp32, bf16 = _trainee(cfg, "none", dev), _trainee(cfg, "bf16", dev)
    for (name, a), b in zip(fp32.gen.state_dict().items(), bf16.gen.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert fp32.disc is not None and fp32.opt_d is not None  # the dkd variant trains D as well
    x = torch.randn(2, 4)
    with fp32.autocast():
        assert (x @ x.T).dtype == torch.float32
    with bf16.autocast():
        assert (x @ x.T).dtype == torch.bfloat16


def test_the_random_batch_has_the_configs_shape():
    batch = random_batch(_cfg(), torch.device("cpu"))
    assert batch["image"].shape == (1, 2, 3, 64, 64)
    assert batch["heatmaps"].shape == (1, 2, 13, 8, 8) and batch["target_weight"].shape == (1, 2, 13)


def test_bench_train_step_times_each_amp_in_one_run():
    threads = torch.get_num_threads()
    result = bench_train_step(_cfg(), ["none", "bf16"], repeats=2, warmup=0, threads=1)
    assert torch.get_num_threads() == threads  # the thread count is restored
    assert result["torch_threads"] == 1 and result["model"] == "dkd_r18" and result["input_size"] == 64
    amps = [r["amp"] for r in result["steps"]]
    assert amps == ["none", "bf16"] and result["steps"][0]["ratio_to_first"] == 1.0
    for r in result["steps"]:
        assert 0 < r["seconds_min"] <= r["seconds_median"] <= r["seconds_max"]


def test_each_memory_format_is_timed_with_each_amp_from_the_same_weights():
    result = bench_train_step(_cfg(), ["none"], repeats=1, warmup=0, threads=1,
                              memory_formats=["contiguous", "channels_last"])  # fmt: skip
    assert [(r["amp"], r["memory_format"]) for r in result["steps"]] == [
        ("none", "contiguous"), ("none", "channels_last")]  # fmt: skip
    cfg, dev = _cfg(), torch.device("cpu")
    plain, last = _trainee(cfg, "none", dev, "contiguous"), _trainee(cfg, "none", dev, "channels_last")
    conv = lambda tr: tr.gen.initializer.features.trunk.conv1.weight  # noqa: E731
    assert torch.equal(conv(plain), conv(last))
    assert conv(plain).is_contiguous() and conv(last).is_contiguous(memory_format=torch.channels_last)
    assert not conv(last).is_contiguous()
    # without a list the config decides, and the result says which
    default = bench_train_step(_cfg(), ["none"], repeats=1, warmup=0, threads=1)
    assert default["steps"][0]["memory_format"] == "contiguous"


def test_bench_train_step_on_an_ablation_variant_writes_json(tmp_path, capsys):
    out = tmp_path / "train_step.json"
    argv = ["bench", "--train-step", "--config", "ablation_synthetic", "--variant", "dkd_r18", *TINY, "--amp",
            "none", "--repeats", "1", "--warmup", "0", "--threads", "1", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert result["variant"] == "dkd" and result["batch_size"] == 1
    assert [r["amp"] for r in result["steps"]] == ["none"]
    assert "s/step" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--train-step"], "needs --config"),
        (["--train-step", "--latency"], "one per run"),
        (["--train-step", "--config", "ablation_synthetic", "--variant", "nope"], "no run 'nope'"),
        (["--train-step", "--config", "ablation_synthetic", "--variant", "dkd_r18", "--amp", "fp16"],
         "--amp"),
        (["--train-step", "--config", "ablation_synthetic", "--variant", "dkd_r18", "--memory-format",
          "nhwc"], "--memory-format"),
    ],
)
def test_bench_train_step_refusals(argv, message, capsys):
    assert main(["bench", *argv]) == 2
    assert message in capsys.readouterr().err


def test_memory_format_lists_are_checked():
    assert parse_memory_formats("channels_last,contiguous") == ["channels_last", "contiguous"]
    for bad in ("", "nhwc", "contiguous,contiguous"):
        with pytest.raises(InputError, match="--memory-format"):
            parse_memory_formats(bad)


def test_amp_lists_are_checked():
    assert parse_amps("bf16, none") == ["bf16", "none"]
    for bad in ("", "fp16", "none,none"):
        with pytest.raises(InputError, match="--amp"):
            parse_amps(bad)
