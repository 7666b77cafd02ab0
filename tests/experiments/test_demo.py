"""`dkdpose demo`: every step runs on the tiny preset, outputs land in the run folder, reruns are cached."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dkdpose.cli import main
from dkdpose.devices import cpu_model

pytestmark = pytest.mark.slow

SHRINK = [
    "data.input_size=32", "data.val_videos=1", "data.workers=0", "model.channels=32", "train.epochs=1",
    "train.steps_per_epoch=1", "train.batch_size=2", "train.log_every=1",
]  # fmt: skip


def dkd_first_frame_includes_p(report: str, p_macs: float) -> bool:
    """DKD's frame 1 runs P (the ResNet-18 baseline) as well as F: it costs more than P alone."""
    first = re.search(r"dkd [0-9.]+ G \(frame 1: ([0-9.]+) G\)", report)
    return first is not None and float(first.group(1)) > p_macs


def test_demo_runs_end_to_end_on_the_tiny_preset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["demo", "--preset", "synthetic_tiny", "--out", "runs/demo", "--threads", "1"]
    for item in [*SHRINK, "model.kernel_size=3"]:
        args += ["--set", item]
    assert main(args) == 0
    out = tmp_path / "runs/demo"
    expected = ["dkd.pt", "baseline.pt", "baseline_small.pt", "baseline_clips.pt", "report.md",
                "frame_strip.png", "contact_sheet.png", "predict/overlay.mp4", "predict/poses.json",
                "eval_dkd/score.json", "eval_baseline/pck_torso.png", "eval_baseline_small/score.json",
                "eval_baseline_clips/score.json"]
    for name in expected:
        assert (out / name).is_file(), name
    report = (out / "report.md").read_text()
    for row in ("| dkd | torso |", "| baseline | person |", "| baseline_small | torso |",
                "| baseline_clips | torso |"):
        assert row in report, row
    for ref in ("baseline_clips", "baseline_small", "baseline"):
        assert re.search(rf"\| dkd - {ref} \| [+-][0-9.]+ \| [+-][0-9.]+ \.\. [+-][0-9.]+ \|", report), ref
    # DKD's F is the small network: after frame 1 it costs about what the small one does, P runs on frame 1
    line = report.split("Multiply-adds per frame at this input size: ")[1].splitlines()[0]
    macs = {name: float(g) for name, g in re.findall(r"(\w+) ([0-9.]+) G", line)}
    assert set(macs) == {"baseline", "baseline_small", "baseline_clips", "dkd"}, line
    assert macs["dkd"] < macs["baseline"] and macs["baseline_small"] < macs["baseline"]
    assert dkd_first_frame_includes_p(report, macs["baseline"])
    assert "| train DKD |" in report and "(reused)" not in report and "torch threads: 1" in report
    assert f"Machine: {cpu_model()}, " in report  # the figures depend on the CPU model: the report names it
    poses = json.loads((out / "predict/poses.json").read_text())
    assert len(poses["people"]) == 1 and len(poses["people"][0]["keypoints"]) > 1
    assert "report.md" in capsys.readouterr().out
    runs = ("train_dkd", "train_baseline", "train_baseline_small", "train_baseline_clips")
    stamps = {run: (out / run / "last.pt").stat().st_mtime_ns for run in runs}
    assert main(args) == 0  # the second run reuses both trained models
    assert stamps == {run: (out / run / "last.pt").stat().st_mtime_ns for run in stamps}
    report = (out / "report.md").read_text()
    steps = ("train baseline", "train small baseline (F)", "train DKD", "train small baseline on DKD's clips",
             "eval baseline", "eval baseline_small", "eval dkd", "eval baseline_clips")
    for step in steps:
        assert re.search(rf"\| {re.escape(step)} \| [0-9.]+ \(reused\) \|", report), step
