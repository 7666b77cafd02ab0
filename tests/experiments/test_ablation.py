"""The ablation runner (issue #7) end to end on the tiny synthetic preset, shrunk by overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from dkdpose.cli import main
from dkdpose.data.synthetic.generate import generate_dataset
from dkdpose.data.synthetic.presets import synth_options
from dkdpose.errors import InputError
from dkdpose.experiments.ablation import comparisons, lambda_summary, load_plan, run_ablation, select

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"data.input_size": 64, "model.channels": 32, "model.kernel_size": 3, "model.initializer": "resnet18"}
VARIANT_KEYS = {"person", "torso", "groups_torso", "gmacs_per_frame", "train_minutes"}


def _tiny_config(tmp: Path, data: Path) -> Path:
    """A two-variant ablation on the tiny preset: stage 1 shared, 1 step per epoch; dkd_r18 runs 2 epochs."""
    common = {"data.root": str(data), "data.val_videos": 0, "data.workers": 0, "train.epochs": 1,
              "train.steps_per_epoch": 1, "train.lr_milestones": [1], "train.log_every": 1,
              **SMALL}  # fmt: skip
    single = {"train.variant": "baseline", "data.clip_length": 1, "train.batch_size": 10}
    dkd = {"model.name": "dkd_r18", "train.batch_size": 2}
    cfg = {
        "common": common,
        "pretrain": {"r18": {"model.name": "baseline_r18", **single}},
        "variants": {
            "baseline_r18": {"init_initializer": "r18", "set": {"model.name": "baseline_r18", **single}},
            "dkd_r18": {"init_initializer": "r18", "init_encoder": "r18",
                        "set": {**dkd, "train.variant": "dkd", "train.epochs": 2}},
            "dkd_r18_no_tat": {"init_initializer": "r18", "init_encoder": "r18",
                               "set": {**dkd, "train.variant": "no_tat"}},
        },
    }  # fmt: skip
    path = tmp / "ablation_tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These tests train with 1 torch thread (fast on a busy 2-core CPU); the default is restored after."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> dict:
    """The runner once, on the tiny preset, for baseline_r18 and dkd_r18 (the tests below share it)."""
    tmp = tmp_path_factory.mktemp("ablation")
    data = tmp / "synthetic_tiny"
    generate_dataset(data, **synth_options("synthetic_tiny", {}))
    config, out, results = _tiny_config(tmp, data), tmp / "runs", tmp / "results"
    only = ["baseline_r18", "dkd_r18"]
    res = run_ablation(
        config, out, only=only, results_dir=results, command="dkdpose ablation (test)", threads=1
    )
    assert torch.get_num_threads() == 1
    return {"config": config, "out": out, "results": results, "res": res, "only": only}


def test_runner_writes_the_results_schema_and_table(ran):
    results, out = ran["results"], ran["out"]
    saved = json.loads((results / "synthetic_ablation.json").read_text())
    assert saved == json.loads(json.dumps(ran["res"]))
    assert set(saved) == {"command", "machine", "variants", "input_size", "heatmap_size",
                          "torso_threshold_cells", "learning_curves", "comparisons",
                          "comparisons_first_pose_given"}  # fmt: skip
    assert list(saved["variants"]) == ["baseline_r18", "dkd_r18"]  # no_tat was not run: not in the table
    pose_keys = {"torso_pose_zero", "torso_pose_scramble"}  # the h_t diagnostics, DKD proper only
    assert pose_keys <= set(saved["variants"]["dkd_r18"])
    assert not pose_keys & set(saved["variants"]["baseline_r18"])
    given = {"person_first_pose_given", "torso_first_pose_given"}  # the propagation protocol, every variant
    for r in saved["variants"].values():
        assert set(r) - pose_keys == VARIANT_KEYS | given
        assert 0 <= r["person"] <= 100 and 0 <= r["torso"] <= 100
        assert set(r["groups_torso"]) >= {"Head", "Ank", "Mean"}
        assert r["gmacs_per_frame"] > 0 and r["train_minutes"] > 0
    # the DKD per-frame cost includes Φ and matching on top of F: more than F's baseline, as in Table 1
    v = saved["variants"]
    assert v["dkd_r18"]["gmacs_per_frame"] > v["baseline_r18"]["gmacs_per_frame"]
    assert saved["heatmap_size"] == saved["input_size"] // 8 and saved["torso_threshold_cells"] > 0
    assert set(saved["comparisons"]) == {"dkd_r18 vs baseline_r18", "baseline_r18 vs dkd_r18"}
    assert set(saved["comparisons_first_pose_given"]) == set(saved["comparisons"])
    for c in (*saved["comparisons"].values(), *saved["comparisons_first_pose_given"].values()):
        for norm in ("torso", "person"):
            assert c[f"{norm}_ci95"][0] <= c[norm] <= c[f"{norm}_ci95"][1]
    for name in ran["only"]:  # frames 2.. of every test video scored, frame 1's annotated pose given
        own = json.loads((out / name / "eval/score.json").read_text())
        given_score = json.loads((out / name / "eval_first_pose/score.json").read_text())
        assert given_score["frames"] == own["frames"] - own["videos"]
        assert given_score["first_frame"] == "given, not scored"
    for curve in saved["learning_curves"].values():
        assert len(curve["steps"]) == len(curve["val_torso"])
    timing = json.loads((out / "dkd_r18/train/train_time.json").read_text())
    assert timing["epochs"] == 2 and timing["seconds"] > 0  # summed over the two one-epoch calls
    md = (results / "synthetic_ablation.md").read_text()
    assert "| dkd_r18 |" in md and "dkdpose ablation (test)" in md
    assert "torso, first pose given" in md and "## The same with the first frame's pose given" in md
    assert "| baseline_r18 | no discriminator |" in md  # λ rows only for variants with D
    lam = lambda_summary(out / "dkd_r18/train/metrics.csv")
    assert lam is not None and lam["logged_steps"] == 2 and 0 <= lam["min"] <= lam["max"] <= 1


def test_rerun_reuses_finished_runs(ran):
    out = ran["out"]
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("last.pt")}
    again = run_ablation(ran["config"], out, only=ran["only"], results_dir=ran["results"])
    assert {p: p.stat().st_mtime_ns for p in out.rglob("last.pt")} == stamps  # nothing retrained
    assert again["variants"] == ran["res"]["variants"]


def test_unknown_variant_or_key_is_refused(ran, tmp_path, capsys):
    config = ran["config"]
    base = ["ablation", "--config", str(config), "--out", str(tmp_path / "o"), "--results", str(tmp_path)]
    assert main([*base, "--only", "dkd_r99"]) == 2
    assert "unknown variant(s) dkd_r99" in capsys.readouterr().err
    assert main([*base, "--threads", "0"]) == 2
    assert "--threads must be >= 1" in capsys.readouterr().err
    bad = yaml.safe_load(config.read_text())
    bad["variants"]["dkd_r18"]["set"]["train.epochz"] = 3
    bad_path = tmp_path / "bad.yaml"
    bad_path.write_text(yaml.safe_dump(bad))
    assert main(["ablation", "--config", str(bad_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "variants.dkd_r18" in err and "train.epochz" in err
    bad["variants"]["dkd_r18"] = {"init_encoder": "r18", "sett": {}}
    bad_path.write_text(yaml.safe_dump(bad))
    assert main(["ablation", "--config", str(bad_path), "--out", str(tmp_path / "o")]) == 2
    assert "unknown key(s) sett" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before anything is trained


def test_a_variant_can_start_from_an_earlier_variant(ran, tmp_path, capsys):
    cfg = yaml.safe_load(ran["config"].read_text())
    spec = {"init_initializer": "baseline_r18", "init_encoder": "r18", "set": {"model.name": "dkd_r18",
            "train.batch_size": 2, "train.variant": "no_tat"}}  # fmt: skip
    cfg["variants"]["dkd_from_baseline"] = spec
    path = tmp_path / "chained.yaml"
    path.write_text(yaml.safe_dump(cfg))
    plan = load_plan(path, ran["out"])
    run = plan.variants["dkd_from_baseline"]
    assert run.cfg.model.init_initializer == str(ran["out"] / "baseline_r18/train/last.pt")
    assert run.cfg.model.init_encoder == str(ran["out"] / "pretrain_r18/last.pt")
    res = run_ablation(path, ran["out"], only=["dkd_from_baseline"], results_dir=tmp_path / "res", threads=1)
    assert "dkd_from_baseline" in res["variants"]
    # a variant may only start from one listed before it (which is trained first)
    cfg["variants"] = {"first": {**spec, "init_initializer": "dkd_r18"}, **cfg["variants"]}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert main(["ablation", "--config", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "neither a pretrain run nor a variant listed before it" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_jobs_train_side_by_side_and_give_what_one_at_a_time_gives(ran, tmp_path, capsys):
    """--jobs 2: stage 1 first, then the variants in parallel processes, each with its log; on the CPU with
    one thread each the trained baseline is the one the sequential runner trained."""
    out, only = tmp_path / "runs", ["baseline_r18", "dkd_r18_no_tat"]
    res = run_ablation(ran["config"], out, only=only, results_dir=tmp_path / "res", threads=1, jobs=2)
    assert list(res["variants"]) == ["baseline_r18", "dkd_r18_no_tat"]
    assert {p.name for p in (out / "logs").iterdir()} == {f"{k}.log" for k in ("pretrain_r18", *only)}
    assert "evaluating" in (out / "logs/dkd_r18_no_tat.log").read_text()
    assert (out / "dkd_r18_no_tat/eval_pose_zero/score.json").exists()  # the h_t diagnostics ran too
    sequential = json.loads((ran["out"] / "baseline_r18/eval/score.json").read_text())
    parallel = json.loads((out / "baseline_r18/eval/score.json").read_text())
    assert parallel["torso"]["mean"] == sequential["torso"]["mean"]
    base = ["ablation", "--config", str(ran["config"]), "--out", str(tmp_path / "o")]
    assert main([*base, "--jobs", "0"]) == 2
    assert "--jobs must be >= 1" in capsys.readouterr().err
    assert main([*base, "--jobs", "2", "--measure-cost", "3"]) == 2
    assert "leave out --jobs" in capsys.readouterr().err
    a_file = tmp_path / "results.txt"
    a_file.write_text("keep me")
    assert main([*base, "--jobs", "2", "--results", str(a_file)]) == 2
    assert "not a folder" in capsys.readouterr().err and a_file.read_text() == "keep me"
    assert not (tmp_path / "o").exists()


def test_shipped_config_puts_every_variant_on_the_same_footing(tmp_path):
    plan = load_plan(ROOT / "configs/ablation_synthetic_small.yaml", tmp_path)
    runs = select(plan, None)
    required = {"baseline_r18", "baseline_r50", "dkd_r18", "dkd_r18_no_tat", "dkd_r18_no_pkd"}
    assert required <= set(plan.variants)
    frames = {r.cfg.train.batch_size * r.cfg.data.clip_length for r in runs}
    schedule = {(r.cfg.data.input_size, r.cfg.train.epochs, r.cfg.train.steps_per_epoch)
                for r in runs if not r.name.endswith("_3x")}  # fmt: skip
    assert len(frames) == 1 and len(schedule) == 1
    longer = {(r.cfg.data.input_size, r.cfg.train.epochs, r.cfg.train.steps_per_epoch)
              for r in runs if r.name.endswith("_3x")}  # fmt: skip
    ((size, epochs, steps),) = schedule
    assert longer == {(size, 3 * epochs, steps)}
    dkd = [r for r in runs if r.cfg.train.variant != "baseline"]
    assert {(r.inits["init_initializer"], r.inits["init_encoder"]) for r in dkd} == {("r50", "r18")}
    assert plan.variants["baseline_r18"].inits == {"init_initializer": "r18"}
    with pytest.raises(InputError, match="unknown variant"):
        select(plan, ["dkd_r101"])


def test_retrained_stage1_invalidates_its_variants(ran):
    out, last = ran["out"], ran["out"] / "baseline_r18/train/last.pt"
    first = last.stat().st_mtime_ns
    (out / "pretrain_r18/last.pt").touch()  # as if stage 1 had been trained again
    run_ablation(ran["config"], out, only=["baseline_r18"], results_dir=ran["results"])
    assert last.stat().st_mtime_ns > first


def test_gpu_config_is_the_paper_scale_table_on_one_footing(tmp_path):
    plan = load_plan(ROOT / "configs/ablation_gpu.yaml", tmp_path)
    runs = select(plan, None)
    table = {"baseline_r18", "baseline_r50", "dkd_r18", "dkd_r18_no_tat", "dkd_r18_no_pkd", "dkd_r18_sat",
             "dkd_r18_lstm", "dkd_r18_pooled_first_static_prior"}  # fmt: skip
    assert set(plan.variants) == table
    assert {r.cfg.train.batch_size * r.cfg.data.clip_length for r in runs} == {40}
    assert {(r.cfg.train.epochs, r.cfg.train.steps_per_epoch) for r in runs} == {(16, 40)}
    for r in runs:
        c = r.cfg
        assert (c.data.input_size, c.model.channels, c.model.kernel_size) == (256, 256, 7)
        assert (c.train.device, c.train.amp, c.train.channels_last) == ("cuda", "bf16", True)
    dkd = [r for r in runs if r.cfg.train.variant != "baseline"]
    assert {(r.inits["init_initializer"], r.inits["init_encoder"]) for r in dkd} == {("r101", "r18")}


def test_gpu_config_trains_on_the_cpu_with_a_tiny_override(tmp_path):
    """The GPU table's runs, shrunk to 64 px, one step and the CPU: every key of the config is exercised."""
    data = tmp_path / "synthetic_tiny"
    generate_dataset(data, **synth_options("synthetic_tiny", {}))
    tiny = [f"{k}={json.dumps(v)}" for k, v in {
        "data.root": str(data), "data.input_size": 64, "data.val_videos": 0, "data.workers": 0,
        "model.channels": 16, "model.kernel_size": 3, "train.device": "cpu", "train.amp": "none",
        "train.batch_size": 2, "train.epochs": 1, "train.steps_per_epoch": 1, "train.lr_milestones": [1],
        "train.warmup_steps": 0}.items()]  # fmt: skip
    only = ["baseline_r18", "dkd_r18"]
    res = run_ablation(ROOT / "configs/ablation_gpu.yaml", tmp_path / "runs", only=only,
                       results_dir=tmp_path / "results", overrides=tiny, threads=1)  # fmt: skip
    assert list(res["variants"]) == ["baseline_r18", "dkd_r18"] and res["input_size"] == 64
    assert (tmp_path / "runs/pretrain_r101/last.pt").exists()  # P = ResNet-101 from its own stage-1 run


def test_comparisons_pair_each_variant_with_the_references_of_its_schedule():
    def score(hit):  # one video, 10 joints: `hit` of them within the threshold
        return {"per_video": {"v1": {"person": hit * 10.0, "torso": hit * 10.0, "joints_counted": 10}}}

    names = ["baseline_r18", "dkd_r18", "baseline_r18_3x", "dkd_r18_3x"]
    found = comparisons({n: score(i + 1) for i, n in enumerate(names)})
    assert set(found) == {"dkd_r18 vs baseline_r18", "baseline_r18 vs dkd_r18",
                          "dkd_r18_3x vs baseline_r18_3x", "baseline_r18_3x vs dkd_r18_3x"}  # fmt: skip
    assert found["dkd_r18_3x vs baseline_r18_3x"]["torso"] == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("config", "preset", "changed"),
    [("ablation_synthetic_glitch", "synthetic_glitch", {"glitch": 0.12}),
     ("ablation_synthetic_crowd", "synthetic_crowd", {"beside": 1.0}),
     ("ablation_synthetic_crowd_group", "synthetic_crowd_group", {"beside": 1.0, "group_box": 1.0})],
)  # fmt: skip
def test_benchmark_variants_keep_the_table_recipe(config: str, preset: str, changed: dict) -> None:
    """A table on another benchmark changes the benchmark and nothing else: its `common:` is the main table's
    with the data folder and the knob that makes the preset, and the preset is synthetic_distinct plus it."""
    import yaml

    from dkdpose.data.synthetic.presets import load_preset

    main_common = yaml.safe_load((ROOT / "configs/ablation_synthetic.yaml").read_text())["common"]
    other = yaml.safe_load((ROOT / f"configs/{config}.yaml").read_text())
    expected = {**main_common, "data.root": f"data/{preset}", **{f"synth.{k}": v for k, v in changed.items()}}
    assert other["common"] == expected
    assert load_preset(preset) == {**load_preset("synthetic_distinct"), **changed}
    main_pretrain = yaml.safe_load((ROOT / "configs/ablation_synthetic.yaml").read_text())["pretrain"]
    assert all(other["pretrain"][k] == main_pretrain[k] for k in other["pretrain"])
    plan = load_plan(ROOT / f"configs/{config}.yaml", Path("unused"))
    frames = {r.cfg.train.batch_size * r.cfg.data.clip_length for r in select(plan, None)
              if not r.name.startswith("pretrain")}  # fmt: skip
    assert frames == {20}
