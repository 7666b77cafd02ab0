"""The diagnostic scripts in tools/: paired bootstrap over videos, PCK by stream position."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

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
    with pytest.raises(SystemExit, match="not on the same videos"):
        cmp.paired_bootstrap(score(a), score(a[:-1]), "torso")


def test_pck_by_bin_separates_frame_1_from_the_rest():
    tool = load_tool("pck_by_frame")
    t, k = 30, 13
    gt = np.zeros((t, k, 3))
    gt[:, :, 0] = np.arange(k) * 10.0  # torso joints (shoulder, hip) 10+ px apart
    gt[:, :, 1] = np.arange(k) * 10.0
    pred = gt[:, :, :2].copy()
    pred[0] += 500.0  # frame 1 wrong, every later frame exact
    rec = SimpleNamespace(joint_set="penn_action", joints=gt, visibility=np.ones((t, k)),
                          boxes=np.tile([0.0, 0.0, 200.0, 200.0], (t, 1)))  # fmt: skip
    preds = {"videos": {"0001": {"keypoints": pred.tolist()}}}
    for norm in ("torso", "person"):
        assert tool.pck_by_bin({"0001": rec}, preds, norm) == [0.0, 100.0, 100.0, 100.0, 100.0]
