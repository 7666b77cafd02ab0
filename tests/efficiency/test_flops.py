"""FLOPs accounting and `dkdpose bench --flops`."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from dkdpose.cli import main
from dkdpose.efficiency.flops import count_macs, model_flops
from dkdpose.models.matching import dynamic_depthwise_conv
from dkdpose.models.variants import lstm_pm_size


def test_counter_reports_multiply_accumulates():
    conv = nn.Conv2d(8, 16, 3, padding=1)
    x = torch.zeros(2, 8, 10, 10)
    assert count_macs(lambda: conv(x)) == 2 * 16 * 8 * 9 * 100
    kernels = torch.zeros(2, 8, 7, 7)
    assert count_macs(lambda: dynamic_depthwise_conv(x, kernels)) == 2 * 8 * 49 * 100  # B*C*S*S*h*w


@pytest.mark.slow
def test_dkd_costs_the_distillator_and_matching_on_top_of_the_baseline():
    """At 64x64 (8x8 maps): Φ = conv3x3 (C+K->C) at 8x8 + two conv3x3 (C->C) at 4x4 (+ pooling matrices),
    matching adds V (C->C) and the depthwise 7x7; U equals the Baseline's classifier."""
    c, k, hw, s = 256, 13, 64, 7
    base, dkd = model_flops("baseline_r18", 64), model_flops("dkd_r18", 64)
    phi = (c + k) * c * 9 * hw + 2 * c * c * 9 * (hw // 4) + (c * 7 * 4 * 4 + c * 7 * 4 * 7)
    matching = c * c * hw + c * s * s * hw
    assert round((dkd["gmacs_per_frame"] - base["gmacs_per_frame"]) * 1e9) == pytest.approx(
        phi + matching, abs=1e6
    )
    r101 = model_flops("baseline_r101", 64)["gmacs_per_frame"]
    assert dkd["gmacs_first_frame"] == pytest.approx(r101 + base["gmacs_per_frame"] + phi / 1e9, abs=2e-3)


def test_lstm_pm_matches_the_published_count_at_368():
    row = model_flops("lstm_pm", 368)
    assert row["input"] == [368, 368]
    assert 70.5 < row["gmacs_per_frame"] < 71.5  # paper: 70.98


@pytest.mark.slow
def test_bench_flops_cli_writes_the_schema(tmp_path, capsys):
    out = tmp_path / "sub" / "flops.json"
    rc = main(
        ["bench", "--flops", "--size", "64", "--models", "baseline_r18,dkd_r18,lstm_pm", "--out", str(out)]
    )
    assert rc == 0
    result = json.loads(out.read_text())
    assert [r["name"] for r in result["models"]] == ["baseline_r18", "dkd_r18", "lstm_pm"]
    for r in result["models"]:
        assert set(r) == {"name", "input", "gmacs_per_frame", "gmacs_first_frame", "params_m"}
        assert r["gmacs_per_frame"] > 0 and r["params_m"] > 0
    assert result["models"][2]["input"] == [lstm_pm_size(64)] * 2 and lstm_pm_size(256) == 368
    assert result["models"][1]["gmacs_first_frame"] > result["models"][1]["gmacs_per_frame"]
    assert "dkd_r18" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "--flops", "--models", "dkd_r99"], "unknown model"),
        (["bench", "--flops", "--size", "100"], "multiple of 8"),
        (["bench"], "--flops"),
    ],
)
def test_bench_bad_input_exits_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
