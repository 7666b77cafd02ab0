"""`dkdpose eval`: online, frame-by-frame inference over the test videos (the protocol of `protocol.md`).

Each frame is cropped around its ground-truth box centre (the reference protocol). Multi-scale and flip
testing run as parallel streams of one streaming model (`inference/tta.py`):

    frames -> per-stream crops -> model.init_stream / model.step -> flip_back -> warp to the scale-1 grid
           -> mean -> codec.decode -> inverse affine -> original-image keypoints -> predictions.json -> score

`evaluate` writes predictions.json, score.json (by `score_predictions` on that file, so it
equals `dkdpose score`), jitter.json, per_video.csv, pck_person.png, pck_torso.png and report.md into one
folder. `evaluate_sub_jhmdb_splits` runs the three Sub-JHMDB splits (one checkpoint each) and adds their mean.
`EvalOptions` holds the test-time settings; `EvalOptions.from_config` reads a config's `eval:` section.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from dkdpose.config import FIRST_POSES, EvalConfig
from dkdpose.data.clips import read_rgb
from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.data.readers import read_records
from dkdpose.data.records import VideoRecord
from dkdpose.devices import resolve_device
from dkdpose.errors import InputError
from dkdpose.evaluation.jitter import JitterAccumulator
from dkdpose.evaluation.metrics import NORMS
from dkdpose.evaluation.plots import plot_pck_curves
from dkdpose.evaluation.predictions import SCORED_DATASETS, write_predictions
from dkdpose.evaluation.report import (
    GROUP_COLUMNS,
    JITTER_COLUMNS,
    format_table,
    jitter_line,
    mean_line,
    per_video_csv,
    report_markdown,
    splits_markdown,
)
from dkdpose.evaluation.score import score_predictions, write_score
from dkdpose.inference.coco import check_coco_target, records_coco_texts
from dkdpose.inference.decode import decode_to_image, joint_heatmaps
from dkdpose.inference.load import load_pose_model
from dkdpose.inference.precision import check_precision, onnxruntime_context, prepare_model
from dkdpose.inference.tta import (
    StreamPlan,
    fuse_streams,
    stream_crops,
    stream_pose_heatmaps,
    unflip_streams,
)
from dkdpose.io import check_output, new_folder, write_json, write_text
from dkdpose.models.dkd import set_pose_input
from dkdpose.models.weights import load_checkpoint
from dkdpose.skeleton import get_joint_set

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalOptions:
    """Test-time settings of an evaluation: multi-scale and flip testing, device, input size, PCK alpha.

    scales: test scales (every one a stream, `inference.tta`); flip: also the mirrored crops; device: cpu,
    cuda or cuda:N; input_size: square input (None: the checkpoint's training size); alpha: PCK threshold;
    pose_input: what a DKD model's Φ reads as h_t, "predicted" or the diagnostics "zero" / "scramble".
    first_pose: "predicted" (the protocol: the model starts from its own first frame) or "ground_truth" (the
    propagation protocol: the first frame's annotated pose is given to a model that starts from a pose,
    `takes_first_pose`, and every model is scored from frame 2 on).
    precision: fp32, bf16 or int8 and calibrate: int8 calibration video or folder (`inference.precision`).
    video_batch: how many test videos of equal length run side by side as one batch (their streams are
    independent, so it changes the speed, not the predictions beyond floating-point summation order).
    """

    scales: tuple[float, ...] = (1.0,)
    flip: bool = False
    device: str = "cpu"
    input_size: int | None = None
    alpha: float = 0.2
    pose_input: str = "predicted"
    precision: str = "fp32"
    calibrate: str | Path | None = None
    video_batch: int = 8
    first_pose: str = "predicted"

    def __post_init__(self) -> None:
        check_precision(self.precision)
        if self.first_pose not in FIRST_POSES:
            raise InputError(f"first pose must be one of {', '.join(FIRST_POSES)}, got {self.first_pose!r}")
        if self.first_pose == "ground_truth" and self.precision == "int8":
            raise InputError("--first-pose ground_truth runs the PyTorch model: use --precision fp32 or bf16")
        batch = self.video_batch
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise InputError(f"video batch must be a whole number >= 1, got {self.video_batch!r}")
        object.__setattr__(self, "scales", tuple(float(s) for s in self.scales))
        StreamPlan(self.scales, self.flip)  # validates the scales
        if not (math.isfinite(self.alpha) and self.alpha >= 0):
            raise InputError(f"alpha must be a finite number >= 0, got {self.alpha}")

    @property
    def plan(self) -> StreamPlan:
        return StreamPlan(self.scales, bool(self.flip))

    @classmethod
    def from_config(cls, cfg: EvalConfig, **overrides) -> EvalOptions:
        """Options from a config's `eval:` section (scales, flip); `overrides` that are not None win."""
        base = cls(scales=tuple(cfg.scales), flip=cfg.flip)
        return dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})


# --- inference ----------------------------------------------------------------------------------------------


@torch.no_grad()
def predict_video(
    model: nn.Module,
    record: VideoRecord,
    plan: StreamPlan,
    codec: HeatmapCodec,
    device: torch.device | str = "cpu",
    progress: tqdm | None = None,
    first_pose: str = "predicted",
) -> tuple[np.ndarray, np.ndarray]:
    """Online inference over one video with GT-box crops: keypoints (T, K, 2) original px, scores (T, K).

    All streams of `plan` run as one batch through `model.init_stream` (frame 1) and `model.step` (the rest).
    """
    return predict_videos(model, [record], plan, codec, device, progress, first_pose)[0]


@torch.no_grad()
def predict_videos(
    model: nn.Module,
    records: list[VideoRecord],
    plan: StreamPlan,
    codec: HeatmapCodec,
    device: torch.device | str = "cpu",
    progress: tqdm | None = None,
    first_pose: str = "predicted",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """`predict_video` for N videos of one length at once: their S streams each run as one batch of N x S.

    first_pose "ground_truth": a model that `takes_first_pose` starts every stream from the first frame's
    annotated pose (`tta.stream_pose_heatmaps`) instead of its own; other models ignore it.

    Every video keeps its own stream state (the models treat the rows of a batch independently), so the
    result is that of N separate `predict_video` calls up to floating-point summation order. Returns
    [(keypoints (T, K, 2) original px, scores (T, K))] in the order of `records`.
    """
    lengths = {r.num_frames for r in records}
    if len(lengths) != 1:
        raise ValueError(f"predict_videos needs videos of one length, got lengths {sorted(lengths)}")
    flip_index = get_joint_set(records[0].joint_set).flip_index
    k, size = len(flip_index), codec.input_size[0]
    out: list[tuple[list, list]] = [([], []) for _ in records]
    state = None
    with ThreadPoolExecutor(max_workers=min(len(records), 8)) as pool:
        for t in range(lengths.pop()):
            images = list(pool.map(read_rgb, [r.frames[t] for r in records]))
            streams = [
                stream_crops(img, r.boxes[t], plan, size, f"video {r.video_id}, frame {r.frames[t]}")
                for img, r in zip(images, records, strict=True)
            ]
            crops = torch.cat([c for c, _, _ in streams]).to(device)  # (N x S, 3, H, W)
            if t > 0:
                heat, state = model.step(crops, state)
            elif first_pose == "ground_truth" and getattr(model, "takes_first_pose", False):
                given = [stream_pose_heatmaps(r.joints[0], r.visibility[0], affines, plan, codec, flip_index)
                         for r, (_, affines, _) in zip(records, streams, strict=True)]  # fmt: skip
                heat, state = model.init_stream(crops, first_heatmaps=torch.cat(given).to(device))
            else:
                heat, state = model.init_stream(crops)
            heat = joint_heatmaps(heat.float(), k, codec, f"video {records[0].video_id}")
            per_video = heat.split(len(plan.streams))  # N x (S, K, h, w)
            for (kps, scs), (_, affines, ref), h in zip(out, streams, per_video, strict=True):
                h = unflip_streams(h, plan, flip_index)
                kp, sc = decode_to_image(fuse_streams(h, affines, ref, codec), ref, codec)
                kps.append(kp)
                scs.append(sc)
            if progress is not None:
                progress.update(len(records))
    return [(np.stack(kps), np.stack(scs)) for kps, scs in out]


def video_batches(records: list[VideoRecord], size: int) -> list[list[VideoRecord]]:
    """Groups of at most `size` videos of equal length, in order of first appearance."""
    by_length: dict[int, list[VideoRecord]] = {}
    for r in records:
        by_length.setdefault(r.num_frames, []).append(r)
    return [group[i : i + size] for group in by_length.values() for i in range(0, len(group), size)]


def predict_records(
    model: nn.Module,
    records: list[VideoRecord],
    plan: StreamPlan,
    codec: HeatmapCodec,
    device: torch.device,
    video_batch: int = 1,
    first_pose: str = "predicted",
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Keypoints (T, K, 2) and scores (T, K) per video id, `video_batch` equal-length videos at a time, with
    one progress bar over all frames; first_pose as in `predict_videos`."""
    total = sum(r.num_frames for r in records)
    done: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with tqdm(total=total, desc="eval", unit="frame", disable=not sys.stderr.isatty()) as bar:
        for group in video_batches(records, video_batch):
            results = predict_videos(model, group, plan, codec, device, bar, first_pose)
            done.update((rec.video_id, result) for rec, result in zip(group, results, strict=True))
    keypoints = {r.video_id: done[r.video_id][0] for r in records}
    return keypoints, {r.video_id: done[r.video_id][1] for r in records}


# --- the eval command ---------------------------------------------------------------------------------------


def _check_split(dataset: str, split: int | None) -> int | None:
    if dataset not in SCORED_DATASETS:
        raise InputError(f"cannot evaluate dataset {dataset!r}; choose one of {', '.join(SCORED_DATASETS)}")
    if dataset != "sub_jhmdb":
        if split is not None:
            raise InputError(f"--split applies to sub_jhmdb only, not {dataset}")
        return None
    if split is None:
        return 1
    if split not in (1, 2, 3):
        raise InputError(f"Sub-JHMDB split must be 1, 2 or 3, got {split}")
    return split


def evaluate(
    weights: str | Path,
    dataset: str,
    root: str | Path,
    out_dir: str | Path,
    split: int | None = None,
    options: EvalOptions | None = None,
    coco: str | Path | None = None,
) -> dict:
    """Evaluate checkpoint `weights` on the test videos of `dataset` under `root`; write outputs to `out_dir`.

    coco: also write the keypoints as COCO keypoint results to this file (`inference/coco.py`).
    Returns {"score": score dict (= score.json), "jitter": pooled jitter summary, "out_dir", "model",
    "input_size", "scales", "flip", "pose_input"}. Sub-JHMDB uses split `split` (default 1). Bad input raises
    InputError before anything is written.
    """
    options = options or EvalOptions()
    split = _check_split(dataset, split)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    coco_paths = check_coco_target(coco) if coco is not None else None
    dev = resolve_device(options.device)
    model, ckpt, codec = load_pose_model(weights, dataset, dev, options.input_size)
    set_pose_input(model, options.pose_input)
    records = read_records(dataset, root, subset="test", split=split or 1)
    if not records:
        raise InputError(f"{root}: no test videos found for {dataset}" + (f" split {split}" if split else ""))
    log.info("evaluating %s (%s) on %d %s test videos", weights, ckpt["model"], len(records), dataset)
    model = prepare_model(model, options.precision, dev, codec.input_size[0], options.calibrate)
    with onnxruntime_context("torch", options.precision):
        keypoints, scores = predict_records(
            model, records, options.plan, codec, dev, options.video_batch, options.first_pose
        )
    given = options.first_pose == "ground_truth"  # the first frame is given: score from frame 2 on

    with new_folder(out):  # a failure below leaves no partial output folder
        write_predictions(out / "predictions.json", dataset, keypoints, scores)
        score = score_predictions(dataset, root, out / "predictions.json", split=split, alpha=options.alpha,
                                  first_frame_given=given)  # fmt: skip
        write_score(out / "score.json", score)
        jitter = JitterAccumulator(get_joint_set(dataset))
        first = 1 if given else 0
        for r in records:
            jitter.add(r.video_id, keypoints[r.video_id][first:], r.joints[first:], r.visibility[first:],
                       r.boxes[first:])  # fmt: skip
        info = {
            "weights": str(weights), "model": ckpt["model"], "input_size": codec.input_size[0],
            "scales": list(options.scales), "flip": options.flip, "device": str(dev),
            "pose_input": options.pose_input,
            "precision": options.precision,
            "first_pose": options.first_pose,
            "uses_first_pose": given and getattr(model, "takes_first_pose", False),
        }  # fmt: skip
        write_json(out / "jitter.json", {**jitter.summary(), "per_video": jitter.per_video()})
        _write_outputs(out, score, jitter.summary(), jitter.per_video(), info)
        if coco_paths is not None:
            where = f"dkdpose eval {weights}"
            texts = records_coco_texts(records, keypoints, scores, get_joint_set(dataset), where)
            for path, text in zip(coco_paths, texts, strict=True):
                write_text(path, text)
    log.info("wrote %s", out)
    return {"score": score, "jitter": jitter.summary(), "out_dir": str(out), **info}


def _write_outputs(out: Path, score: dict, jitter: dict, jitter_videos: dict, info: dict) -> None:
    """per_video.csv, the two PCK-vs-alpha plots and report.md."""
    write_text(out / "per_video.csv", per_video_csv(score["per_video"], jitter_videos))
    for norm in NORMS:
        plot_pck_curves(
            score["curves"], norm, out / f"pck_{norm}.png", title=f"{info['model']} on {score['dataset']}"
        )
    write_text(out / "report.md", report_markdown(score, jitter, info))


def evaluate_sub_jhmdb_splits(
    weights: list[str | Path], root: str | Path, out_dir: str | Path, options: EvalOptions | None = None
) -> dict:
    """Sub-JHMDB as the paper reports it: checkpoint i evaluated on split i (i = 1, 2, 3), then the mean.

    Each split's outputs go to `out_dir/split<i>/`; `out_dir/score_mean.json` and `out_dir/report.md` hold the
    three-split mean (of every group, joint and pooled mean, per normalization) and of the jitter numbers.
    Returns {"splits": [evaluate() results], "mean": the mean score dict}.
    """
    if len(weights) != 3:
        raise InputError(
            f"the Sub-JHMDB three-split mean needs 3 checkpoints (splits 1, 2, 3), got {len(weights)}"
        )
    for i, w in enumerate(weights, start=1):  # check every checkpoint before the long runs start
        load_checkpoint(w, expect_joint_set="sub_jhmdb")
        read_records("sub_jhmdb", root, subset="test", split=i)
    out = Path(out_dir)
    runs = [
        evaluate(w, "sub_jhmdb", root, out / f"split{i}", i, options) for i, w in enumerate(weights, start=1)
    ]
    mean = mean_of_splits([r["score"] for r in runs], [r["jitter"] for r in runs])
    write_json(out / "score_mean.json", mean)
    write_text(out / "report.md", splits_markdown(mean, runs))
    return {"splits": runs, "mean": mean}


def eval_command(
    weights: list[str],
    dataset: str,
    root: str,
    out: str,
    split: int | None,
    options: EvalOptions,
    coco: str | None = None,
) -> str:
    """`dkdpose eval`: one checkpoint -> `evaluate`; three Sub-JHMDB checkpoints -> the three-split mean.

    Returns the text to print: the paper-style table(s) and the jitter line.
    """
    check_output(out, weights, [root], folder=True)  # root may come from --config: the CLI cannot see it
    if len(weights) == 3 and dataset == "sub_jhmdb":
        if split is not None:
            raise InputError(
                "--split picks one Sub-JHMDB split for one checkpoint; three --weights run all three"
            )
        if coco is not None:
            raise InputError("--coco writes one split's keypoints; give one checkpoint and --split N")
        result = evaluate_sub_jhmdb_splits(weights, root, out, options)
        tables = [format_table(r["score"]) for r in result["splits"]]
        mean = result["mean"]
        return "\n\n".join([*tables, mean_line(mean), jitter_line(mean["jitter"]), f"wrote {out}"])
    if len(weights) != 1:
        raise InputError(
            f"--weights takes one checkpoint (or three for sub_jhmdb's three splits), got {len(weights)}"
        )
    result = evaluate(weights[0], dataset, root, out, split=split, options=options, coco=coco)
    lines = [format_table(result["score"]), jitter_line(result["jitter"]), f"wrote {out}"]
    return "\n".join(lines + ([f"wrote COCO keypoint results {coco}"] if coco else []))


# --- the three-split mean -----------------------------------------------------------------------------------


def _mean_values(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def mean_of_splits(scores: list[dict], jitters: list[dict]) -> dict:
    """The three-split mean: every PCK value (per norm: mean, per joint, groups) and jitter value averaged."""
    mean: dict = {
        "dataset": scores[0]["dataset"], "split": "mean", "splits": [s["split"] for s in scores],
        "alpha": scores[0]["alpha"], "frames": sum(s["frames"] for s in scores),
        "joints_counted": sum(s["joints_counted"] for s in scores),
        "videos": sum(s["videos"] for s in scores),
    }  # fmt: skip
    for norm in NORMS:
        mean[norm] = {
            "mean": _mean_values([s[norm]["mean"] for s in scores]),
            "per_joint": {
                j: _mean_values([s[norm]["per_joint"][j] for s in scores])
                for j in scores[0][norm]["per_joint"]
            },
            "groups": {g: _mean_values([s[norm]["groups"][g] for s in scores]) for g in GROUP_COLUMNS},
        }
    mean["jitter"] = {c: _mean_values([j[c] for j in jitters]) for c in JITTER_COLUMNS}
    mean["jitter"]["triplets"] = sum(j["triplets"] for j in jitters)
    return mean
