"""Bad input against every subcommand, one table per command: each case exits with status 2 and one stderr
line (no traceback, no ANSI escapes), leaves no output behind and leaves every input byte-identical.

Also: what `synth` may replace (its manifest), the output guard of `dkdpose.io`, stale temporaries, a full
disk, unreadable inputs, and the hygiene of resumed runs.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from fake_datasets import rewrite_mat, write_fake_penn_action, write_fake_sub_jhmdb
from tiny_models import person_frames, tiny_checkpoint, write_video

import dkdpose.io as dio
from dkdpose.cli import main
from dkdpose.data.readers import read_records
from dkdpose.data.synthetic import generate_dataset
from dkdpose.errors import InputError, one_line
from dkdpose.evaluation.predictions import write_predictions

SYNTH = ["--videos", "2", "--frames", "2", "--size", "48x48"]


def snapshot(root: Path) -> dict[str, object]:
    """Every entry under `root` (links not followed): file bytes, link targets, kinds of the others."""
    entries: dict[str, object] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(folder) / name
            mode = p.lstat().st_mode
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(mode):
                entries[rel] = "link -> " + os.readlink(p)
            elif stat.S_ISREG(mode):
                entries[rel] = p.read_bytes()
            else:
                entries[rel] = stat.S_IFMT(mode)
    return entries


def assert_refused(argv: list, world: Path, capsys: pytest.CaptureFixture, fragment: str) -> None:
    before = snapshot(world)
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"dkdpose {argv[0]}: error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in err and "\x1b" not in err
    assert snapshot(world) == before


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Datasets, predictions, checkpoints, a video and hostile paths that every table below points at."""
    w = tmp_path_factory.mktemp("world")
    write_fake_penn_action(w / "penn")
    recs = read_records("penn_action", w / "penn", "test")
    write_predictions(w / "preds.json", "penn_action", {r.video_id: r.joints for r in recs})
    os.link(w / "preds.json", w / "preds_hardlink.json")
    preds = json.loads((w / "preds.json").read_text())
    first = recs[0].video_id
    videos = json.dumps(preds["videos"][first])
    body = json.dumps({k: v for k, v in preds.items() if k != "videos"})[:-1]
    (w / "dup.json").write_text(f'{body}, "videos": {{"{first}": {videos}, "{first}": {videos}}}}}')
    for name, value in (("bool", True), ("str", "12.5")):
        bad = json.loads(json.dumps(preds))
        bad["videos"][first]["keypoints"][0][0][0] = value
        (w / f"{name}.json").write_text(json.dumps(bad))
    (w / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    shutil.copytree(w / "penn", w / "penn_zero")
    box = np.asarray(recs[0].boxes[0] + 1.0)
    rewrite_mat(w / "penn_zero" / "labels" / f"{first}.mat",
                bbox=np.tile([box[0], box[1], box[0], box[1]], (recs[0].num_frames, 1)))  # fmt: skip
    write_fake_sub_jhmdb(w / "jhmdb")
    jrecs = read_records("sub_jhmdb", w / "jhmdb")
    write_predictions(w / "jpreds.json", "sub_jhmdb", {r.video_id: r.joints for r in jrecs})
    for kind in ("missing", "empty"):
        shutil.copytree(w / "jhmdb", w / f"jhmdb_{kind}")
        split_file = w / f"jhmdb_{kind}" / "sub_splits" / "kick_ball_test_split_1.txt"
        split_file.unlink() if kind == "missing" else split_file.write_text("")
    (w / "folder").mkdir()
    os.mkfifo(w / "fifo")
    (w / "target.txt").write_text("keep me")
    os.symlink(w / "target.txt", w / "link.json")
    (w / "bench.json").write_text("{}")
    (w / "notes.txt").write_text("keep me")
    tiny_checkpoint(w / "ckpt.pt", name="baseline_r18")
    _variant(w / "ckpt.pt", w / "nan.pt", lambda c: next(iter(c["state_dict"].values())).fill_(float("nan")))
    _variant(w / "ckpt.pt", w / "unknown_kw.pt", lambda c: c["model_kwargs"].update(bogus=1))
    _variant(w / "ckpt.pt", w / "huge.pt", lambda c: c["model_kwargs"].update(channels=2**20))
    _variant(w / "ckpt.pt", w / "bad_kernels.pt", lambda c: c["model_kwargs"].update(kernels_from="last"))
    write_video(w / "walk.mp4", person_frames(3))
    return w


def _variant(src: Path, dst: Path, change) -> None:
    ckpt = torch.load(src, weights_only=True)
    change(ckpt)
    torch.save(ckpt, dst)


# --- score ----------------------------------------------------------------------------------------------

SCORE_CASES = {
    "out is the predictions": (["--out", "{w}/preds.json"], "is also an input"),
    "out is a hard link to the predictions": (["--out", "{w}/preds_hardlink.json"], "is also an input"),
    "out is a label file": (["--out", "{w}/penn/labels/0002.mat"], "inside the dataset folder"),
    "out is new but inside the dataset": (["--out", "{w}/penn/score.json"], "inside the dataset folder"),
    "out is a folder": (["--out", "{w}/folder"], "is a folder"),
    "out is a FIFO": (["--out", "{w}/fifo"], "is a FIFO"),
    "out is a symbolic link": (["--out", "{w}/link.json"], "is a symbolic link"),
    "out is a device node": (["--out", "/dev/null"], "is a device node"),
    "split 0": (["--split", "0", "--dataset", "sub_jhmdb", "--root", "{w}/jhmdb", "--predictions",
                 "{w}/jpreds.json"], "must be 1, 2 or 3"),  # fmt: skip
    "a video twice": (["--predictions", "{w}/dup.json"], "appears twice"),
    "boolean keypoints": (["--predictions", "{w}/bool.json"], "must be numbers"),
    "string keypoints": (["--predictions", "{w}/str.json"], "must be numbers"),
    "200k-deep JSON": (["--predictions", "{w}/deep.json"], "nested too deeply"),
    "zero-size box": (["--root", "{w}/penn_zero"], "has zero size"),
    "missing split file": (["--dataset", "sub_jhmdb", "--root", "{w}/jhmdb_missing", "--predictions",
                            "{w}/jpreds.json"], "kick_ball_test_split_1.txt is missing"),  # fmt: skip
    "empty split file": (["--dataset", "sub_jhmdb", "--root", "{w}/jhmdb_empty", "--predictions",
                          "{w}/jpreds.json"], "empty split file"),  # fmt: skip
}


@pytest.mark.parametrize("case", SCORE_CASES)
def test_score_refusals(case: str, world: Path, capsys) -> None:
    extra, fragment = SCORE_CASES[case]
    base = {"--dataset": "penn_action", "--root": f"{world}/penn", "--predictions": f"{world}/preds.json"}
    args = [a.format(w=world) for a in extra]
    for flag, value in base.items():
        if flag not in args:
            args += [flag, value]
    assert_refused(["score", *args], world, capsys, fragment)


# --- plot-speed, bench ----------------------------------------------------------------------------------

OTHER_CASES = {
    "plot-speed out is the bench file": (["plot-speed", "--bench", "{w}/bench.json", "--scores",
                                          "a={w}/preds.json", "--out", "{w}/bench.json"], "is also an input"),
    "plot-speed out is a score file": (["plot-speed", "--bench", "{w}/bench.json", "--scores",
                                        "a={w}/preds.json", "--out", "{w}/preds.json"], "is also an input"),
    "bench out is a folder": (["bench", "--flops", "--out", "{w}/folder"], "is a folder"),
    "bench out is a FIFO": (["bench", "--flops", "--out", "{w}/fifo"], "is a FIFO"),
}  # fmt: skip


@pytest.mark.parametrize("case", OTHER_CASES)
def test_plot_speed_and_bench_refusals(case: str, world: Path, capsys) -> None:
    argv, fragment = OTHER_CASES[case]
    assert_refused([a.format(w=world) for a in argv], world, capsys, fragment)


# --- predict, export, eval ------------------------------------------------------------------------------

PREDICT_CASES = {
    "json is the weights": (["--json", "{w}/ckpt.pt"], "is also an input"),
    "out is the video": (["--out", "{w}/walk.mp4"], "is also an input"),
    "csv is a symbolic link": (["--csv", "{w}/link.json"], "is a symbolic link"),
    "NaN weights": (["--weights", "{w}/nan.pt", "--json", "{w}/new.json"], "NaN"),
    "unknown model option": (["--weights", "{w}/unknown_kw.pt", "--json", "{w}/new.json"], "bogus"),
    "absurd channels": (["--weights", "{w}/huge.pt", "--json", "{w}/new.json"], "channels=1048576"),
    "unknown kernel source": (["--weights", "{w}/bad_kernels.pt", "--json", "{w}/new.json"], "kernels_from"),
    "box with a negative corner": (["--box", "-50,0,20,20", "--json", "{w}/new.json"], "-50,0,20,20 lies"),
}
EXPORT_CASES = {
    "out is a file": (["--out", "{w}/notes.txt"], "not a folder"),
    "out is the weights": (["--out", "{w}/ckpt.pt"], "not a folder"),
    "NaN weights": (["--weights", "{w}/nan.pt"], "NaN"),
    "absurd channels": (["--weights", "{w}/huge.pt"], "channels"),
    "unknown kernel source": (["--weights", "{w}/bad_kernels.pt"], "kernels_from"),
}
EVAL_CASES = {
    "out is the dataset": (["--out", "{w}/penn"], "inside the dataset folder"),
    "out inside the dataset": (["--out", "{w}/penn/eval"], "inside the dataset folder"),
    "out is a file": (["--out", "{w}/notes.txt"], "not a folder"),
    "NaN weights": (["--weights", "{w}/nan.pt"], "NaN"),
    "unknown model option": (["--weights", "{w}/unknown_kw.pt"], "bogus"),
}


def _with_defaults(extra: list[str], world: Path, defaults: dict[str, str]) -> list[str]:
    args = [a.format(w=world) for a in extra]
    return args + [x for flag, value in defaults.items() if flag not in args for x in (flag, value)]


@pytest.mark.parametrize("case", PREDICT_CASES)
def test_predict_refusals(case: str, world: Path, capsys) -> None:
    extra, fragment = PREDICT_CASES[case]
    args = _with_defaults(extra, world, {"--weights": f"{world}/ckpt.pt"})
    assert_refused(["predict", f"{world}/walk.mp4", *args], world, capsys, fragment)


@pytest.mark.parametrize("case", EXPORT_CASES)
def test_export_refusals(case: str, world: Path, capsys) -> None:
    extra, fragment = EXPORT_CASES[case]
    args = _with_defaults(extra, world, {"--weights": f"{world}/ckpt.pt", "--out": f"{world}/export"})
    assert_refused(["export", *args], world, capsys, fragment)


@pytest.mark.parametrize("case", EVAL_CASES)
def test_eval_refusals(case: str, world: Path, capsys) -> None:
    extra, fragment = EVAL_CASES[case]
    defaults = {"--weights": f"{world}/ckpt.pt", "--dataset": "penn_action", "--root": f"{world}/penn",
                "--out": f"{world}/eval"}  # fmt: skip
    assert_refused(["eval", *_with_defaults(extra, world, defaults)], world, capsys, fragment)


# --- train ----------------------------------------------------------------------------------------------

TRAIN_CFG = {
    "data": {"dataset": "penn_action", "input_size": 32, "clip_length": 1, "workers": 0},
    "model": {"name": "baseline_r18", "channels": 16},
    "train": {"variant": "baseline", "epochs": 1, "batch_size": 2, "steps_per_epoch": 1, "log_every": 1},
}
TRAIN_CASES = {
    "out is a file": (["--out", "{w}/notes.txt"], "not a folder"),
    "out inside the dataset": (["--out", "{w}/penn/runs/a"], "inside the dataset folder"),
    "out is a FIFO": (["--out", "{w}/fifo"], "is a FIFO"),
    "config is a folder": (["--config", "{w}/folder"], "is a folder"),
    "config is binary": (["--config", "{w}/ckpt.pt"], "not a YAML config"),
    "set without =": (["--set", "train.lr"], "expected section.key=value"),
    "set without a key": (["--set", "train.=3"], "expected section.key=value"),
    "set with broken YAML": (["--set", "train.lr=[1"], "not valid YAML"),
    "NaN lr": (["--set", "train.lr=.nan"], "train.lr"),
    "negative lr": (["--set", "train.lr=-1"], "train.lr"),
    "sigma 0": (["--set", "data.sigma=0"], "data.sigma"),
    "channels 0": (["--set", "model.channels=0"], "model.channels"),
    "log_every 0": (["--set", "train.log_every=0"], "train.log_every"),
    "device banana": (["--set", "train.device=banana"], "train.device"),
    "negative val_videos": (["--set", "data.val_videos=-1"], "data.val_videos"),
    "negative steps_per_epoch": (["--set", "train.steps_per_epoch=-1"], "train.steps_per_epoch"),
    "lr_factor 0": (["--set", "train.lr_factor=0"], "train.lr_factor"),
    "distill_input banana": (["--set", "model.distill_input=banana"], "model.distill_input"),
    "kernels_from banana": (["--set", "model.kernels_from=banana"], "model.kernels_from"),
    "resume from weights only": (["--out", "{w}/run_weights_only", "--resume"], "no training state"),
    "resume with another config": (["--out", "{w}/run_other", "--resume", "--set", "train.lr=0.1"],
                                   "train.lr differ"),  # fmt: skip
}


@pytest.fixture(scope="module")
def train_world(world: Path) -> Path:
    cfg = json.loads(json.dumps(TRAIN_CFG))
    cfg["data"]["root"] = str(world / "penn")
    (world / "train.yaml").write_text(yaml.safe_dump(cfg))
    (world / "run_weights_only").mkdir()
    shutil.copy(world / "ckpt.pt", world / "run_weights_only" / "last.pt")
    (world / "run_other").mkdir()
    from dkdpose.config import from_dict

    state = {k: 0 for k in ("epoch", "step", "lambda", "best_pck")}
    state.update(optimizer={}, scheduler={}, rng={}, config=from_dict(cfg).to_dict())
    _variant(world / "ckpt.pt", world / "run_other" / "last.pt", lambda c: c.update(state))
    return world


@pytest.mark.parametrize("case", TRAIN_CASES)
def test_train_refusals(case: str, train_world: Path, capsys) -> None:
    extra, fragment = TRAIN_CASES[case]
    w = train_world
    args = _with_defaults(extra, w, {"--config": f"{w}/train.yaml", "--out": f"{w}/run_new"})
    assert_refused(["train", *args], w, capsys, fragment)


DIAGNOSE_CASES = {
    "out is the weights": (["--out", "{w}/ckpt.pt"], "not a folder"),
    "out inside the dataset": (["--out", "{w}/penn/diag"], "inside the dataset folder"),
    "NaN weights": (["--weights", "{w}/nan.pt"], "NaN"),
    "missing weights": (["--weights", "{w}/absent.pt"], "absent.pt"),
    "negative probe steps": (["--probe-steps", "-1"], "--probe-steps"),
    "no validation videos": (["--split", "val"], "no validation videos"),
}


@pytest.mark.parametrize("case", DIAGNOSE_CASES)
def test_diagnose_refusals(case: str, train_world: Path, capsys) -> None:
    extra, fragment = DIAGNOSE_CASES[case]
    w = train_world
    defaults = {"--config": f"{w}/train.yaml", "--weights": f"{w}/ckpt.pt", "--split": "test",
                "--probe-steps": "0", "--out": f"{w}/diag"}  # fmt: skip
    assert_refused(["diagnose", *_with_defaults(extra, w, defaults)], w, capsys, fragment)


# --- synth ----------------------------------------------------------------------------------------------


def test_synth_refusals_keep_user_files(tmp_path: Path, capsys) -> None:
    out = tmp_path / "set"
    assert main(["synth", "--out", str(out), *SYNTH]) == 0
    capsys.readouterr()
    (out / "runs").mkdir()
    (out / "runs" / "notes.txt").write_text("mine")
    assert_refused(["synth", "--out", out, *SYNTH, "--seed", "3"], tmp_path, capsys, "runs/notes.txt")
    (out / "runs" / "notes.txt").unlink()
    (out / "runs").rmdir()
    (out / "card.json").write_text("{}")  # edited by the user: another size than synth wrote
    assert_refused(["synth", "--out", out, *SYNTH, "--seed", "3"], tmp_path, capsys, "card.json")
    (out / ".dkdpose_synth").write_text("corrupt")
    assert_refused(["synth", "--out", out, *SYNTH], tmp_path, capsys, "marker is unreadable")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / ".dkdpose_synth").write_text('{"parameters": {}, "files": {}}')  # a stray marker
    (mine / "thesis.tex").write_text("mine")
    assert_refused(["synth", "--out", mine, *SYNTH], tmp_path, capsys, "thesis.tex")
    assert_refused(["synth", "--out", tmp_path / "x", "--size", "100000x100000"], tmp_path, capsys, "--size")
    assert_refused(["synth", "--out", mine / "thesis.tex", *SYNTH], tmp_path, capsys, "not a folder")
    assert_refused(["synth", "--out", tmp_path / "f", "--preset", mine], tmp_path, capsys, "")


def test_synth_replaces_its_own_output_and_honours_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        out = tmp_path / "set"
        generate_dataset(out, videos=2, frames=2, size=(48, 48))
        (out / ".set.99999999.abcd.partial").mkdir()  # left by a killed run (no such process)
        changed = generate_dataset(out, videos=2, frames=3, size=(48, 48))
    finally:
        os.umask(old)
    assert not changed.reused and changed.card["frames"] == 6
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]


# --- the output guard, temporaries, faults --------------------------------------------------------------


def test_the_atomic_writer_never_replaces_a_non_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    os.symlink(tmp_path / "t", tmp_path / "link")
    for name in ("fifo", "link"):
        with pytest.raises(InputError, match="not a regular file"):
            dio.write_text(tmp_path / name, "x")
    assert stat.S_ISFIFO((tmp_path / "fifo").lstat().st_mode) and (tmp_path / "link").is_symlink()
    assert not (tmp_path / "t").exists()


def test_stale_temporaries_of_dead_processes_are_cleaned(tmp_path: Path) -> None:
    dead = tmp_path / ".last.pt.99999999.k3j4.tmp.pt"
    mine = tmp_path / f".last.pt.{os.getpid()}.k3j4.tmp.pt"
    user = tmp_path / ".hidden_user_file.tmp"
    for p in (dead, mine, user):
        p.write_text("x")
    dio.write_text(tmp_path / "last.pt", "new")
    assert not dead.exists() and mine.exists() and user.exists()


def test_a_full_disk_is_one_line_and_leaves_nothing(world: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    def full(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dio.os, "replace", full)
    args = ["--dataset", "penn_action", "--root", world / "penn", "--predictions", world / "preds.json"]
    assert_refused(["score", *args, "--out", tmp_path / "s.json"], tmp_path, capsys, "No space left")
    defaults = {"--weights": f"{world}/ckpt.pt", "--dataset": "penn_action", "--root": f"{world}/penn"}
    argv = ["eval", *_with_defaults(["--out", str(tmp_path / "ev" / "a")], world, defaults)]
    assert_refused(argv, tmp_path, capsys, "No space left")  # no partial eval folder


def test_an_unreadable_input_is_one_line(world: Path, monkeypatch, capsys) -> None:
    real = Path.read_text

    def denied(self: Path, *a, **k) -> str:
        if self.name == "preds.json":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", denied)
    args = ["--dataset", "penn_action", "--root", world / "penn", "--predictions", world / "preds.json"]
    assert_refused(["score", *args], world, capsys, "Permission denied")


def test_one_line_strips_escapes_and_worker_tracebacks() -> None:
    assert one_line("\x1b[31mred\x1b[0m\nsecond") == "red second"
    wrapped = "\n".join([
        "Caught InputError in DataLoader worker process 0.", "Original Traceback (most recent call last):",
        '  File "x.py", line 1', "dkdpose.errors.InputError: a.jpg: cannot decode the frame",
    ])  # fmt: skip
    assert one_line(wrapped) == "a.jpg: cannot decode the frame"


def test_a_stale_run_folder_is_removed_only_when_it_holds_nothing_else(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "tb").mkdir(parents=True)
    for name in ("config.yaml", "last.pt", "metrics.csv", ".last.pt.99999999.ab12.tmp.pt"):
        (run / name).write_text("x")
    (run / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="holds notes.txt, which dkdpose did not write"):
        dio.remove_own_folder(run, ("config.yaml", "last.pt", "metrics.csv", "tb"))
    assert (run / "notes.txt").read_text() == "mine" and (run / "last.pt").exists()
    (run / "notes.txt").unlink()
    dio.remove_own_folder(run, ("config.yaml", "last.pt", "metrics.csv", "tb"))
    assert not run.exists()
