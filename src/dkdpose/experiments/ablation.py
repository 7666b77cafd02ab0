"""The ablation table of the paper's Tables 1-2 on one benchmark, as one cached, resumable command (issue #7).

`dkdpose ablation --config configs/ablation_synthetic_small.yaml --out runs/ablation` trains every variant
of the config, evaluates it on the test split (`dkdpose eval`, single scale, no flip), counts its GMACs per
frame at the input size and writes `synthetic_ablation.json` / `.md` into the results folder.

The config format (flat; the only composition is "common overrides, then the run's own overrides"):

    common:            {section.key: value, ...}   applied to every run (pre-training and variants)
    pretrain:          {run name: {section.key: value, ...}}   single-frame stage-1 runs, trained once, shared
    variants:
      <variant name>:
        init_initializer: <run>   optional: P (or the whole baseline) starts from that run's last.pt
        init_encoder: <run>       optional: F (and the no_pkd classifier) starts from that run's last.pt
      (<run>: a pretrain run, or a variant listed earlier in the file, which is then trained first)
        set: {section.key: value, ...}

`section.key` are the keys of `dkdpose.config` (as for `dkdpose train --set`); caller overrides (`--set`)
are applied last, to every run. Unknown top-level keys, variant keys, variant names and config keys are
InputErrors.

Run folders: `OUT/pretrain_<name>/` and `OUT/<variant>/train/`, `OUT/<variant>/eval/`. Training writes
`last.pt` and `train_time.json` (the measured wall time summed across resumes) after every epoch
(`runs.train_cached`; resuming from `last.pt` restores the optimizer, λ and RNG state), so a killed
process loses at most one epoch; rerunning the same command reuses finished runs and continues cut-off ones. A
run whose config or whose stage-1 checkpoint changed is trained again.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import logging
import os
import re
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from dkdpose.config import RunConfig, from_dict
from dkdpose.config_files import find_config
from dkdpose.data.readers import read_records
from dkdpose.data.transforms import PADDING
from dkdpose.devices import describe_machine, set_threads, usable_cores
from dkdpose.efficiency.flops import model_flops
from dkdpose.errors import InputError
from dkdpose.evaluation.compare import comparison
from dkdpose.evaluation.evaluate import EvalOptions
from dkdpose.evaluation.plots import plot_learning_curves
from dkdpose.evaluation.report import GROUP_COLUMNS, fmt_value
from dkdpose.experiments.jobs import Job, run_jobs
from dkdpose.experiments.runs import evaluate_cached, read_timing, train_cached
from dkdpose.io import make_folder, write_json, write_text
from dkdpose.skeleton import get_joint_set
from dkdpose.training.loaders import prepare_data
from dkdpose.training.log import read_validation
from dkdpose.training.loop import train

log = logging.getLogger(__name__)

TOP_KEYS = ("common", "pretrain", "variants")
VARIANT_KEYS = ("init_initializer", "init_encoder", "set")
GROUPS = GROUP_COLUMNS
POSE_DIAGNOSTICS = ("zero", "scramble")  # what Φ reads as h_t in the diagnostic evaluations of DKD
# Every variant is also evaluated under the propagation protocol (the first frame's annotated pose given,
# frames 2.. scored: `dkdpose eval --first-pose ground_truth`) into this folder beside eval/
GIVEN_FIRST_POSE_EVAL = "eval_first_pose"


@dataclass
class Run:
    """One training run of the table: its name, folder, config and the pre-training runs it starts from."""

    name: str
    folder: Path
    cfg: RunConfig
    inits: dict[str, str] = field(default_factory=dict)  # config key (init_encoder ...) -> run name


@dataclass
class AblationPlan:
    """The parsed config: shared pre-training runs and the variants, in file order."""

    source: Path
    pretrain: dict[str, Run]
    variants: dict[str, Run]


# --- config -------------------------------------------------------------------------------------------------


def _nested(flat: dict, where: str) -> dict[str, dict]:
    """{"data.input_size": 128} -> {"data": {"input_size": 128}}; keys without a dot are refused."""
    if not isinstance(flat, dict):
        raise InputError(f"{where}: expected a mapping of section.key: value")
    out: dict[str, dict] = {}
    for name, value in flat.items():
        section, dot, key = str(name).partition(".")
        if not dot or not key:
            raise InputError(f"{where}: key {name!r} is not of the form section.key")
        out.setdefault(section, {})[key] = value
    return out


def _overrides_dict(items: list[str]) -> dict:
    """`--set section.key=value` strings -> {section.key: value} (values parsed as YAML)."""
    flat = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep:
            raise InputError(f"--set {item!r}: expected section.key=value")
        flat[name] = yaml.safe_load(raw)
    return flat


def _run_config(layers: list[dict], where: str) -> RunConfig:
    """Merge flat override layers (later wins) into one validated RunConfig."""
    merged: dict[str, dict] = {}
    for layer in layers:
        for section, values in _nested(layer, where).items():
            merged.setdefault(section, {}).update(values)
    return from_dict(merged, where)


def _read_yaml(path: Path) -> dict:
    try:
        d = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: ablation config not found") from None
    except yaml.YAMLError as e:
        raise InputError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(d, dict):
        raise InputError(f"{path}: expected a mapping with {', '.join(TOP_KEYS)}")
    unknown = set(d) - set(TOP_KEYS)
    if unknown:
        raise InputError(f"{path}: unknown key(s) {', '.join(sorted(unknown))} (keys: {', '.join(TOP_KEYS)})")
    if not d.get("variants"):
        raise InputError(f"{path}: no variants")
    return d


def _init_path(out: Path, run: str, d: dict, earlier: list[str], where: str, key: str) -> str:
    """The last.pt a variant starts from: of a pretrain run, or of a variant listed before it."""
    if run in (d.get("pretrain") or {}):
        return str(out / f"pretrain_{run}" / "last.pt")
    if run in earlier:
        return str(out / run / "train" / "last.pt")
    raise InputError(
        f"{where}: {key} names {run!r}, which is neither a pretrain run nor a variant listed before it"
    )


def _variant_run(
    path: Path, name: str, spec: dict, d: dict, extra: dict, out: Path, earlier: list[str]
) -> Run:
    where = f"{path}: variants.{name}"
    if not isinstance(spec, dict):
        raise InputError(f"{where}: expected a mapping with {', '.join(VARIANT_KEYS)}")
    unknown = set(spec) - set(VARIANT_KEYS)
    if unknown:
        raise InputError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))} (keys: {', '.join(VARIANT_KEYS)})"
        )
    inits = {k: spec[k] for k in ("init_initializer", "init_encoder") if spec.get(k)}
    init_paths = {f"model.{k}": _init_path(out, r, d, earlier, where, k) for k, r in inits.items()}
    cfg = _run_config([d.get("common") or {}, spec.get("set") or {}, init_paths, extra], where)
    return Run(name, out / name / "train", cfg, inits)


def load_plan(
    config_path: str | Path, out_dir: str | Path, overrides: list[str] | None = None
) -> AblationPlan:
    """Parse and validate the ablation config (every run's RunConfig is built, so a bad key fails here)."""
    path, out = find_config(config_path, "ablation config"), Path(out_dir)
    d = _read_yaml(path)
    extra = _overrides_dict(overrides or [])
    pretrain = {}
    for name, flat in (d.get("pretrain") or {}).items():
        cfg = _run_config([d.get("common") or {}, flat or {}, extra], f"{path}: pretrain.{name}")
        if cfg.train.variant != "baseline" or cfg.data.clip_length != 1:
            raise InputError(
                f"{path}: pretrain.{name} must be single-frame (variant baseline, clip_length 1)"
            )
        pretrain[name] = Run(name, out / f"pretrain_{name}", cfg)
    if not isinstance(d["variants"], dict):
        raise InputError(f"{path}: variants must be a mapping of name -> spec")
    variants: dict[str, Run] = {}
    for n, s in d["variants"].items():
        variants[n] = _variant_run(path, n, s, d, extra, out, list(variants))
    return AblationPlan(path, pretrain, variants)


def select(plan: AblationPlan, only: list[str] | None) -> list[Run]:
    """The variants to train (all, or `only`); an unknown name is an InputError listing the known ones."""
    if not only:
        return list(plan.variants.values())
    unknown = [n for n in only if n not in plan.variants]
    if unknown:
        raise InputError(
            f"{plan.source}: unknown variant(s) {', '.join(unknown)} (variants: {', '.join(plan.variants)})"
        )
    return [plan.variants[n] for n in only]


# --- cached, timed training ---------------------------------------------------------------------------------


def train_run(run: Run) -> Path:
    """Train `run` into its folder (cached and resumable, `runs.train_cached`); returns its last.pt."""
    return train_cached(run.cfg, run.folder, run.name)[0]


def plan_runs(plan: AblationPlan, chosen: list[Run]) -> list[Run]:
    """Every run that `chosen` needs, in training order: the stage-1 runs they start from, then the
    variants, each after the earlier variants it starts from (those are trained, and evaluated only when
    chosen)."""
    variants: list[Run] = []

    def add(run: Run) -> None:
        for dep in run.inits.values():
            if dep not in plan.pretrain:
                add(plan.variants[dep])
        if all(run is not v for v in variants):
            variants.append(run)

    for run in chosen:
        add(run)
    needed = {d for v in variants for d in v.inits.values() if d in plan.pretrain}
    return [r for n, r in plan.pretrain.items() if n in needed] + variants


def job_key(plan: AblationPlan, run: Run) -> str:
    """The job (and log) name of a run: pretrain_<name> for stage-1 runs, the variant's name otherwise."""
    return f"pretrain_{run.name}" if plan.pretrain.get(run.name) is run else run.name


def job_graph(plan: AblationPlan, chosen: list[Run]) -> list[Job]:
    """One job per run `chosen` needs, waiting for the jobs of the runs it starts from."""
    jobs = []
    for run in plan_runs(plan, chosen):
        deps = (plan.pretrain[d] if d in plan.pretrain else plan.variants[d] for d in run.inits.values())
        jobs.append(Job(job_key(plan, run), frozenset(job_key(plan, d) for d in deps)))
    return jobs


def _run_job(
    config_path: str, out_dir: str, overrides: list[str], threads: int | None, evaluated: list[str], key: str
) -> None:
    """One job of `run_ablation(jobs > 1)`, in its own process: train the run named `key` (cached) and, for
    a chosen variant, evaluate it."""
    set_threads(threads)
    plan = load_plan(config_path, out_dir, overrides)
    run = next(r for r in (*plan.pretrain.values(), *plan.variants.values()) if job_key(plan, r) == key)
    weights = train_run(run)
    if key in evaluated:
        evaluate_variant(run, weights)


def evaluate_run(
    run: Run, weights: Path, out_dir: Path, pose_input: str = "predicted", first_pose: str = "predicted"
) -> dict:
    """score.json of `weights` on the test split (single scale, no flip, on the run's training device);
    reused when newer than them."""
    d = run.cfg.data
    split = d.split if d.dataset == "sub_jhmdb" else None
    options = EvalOptions(device=run.cfg.train.device, pose_input=pose_input, first_pose=first_pose)
    return evaluate_cached(weights, d.dataset, d.root, out_dir, split, options)[0]["score"]


def gmacs_per_frame(cfg: RunConfig) -> float:
    """Multiply-accumulates per frame after the first (`flops.model_flops`) at the run's input size."""
    kw = {k: v for k, v in cfg.model_kwargs().items() if k not in ("input_size", "pretrained")}
    k = get_joint_set(cfg.data.dataset).num_joints
    return model_flops(cfg.model_name(), cfg.data.input_size, num_joints=k, **kw)["gmacs_per_frame"]


# --- the table ----------------------------------------------------------------------------------------------


def lambda_summary(metrics_csv: Path) -> dict | None:
    """λ over training from metrics.csv: first/last/min/max/mean and the share of logged steps at 0 and 1."""
    if not metrics_csv.exists():
        return None
    with metrics_csv.open(newline="") as f:
        # λ is only meaningful with a discriminator (rows with loss_d); other variants log a constant 0
        lam = [float(r["lambda"]) for r in csv.DictReader(f) if r.get("loss_d") not in (None, "")]
    if not lam:
        return None
    return {
        "first": lam[0], "last": lam[-1], "min": min(lam), "max": max(lam), "mean": statistics.fmean(lam),
        "at_0": sum(v <= 0.0 for v in lam) / len(lam), "at_1": sum(v >= 1.0 for v in lam) / len(lam),
        "logged_steps": len(lam),
    }  # fmt: skip


def variant_result(run: Run, score: dict) -> dict:
    """One entry of synthetic_ablation.json's `variants` (+ torso PCK with h_t zeroed / scrambled for DKD)."""
    result = {
        "person": score["person"]["mean"],
        "torso": score["torso"]["mean"],
        "groups_torso": score["torso"]["groups"],
        "gmacs_per_frame": gmacs_per_frame(run.cfg),
        "train_minutes": round(read_timing(run.folder).get("seconds", 0.0) / 60, 2),
    }
    for mode in POSE_DIAGNOSTICS:
        path = run.folder.parent / f"eval_pose_{mode}" / "score.json"
        if path.exists():
            result[f"torso_pose_{mode}"] = json.loads(path.read_text())["torso"]["mean"]
    given = given_first_pose_score(run)
    if given is not None:
        result["person_first_pose_given"] = given["person"]["mean"]
        result["torso_first_pose_given"] = given["torso"]["mean"]
    return result


def given_first_pose_score(run: Run) -> dict | None:
    """The variant's score.json under the propagation protocol, or None before it is evaluated."""
    path = run.folder.parent / GIVEN_FIRST_POSE_EVAL / "score.json"
    return json.loads(path.read_text()) if path.exists() else None


def uses_pose_input(cfg: RunConfig) -> bool:
    """True for the variants whose model is DKD proper (Φ reads h_t): dkd, no_tat, sat."""
    return cfg.train.variant in ("dkd", "no_tat", "sat")


def evaluate_pose_diagnostics(run: Run, weights: Path) -> None:
    """DKD evaluated with h_t zeroed and scrambled inside Φ (`eval_pose_zero/`, `eval_pose_scramble/`)."""
    for mode in POSE_DIAGNOSTICS:
        evaluate_run(run, weights, run.folder.parent / f"eval_pose_{mode}", mode)


def evaluate_variant(run: Run, weights: Path) -> None:
    """The variant's test evaluation (`eval/`), the same with the first frame's pose given
    (`eval_first_pose/`), and for DKD proper the h_t diagnostics."""
    evaluate_run(run, weights, run.folder.parent / "eval")
    evaluate_run(run, weights, run.folder.parent / GIVEN_FIRST_POSE_EVAL, first_pose="ground_truth")
    if uses_pose_input(run.cfg):
        evaluate_pose_diagnostics(run, weights)


def learning_curve(run: Run) -> dict:
    """{"steps": [...], "val_torso": [...]} from the run's validation.csv (empty lists without one)."""
    rows = read_validation(run.folder / "validation.csv")
    return {"steps": [r["step"] for r in rows], "val_torso": [r["val_torso"] for r in rows]}


def torso_threshold_cells(cfg: RunConfig) -> float:
    """Median over test frames of the torso PCK@0.2 threshold measured in heatmap cells (stride 8).

    The eval crop maps the person box's longer side times `PADDING` onto the input, so a threshold of
    0.2 x torso px becomes 0.2 x torso x input / (PADDING x box side) / 8 cells.
    """
    d = cfg.data
    a, b = get_joint_set(d.dataset).torso
    cells = []
    for r in read_records(d.dataset, d.root, subset="test", split=d.split):
        torso = np.linalg.norm(r.joints[:, a] - r.joints[:, b], axis=-1)  # (T,)
        side = np.maximum(r.boxes[:, 2] - r.boxes[:, 0], r.boxes[:, 3] - r.boxes[:, 1])
        ok = torso >= 1.0
        cells.append(0.2 * torso[ok] * d.input_size / (PADDING * side[ok]) / 8)
    return float(np.median(np.concatenate(cells)))


def schedule_suffix(name: str) -> str:
    """"_3x" for a variant trained on another schedule (`dkd_r18_3x`), else ""."""
    match = re.search(r"_\d+x$", name)
    return match.group(0) if match else ""


def comparisons(scores: dict[str, dict], references: tuple[str, ...] = ("baseline_r18", "dkd_r18")) -> dict:
    """{"<B> vs <A>": paired-bootstrap differences} for every variant B against each reference A present.

    A variant of another schedule (`_3x`) is compared with the references of its own schedule.
    """
    out = {}
    for name, score in scores.items():
        for ref in (r + schedule_suffix(name) for r in references):
            if ref in scores and ref != name:
                out[f"{name} vs {ref}"] = comparison(scores[ref], score)
    return out


def results_markdown(results: dict, plan: AblationPlan, lambdas: dict, pretrain_minutes: dict) -> str:
    """synthetic_ablation.md: the table, torso groups, λ behaviour, the command and the machine."""
    lines = [
        "# Ablation on the synthetic benchmark (paper Tables 1-2)", "",
        f"Command: `{results['command']}`  ", f"Config: `{plan.source}`  ",
        f"Machine: {results['machine']}", "",
        "PCK@0.2 on the test split (protocol of `docs/protocol.md`, single scale, no flip), GMACs per",
        "frame after the first at the training input size, training wall time of the variant's own run",
        "(stage 1 not included). h_t zeroed / scrambled: torso PCK of the same DKD model when Φ reads zeros",
        "or another joint's map instead of the pose it predicted (`dkdpose eval --pose-input`); the drop",
        "shows how much DKD uses the pose it carries from frame to frame. First pose given: torso PCK on",
        "frames 2.. when each test video's annotated first-frame pose starts the stream (the propagation",
        "protocol, `dkdpose eval --first-pose ground_truth`; models without a pose input ignore it).",
        "", f"Input {results.get('input_size')} px, heatmaps {results.get('heatmap_size')} x "
        f"{results.get('heatmap_size')}; median torso threshold "
        f"{fmt_value(results.get('torso_threshold_cells'), 2)} heatmap cell.", "",
        "| variant | person | torso | torso, h_t zeroed | torso, h_t scrambled | torso, first pose given "
        "| GMACs/frame | train min |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for name, r in results["variants"].items():
        cells = [fmt_value(r["person"]), fmt_value(r["torso"]), fmt_value(r.get("torso_pose_zero")),
                 fmt_value(r.get("torso_pose_scramble")), fmt_value(r.get("torso_first_pose_given")),
                 fmt_value(r["gmacs_per_frame"], 3), fmt_value(r["train_minutes"])]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Paired differences (bootstrap over test videos, 95% interval)", "",
              *_comparison_rows(results.get("comparisons", {}))]  # fmt: skip
    if results.get("comparisons_first_pose_given"):
        lines += ["", "## The same with the first frame's pose given (frames 2.. scored)", "",
                  *_comparison_rows(results["comparisons_first_pose_given"])]  # fmt: skip
    lines += ["", "## Torso PCK@0.2 per joint group", "", "| variant | " + " | ".join(GROUPS) + " |",
              "|---|" + "---:|" * len(GROUPS)]  # fmt: skip
    for name, r in results["variants"].items():
        lines.append(f"| {name} | " + " | ".join(fmt_value(r["groups_torso"].get(g)) for g in GROUPS) + " |")
    lines += [
        "",
        "## λ during training (metrics.csv, logged steps)",
        "",
        "| variant | first | last | min | max | mean | share at 0 | share at 1 |",
        "|---|" + "---:|" * 7,
    ]
    for name, s in lambdas.items():
        if s is None:
            lines.append(f"| {name} | no discriminator | | | | | | |")
            continue
        cells = [fmt_value(s[k], 3) for k in ("first", "last", "min", "max", "mean")]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {s['at_0']:.0%} | {s['at_1']:.0%} |")
    lines += ["", "Shared single-frame pre-training (stage 1): "
              + ", ".join(f"`{n}` {m:.1f} min" for n, m in pretrain_minutes.items()), ""]  # fmt: skip
    return "\n".join(lines)


def _comparison_rows(comps: dict) -> list[str]:
    """The Markdown table of paired differences: B - A, torso and person, with 95% intervals."""
    lines = ["| comparison | torso | 95% interval | person | 95% interval |", "|---|---:|---|---:|---|"]
    for key, c in comps.items():
        lines.append(f"| {key} | {c['torso']:+.1f} | {c['torso_ci95'][0]:+.1f} .. {c['torso_ci95'][1]:+.1f} "
                     f"| {c['person']:+.1f} | {c['person_ci95'][0]:+.1f} .. {c['person_ci95'][1]:+.1f} |")
    return lines


def _recipe_facts(plan: AblationPlan, scores: dict[str, dict]) -> dict:
    """input_size, heatmap_size, torso_threshold_cells, learning_curves, comparisons of a results dict."""
    first = next(iter(plan.variants.values())).cfg
    return {
        "input_size": first.data.input_size,
        "heatmap_size": first.data.input_size // 8,
        "torso_threshold_cells": round(torso_threshold_cells(first), 3) if scores else None,
        "learning_curves": {n: learning_curve(plan.variants[n]) for n in scores},
        "comparisons": comparisons(scores),
        "comparisons_first_pose_given": comparisons(
            {n: s for n in scores if (s := given_first_pose_score(plan.variants[n])) is not None}
        ),
    }


def run_ablation(
    config_path: str | Path,
    out_dir: str | Path,
    only: list[str] | None = None,
    results_dir: str | Path = "docs/results",
    overrides: list[str] | None = None,
    command: str | None = None,
    threads: int | None = None,
    jobs: int = 1,
) -> dict:
    """Train (cached), evaluate and tabulate the variants of an ablation config; returns the results dict.

    `threads`: torch intra-op threads (None = torch's default, or the usable cores / `jobs`); 1 is much
    faster on a CPU shared with other jobs (docs/results/README.md) and does not change what is computed.
    `jobs`: how many runs train at once, each in its own process (`experiments.jobs`; logs in OUT/logs/);
    a run starts when the runs it starts from have finished.

    Writes `results_dir/synthetic_ablation.json` ({"command", "machine", "variants": {name: {"person",
    "torso", "groups_torso", "gmacs_per_frame", "train_minutes"}}}) and `synthetic_ablation.md`, atomically,
    with every variant of the config that has finished (so `only` runs add to the table), after each chosen
    variant is evaluated and at the end.
    """
    plan = load_plan(config_path, out_dir, overrides)
    chosen = select(plan, only)
    command = command or f"dkdpose ablation --config {config_path} --out {out_dir}"
    if jobs < 1:
        raise InputError(f"--jobs must be >= 1, got {jobs}")
    if jobs > 1:
        threads = threads or max(1, usable_cores() // jobs)
        set_threads(threads)
        for cfg in {str(r.cfg.data.root): r.cfg for r in plan_runs(plan, chosen)}.values():
            prepare_data(cfg)  # once, before jobs that read the same data start
        names = [r.name for r in chosen]
        target = functools.partial(
            _run_job, str(config_path), str(out_dir), list(overrides or []), threads, names
        )

        def tabulate(key: str) -> None:  # the table grows as each chosen variant finishes
            if key in names:
                write_results(plan, results_dir, command)

        run_jobs(job_graph(plan, chosen), target, jobs, Path(out_dir) / "logs", on_done=tabulate)
    else:
        set_threads(threads)
        evaluated = {id(r) for r in chosen}
        for run in plan_runs(plan, chosen):
            weights = train_run(run)
            if id(run) in evaluated:
                evaluate_variant(run, weights)
                write_results(plan, results_dir, command)  # the table grows as each variant finishes
    return write_results(plan, results_dir, command)


def write_results(plan: AblationPlan, results_dir: str | Path, command: str) -> dict:
    """Write synthetic_ablation.json / .md and the learning-curve plot from every variant of the plan that
    has a test score so far; returns the results dict."""
    device = next(iter(plan.variants.values())).cfg.train.device
    results = {"command": command, "machine": describe_machine(device), "variants": {}}
    lambdas, scores = {}, {}
    for name, run in plan.variants.items():
        score = run.folder.parent / "eval" / "score.json"
        if not score.exists():
            log.info("%s: not trained and evaluated yet; left out of the table", name)
            continue
        scores[name] = json.loads(score.read_text())
        results["variants"][name] = variant_result(run, scores[name])
        lambdas[name] = lambda_summary(run.folder / "metrics.csv")
    results.update(_recipe_facts(plan, scores))
    pre_min = {n: read_timing(r.folder).get("seconds", 0.0) / 60 for n, r in plan.pretrain.items()
               if r.folder.exists()}  # fmt: skip
    results_dir = make_folder(results_dir, "results folder")
    write_json(results_dir / "synthetic_ablation.json", results)
    write_text(results_dir / "synthetic_ablation.md", results_markdown(results, plan, lambdas, pre_min))
    curves = {n: c for n, c in results["learning_curves"].items() if c["steps"]}
    if curves:
        plot_learning_curves(curves, results_dir / "synthetic_ablation_curves.png",
                             "Validation torso PCK@0.2 during stage 2")  # fmt: skip
    return results


# --- cost measurement ---------------------------------------------------------------------------------------


def _step_seconds(metrics_csv: Path, batch: int) -> float:
    """Median seconds per training step from metrics.csv, skipping the first step (loader start-up)."""
    with metrics_csv.open(newline="") as f:
        rates = [float(r["clips_per_s"]) for r in csv.DictReader(f)][1:]
    if not rates:
        raise InputError(f"{metrics_csv}: too few logged steps to measure; use steps >= 2")
    return statistics.median(batch / r for r in rates)


def measure_costs(
    config_path: str | Path,
    steps: int = 4,
    overrides: list[str] | None = None,
    names: list[str] | None = None,
    threads: int | None = None,
) -> dict:
    """Time a few training steps of every run of the config (random init, no validation) on this machine.

    Returns {name: {"load_1min", "seconds_per_step", "frames_per_step", "steps", "projected_minutes"}}; the
    projection is seconds_per_step x epochs x steps_per_epoch of the real config (validation not included).
    """
    if steps < 2:
        raise InputError(f"--measure-cost {steps}: time at least 2 steps (the first one is a warm-up)")
    set_threads(threads)
    with tempfile.TemporaryDirectory(prefix="dkd_cost_") as tmp:
        plan = load_plan(config_path, tmp, overrides)
        runs = {**plan.pretrain, **plan.variants}
        unknown = sorted(set(names or []) - set(runs))
        if unknown:
            raise InputError(f"{config_path}: unknown run(s) {', '.join(unknown)} (runs: {', '.join(runs)})")
        costs = {}
        for name, run in runs.items():
            if names and name not in names:
                continue
            costs[name] = _measure_one(run, steps, Path(tmp) / name)
            log.info("cost %s: %s", name, costs[name])
    return costs


def _measure_one(run: Run, steps: int, folder: Path) -> dict:
    t = run.cfg.train
    cfg = dataclasses.replace(
        run.cfg,
        train=dataclasses.replace(t, epochs=1, steps_per_epoch=steps + 1, log_every=1),
        data=dataclasses.replace(run.cfg.data, val_videos=0),
        model=dataclasses.replace(run.cfg.model, init_initializer="", init_encoder=""),
    )
    prepare_data(cfg)
    train(cfg, folder)
    sec = _step_seconds(folder / "metrics.csv", t.batch_size)
    total_steps = t.epochs * (t.steps_per_epoch or 0)
    return {
        "load_1min": round(os.getloadavg()[0], 2),  # other processes on the CPU inflate the timing
        "seconds_per_step": round(sec, 3),
        "frames_per_step": t.batch_size * run.cfg.data.clip_length,
        "steps": total_steps,
        "projected_minutes": round(sec * total_steps / 60, 1) if total_steps else None,
    }
