"""`dkdpose predict`: pose estimation on a user's video, online, one or several people as parallel streams.

    frame -> crop of each person's window (`frame_crop`) -> runner.init (P, frame 1 / re-init) or runner.step
          -> codec.decode -> inverse crop affine -> keypoints (P, K, 2) original px, scores (P, K)
          -> next windows from the keypoints (`tracking.window_from_keypoints`) -> next frame

Frame 1 runs the pose initializer P (`init_stream`) on the given boxes (default: the whole frame); every later
frame runs the streaming step on a crop window that follows the previous frame's keypoints. A stream restarts
with P on the next frame when its mean joint confidence falls below `reinit_below`, or every `reinit_every`
frames; only the streams that restart run P (the others step), and their states are merged back by index. A
stream that restarts for low confidence is cropped from its last confident window enlarged by RECOVER_SCALE,
so the initializer sees the neighbourhood where the person was last seen; a periodic restart uses the tracked
window.

Outputs (each written to a temporary file and renamed at the end, so a failure leaves none behind):
- overlay video (`viz.draw_people`: skeleton coloured by per-joint confidence, each person's window);
- JSON `{"joints": [...], "fps": f, "width": W, "height": H, "people": [{"id": i, "keypoints": [[[x, y] x K]
  x T], "scores": [[s x K] x T], "boxes": [[x1, y1, x2, y2] x T]}]}`, 0-based original-image pixels; "boxes"
  are the windows the frames were cropped from;
- CSV: one row per person and frame (`csv_header`).
With `smooth`, keypoints in the outputs are One-Euro filtered (`tracking.OneEuroFilter`); the tracking
itself always uses the raw keypoints.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from dkdpose.data.clips import frame_crop
from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.data.transforms import apply_affine_points, invert_affine
from dkdpose.errors import InputError
from dkdpose.inference.tracking import (
    OneEuroFilter,
    ReinitPolicy,
    WindowParams,
    clip_box,
    scale_box,
    window_from_keypoints,
)
from dkdpose.inference.video_io import VideoSource, open_video
from dkdpose.inference.viz import draw_people
from dkdpose.io import atomic_path
from dkdpose.models.weights import build_model_from_checkpoint, load_checkpoint
from dkdpose.skeleton import JOINT_SETS, JointSet, get_joint_set

log = logging.getLogger(__name__)

RECOVER_SCALE = 1.5
RUNTIMES = ("torch", "onnxruntime")
_FOURCC = {".mp4": "mp4v", ".mov": "mp4v", ".m4v": "mp4v", ".avi": "MJPG"}
State = tuple[Tensor, ...]


# --- model and runners --------------------------------------------------------------------------------------


def load_pose_model(
    weights: str | Path, joint_set: str | None = None
) -> tuple[nn.Module, dict, HeatmapCodec]:
    """Checkpoint -> (model in eval mode on the CPU, checkpoint dict, codec for its input size).

    `joint_set`: refuse weights trained for another joint set. The input size and sigma are the training
    config's (`data.input_size`, `data.sigma`), else the model's `input_size` and 2.
    """
    ckpt = load_checkpoint(weights, expect_joint_set=joint_set)
    _joint_set(ckpt)
    model = build_model_from_checkpoint(ckpt).eval()
    data_cfg = (ckpt.get("config") or {}).get("data") or {}
    size = int(data_cfg.get("input_size") or getattr(model, "input_size", 256))
    codec = HeatmapCodec((size, size), (size // 8, size // 8), float(data_cfg.get("sigma", 2.0)))
    return model, ckpt, codec


def _joint_set(ckpt: dict) -> JointSet:
    """The checkpoint's joint set; one this package does not know has no names or skeleton to draw."""
    if ckpt["joint_set"] not in JOINT_SETS:
        known = ", ".join(JOINT_SETS)
        raise InputError(f"{ckpt['path']}: unknown joint set {ckpt['joint_set']!r}; known: {known}")
    return get_joint_set(ckpt["joint_set"])


class StreamRunner(Protocol):
    """What `track_video` needs: frames (B, 3, S, S) -> (heatmaps (B, K, h, w), state of (B, ...) tensors)."""

    def init(self, frames: Tensor) -> tuple[Tensor, State]: ...

    def step(self, frames: Tensor, state: State) -> tuple[Tensor, State]: ...


class TorchStreamRunner:
    """A video pose model's `init_stream` / `step` on `device`, without gradients."""

    def __init__(self, model: nn.Module, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)

    @torch.no_grad()
    def init(self, frames: Tensor) -> tuple[Tensor, State]:
        return self.model.init_stream(frames.to(self.device))

    @torch.no_grad()
    def step(self, frames: Tensor, state: State) -> tuple[Tensor, State]:
        return self.model.step(frames.to(self.device), state)


def advance_streams(
    runner: StreamRunner, crops: Tensor, state: State | None, start: np.ndarray
) -> tuple[Tensor, State]:
    """One frame for all P streams: P (`init`) for the streams in `start` (P,), the step for the others.

    crops (P, 3, S, S); state: the (P, ...) tensors of the last frame (None before the first). Returns
    heatmaps (P, K, h, w) and the merged state, rows in stream order.
    """
    if state is None or start.all():
        return runner.init(crops)
    if not start.any():
        return runner.step(crops, state)
    restart = torch.from_numpy(np.flatnonzero(start))
    keep = torch.from_numpy(np.flatnonzero(~start))
    heat_k, state_k = runner.step(crops[keep], tuple(s[keep.to(s.device)] for s in state))
    heat_r, state_r = runner.init(crops[restart])
    heat = _merge(heat_k, heat_r, keep, restart)
    return heat, tuple(_merge(a, b, keep, restart) for a, b in zip(state_k, state_r, strict=True))


def _merge(a: Tensor, b: Tensor, idx_a: Tensor, idx_b: Tensor) -> Tensor:
    out = a.new_empty((len(idx_a) + len(idx_b), *a.shape[1:]))
    out[idx_a.to(a.device)] = a
    out[idx_b.to(a.device)] = b.to(a.device)
    return out


# --- the tracking loop --------------------------------------------------------------------------------------


@dataclass
class TrackResult:
    """Per frame: keypoints (T, P, K, 2) original px (maybe smoothed), scores (T, P, K), boxes (T, P, 4)."""

    keypoints: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    reinits: list[tuple[int, int, str]] = field(default_factory=list)  # (frame, person, "low"|"periodic")


FrameCallback = Callable[[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]


def _heat_channels(heat: Tensor, codec: HeatmapCodec, k: int, source: str) -> Tensor:
    """(P, K or K+1, h, w) -> (P, K, h, w) (a trailing background map is dropped); other sizes are refused."""
    w, h = codec.heatmap_size
    if tuple(heat.shape[-2:]) != (h, w) or heat.shape[1] not in (k, k + 1):
        raise InputError(
            f"{source}: the model gives heatmaps {tuple(heat.shape[1:])}, expected ({k}, {h}, {w})"
        )
    return heat[:, :k]


def _crop_all(
    frame: np.ndarray, boxes: np.ndarray, size: int, source: str
) -> tuple[Tensor, list[np.ndarray]]:
    crops, affines = zip(*(frame_crop(frame, b, (size, size), source=source) for b in boxes), strict=True)
    return torch.stack(crops), list(affines)


def _decode(heat: Tensor, affines: list[np.ndarray], codec: HeatmapCodec) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (P, K, h, w) -> keypoints (P, K, 2) original px, scores (P, K)."""
    coords, scores = codec.decode(heat.float().cpu())
    kp = np.stack(
        [apply_affine_points(invert_affine(a), c) for a, c in zip(affines, coords.numpy(), strict=True)]
    )
    return kp, scores.numpy().astype(np.float64)


def track_video(
    source: VideoSource,
    runner: StreamRunner,
    codec: HeatmapCodec,
    boxes: np.ndarray,
    num_joints: int,
    policy: ReinitPolicy | None = None,
    window: WindowParams | None = None,
    smoother: OneEuroFilter | None = None,
    on_frame: FrameCallback | None = None,
) -> TrackResult:
    """Run the streams over every frame of `source` starting from `boxes` (P, 4) original px.

    `on_frame(t, frame_rgb, keypoints (P, K, 2), scores (P, K), boxes (P, 4))` is called after each frame
    (keypoints as in the outputs, i.e. smoothed when a smoother is given).
    """
    policy, window = policy or ReinitPolicy(), window or WindowParams()
    size, frame_size = codec.input_size[0], (source.width, source.height)
    crop_boxes = np.asarray(boxes, dtype=np.float64).copy()
    last_good = crop_boxes.copy()
    start = np.ones(len(crop_boxes), bool)
    since = np.zeros(len(crop_boxes), np.int64)
    state, kps, scs, bxs, reinits = None, [], [], [], []
    for t, frame in enumerate(source):
        where = f"{source.path}, frame {t}"
        crops, affines = _crop_all(frame, crop_boxes, size, where)
        heat, state = advance_streams(runner, crops, state, start)
        kp, sc = _decode(_heat_channels(heat, codec, num_joints, where), affines, codec)
        since = np.where(start, 1, since + 1)
        if smoother is not None:
            smoother.reset(start)
        shown = smoother(kp) if smoother is not None else kp
        kps.append(shown)
        scs.append(sc)
        bxs.append(crop_boxes.copy())
        if on_frame is not None:
            on_frame(t, frame, shown, sc, crop_boxes)
        periodic, low = policy.due(since, sc)
        tracked = window_from_keypoints(kp, sc, crop_boxes, frame_size, window)
        last_good = np.where(low[:, None], last_good, tracked)
        recover = clip_box(scale_box(last_good, RECOVER_SCALE), *frame_size)
        crop_boxes = np.where(low[:, None], recover, tracked)
        start = periodic | low
        reinits += [(t + 1, int(p), "low" if low[p] else "periodic") for p in np.flatnonzero(start)]
    if not kps:
        raise InputError(f"{source.path}: no frames could be decoded")
    reinits = [r for r in reinits if r[0] < len(kps)]  # a restart planned after the last frame never ran
    return TrackResult(np.stack(kps), np.stack(scs), np.stack(bxs), reinits)


# --- inputs -------------------------------------------------------------------------------------------------


def parse_box(text: str) -> tuple[float, float, float, float]:
    """ "x1,y1,x2,y2" -> four floats (original-image pixels); InputError otherwise."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise InputError(f"--box must be four comma-separated numbers x1,y1,x2,y2, got {text!r}")
    return values  # type: ignore[return-value]


def check_boxes(boxes: Sequence[Sequence[float]] | None, source: VideoSource) -> np.ndarray:
    """Start boxes (P, 4): the given ones, checked to have an area and lie inside the frame; or the frame."""
    w, h = source.width, source.height
    if not boxes:
        return np.array([[0.0, 0.0, float(w), float(h)]])
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise InputError(f"{source.path}: boxes must be x1,y1,x2,y2 each, got shape {b.shape}")
    for box in b:
        text = ",".join(f"{v:g}" for v in box)
        if not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
            raise InputError(f"{source.path}: box {text} has no area (need x2 > x1 and y2 > y1)")
        if box[0] < 0 or box[1] < 0 or box[2] > w or box[3] > h:
            raise InputError(f"{source.path}: box {text} lies outside the {w}x{h} frame")
    return b


def _check_output(
    path: str | Path | None, suffixes: Sequence[str], what: str, used: set[Path]
) -> Path | None:
    """An output path that can be written: a known suffix, an existing writable folder, not used twice."""
    if path is None:
        return None
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise InputError(f"{p}: the {what} file must end in {' or '.join(suffixes)}")
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir() or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{p}: cannot write the {what} here (no such folder, a folder, or not writable)")
    if p.resolve() in used:
        raise InputError(f"{p}: given for two outputs (or as the input)")
    used.add(p.resolve())
    return p


def _check_options(reinit_every: int, reinit_below: float | None, runtime: str, onnx_dir) -> None:
    if reinit_every < 0:
        raise InputError(f"--reinit-every must be >= 0 (0 = never), got {reinit_every}")
    if reinit_below is not None and not np.isfinite(reinit_below):
        raise InputError(f"--reinit-below must be a number, got {reinit_below}")
    if runtime not in RUNTIMES:
        raise InputError(f"--runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if runtime == "onnxruntime" and onnx_dir is None:
        raise InputError("--runtime onnxruntime needs --onnx-dir (a folder written by `dkdpose export`)")


# --- outputs ------------------------------------------------------------------------------------------------


class OverlayWriter:
    """Writes RGB frames (H, W, 3) uint8 to a video file with OpenCV (codec chosen by the suffix)."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], final: Path):
        fourcc = cv2.VideoWriter_fourcc(*_FOURCC[final.suffix.lower()])
        self.writer = cv2.VideoWriter(str(path), fourcc, float(fps), size)
        if not self.writer.isOpened():
            raise InputError(f"{final}: OpenCV cannot write a {final.suffix} video here")

    def write(self, frame_rgb: np.ndarray) -> None:
        self.writer.write(cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        self.writer.release()


def poses_json(result: TrackResult, joint_set: JointSet, source: VideoSource) -> dict:
    """The JSON document of the module docstring (rounded to 1/1000 px)."""
    people = []
    for p in range(result.keypoints.shape[1]):
        people.append(
            {
                "id": p,
                "keypoints": np.round(result.keypoints[:, p], 3).tolist(),
                "scores": np.round(result.scores[:, p], 4).tolist(),
                "boxes": np.round(result.boxes[:, p], 2).tolist(),
            }
        )
    return {
        "joints": list(joint_set.names),
        "fps": source.fps,
        "width": source.width,
        "height": source.height,
        "people": people,
    }


def csv_header(joint_set: JointSet) -> list[str]:
    """frame, time_s, person, box_x1..box_y2, then <joint>_x, <joint>_y, <joint>_score for every joint."""
    cols = ["frame", "time_s", "person", "box_x1", "box_y1", "box_x2", "box_y2"]
    return cols + [f"{n}_{c}" for n in joint_set.names for c in ("x", "y", "score")]


def poses_csv(result: TrackResult, joint_set: JointSet, fps: float) -> str:
    """One row per person and frame (`csv_header`), frames in order, people in id order."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(csv_header(joint_set))
    t_frames, n_people = result.keypoints.shape[:2]
    for t in range(t_frames):
        for p in range(n_people):
            joints = np.concatenate([result.keypoints[t, p], result.scores[t, p][:, None]], axis=1)
            row = [t, round(t / fps, 4), p, *np.round(result.boxes[t, p], 2)]
            writer.writerow(row + [round(float(v), 3) for v in joints.ravel()])
    return buf.getvalue()


def _open_temp(stack: ExitStack, path: Path) -> Path:
    try:
        return stack.enter_context(atomic_path(path))
    except OSError as e:
        raise InputError(f"{path}: cannot write here ({e.strerror})") from None


# --- the predict command ------------------------------------------------------------------------------------


def load_runner(
    weights: str | Path, device: str, runtime: str, onnx_dir: str | Path | None, joint_set: str | None
) -> tuple[StreamRunner, dict, HeatmapCodec]:
    """(runner, checkpoint dict, codec) for `runtime`: PyTorch, or ONNX Runtime on an export of `weights`."""
    from dkdpose.evaluation.evaluate import resolve_device

    dev = resolve_device(device)
    if runtime == "onnxruntime":
        from dkdpose.export import load_onnx_runner

        return load_onnx_runner(weights, onnx_dir, str(dev), joint_set)
    model, ckpt, codec = load_pose_model(weights, joint_set)
    del ckpt["state_dict"]  # loaded into the model; the dict's copy would only hold memory
    return TorchStreamRunner(model, dev), ckpt, codec


def predict(
    input: str | Path,
    weights: str | Path,
    out: str | Path | None = None,
    json_path: str | Path | None = None,
    csv_path: str | Path | None = None,
    boxes: Sequence[Sequence[float]] | None = None,
    reinit_every: int = 0,
    reinit_below: float | None = None,
    smooth: bool = False,
    device: str = "cpu",
    runtime: str = "torch",
    onnx_dir: str | Path | None = None,
    progress: bool = True,
    joint_set: str | None = None,
) -> dict:
    """Track the people of video `input` (file or image folder) with checkpoint `weights`; write the outputs.

    boxes: start boxes x1 y1 x2 y2 in original pixels, one per person (default: the whole frame).
    joint_set: refuse weights of another joint set. Every check (paths, boxes, weights, export) runs before
    the first frame. Returns the JSON document plus "frames", "seconds", "frames_per_second", "runtime",
    "reinits" ([frame, person, "low"|"periodic"] each) and "outputs" (the paths written).
    """
    _check_options(reinit_every, reinit_below, runtime, onnx_dir)
    used = {Path(input).resolve()}
    targets = {
        "overlay": _check_output(out, tuple(_FOURCC), "overlay video", used),
        "json": _check_output(json_path, (".json",), "JSON", used),
        "csv": _check_output(csv_path, (".csv",), "CSV", used),
    }
    source = open_video(input)
    start_boxes = check_boxes(boxes, source)
    runner, ckpt, codec = load_runner(weights, device, runtime, onnx_dir, joint_set)
    js = _joint_set(ckpt)
    policy = ReinitPolicy(int(reinit_every), reinit_below)
    smoother = OneEuroFilter(source.fps) if smooth else None
    t0 = time.perf_counter()
    with ExitStack() as stack:
        temps = {k: _open_temp(stack, p) for k, p in targets.items() if p is not None}
        writer = None
        if "overlay" in temps:
            writer = OverlayWriter(
                temps["overlay"], source.fps, (source.width, source.height), targets["overlay"]
            )
            stack.callback(writer.close)  # runs before the renames (ExitStack unwinds in reverse)
        bar = stack.enter_context(
            tqdm(total=source.num_frames, desc="predict", unit="frame", disable=not progress)
        )

        def on_frame(t: int, frame: np.ndarray, kp: np.ndarray, sc: np.ndarray, bx: np.ndarray) -> None:
            if writer is not None:
                writer.write(draw_people(frame, kp, sc, js, bx))
            bar.update(1)

        result = track_video(
            source, runner, codec, start_boxes, js.num_joints, policy, smoother=smoother, on_frame=on_frame
        )
        seconds = time.perf_counter() - t0
        doc = poses_json(result, js, source)
        if "json" in temps:
            temps["json"].write_text(_json_text(doc))
        if "csv" in temps:
            temps["csv"].write_text(poses_csv(result, js, source.fps))
    frames = len(result.keypoints)
    log.info(
        "predict: %d frames, %d people in %.1f s (%.1f frames/s)",
        frames,
        len(start_boxes),
        seconds,
        frames / seconds,
    )
    return {
        **doc,
        "frames": frames,
        "seconds": seconds,
        "frames_per_second": frames / seconds,
        "runtime": runtime,
        "reinits": [list(r) for r in result.reinits],
        "outputs": {k: str(p) for k, p in targets.items() if p is not None},
    }


def _json_text(doc: dict) -> str:
    import json

    return json.dumps(doc, separators=(",", ":")) + "\n"
