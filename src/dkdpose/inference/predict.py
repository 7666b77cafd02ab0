"""`dkdpose predict`: pose estimation on a user's video, online, one or several people as parallel streams.

`predict` runs a `PoseTracker` (`tracker.py`) over every frame of a video file, an image folder, a camera or a
stream (`video_io.open_source`), with the people from start boxes or from a detector's box file
(`boxes.py`), and writes:
- overlay video (`viz.draw_people`: skeleton coloured by per-joint confidence, each person's window);
- JSON `{"joints": [...], "fps": f, "width": W, "height": H, "people": [{"id": i, "keypoints": [[[x, y] x K]
  x T], "scores": [[s x K] x T], "boxes": [[x1, y1, x2, y2] x T]}]}`, 0-based original-image pixels; "boxes"
  are the windows the frames were cropped from; a frame where a person is absent (boxes from a detector) holds
  null;
- CSV: one row per person and frame where the person is present (`csv_header`);
- COCO keypoint results and beside them the dataset file with the categories (`inference/coco.py`).
Each output is written to a temporary file and renamed at the end, so a failure leaves none behind. Every
check (paths, boxes, weights, export) runs before the first frame.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from dkdpose.errors import InputError
from dkdpose.inference.boxes import FrameBoxes, read_boxes
from dkdpose.inference.coco import categories_path, video_coco_texts
from dkdpose.inference.precision import onnxruntime_context
from dkdpose.inference.tracker import PoseTracker, TrackerOptions, TrackResult, track_video
from dkdpose.inference.video_io import VideoSource, open_source, stop_on_interrupt
from dkdpose.inference.viz import draw_people
from dkdpose.io import enter_atomic, json_text
from dkdpose.skeleton import JointSet

log = logging.getLogger(__name__)

_FOURCC = {".mp4": "mp4v", ".mov": "mp4v", ".m4v": "mp4v", ".avi": "MJPG"}


@dataclass(frozen=True)
class PredictOutputs:
    """The files `predict` writes (None: not written): overlay video (.mp4, .mov, .m4v, .avi), JSON, CSV, COCO
    keypoint results (.json; the dataset file with the categories goes beside it)."""

    overlay: str | Path | None = None
    json: str | Path | None = None
    csv: str | Path | None = None
    coco: str | Path | None = None


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


def read_box_file(path: str | Path, source: VideoSource, threshold: float = 0.5) -> FrameBoxes:
    """A detector's boxes for `source`'s frames (image ids may be frame indices or frame names)."""
    if not (math.isfinite(threshold) and 0 <= threshold <= 1):
        raise InputError(f"--box-threshold must be a score in [0, 1], got {threshold}")
    names = [source.frame_name(t) for t in range(source.num_frames)]
    return read_boxes(path, names, (source.width, source.height), threshold)


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
                "keypoints": _rows_or_null(result.keypoints[:, p], 3),
                "scores": _rows_or_null(result.scores[:, p], 4),
                "boxes": _rows_or_null(result.boxes[:, p], 2),
            }
        )
    return {
        "joints": list(joint_set.names),
        "fps": source.fps,
        "width": source.width,
        "height": source.height,
        "people": people,
    }


def _rows_or_null(values: np.ndarray, decimals: int) -> list:
    """(T, ...) -> T rows rounded to `decimals`; None for a frame where the person is absent (NaN)."""
    return [r.tolist() if np.isfinite(r).all() else None for r in np.round(values, decimals)]


def csv_header(joint_set: JointSet) -> list[str]:
    """frame, time_s, person, box_x1..box_y2, then <joint>_x, <joint>_y, <joint>_score for every joint."""
    cols = ["frame", "time_s", "person", "box_x1", "box_y1", "box_x2", "box_y2"]
    return cols + [f"{n}_{c}" for n in joint_set.names for c in ("x", "y", "score")]


def poses_csv(result: TrackResult, joint_set: JointSet, fps: float) -> str:
    """One row per person and frame (`csv_header`), frames in order, people in id order; an absent person
    has no row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(csv_header(joint_set))
    t_frames, n_people = result.keypoints.shape[:2]
    for t in range(t_frames):
        for p in range(n_people):
            if not np.isfinite(result.keypoints[t, p]).all():
                continue
            joints = np.concatenate([result.keypoints[t, p], result.scores[t, p][:, None]], axis=1)
            row = [t, round(t / fps, 4), p, *np.round(result.boxes[t, p], 2)]
            writer.writerow(row + [round(float(v), 3) for v in joints.ravel()])
    return buf.getvalue()


# --- the predict command ------------------------------------------------------------------------------------


def predict(
    input: str | Path,
    weights: str | Path,
    outputs: PredictOutputs | None = None,
    boxes: Sequence[Sequence[float]] | None = None,
    options: TrackerOptions | None = None,
    progress: bool = True,
    box_file: str | Path | None = None,
    box_threshold: float = 0.5,
) -> dict:
    """Track the people of video `input` with checkpoint `weights`; write `outputs`.

    input: a video file, an image folder, a camera index ("0") or a stream URL (`video_io.open_source`); a
    live source runs until it ends or Ctrl-C, after which the outputs so far are written.
    boxes: start boxes x1 y1 x2 y2 in original pixels, one per person (default: the whole frame).
    box_file: a detector's boxes per frame instead (COCO detection JSON or MOT text, `boxes.py`); boxes
    scoring below `box_threshold` are dropped.
    options: re-initialization, windows, smoothing, device, runtime, joint-set check (`TrackerOptions`).
    Returns the JSON document plus "frames", "seconds", "frames_per_second", "runtime", "precision",
    "reinits" ([frame, person, "low"|"periodic"|"drift"] each), "stopped" (Ctrl-C ended a live source) and
    "outputs" (the paths written).
    """
    outputs, options = outputs or PredictOutputs(), options or TrackerOptions()
    if box_file is not None and boxes:
        raise InputError("--box and --boxes both give people: choose one")
    used = {Path(p).resolve() for p in (input, box_file) if p is not None}  # inputs are never outputs
    targets = {
        "overlay": _check_output(outputs.overlay, tuple(_FOURCC), "overlay video", used),
        "json": _check_output(outputs.json, (".json",), "JSON", used),
        "csv": _check_output(outputs.csv, (".csv",), "CSV", used),
        "coco": _check_output(outputs.coco, (".json",), "COCO results", used),
    }
    if outputs.coco is not None:
        targets["coco_categories"] = _check_output(categories_path(outputs.coco), (".json",), "COCO", used)
    source = open_source(input)
    start_boxes = check_boxes(boxes, source) if box_file is None else np.zeros((0, 4))
    detections = read_box_file(box_file, source, box_threshold) if box_file is not None else None
    tracker = PoseTracker(weights, start_boxes, options, fps=source.fps, source=str(source.path))
    js = tracker.joint_set
    t0 = time.perf_counter()
    with ExitStack() as stack:
        stack.enter_context(onnxruntime_context(options.runtime, options.precision))
        temps = {k: enter_atomic(stack, p) for k, p in targets.items() if p is not None}
        writer = None
        if "overlay" in temps:
            writer = OverlayWriter(
                temps["overlay"], source.fps, (source.width, source.height), targets["overlay"]
            )
            stack.callback(writer.close)  # runs before the renames (ExitStack unwinds in reverse)
        bar = stack.enter_context(
            tqdm(total=source.num_frames or None, desc="predict", unit="frame", disable=not progress)
        )  # its rate is the frames/s
        if source.is_live:
            stack.enter_context(stop_on_interrupt(source))  # Ctrl-C: stop, write what there is

        def on_frame(t: int, frame: np.ndarray, kp: np.ndarray, sc: np.ndarray, bx: np.ndarray) -> None:
            if writer is not None:
                writer.write(draw_people(frame, kp, sc, js, bx))
            bar.update(1)

        result = track_video(source, tracker, on_frame=on_frame, detections=detections)
        seconds = time.perf_counter() - t0
        doc = poses_json(result, js, source)
        if "json" in temps:
            temps["json"].write_text(json_text(doc, indent=None))
        if "csv" in temps:
            temps["csv"].write_text(poses_csv(result, js, source.fps))
        if "coco" in temps:
            names = [source.frame_name(t) for t in range(len(result.keypoints))]
            texts = video_coco_texts(result.keypoints, result.scores, js, names,
                                     (source.width, source.height), f"dkdpose predict {input}")  # fmt: skip
            temps["coco"].write_text(texts[0])
            temps["coco_categories"].write_text(texts[1])
    frames = len(result.keypoints)
    log.info("predict: %d frames, %d people in %.1f s (%.1f frames/s)",
             frames, result.keypoints.shape[1], seconds, frames / seconds)  # fmt: skip
    return {
        **doc,
        "frames": frames,
        "seconds": seconds,
        "frames_per_second": frames / seconds,
        "runtime": options.runtime,
        "precision": options.precision,
        "reinits": [list(r) for r in result.reinits],
        "stopped": source.stop_requested,
        "outputs": {k: str(p) for k, p in targets.items() if p is not None},
    }
