"""`dkdpose demo` (`make demo`): the main job on the embedded synthetic benchmark, end to end on a CPU.

1. Generate `synthetic_small` into `data/synthetic_small` (reused when it is there with the same parameters).
2. Train the single-frame ResNet-18 baseline (`configs/demo_baseline.yaml`): stage 1 on single frames. It is
   DKD's P, the strong network that runs once per video.
3. Train the single-frame MobileNetV3 network (`configs/demo_baseline_small.yaml`), stage 1 of DKD's small
   frame encoder F: the single-frame network of F's size.
4. Train DKD (`configs/demo_dkd.yaml`) with P from step 2 (kept fixed) and F from step 3: stage 2
   (Algorithm 1).
5. Train the MobileNetV3 network further exactly as DKD is trained (`configs/demo_baseline_clips.yaml`: same
   start as F, clips, steps and optimizer): the single-frame model of F's size on DKD's footing.
6. Evaluate the four on the test split with the protocol of `docs/protocol.md` (`dkdpose eval`), and compare
   DKD with each single-frame network (paired bootstrap over test videos).
7. Run `dkdpose predict` on one test video (overlay mp4, JSON, CSV).
8. Write `runs/demo/report.md`: the PCK table, the paired differences, jitter, PCK curves and a frame strip.

Every step is cached in `runs/demo/`: a finished training run is reused, an interrupted one resumes from
its `last.pt`, and a run whose config changed is retrained. `runs/demo/dkd.pt`, `runs/demo/baseline.pt`,
`runs/demo/baseline_small.pt` and `runs/demo/baseline_clips.pt` are left for users to try `dkdpose predict`
with.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from dkdpose.config import RunConfig, load_config
from dkdpose.data.clips import read_rgb
from dkdpose.data.readers import read_records
from dkdpose.data.synthetic.generate import SynthResult, generate_dataset
from dkdpose.data.synthetic.presets import preset_path, synth_options
from dkdpose.devices import describe_machine, set_threads
from dkdpose.efficiency.flops import model_flops
from dkdpose.efficiency.latency import model_spec
from dkdpose.errors import InputError
from dkdpose.evaluation.compare import comparison
from dkdpose.evaluation.report import GROUP_COLUMNS, fmt_value
from dkdpose.experiments.runs import evaluate_cached, train_cached
from dkdpose.inference.predict import PredictOutputs, predict
from dkdpose.inference.viz import draw_people
from dkdpose.io import make_folder, write_text
from dkdpose.skeleton import get_joint_set

log = logging.getLogger(__name__)


@dataclass
class DemoPlan:
    """What the demo runs; tests shrink it with `overrides` (`section.key=value`, applied to both configs)."""

    out_dir: Path = Path("runs/demo")
    preset: str = "synthetic_small"
    baseline_config: str = "demo_baseline"  # configs/<name>.yaml (or a path)
    small_config: str = "demo_baseline_small"
    dkd_config: str = "demo_dkd"
    baseline_clips_config: str = "demo_baseline_clips"
    overrides: list[str] = field(default_factory=list)
    progress: bool = False
    threads: int | None = None  # torch intra-op threads (None: torch's default)

    @property
    def data_dir(self) -> Path:
        return Path("data") / Path(self.preset).stem


def run_demo(plan: DemoPlan | None = None) -> dict:
    """Run every step of the demo (see the module docstring); returns the paths and scores it produced."""
    plan = plan or DemoPlan()
    out = make_folder(plan.out_dir, "demo folder")
    set_threads(plan.threads)
    clock = StepClock()
    with clock("synthetic data"):
        data = generate_demo_data(plan)
    for name in ("card.json", "contact_sheet.png"):
        shutil.copyfile(plan.data_dir / name, out / name)
    with clock("train baseline") as step:
        baseline_pt, step.reused = train_published(
            _config(plan, plan.baseline_config, []), out / "train_baseline", out / "baseline.pt")  # fmt: skip
    with clock("train small baseline (F)") as step:
        small_cfg = _config(plan, plan.small_config, [])
        small_run = out / "train_baseline_small"
        small_pt, step.reused = train_published(small_cfg, small_run, out / "baseline_small.pt")
    with clock("train DKD") as step:
        init = [f"model.init_initializer={baseline_pt}", f"model.init_encoder={small_pt}"]
        dkd_cfg = _config(plan, plan.dkd_config, init)
        dkd_pt, step.reused = train_published(dkd_cfg, out / "train_dkd", out / "dkd.pt")
    with clock("train small baseline on DKD's clips") as step:
        # the whole single-frame network of F's size from F's stage 1
        clips_cfg = _config(plan, plan.baseline_clips_config, [f"model.init_initializer={small_pt}"])
        clips_pt, step.reused = train_published(
            clips_cfg, out / "train_baseline_clips", out / "baseline_clips.pt")  # fmt: skip
    scores = {}
    models = (("baseline", baseline_pt), ("baseline_small", small_pt), ("baseline_clips", clips_pt),
              ("dkd", dkd_pt))  # fmt: skip
    for name, pt in models:
        with clock(f"eval {name}") as step:
            scores[name], step.reused = evaluate_cached(
                pt, "penn_action", plan.data_dir, out / f"eval_{name}"
            )
    video = demo_video(plan.data_dir)
    with clock("predict + frame strip"):
        pred = predict_demo_video(dkd_pt, video, out / "predict")
        strip = write_frame_strip(video, pred["people"][0], out / "frame_strip.png")
    machine = describe_machine(dkd_cfg.train.device)
    macs = macs_per_frame(dict(models))
    report = write_report(out, data, scores, video, strip, clock.table(), machine, macs)
    log.info("demo: report in %s", report)
    return {"report": str(report), "dkd": str(dkd_pt), "baseline": str(baseline_pt),
            "baseline_small": str(small_pt), "baseline_clips": str(clips_pt), "scores": scores,
            "seconds": clock.seconds}  # fmt: skip


@dataclass
class _Step:
    reused: bool = False


class StepClock:
    """Wall time of each demo step in this invocation; `with clock(name) as step:` (set step.reused)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.reused: dict[str, bool] = {}

    @contextmanager
    def __call__(self, name: str):
        step, t0 = _Step(), time.perf_counter()
        yield step
        self.seconds[name] = time.perf_counter() - t0
        self.reused[name] = step.reused

    def table(self) -> str:
        """Markdown: minutes per step, the total, the CPU load and the thread count."""
        rows = ["| step | minutes |", "|---|---:|"]
        for name, sec in self.seconds.items():
            rows.append(f"| {name} | {sec / 60:.1f}{' (reused)' if self.reused[name] else ''} |")
        rows.append(f"| **total** | **{sum(self.seconds.values()) / 60:.1f}** |")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        tail = f"torch threads: {torch.get_num_threads()}; 1-minute load average at the end: {load:.2f}."
        return "\n".join(rows) + "\n\n" + tail


def generate_demo_data(plan: DemoPlan) -> SynthResult:
    """Generate (or reuse) the preset's benchmark in `data/<preset>`."""
    return generate_dataset(plan.data_dir, progress=plan.progress, **synth_options(plan.preset, {}))


def _config(plan: DemoPlan, path: str, extra: list[str]) -> RunConfig:
    overrides = [f"data.root={plan.data_dir}", *plan.overrides, *extra]
    return load_config(preset_path(path), overrides)


def train_published(cfg: RunConfig, run_dir: Path, publish: Path) -> tuple[Path, bool]:
    """`runs.train_cached` into `run_dir`, then its `last.pt` copied to `publish` (e.g. runs/demo/dkd.pt).

    Returns (`publish`, reused)."""
    last, reused = train_cached(cfg, run_dir)
    shutil.copy2(last, publish)  # keeps the mtime, so the evaluation of `publish` stays fresh
    return publish, reused


def demo_video(root: Path):
    """The first test video of the benchmark (the one the demo runs `predict` on)."""
    records = read_records("penn_action", root, "test")
    if not records:
        raise InputError(f"{root}: the benchmark has no test videos")
    return records[0]


def predict_demo_video(weights: Path, record, out_dir: Path) -> dict:
    """`dkdpose predict` on the video's frame folder, starting from its first ground-truth box."""
    make_folder(out_dir, "demo folder")
    box = [float(v) for v in record.boxes[0]]
    outputs = PredictOutputs(out_dir / "overlay.mp4", out_dir / "poses.json", out_dir / "poses.csv")
    return predict(record.frames[0].parent, weights, outputs, boxes=[box], progress=False)


def write_frame_strip(record, person: dict, path: Path, count: int = 6) -> Path:
    """Six evenly spaced frames of the video with the predicted skeleton drawn, side by side (PNG)."""
    js = get_joint_set(record.joint_set)
    kp, sc = np.asarray(person["keypoints"]), np.asarray(person["scores"])
    picks = np.linspace(0, record.num_frames - 1, count).round().astype(int)
    tiles = [draw_people(read_rgb(record.frames[t]), kp[t][None], sc[t][None], js) for t in picks]
    strip = np.concatenate(tiles, axis=1)
    cv2.imwrite(str(path), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    return path


def macs_per_frame(weights: dict[str, Path]) -> str:
    """"name X G, ...": multiply-adds per frame after the first of each checkpoint's stream at its training
    input size (and frame 1's where it costs more: DKD runs P there), counted as `dkdpose bench --flops`
    does."""
    parts = []
    for name, path in weights.items():
        spec = model_spec(str(path), 0)  # a checkpoint: its model, options and input size
        row = model_flops(spec.name, spec.size, spec.num_joints, **spec.kwargs)
        first, later = row["gmacs_first_frame"], row["gmacs_per_frame"]
        extra = f" (frame 1: {first:.3f} G)" if first > later else ""
        parts.append(f"{name} {later:.3f} G{extra}")
    return ", ".join(parts)


def score_table(scores: dict) -> str:
    """Markdown: one row per model and normalization, the seven groups, Mean, and the jitter columns."""
    groups = GROUP_COLUMNS
    lines = ["| model | norm | " + " | ".join(groups) + " | accel. error (px/frame²) |",
             "|---|---|" + "---:|" * (len(groups) + 1)]  # fmt: skip
    for name, s in scores.items():
        for norm in ("person", "torso"):
            cells = [fmt_value(s["score"][norm]["groups"][g]) for g in groups]
            jit = fmt_value(s["jitter"].get("accel_error_px"), 2) if norm == "person" else ""
            lines.append(f"| {name} | {norm} | " + " | ".join(cells) + f" | {jit} |")
    return "\n".join(lines)


def footing_table(scores: dict) -> str:
    """Markdown: DKD minus each baseline, PCK pooled over joints, with the paired-bootstrap 95% interval."""
    lines = ["| comparison | torso | 95% interval | person | 95% interval |", "|---|---:|---|---:|---|"]
    for ref in ("baseline_clips", "baseline_small", "baseline"):
        c = comparison(scores[ref]["score"], scores["dkd"]["score"])
        cells = [f"{c[n]:+.1f} | {c[n + '_ci95'][0]:+.1f} .. {c[n + '_ci95'][1]:+.1f}"
                 for n in ("torso", "person")]  # fmt: skip
        lines.append(f"| dkd - {ref} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(
    out: Path, data: SynthResult, scores: dict, record, strip: Path, timing: str, machine: str, macs: str
) -> Path:
    """runs/demo/report.md: what ran, the PCK table with jitter, the curves, a frame strip, the time taken.

    machine: `devices.describe_machine` (the figures depend on the CPU model by about a point); macs:
    `macs_per_frame`.
    """
    card = data.card
    text = f"""# dkdpose demo

Machine: {machine}; Python {platform.python_version()}.
Data: `{data.out}` (synthetic, Penn Action layout): {card.get("videos")} videos, {card.get("frames")} frames;
test split scored with the protocol of `docs/protocol.md` (PCK@0.2, single scale, no flip).
Models: `baseline.pt` (the single-frame ResNet-18 network, stage 1, `configs/demo_baseline.yaml`; DKD's P),
`baseline_small.pt` (the single-frame MobileNetV3 network, stage 1, `configs/demo_baseline_small.yaml`; DKD's
F starts from it), `dkd.pt` (DKD: P from `baseline.pt` on frame 1, kept fixed; the MobileNetV3 F with the
distilled kernels on every frame; trained by Algorithm 1, `configs/demo_dkd.yaml`) and `baseline_clips.pt`
(`baseline_small.pt` trained further on DKD's clips, steps and optimizer, `configs/demo_baseline_clips.yaml`).
Multiply-adds per frame at this input size: {macs}.

## PCK@0.2 on the test split

{score_table(scores)}

Accel. error: mean joint acceleration error against the ground truth (lower = steadier).

## DKD against the baselines (paired bootstrap over the test videos)

PCK pooled over all joints. `baseline_clips` is the single-frame network of F's size on the same footing
(same start as F, clips, steps); `baseline_small` is the same network after stage 1 only; `baseline` is the
ResNet-18 network (DKD's P) run on every frame.

{footing_table(scores)}

## PCK vs alpha (torso)

Baseline (ResNet-18): ![baseline](eval_baseline/pck_torso.png) MobileNetV3:
![baseline_small](eval_baseline_small/pck_torso.png) MobileNetV3 on DKD's clips:
![baseline_clips](eval_baseline_clips/pck_torso.png) DKD: ![dkd](eval_dkd/pck_torso.png)

## DKD on test video {record.video_id} (`predict/overlay.mp4`)

![frame strip]({strip.name})

Try it yourself: `dkdpose predict {record.frames[0].parent} --weights {out}/dkd.pt --out overlay.mp4`

## Time on this machine (this invocation; "reused" = cached from an earlier one)

{timing}
"""
    path = out / "report.md"
    write_text(path, text)
    return path
