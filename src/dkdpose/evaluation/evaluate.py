"""`dkdpose eval`: online, frame-by-frame inference over the test videos (the protocol of `protocol.md`).

Each frame is cropped around its ground-truth box centre (the reference protocol). Multi-scale and flip
testing run as parallel streams of one streaming model: with scales s_1..s_n and flip, a video is n x 2
streams that share every batched step, each stream keeping its own state (for DKD: its own kernel bases).
Heatmaps of every stream are warped into the heatmap grid of the scale-1, unflipped crop (a similarity
transform of the original image, so this is averaging in the original image over that region; the paper's
"seven-scale testing with flipping"), averaged, decoded and mapped back to original-image pixels:

    frames -> per-stream crops -> model.init_stream / model.step -> flip_back -> warp to the scale-1 grid
           -> mean -> codec.decode -> inverse affine -> original-image keypoints -> predictions.json -> score

`evaluate` writes predictions.json, score.json (by `score_predictions` on that file, so it
equals `dkdpose score`), jitter.json, per_video.csv, pck_person.png, pck_torso.png and report.md into one
folder. `evaluate_sub_jhmdb_splits` runs the three Sub-JHMDB splits (one checkpoint each) and adds their mean.
"""

from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from dkdpose.data.clips import box_center_size, read_rgb
from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.data.readers import read_records
from dkdpose.data.records import VideoRecord
from dkdpose.data.transforms import apply_affine_points, crop_affine, invert_affine, normalize, warp_image
from dkdpose.errors import InputError
from dkdpose.evaluation.jitter import JitterAccumulator
from dkdpose.evaluation.metrics import NORMS
from dkdpose.evaluation.predictions import SCORED_DATASETS, write_predictions
from dkdpose.evaluation.score import score_predictions, write_score
from dkdpose.io import write_json, write_text
from dkdpose.models.weights import build_model_from_checkpoint, load_checkpoint
from dkdpose.skeleton import get_joint_set

log = logging.getLogger(__name__)

# An example seven-scale set for `--scales`: the paper tests at seven scales but does not list them.
SEVEN_SCALES = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)


# --- stream planning and fusion -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamPlan:
    """Which crops run as parallel streams: every (scale, flip) pair, scale-major, unflipped first."""

    scales: tuple[float, ...] = (1.0,)
    flip: bool = False

    def __post_init__(self) -> None:
        if not self.scales or not all(math.isfinite(s) and s > 0 for s in self.scales):
            raise InputError(f"test scales must be positive finite numbers, got {list(self.scales)}")

    @property
    def streams(self) -> list[tuple[float, bool]]:
        return [(s, f) for s in self.scales for f in ((False, True) if self.flip else (False,))]


def parse_scales(text: str) -> tuple[float, ...]:
    """Parse "0.8,1,1.2" -> (0.8, 1.0, 1.2); InputError for anything but a list of positive numbers."""
    try:
        scales = tuple(float(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise InputError(
            f"--scales must be comma-separated numbers such as 0.8,1,1.2, got {text!r}"
        ) from None
    StreamPlan(scales)  # validates
    return scales


def stream_crops(
    image: np.ndarray, box: np.ndarray, plan: StreamPlan, input_size: int, source: str = "image"
) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """Crop one frame for every stream, centred on the box centre (the test-time protocol).

    image (H, W, 3) uint8 RGB, box (4,) x1 y1 x2 y2 original px. Returns crops (N, 3, S, S) normalized, the
    *unflipped* affines (N, 2, 3) original -> crop px of every stream, and the reference affine (2, 3) of the
    scale-1 unflipped crop. A flipped stream's crop is the column mirror of the unflipped crop of its scale
    (exactly the flip of `crop_affine`, see `transforms.py`), and its heatmaps are flipped back
    (`HeatmapCodec.flip_back`) before fusion, so they live in the unflipped crop's grid.
    """
    center, size = box_center_size(np.asarray(box), source)
    out = (input_size, input_size)
    crops, affines, by_scale = [], [], {}
    for scale, flip in plan.streams:
        if scale not in by_scale:
            affine = crop_affine(center, size * scale, 0.0, False, out)
            by_scale[scale] = (torch.from_numpy(normalize(warp_image(image, affine, out))), affine)
        crop, affine = by_scale[scale]
        crops.append(crop.flip(-1) if flip else crop)
        affines.append(affine)
    return torch.stack(crops), np.stack(affines), crop_affine(center, size, 0.0, False, out)


def _h(a: np.ndarray) -> np.ndarray:
    """(2, 3) affine -> (3, 3) homogeneous matrix."""
    return np.vstack([a, [0.0, 0.0, 1.0]])


def fuse_streams(heat: Tensor, affines: np.ndarray, ref_affine: np.ndarray, codec: HeatmapCodec) -> Tensor:
    """Warp every stream's heatmaps into the reference crop's heatmap grid and average them.

    heat (N, K, h, w) (flipped streams already flipped back), affines (N, 2, 3) unflipped original -> crop px,
    ref_affine (2, 3) the reference crop's. Returns (K, h, w) in the reference grid. Where a zoomed-in stream
    does not cover a reference cell it contributes 0 (it has seen nothing there), as in the reference
    multi-scale tests that average padded maps.
    """
    if heat.shape[0] == 1 and np.allclose(affines[0], ref_affine):
        return heat[0]
    _, _, h, w = heat.shape
    cell_to_px = _h(codec.heatmap_to_input_affine)
    ref_cell_to_orig = np.linalg.inv(_h(ref_affine)) @ cell_to_px
    thetas = []
    for affine in affines:
        # grid_sample pulls: for each reference cell, where to read in the stream's grid (ref -> stream cell)
        m = np.linalg.inv(cell_to_px) @ _h(affine) @ ref_cell_to_orig
        thetas.append(_normalized_theta(m, w, h))
    theta = torch.tensor(np.stack(thetas), dtype=torch.float32, device=heat.device)
    grid = F.affine_grid(theta, list(heat.shape), align_corners=True)
    warped = F.grid_sample(heat.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return warped.mean(dim=0)


def unflip_streams(heat: Tensor, plan: StreamPlan, flip_index: np.ndarray) -> Tensor:
    """(N, K, h, w) heatmaps of the streams -> flipped streams mirrored back with left/right swapped."""
    if not plan.flip:
        return heat
    flips = torch.tensor([f for _, f in plan.streams], device=heat.device)[:, None, None, None]
    return torch.where(flips, HeatmapCodec.flip_back(heat, flip_index), heat)


def _normalized_theta(m: np.ndarray, w: int, h: int) -> np.ndarray:
    """A (3, 3) cell -> cell map in affine_grid's [-1, 1] frame (align_corners=True: -1 = cell 0's centre)."""
    to_norm = np.array([[2.0 / max(w - 1, 1), 0, -1], [0, 2.0 / max(h - 1, 1), -1], [0, 0, 1]])
    return (to_norm @ m @ np.linalg.inv(to_norm))[:2]


def decode_to_image(
    fused: Tensor, ref_affine: np.ndarray, codec: HeatmapCodec
) -> tuple[np.ndarray, np.ndarray]:
    """(K, h, w) heatmaps in the reference grid -> keypoints (K, 2) original px, scores (K,) (peak values)."""
    coords, scores = codec.decode(fused[None].float().cpu())
    pts = apply_affine_points(invert_affine(ref_affine), coords[0].numpy())
    return pts.astype(np.float32), scores[0].numpy().astype(np.float32)


# --- inference ----------------------------------------------------------------------------------------------


@torch.no_grad()
def predict_video(
    model: nn.Module,
    record: VideoRecord,
    plan: StreamPlan,
    codec: HeatmapCodec,
    device: torch.device | str = "cpu",
    progress: tqdm | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Online inference over one video with GT-box crops: keypoints (T, K, 2) original px, scores (T, K).

    All streams of `plan` run as one batch through `model.init_stream` (frame 1) and `model.step` (the rest).
    """
    flip_index = get_joint_set(record.joint_set).flip_index
    k = len(flip_index)
    keypoints, scores, state = [], [], None
    for t, path in enumerate(record.frames):
        source = f"video {record.video_id}, frame {path}"
        crops, affines, ref = stream_crops(read_rgb(path), record.boxes[t], plan, codec.input_size[0], source)
        crops = crops.to(device)
        heat, state = model.init_stream(crops) if t == 0 else model.step(crops, state)
        heat = _joint_channels(heat.float(), k, codec, record.video_id)
        heat = unflip_streams(heat, plan, flip_index)
        kp, sc = decode_to_image(fuse_streams(heat, affines, ref, codec), ref, codec)
        keypoints.append(kp)
        scores.append(sc)
        if progress is not None:
            progress.update(1)
    return np.stack(keypoints), np.stack(scores)


def _joint_channels(heat: Tensor, k: int, codec: HeatmapCodec, video_id: str) -> Tensor:
    """(N, K or K+1, h, w) -> (N, K, h, w): a trailing background map (CPM / LSTM PM style) is dropped.

    Heatmaps of another size than the codec's would decode to wrong pixels, so they are refused.
    """
    w, h = codec.heatmap_size
    if tuple(heat.shape[-2:]) != (h, w):
        raise InputError(
            f"video {video_id}: the model gives {tuple(heat.shape[-2:])} heatmaps for "
            f"{codec.input_size} input, expected {(h, w)} (stride 8)"
        )
    if heat.shape[1] == k + 1:
        return heat[:, :k]
    if heat.shape[1] != k:
        raise InputError(
            f"video {video_id}: the model gives {heat.shape[1]} heatmaps, the dataset has {k} joints"
        )
    return heat


def load_eval_model(
    weights: str | Path, dataset: str, device: torch.device, input_size: int | None = None
) -> tuple[nn.Module, dict, HeatmapCodec]:
    """Checkpoint -> (model in eval mode on `device`, checkpoint dict, codec for its input size).

    The checkpoint's joint set must be `dataset`'s. The input size is `input_size`, else the training config's
    `data.input_size`, else the model's own (`model.input_size`: 256, 368 for lstm_pm).
    """
    ckpt = load_checkpoint(weights, expect_joint_set=dataset)
    model = build_model_from_checkpoint(ckpt).eval().to(device)
    data_cfg = (ckpt.get("config") or {}).get("data") or {}
    size = int(input_size or data_cfg.get("input_size") or getattr(model, "input_size", 256))
    if size < 32 or size % 8:
        raise InputError(f"{weights}: input size must be a multiple of 8 and at least 32, got {size}")
    codec = HeatmapCodec((size, size), (size // 8, size // 8), float(data_cfg.get("sigma", 2.0)))
    return model, ckpt, codec


def resolve_device(device: str) -> torch.device:
    """ "cpu", "cuda" or "cuda:N" -> torch.device; InputError when CUDA is asked for and absent."""
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise InputError(f"unknown device {device!r}; use cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available on this machine")
    return dev


def predict_records(
    model: nn.Module, records: list[VideoRecord], plan: StreamPlan, codec: HeatmapCodec, device: torch.device
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Keypoints (T, K, 2) and scores (T, K) per video id, with one progress bar over all frames."""
    total = sum(r.num_frames for r in records)
    keypoints, scores = {}, {}
    with tqdm(total=total, desc="eval", unit="frame", disable=not sys.stderr.isatty()) as bar:
        for rec in records:
            keypoints[rec.video_id], scores[rec.video_id] = predict_video(
                model, rec, plan, codec, device, bar
            )
    return keypoints, scores


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
    scales: tuple[float, ...] = (1.0,),
    flip: bool = False,
    device: str = "cpu",
    input_size: int | None = None,
    alpha: float = 0.2,
) -> dict:
    """Evaluate checkpoint `weights` on the test videos of `dataset` under `root`; write outputs to `out_dir`.

    Returns {"score": score dict (= score.json), "jitter": pooled jitter summary, "out_dir", "model",
    "input_size", "scales", "flip"}. Sub-JHMDB uses split `split` (default 1). Bad input raises InputError
    before anything is written.
    """
    split = _check_split(dataset, split)
    plan = StreamPlan(tuple(float(s) for s in scales), bool(flip))
    if not (math.isfinite(alpha) and alpha >= 0):
        raise InputError(f"alpha must be a finite number >= 0, got {alpha}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    dev = resolve_device(device)
    model, ckpt, codec = load_eval_model(weights, dataset, dev, input_size)
    records = read_records(dataset, root, subset="test", split=split or 1)
    if not records:
        raise InputError(f"{root}: no test videos found for {dataset}" + (f" split {split}" if split else ""))
    log.info("evaluating %s (%s) on %d %s test videos", weights, ckpt["model"], len(records), dataset)
    keypoints, scores = predict_records(model, records, plan, codec, dev)

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{out}: cannot create the output folder ({e.strerror or e})") from None
    write_predictions(out / "predictions.json", dataset, keypoints, scores)
    score = score_predictions(dataset, root, out / "predictions.json", split=split, alpha=alpha)
    write_score(out / "score.json", score)
    jitter = JitterAccumulator(get_joint_set(dataset))
    for r in records:
        jitter.add(r.video_id, keypoints[r.video_id], r.joints, r.visibility, r.boxes)
    info = {
        "weights": str(weights), "model": ckpt["model"], "input_size": codec.input_size[0],
        "scales": list(plan.scales), "flip": plan.flip, "device": str(dev),
    }  # fmt: skip
    write_json(out / "jitter.json", {**jitter.summary(), "per_video": jitter.per_video()})
    _write_outputs(out, score, jitter.summary(), jitter.per_video(), info)
    log.info("wrote %s", out)
    return {"score": score, "jitter": jitter.summary(), "out_dir": str(out), **info}


def _write_outputs(out: Path, score: dict, jitter: dict, jitter_videos: dict, info: dict) -> None:
    """per_video.csv, the two PCK-vs-alpha plots and report.md (late imports: matplotlib is slow to load)."""
    from dkdpose.evaluation.plots import plot_pck_curves

    write_text(out / "per_video.csv", per_video_csv(score["per_video"], jitter_videos))
    for norm in NORMS:
        plot_pck_curves(
            score["curves"], norm, out / f"pck_{norm}.png", title=f"{info['model']} on {score['dataset']}"
        )
    write_text(out / "report.md", report_markdown(score, jitter, info))


def evaluate_sub_jhmdb_splits(
    weights: list[str | Path],
    root: str | Path,
    out_dir: str | Path,
    scales: tuple[float, ...] = (1.0,),
    flip: bool = False,
    device: str = "cpu",
    input_size: int | None = None,
    alpha: float = 0.2,
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
        evaluate(w, "sub_jhmdb", root, out / f"split{i}", i, scales, flip, device, input_size, alpha)
        for i, w in enumerate(weights, start=1)
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
    split: int | None = None,
    scales: str = "1",
    flip: bool = False,
    device: str = "cpu",
    input_size: int | None = None,
    alpha: float = 0.2,
) -> str:
    """`dkdpose eval`: one checkpoint -> `evaluate`; three Sub-JHMDB checkpoints -> the three-split mean.

    Returns the text to print: the paper-style table(s) and the jitter line.
    """
    from dkdpose.evaluation.score import format_table

    common = dict(scales=parse_scales(scales), flip=flip, device=device, input_size=input_size, alpha=alpha)
    if len(weights) == 3 and dataset == "sub_jhmdb":
        if split is not None:
            raise InputError(
                "--split picks one Sub-JHMDB split for one checkpoint; three --weights run all three"
            )
        result = evaluate_sub_jhmdb_splits(weights, root, out, **common)
        tables = [format_table(r["score"]) for r in result["splits"]]
        mean = result["mean"]
        return "\n\n".join([*tables, _mean_line(mean), _jitter_line(mean["jitter"]), f"wrote {out}"])
    if len(weights) != 1:
        raise InputError(
            f"--weights takes one checkpoint (or three for sub_jhmdb's three splits), got {len(weights)}"
        )
    result = evaluate(weights[0], dataset, root, out, split=split, **common)
    return "\n".join([format_table(result["score"]), _jitter_line(result["jitter"]), f"wrote {out}"])


def _mean_line(mean: dict) -> str:
    cells = ", ".join(f"{norm} {_fmt(mean[norm]['groups']['Mean'])}" for norm in NORMS)
    return f"sub_jhmdb mean over splits {mean['splits']}: PCK@{mean['alpha']:g} Mean {cells}"


def _jitter_line(jitter: dict) -> str:
    return (
        f"jitter: acceleration error {_fmt(jitter['accel_error_px'], 2)} px/frame^2 "
        f"({_fmt(jitter['accel_error_pct_person'], 2)} % of person size), "
        f"prediction {_fmt(jitter['pred_accel_px'], 2)}, "
        f"ground truth {_fmt(jitter['gt_accel_px'], 2)} px/frame^2"
    )


# --- reports ------------------------------------------------------------------------------------------------

_COLS = ("Head", "Sho", "Elb", "Wri", "Hip", "Knee", "Ank", "Mean")
_JITTER_COLS = ("accel_error_px", "accel_error_pct_person", "pred_accel_px", "gt_accel_px")


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def per_video_csv(per_video: dict[str, dict], jitter_videos: dict[str, dict]) -> str:
    """CSV text: video, frames, joints_counted, pck_person, pck_torso, the jitter columns; a row per video."""
    header = ["video", "frames", "joints_counted", "pck_person", "pck_torso", *_JITTER_COLS]
    lines = [",".join(header)]
    for vid, row in per_video.items():
        jit = jitter_videos.get(vid, {})
        cells = [
            vid,
            str(row["frames"]),
            str(row["joints_counted"]),
            _fmt(row["person"], 2),
            _fmt(row["torso"], 2),
        ]
        cells += [_fmt(jit.get(c), 3) for c in _JITTER_COLS]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def pck_table_markdown(score: dict) -> list[str]:
    """The paper-style table (Head .. Ank, Mean of the groups, pooled mean) as markdown lines."""
    lines = [
        "| PCK@" + f"{score['alpha']:g} | " + " | ".join(_COLS) + " | pooled |",
        "|---" * (len(_COLS) + 2) + "|",
    ]
    for norm in NORMS:
        cells = [_fmt(score[norm]["groups"][c]) for c in _COLS] + [_fmt(score[norm]["mean"])]
        lines.append(f"| {norm} | " + " | ".join(cells) + " |")
    return lines


def jitter_markdown(jitter: dict) -> list[str]:
    """The temporal-stability table (see `dkdpose.evaluation.jitter`) as markdown lines."""
    return [
        "| accel. error (px/frame^2) | accel. error (% person size/frame^2) | pred. accel. (px/frame^2) "
        "| GT accel. (px/frame^2) | joint triplets |",
        "|---|---|---|---|---|",
        "| " + " | ".join(_fmt(jitter[c], 2) for c in _JITTER_COLS) + f" | {jitter['triplets']} |",
    ]


def _per_video_summary(per_video: dict[str, dict], worst: int = 5) -> list[str]:
    rows = [(v["person"], vid) for vid, v in per_video.items() if v["person"] is not None]
    if not rows:
        return ["No video has a counted joint."]
    values = np.array([r[0] for r in rows])
    lines = [
        f"{len(rows)} videos; per-video PCK (person): min {values.min():.1f}, "
        f"median {np.median(values):.1f}, "
        f"max {values.max():.1f}. Every video is in `per_video.csv`.",
        "",
        f"Lowest {min(worst, len(rows))} (person PCK): "
        + ", ".join(f"`{vid}` {v:.1f}" for v, vid in sorted(rows)[:worst]),
    ]
    return lines


def report_markdown(score: dict, jitter: dict, info: dict) -> str:
    """report.md of one evaluation: protocol, PCK table, jitter, per-video summary and the curves."""
    split = f", split {score['split']}" if score.get("split") is not None else ""
    scales = ", ".join(f"{s:g}" for s in info["scales"])
    lines = [
        f"# {info['model']} on {score['dataset']}{split}",
        "",
        f"Checkpoint `{info['weights']}`, input {info['input_size']}x{info['input_size']}, "
        f"scales [{scales}], "
        f"flip {'on' if info['flip'] else 'off'}, device {info['device']}. Protocol of `docs/protocol.md`: "
        "online frame-by-frame inference, each frame cropped around its ground-truth box centre; "
        f"{score['videos']} videos, {score['frames']} frames, {score['joints_counted']} joints counted.",
        "",
        "## PCK",
        "",
        *pck_table_markdown(score),
        "",
        "## Temporal stability",
        "",
        "Mean joint acceleration error against the ground truth (second differences, where the joint is "
        "counted "
        "in three consecutive frames; lower is steadier). The prediction's and the ground truth's own mean "
        "acceleration are given for scale.",
        "",
        *jitter_markdown(jitter),
        "",
        "## Per video",
        "",
        *_per_video_summary(score["per_video"]),
        "",
        "## PCK vs alpha",
        "",
        "![PCK normalized by person size](pck_person.png) ![PCK normalized by torso size](pck_torso.png)",
    ]
    return "\n".join(lines) + "\n"


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
            "groups": {g: _mean_values([s[norm]["groups"][g] for s in scores]) for g in _COLS},
        }
    mean["jitter"] = {c: _mean_values([j[c] for j in jitters]) for c in _JITTER_COLS}
    mean["jitter"]["triplets"] = sum(j["triplets"] for j in jitters)
    return mean


def splits_markdown(mean: dict, runs: list[dict]) -> str:
    """report.md of the three-split Sub-JHMDB evaluation: the mean table, then each split's row."""
    lines = [
        "# Sub-JHMDB, mean over the three splits",
        "",
        "One checkpoint per split: "
        + ", ".join(f"split {i}: `{r['weights']}`" for i, r in enumerate(runs, 1)),
        "",
        *pck_table_markdown(mean),
        "",
        *jitter_markdown(mean["jitter"]),
        "",
        "## Per split",
        "",
    ]
    for i, r in enumerate(runs, start=1):
        lines += [f"### Split {i} (details in [split{i}/report.md](split{i}/report.md))", ""]
        lines += [*pck_table_markdown(r["score"]), ""]
    return "\n".join(lines)
