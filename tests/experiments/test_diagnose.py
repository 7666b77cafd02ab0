"""`dkdpose diagnose`: per-frame accuracy, the pose DKD carries, centre bias and the linear probe."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from tiny_models import tiny_checkpoint

from dkdpose.cli import main
from dkdpose.experiments.diagnose import Outputs, centre_bias, per_frame_pck
from dkdpose.skeleton import get_joint_set


def _config(tmp_path, root):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"data": {"dataset": "penn_action", "root": str(root), "input_size": 64,
                                             "clip_length": 3, "workers": 0}}))  # fmt: skip
    return path


def test_diagnose_writes_every_diagnostic_for_dkd_and_the_baseline(tmp_path, fake_penn_action):
    root, _ = fake_penn_action
    dkd, base = tiny_checkpoint(tmp_path / "dkd.pt"), tiny_checkpoint(tmp_path / "base.pt", "baseline_r18")
    lstm = tiny_checkpoint(tmp_path / "lstm.pt", "dkd_r18_lstm")
    out = tmp_path / "diag"
    args = ["diagnose", "--config", str(_config(tmp_path, root)), "--weights", str(dkd), str(base), str(lstm),
            "--split", "test", "--probe-steps", "3", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    res = json.loads((out / "diagnostics.json").read_text())
    d, b = res["models"][str(dkd)], res["models"][str(base)]
    assert res["clip_length"] == 3 and res["clips"] == 2  # videos 0002 (4 frames) and 0004 (5), stride 3
    assert len(d["per_frame"]["torso"]) == len(d["per_frame"]["loss"]) == 3
    # h_1 = the ground truth: frame 1 is the true pose, decoded from its own heatmaps
    assert d["pose_input"]["h1_ground_truth"][0] == 100.0
    assert len(d["pose_input"]["ht_zero"]) == 3
    assert "pose_input" not in b  # the baseline carries no pose
    lstm_pose = res["models"][str(lstm)]["pose_input"]  # w-LSTM carries h_t too, but has no Φ to zero it in
    assert lstm_pose["h1_ground_truth"][0] == 100.0 and "ht_zero" not in lstm_pose
    assert set(d["centre_bias"]) == set(get_joint_set("penn_action").groups)
    assert 0.0 <= d["probe_torso"] <= 100.0
    assert "h_t zeroed" in (out / "diagnostics.md").read_text()


def test_diagnose_refuses_a_checkpoint_of_another_joint_set(tmp_path, fake_penn_action, capsys):
    root, _ = fake_penn_action
    other = tiny_checkpoint(tmp_path / "jhmdb.pt", joint_set="sub_jhmdb")
    args = ["diagnose", "--config", str(_config(tmp_path, root)), "--weights", str(other), "--split", "test",
            "--probe-steps", "0", "--out", str(tmp_path / "diag")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "jhmdb.pt" in err[0] and "joints" in err[0]
    assert not (tmp_path / "diag").exists()


def _outputs(pred, gt):
    n = np.ones(pred.shape[:3], bool)
    return Outputs(pred=pred, gt=gt, counted=n, loss=np.zeros(pred.shape[:2]))


@pytest.mark.parametrize("shift_cells, expected", [(1.0, 1.0), (-0.5, -0.5)])
def test_centre_bias_is_the_signed_error_toward_the_crop_centre_in_cells(shift_cells, expected):
    js = get_joint_set("penn_action")
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 127, (4, 2, js.num_joints, 2))
    to_centre = 63.5 - gt
    unit = to_centre / np.linalg.norm(to_centre, axis=-1, keepdims=True)
    bias = centre_bias(_outputs(gt + unit * 8.0 * shift_cells, gt), js, 128)
    assert bias == pytest.approx({g: expected for g in js.groups}, abs=1e-3)


def test_per_frame_pck_scores_each_frame_position_separately():
    js = get_joint_set("penn_action")
    gt = np.random.default_rng(1).uniform(20, 100, (3, 2, js.num_joints, 2))
    pred = gt.copy()
    pred[:, 1] += 500.0  # every joint of frame 2 far off
    assert per_frame_pck(_outputs(pred, gt), js) == [100.0, 0.0]
