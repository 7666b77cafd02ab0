"""The synthetic benchmark: determinism, labels that agree with pixels, both layouts through the readers, the
card measured from the labels, caching and the refusals. Tiny sizes: the file runs in seconds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from dkdpose.cli import main
from dkdpose.data import layouts
from dkdpose.data.jhmdb import read_sub_jhmdb
from dkdpose.data.readers import read_records
from dkdpose.data.synthetic import SynthParams, generate_dataset
from dkdpose.data.synthetic import generate as generate_module
from dkdpose.data.synthetic.card import boxes_overlap, compute_card
from dkdpose.data.synthetic.presets import load_preset
from dkdpose.data.synthetic.render import BESIDE_REACH, glitch_frames, render_video
from dkdpose.errors import InputError

TINY = dict(videos=4, frames=3, seed=7, size=(64, 48))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _mat_fields(path: Path) -> dict[str, np.ndarray]:
    return {k: v for k, v in scipy.io.loadmat(str(path)).items() if not k.startswith("__")}


def _assert_same_dataset(a: Path, b: Path) -> None:
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys()
    for name in fa:
        if name.endswith(".mat"):  # the .mat header carries a date: compare the contents
            ma, mb = _mat_fields(a / name), _mat_fields(b / name)
            assert ma.keys() == mb.keys(), name
            for k in ma:
                if ma[k].dtype.kind in "fc":
                    np.testing.assert_array_equal(ma[k], mb[k], err_msg=f"{name}:{k}")
                else:
                    assert (ma[k] == mb[k]).all(), f"{name}:{k}"
        else:
            assert fa[name] == fb[name], name


@pytest.mark.parametrize("fmt", ["penn_action", "sub_jhmdb"])
def test_same_arguments_give_identical_output_for_any_worker_count(tmp_path: Path, fmt: str) -> None:
    generate_dataset(tmp_path / "a", fmt, workers=1, **TINY)
    generate_dataset(tmp_path / "b", fmt, workers=1, **TINY)
    generate_dataset(tmp_path / "c", fmt, workers=2, **TINY)
    _assert_same_dataset(tmp_path / "a", tmp_path / "b")
    _assert_same_dataset(tmp_path / "a", tmp_path / "c")
    other = generate_dataset(tmp_path / "d", fmt, workers=1, **{**TINY, "seed": 8})
    assert _files(tmp_path / "a")["contact_sheet.png"] != _files(other.out)["contact_sheet.png"]


def _near_colour(
    frame: np.ndarray, x: int, y: int, colours: list[tuple[int, int, int]], tol: int = 12
) -> bool:
    """True when a pixel of the 3x3 neighbourhood of (x, y) has one of `colours` (edges are anti-aliased)."""
    patch = frame[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2].reshape(-1, 1, 3).astype(int)
    return bool((np.abs(patch - np.array(colours)[None]).max(axis=-1) <= tol).any())


def test_visible_joints_lie_on_the_drawn_person_and_hidden_ones_under_an_occluder() -> None:
    # no noise, flicker or blur: drawn colours are exact; occluders but no distractor: hidden joints exist
    params = SynthParams(
        videos=6, frames=6, width=96, height=96, noise=0, flicker=0, blur=0, distractor=0, occluder=1
    )
    checked_visible = checked_hidden = 0
    for index in range(params.videos):
        v = render_video(params, index)
        look = v.look
        person = [look.skin, look.hair, look.shirt, look.shirt_stripe, look.pants, look.shoes]
        occluder = [c for o in v.occluders for c in (o.colour, o.stripe)]
        for t, frame in enumerate(v.frames):
            for k, (x, y) in enumerate(np.round(v.joints[t]).astype(int)):
                if not (0 <= x < 96 and 0 <= y < 96):
                    assert v.visibility[t, k] == 0
                    continue
                assert v.person_masks[t, y, x] == 1  # every joint lies on the target's silhouette
                if v.visibility[t, k] == 1:
                    assert _near_colour(frame, x, y, person), (index, t, k)
                    checked_visible += 1
                else:
                    assert _near_colour(frame, x, y, occluder), (index, t, k)
                    checked_hidden += 1
    assert checked_visible > 200 and checked_hidden > 5


def test_box_is_the_tight_box_of_the_silhouette() -> None:
    v = render_video(SynthParams(videos=1, frames=4, width=80, height=64), 0)
    for t in range(4):
        ys, xs = np.nonzero(v.person_masks[t])
        np.testing.assert_array_equal(v.boxes[t], [xs.min(), ys.min(), xs.max(), ys.max()])


def test_readers_load_the_penn_action_layout(tmp_path: Path) -> None:
    result = generate_dataset(tmp_path / "penn", "penn_action", videos=8, frames=5, size=(80, 64))
    records = read_records("penn_action", result.out)
    assert [r.video_id for r in records] == [f"{i:04d}" for i in range(1, 9)]
    assert {r.split for r in records} == {"train", "test"}
    for r in records:
        assert r.joints.shape == (5, 13, 2) and r.visibility.shape == (5, 13) and r.boxes.shape == (5, 4)
        assert len(r.frames) == 5 and r.frames[0].suffix == ".jpg"
        assert set(np.unique(r.visibility)) <= {0.0, 1.0}
        vis = r.visibility > 0  # visible joints are inside the frame and inside the person's box (+1 px AA)
        inside = (r.joints[..., 0] >= r.boxes[:, None, 0] - 1) & (r.joints[..., 0] <= r.boxes[:, None, 2] + 1)
        inside &= (r.joints[..., 1] >= r.boxes[:, None, 1] - 1) & (
            r.joints[..., 1] <= r.boxes[:, None, 3] + 1
        )
        assert inside[vis].all()
    labels = _mat_fields(result.out / "labels" / "0001.mat")
    np.testing.assert_array_equal(labels["dimensions"], [[64, 80, 5]])


def test_readers_load_the_sub_jhmdb_layout_with_three_splits(tmp_path: Path) -> None:
    result = generate_dataset(tmp_path / "jhmdb", "sub_jhmdb", videos=9, frames=4, size=(64, 64))
    all_ids = None
    tests = set()
    for split in (1, 2, 3):
        records = read_sub_jhmdb(result.out, split=split)
        ids = {r.video_id for r in records}
        all_ids = all_ids or ids
        assert ids == all_ids and len(ids) == 9
        tests |= {r.video_id for r in records if r.split == "test"}
        for r in records:
            assert r.joints.shape == (4, 15, 2) and r.boxes.shape == (4, 4)
            assert (r.visibility == 1).all() and r.frames[0].suffix == ".png"
    assert tests == all_ids  # every video is a test video of exactly one split (3 folds)
    r = read_sub_jhmdb(result.out, split=1)[0]
    mask = _mat_fields(result.out / "puppet_mask" / r.video_id / "puppet_mask.mat")["part_mask"]
    assert mask.shape == (64, 64, 4)
    px = np.round(r.joints).astype(int)
    for t in range(4):  # the puppet mask covers every joint (Sub-JHMDB labels all joints, occluded or not)
        inside = (px[t, :, 0] >= 0) & (px[t, :, 0] < 64) & (px[t, :, 1] >= 0) & (px[t, :, 1] < 64)
        assert mask[px[t, inside, 1], px[t, inside, 0], t].all()


def test_label_files_carry_the_distractors_joints_where_its_box_is(tmp_path: Path) -> None:
    result = generate_dataset(tmp_path / "set", "penn_action", videos=8, frames=6, size=(96, 96), seed=2,
                              distractor=1.0, blur=0)  # fmt: skip
    seen = 0
    for r in read_records("penn_action", result.out):
        mat = _mat_fields(result.out / "labels" / f"{r.video_id}.mat")
        box, x, y = mat["distractor_bbox"] - 1.0, mat["distractor_x"] - 1.0, mat["distractor_y"] - 1.0
        assert x.shape == y.shape == (6, 13)  # Penn Action's joints, 1-based on disk
        absent = np.isnan(box).any(axis=1)
        assert np.isnan(x[absent]).all() and np.isfinite(x[~absent]).all()
        for t in np.flatnonzero(~absent):  # its joints in the frame lie in (or at) its drawn box
            inside = (x[t] >= 0) & (x[t] <= 95) & (y[t] >= 0) & (y[t] <= 95)
            xs, ys = x[t, inside], y[t, inside]
            assert (xs >= box[t, 0] - 3).all() and (xs <= box[t, 2] + 3).all()
            assert (ys >= box[t, 1] - 3).all() and (ys <= box[t, 3] + 3).all()
            seen += int(inside.sum())
        assert not np.allclose(x[~absent], r.joints[~absent, :, 0])  # another person than the target
    assert seen > 0


def test_card_figures_are_measured_from_the_labels(tmp_path: Path) -> None:
    result = generate_dataset(tmp_path / "set", "penn_action", videos=24, frames=6, size=(96, 96), seed=1)
    card = json.loads((result.out / "card.json").read_text())
    assert card == json.loads(json.dumps(result.card))
    assert card == {**compute_card(result.out, "penn_action"), "parameters": card["parameters"]}
    records = read_records("penn_action", result.out)
    test = [r for r in records if r.split == "test"]
    overlaps = frames = 0
    for r in test:  # independent recount from the label files
        d = _mat_fields(result.out / "labels" / f"{r.video_id}.mat")["distractor_bbox"] - 1.0
        overlaps += int(boxes_overlap(r.boxes, d).sum())
        frames += r.num_frames
    assert card["test_frames_distractor_overlaps_target"] == round(overlaps / frames, 4)
    invisible = np.mean(np.concatenate([r.visibility.ravel() for r in records]) == 0)
    assert card["invisible_joint_share"] == round(float(invisible), 4)
    assert card["videos"] == 24 and card["frames"] == 144 and sum(card["actions"].values()) == 24
    # the defaults make temporal cues matter: distractors overlap the target, joints get hidden
    assert card["test_frames_distractor_overlaps_target"] >= 0.25
    assert 0.05 <= card["invisible_joint_share"] <= 0.20
    assert (result.out / "contact_sheet.png").stat().st_size > 0


def test_same_arguments_reuse_the_output_and_other_arguments_replace_it(tmp_path: Path) -> None:
    out = tmp_path / "set"
    first = generate_dataset(out, "penn_action", **TINY)
    stamp = (out / "card.json").stat().st_mtime_ns
    again = generate_dataset(out, "penn_action", **TINY)
    assert again.reused and not first.reused and again.card == first.card
    assert (out / "card.json").stat().st_mtime_ns == stamp
    changed = generate_dataset(out, "penn_action", **{**TINY, "frames": 2})
    assert not changed.reused and changed.card["frames"] == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]  # no temporary folders left


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(videos=0), "--videos must be a positive integer"),
        (dict(frames=-3), "--frames must be a positive integer"),
        (dict(format="coco"), "unknown format 'coco'"),
        (dict(size=(0, 64)), "--size must be at least 32x32"),
        (dict(workers=0), "--workers must be a positive integer"),
        (dict(distractor=1.5), "--distractor is a probability"),
        (dict(lookalike=-0.1), "--lookalike is a probability"),
        (dict(glitch=1.2), "--glitch is a probability"),
        (dict(beside=-0.5), "--beside is a probability"),
        (dict(group_box=2.0), "--group-box is a probability"),
    ],
)
def test_bad_parameters_are_refused(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        generate_dataset(tmp_path / "out", **{**TINY, **kwargs})
    assert not any(tmp_path.iterdir())


def test_foreign_folders_and_unwritable_places_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="not a dkdpose synth output"):
        generate_dataset(foreign, **TINY)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()  # an empty folder holds nothing to lose: it is filled
    assert generate_dataset(empty, **TINY).card["videos"] == 4
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="not a folder"):
        generate_dataset(tmp_path / "file", **TINY)
    with pytest.raises(InputError, match="cannot create the output folder"):
        generate_dataset(tmp_path / "file" / "sub", **TINY)


def test_a_failure_half_way_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = layouts.write_penn_action_video

    def failing(root: Path, video_id: str, *args: object, **kwargs: object) -> None:
        if video_id == "0003":
            raise OSError(28, "No space left on device")
        real(root, video_id, *args, **kwargs)

    monkeypatch.setattr(generate_module, "write_penn_action_video", failing)
    with pytest.raises(InputError, match="No space left on device"):
        generate_dataset(tmp_path / "out", **TINY)
    assert not any(tmp_path.iterdir())


def test_cli_synth_prints_the_card_and_refuses_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = str(tmp_path / "set")
    assert main(["synth", "--out", out, "--videos", "2", "--frames", "2", "--size", "48x48"]) == 0
    printed = capsys.readouterr().out
    assert '"videos": 2' in printed and "frames/s" in printed
    assert main(["synth", "--out", out, "--videos", "2", "--frames", "2", "--size", "48x48"]) == 0
    assert "reused" in capsys.readouterr().out
    assert main(["synth", "--out", out, "--videos", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["dkdpose synth: error: --videos must be a positive integer, got -1"]
    assert main(["synth", "--out", out, "--size", "big"]) == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err
    fresh = tmp_path / "fresh"
    for option, value in (("--beside", "-1"), ("--group-box", "2")):
        assert main(["synth", "--out", str(fresh), option, value]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"dkdpose synth: error: {option} is a probability in [0, 1], got {float(value)}"]
        assert not fresh.exists()  # nothing written


def test_glitch_degrades_brief_bursts_and_changes_nothing_else() -> None:
    clean = SynthParams(videos=4, frames=24, width=96, height=96).validate()
    glitched = SynthParams(videos=4, frames=24, width=96, height=96, glitch=0.3).validate()
    assert "glitch" not in clean.as_dict()  # outputs made before the knob keep their identity
    assert glitched.as_dict()["glitch"] == 0.3
    a, b = render_video(clean, 1), render_video(glitched, 1)
    np.testing.assert_array_equal(a.joints, b.joints)  # same draws: same motion, labels and visibility
    np.testing.assert_array_equal(a.visibility, b.visibility)
    changed = np.array([not np.array_equal(fa, fb) for fa, fb in zip(a.frames, b.frames, strict=True)])
    assert 0 < changed.sum() < len(changed)
    bursts = glitch_frames(np.random.default_rng([clean.seed, 1, 7]), 24, 0.3)
    np.testing.assert_array_equal(changed, bursts)
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, bursts.astype(int), 0])))[::2]
    assert runs.max() <= 3  # bursts of 1-3 frames ...
    long = glitch_frames(np.random.default_rng(0), 10_000, 0.12)
    assert 0.15 < long.mean() < 0.23  # ... about 19% of the frames at the preset's 0.12
    for t in np.flatnonzero(bursts):  # strongly degraded, not a touch-up
        assert np.abs(b.frames[t].astype(float) - a.frames[t]).mean() > 5


def test_beside_keeps_the_distractor_next_to_the_target_and_changes_nothing_else() -> None:
    base = dict(videos=8, frames=20, width=96, height=96, distractor=1.0, lookalike=0.0)
    apart = SynthParams(**base).validate()
    beside = SynthParams(**base, beside=1.0).validate()
    assert "beside" not in apart.as_dict() and beside.as_dict()["beside"] == 1.0
    crossed = []
    for index in range(4):
        a, b = render_video(apart, index), render_video(beside, index)
        np.testing.assert_array_equal(a.joints, b.joints)  # same draws: the target is the same person
        np.testing.assert_array_equal(a.boxes, b.boxes)  # its box is of its whole silhouette
        assert not np.array_equal(a.distractor_joints, b.distractor_joints, equal_nan=True)
        # beside: in every frame, on one side of the target, its hips within reach (image px; the camera's
        # zoom and the yaw move them a little around the ground offset, hence the margin)
        gap = b.distractor_joints[:, 2:4, 0].mean(axis=1) - b.joints[:, 2:4, 0].mean(axis=1)
        height = b.boxes[:, 3] - b.boxes[:, 1]
        assert not np.isnan(gap).any(), index
        assert np.abs(gap / height).max() < BESIDE_REACH + 0.1, index
        assert (gap > 0).all() or (gap < 0).all(), index  # it stays on its side: never crosses
        apart_gap = a.distractor_joints[:, 2:4, 0].mean(axis=1) - a.joints[:, 2:4, 0].mean(axis=1)
        crossed.append(bool((apart_gap > 0).any() and (apart_gap < 0).any()))
    assert any(crossed)  # without the knob the same distractors cross the target
    none = SynthParams(**{**base, "distractor": 0.0}, beside=1.0).validate()
    c, d = render_video(SynthParams(**{**base, "distractor": 0.0}).validate(), 0), render_video(none, 0)
    for fc, fd in zip(c.frames, d.frames, strict=True):  # without a distractor there is nothing to move
        np.testing.assert_array_equal(fc, fd)


def test_group_box_holds_both_people_and_changes_nothing_else() -> None:
    base = dict(videos=4, frames=12, width=96, height=96, distractor=1.0, beside=1.0)
    a = render_video(SynthParams(**base).validate(), 2)
    b = render_video(SynthParams(**base, group_box=1.0).validate(), 2)
    np.testing.assert_array_equal(a.joints, b.joints)
    np.testing.assert_array_equal(a.visibility, b.visibility)
    for fa, fb in zip(a.frames, b.frames, strict=True):
        np.testing.assert_array_equal(fa, fb)
    present = np.isfinite(a.distractor_boxes).all(axis=1)
    assert present.any()
    np.testing.assert_array_equal(b.boxes[~present], a.boxes[~present])
    for box, own, other in zip(b.boxes[present], a.boxes[present], a.distractor_boxes[present], strict=True):
        np.testing.assert_array_equal(box[:2], np.minimum(own[:2], other[:2]))
        np.testing.assert_array_equal(box[2:], np.maximum(own[2:], other[2:]))


def test_presets_are_flat_and_the_tiny_one_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = load_preset("synthetic_small")
    assert small["format"] == "penn_action" and small["videos"] * small["test_fraction"] == 50
    assert small["frames"] == 40
    monkeypatch.chdir(tmp_path)
    from dkdpose.experiments.demo import DemoPlan, generate_demo_data

    plan = DemoPlan(Path("runs/demo"), preset="synthetic_tiny")
    result = generate_demo_data(plan)
    assert result.out == Path("data/synthetic_tiny")
    assert result.card["videos"] == load_preset("synthetic_tiny")["videos"]
    assert (tmp_path / "data/synthetic_tiny/contact_sheet.png").is_file()
    assert generate_demo_data(plan).reused
