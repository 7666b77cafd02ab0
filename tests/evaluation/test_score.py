"""`dkdpose score` end to end on fake on-disk datasets: success, the printed table, and every refusal."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fake_datasets import rewrite_mat, write_fake_penn_action, write_fake_sub_jhmdb

from dkdpose.cli import main
from dkdpose.data.readers import read_records
from dkdpose.evaluation.predictions import read_predictions, write_predictions
from dkdpose.evaluation.report import format_table
from dkdpose.evaluation.score import score_predictions

HEADER = "Head    Sho    Elb    Wri    Hip   Knee    Ank   Mean"


@pytest.fixture
def penn(tmp_path: Path) -> tuple[Path, Path]:
    """A fake Penn Action root and predictions = ground truth with left_wrist 1000 px off in every frame."""
    root = tmp_path / "penn"
    write_fake_penn_action(root)
    recs = read_records("penn_action", root, "test")
    keypoints = {}
    for r in recs:
        kp = r.joints.astype(np.float64).copy()
        kp[:, 5] += 1000.0
        keypoints[r.video_id] = kp
    preds = tmp_path / "preds.json"
    write_predictions(
        preds, "penn_action", keypoints, {v: np.ones(k.shape[:2]) for v, k in keypoints.items()}
    )
    return root, preds


@pytest.fixture
def jhmdb(tmp_path: Path) -> tuple[Path, Path]:
    """A fake Sub-JHMDB root and perfect predictions for every video (any split's test set is covered)."""
    root = tmp_path / "jhmdb"
    write_fake_sub_jhmdb(root)
    preds = tmp_path / "jpreds.json"
    write_predictions(preds, "sub_jhmdb", {r.video_id: r.joints for r in read_records("sub_jhmdb", root)})
    return root, preds


def test_score_penn_by_hand(penn):
    root, preds = penn
    sc = score_predictions("penn_action", root, preds)
    recs = read_records("penn_action", root, "test")
    assert sc["dataset"] == "penn_action" and sc["split"] is None and sc["alpha"] == 0.2
    assert sc["frames"] == sum(r.num_frames for r in recs) == 9
    assert sc["joints_counted"] == int(sum(r.visibility.sum() for r in recs))
    lw_counted = sum(r.visibility[:, 5].sum() for r in recs)
    for norm in ("person", "torso"):
        s = sc[norm]
        assert s["per_joint"]["left_wrist"] == 0.0 and s["per_joint"]["right_wrist"] == 100.0
        assert s["groups"]["Wri"] == 50.0 and s["groups"]["Head"] == 100.0
        assert s["groups"]["Mean"] == pytest.approx(100 * 6.5 / 7)
        assert s["mean"] == pytest.approx(100 * (1 - lw_counted / sc["joints_counted"]))
    assert set(sc["per_video"]) == {"0002", "0004"}


def _score_penn(root, preds, *extra: str) -> int:
    """`dkdpose score` of a Penn Action predictions file, with extra arguments."""
    args = ["--dataset", "penn_action", "--root", str(root), "--predictions", str(preds), *extra]
    return main(["score", *args])


def test_cli_writes_json_and_prints_the_table(penn, tmp_path, capsys):
    root, preds = penn
    out = tmp_path / "scores" / "penn.json"
    assert _score_penn(root, preds, "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert HEADER in printed
    lines = printed.splitlines()
    assert lines[2].split() == [
        "person",
        "100.0",
        "100.0",
        "100.0",
        "50.0",
        "100.0",
        "100.0",
        "100.0",
        "92.9",
    ]
    assert lines[3].startswith("torso")
    assert json.loads(out.read_text()) == json.loads(
        json.dumps(score_predictions("penn_action", root, preds))
    )


def test_cli_prints_json_without_out_and_honours_alpha(penn, capsys):
    root, preds = penn
    assert _score_penn(root, preds, "--alpha", "0.05") == 0
    printed = capsys.readouterr().out
    sc = json.loads(printed[printed.index("{") :])
    assert sc["alpha"] == 0.05 and "PCK@0.05" in printed
    assert sc["person"]["per_joint"]["left_wrist"] == 0.0


def test_python_dash_m_sub_jhmdb_split_2(jhmdb, tmp_path):
    root, preds = jhmdb
    out = tmp_path / "s.json"
    cmd = [sys.executable, "-m", "dkdpose", "score", "--dataset", "sub_jhmdb", "--root", str(root)]
    cmd += ["--predictions", str(preds), "--split", "2", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "sub_jhmdb split 2" in done.stdout and HEADER in done.stdout
    sc = json.loads(out.read_text())
    assert list(sc["per_video"]) == [
        "kick_ball/Kick_the_ball_kick_ball_f_cm_np1_ri_goo_0"
    ]  # split 2's test set
    assert sc["split"] == 2 and sc["videos"] == 1 and sc["frames"] == 3
    assert (
        sc["joints_counted"] == 3 * 15
        and sc["person"]["mean"] == 100.0
        and sc["torso"]["groups"]["Mean"] == 100.0
    )


def test_predictions_round_trip(penn):
    root, preds = penn
    p = read_predictions(preds)
    assert p.dataset == "penn_action" and len(p.joints) == 13 and set(p.keypoints) == {"0002", "0004"}
    rec = read_records("penn_action", root, "test")[0]
    np.testing.assert_allclose(p.keypoints["0002"][:, 0], rec.joints[:, 0], atol=1e-3)
    assert p.scores["0002"].shape == (4, 13)


# --- refusals: exit 2, one line on stderr naming the file or video, no output file ----------------------


def _edit_predictions(path: Path, edit) -> None:
    obj = json.loads(path.read_text())
    edit(obj)
    path.write_text(json.dumps(obj))


def _drop_video(obj):
    del obj["videos"]["0004"]


def _drop_frame(obj):
    obj["videos"]["0002"]["keypoints"].pop()
    obj["videos"]["0002"]["scores"].pop()


def _drop_joint(obj):
    del obj["videos"]["0004"]["scores"]  # optional
    for frame in obj["videos"]["0004"]["keypoints"]:
        frame.pop()


def _nan(obj):
    obj["videos"]["0002"]["keypoints"][1][3][0] = float("nan")


def _null(obj):
    obj["videos"]["0004"]["keypoints"][0][0] = [None, 1.0]


def _ragged(obj):
    obj["videos"]["0002"]["keypoints"][0].append([1.0])


def _bad_scores(obj):
    obj["videos"]["0004"]["scores"] = [[1.0]]


def _wrong_dataset(obj):
    obj["dataset"] = "sub_jhmdb"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_drop_video, r"video 0004 is missing from the predictions"),
        (_drop_frame, r"video 0002 has 3 predicted frames, the video has 4"),
        (_drop_joint, r"video 0004 has 12 predicted joints, expected 13"),
        (_nan, r"video 0002: keypoints hold NaN"),
        (_null, r"video 0004: keypoints hold NaN, infinite or null"),
        (_ragged, r"video 0002: keypoints are not a rectangular array"),
        (_bad_scores, r"video 0004: scores have shape \(1, 1\), expected \(5, 13\)"),
        (_wrong_dataset, r"'joints' must list the 15 sub_jhmdb joints"),
    ],
)
def test_bad_predictions_are_refused(penn, tmp_path, capsys, edit, message):
    root, preds = penn
    _edit_predictions(preds, edit)
    _assert_refused(
        ["--dataset", "penn_action", "--root", str(root), "--predictions", str(preds)],
        tmp_path,
        capsys,
        message,
    )


def _missing_root(root: Path) -> None:
    shutil.rmtree(root)


def _missing_labels(root: Path) -> None:
    for f in (root / "labels").iterdir():
        f.unlink()
    (root / "labels").rmdir()


def _label_without_field(root: Path) -> None:
    rewrite_mat(root / "labels" / "0004.mat", drop=("visibility",))


def _wrong_shape(root: Path) -> None:
    rewrite_mat(root / "labels" / "0002.mat", y=np.zeros((4, 14)))


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (_missing_root, r"penn: Penn Action root not found"),
        (_missing_labels, r"penn/labels: Penn Action labels folder not found"),
        (_label_without_field, r"0004\.mat: missing field\(s\) visibility"),
        (_wrong_shape, r"0002\.mat: field 'y' has shape \(4, 14\), expected \(4, 13\)"),
    ],
)
def test_bad_dataset_is_refused(penn, tmp_path, capsys, breakage, message):
    root, preds = penn
    breakage(root)
    _assert_refused(
        ["--dataset", "penn_action", "--root", str(root), "--predictions", str(preds)],
        tmp_path,
        capsys,
        message,
    )


def test_malformed_split_line_is_refused(jhmdb, tmp_path, capsys):
    root, preds = jhmdb
    (root / "sub_splits" / "kick_ball_test_split_1.txt").write_text("some_video.avi\n")
    args = ["--dataset", "sub_jhmdb", "--root", str(root), "--predictions", str(preds)]
    _assert_refused(args, tmp_path, capsys, r"kick_ball_test_split_1\.txt:1: malformed split line")


def test_bad_arguments_are_refused(penn, jhmdb, tmp_path, capsys):
    root, preds = penn
    base = ["--dataset", "penn_action", "--root", str(root), "--predictions", str(preds)]
    _assert_refused([*base, "--split", "2"], tmp_path, capsys, "--split applies to sub_jhmdb only")
    _assert_refused([*base, "--alpha", "nan"], tmp_path, capsys, "alpha must be a finite number")
    missing = ["--dataset", "penn_action", "--root", str(root), "--predictions", str(tmp_path / "no.json")]
    _assert_refused(missing, tmp_path, capsys, r"no\.json: predictions file not found")
    jroot, jpreds = jhmdb
    _assert_refused(
        ["--dataset", "sub_jhmdb", "--root", str(jroot), "--predictions", str(jpreds), "--split", "4"],
        tmp_path,
        capsys,
        "split must be 1, 2 or 3",
    )


def _assert_refused(args: list[str], tmp_path: Path, capsys, message: str) -> None:
    out = tmp_path / "out" / "score.json"
    assert main(["score", *args, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dkdpose score: error: "), captured.err
    assert re.search(message, err[0]), err[0]
    assert not out.exists() and not out.parent.exists()


def test_format_table_marks_missing_values():
    sc = {
        "dataset": "penn_action",
        "split": None,
        "alpha": 0.2,
        "videos": 1,
        "frames": 1,
        "joints_counted": 0,
    }
    groups = dict.fromkeys(("Head", "Sho", "Elb", "Wri", "Hip", "Knee", "Ank", "Mean"))
    sc |= {"person": {"groups": groups}, "torso": {"groups": groups}}
    assert format_table(sc).splitlines()[2].split() == ["person"] + ["-"] * 8
