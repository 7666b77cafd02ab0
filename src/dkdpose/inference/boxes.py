"""Person boxes from any detector: box files, matching boxes to tracked people, and who is tracked when.

Two file formats are read (`read_boxes`), both into per-frame boxes (N, 4) x1 y1 x2 y2 in 0-based original
pixels with their scores (N,):

- COCO detection results JSON, as detectors write them (Detectron2, MMDetection, YOLO exporters):
  `[{"image_id": 0, "category_id": 1, "bbox": [x, y, w, h], "score": 0.98}, ...]`. `image_id` is the 0-based
  frame index, or a frame's file name (an image folder's file name, with or without its suffix; for a video
  `frame_000123`). Only category 1 (COCO's person) is used.
- MOT Challenge text (`det.txt`, `gt.txt`, tracker outputs): one box per line, `frame,id,x,y,w,h,conf,...`,
  frames 1-based; the id column is ignored (dkdpose keeps its own ids); `conf` -1 means "no score".

Boxes scoring below `min_score` are dropped. A frame that has no box in the file is a frame where the detector
found nobody. Any problem is an InputError naming the file and the entry or line.

`Roster` decides, frame by frame, which streams run: it matches the detector's boxes to the tracked windows
by overlap (IoU, one-to-one with `scipy.optimize.linear_sum_assignment`), so every person keeps one id across
frames; a box that overlaps nobody starts a new person; a person without a box for more than `max_missed`
frames has left and their stream ends; a stream due to restart (lost: low confidence, or periodic) restarts
from its matched box, the detector's box nearest its last window.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from dkdpose.errors import InputError

PERSON_CATEGORY = 1


@dataclass
class FrameBoxes:
    """Detector boxes per frame: `boxes[t]` (N, 4) x1 y1 x2 y2 0-based px, `scores[t]` (N,)."""

    path: Path
    boxes: dict[int, np.ndarray]
    scores: dict[int, np.ndarray]

    def at(self, t: int) -> np.ndarray:
        """Boxes (N, 4) of frame t (0-based); (0, 4) when the detector found nobody."""
        return self.boxes.get(t, np.zeros((0, 4)))


# --- reading box files --------------------------------------------------------------------------------------


def read_boxes(
    path: str | Path, frame_names: Sequence[str], size: tuple[int, int], min_score: float = 0.5
) -> FrameBoxes:
    """Read a COCO detection JSON or MOT text file (by content: JSON starts with `[`).

    frame_names: the names image ids may use (`VideoSource.frame_name`); size (W, H): boxes are clipped to the
    frame, and one lying wholly outside it is refused.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(f"{path}: box file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read the box file ({e})") from None
    if text.lstrip().startswith(("[", "{")):
        rows = _coco_rows(path, text, frame_names)
    else:
        rows = _mot_rows(path, text)
    return _group(path, rows, size, min_score)


Row = tuple[int, float, float, float, float, float, str]  # frame, x, y, w, h, score, where


def _coco_rows(path: Path, text: str, frame_names: Sequence[str]) -> list[Row]:
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(entries, list):
        raise InputError(f"{path}: expected a COCO detection results list [{{image_id, bbox, score}}, ...]")
    lookup = _name_lookup(frame_names)
    rows = []
    for i, e in enumerate(entries):
        where = f"entry {i}"
        if not isinstance(e, dict) or "image_id" not in e or "bbox" not in e:
            raise InputError(f"{path}: {where} is not an object with image_id and bbox")
        if e.get("category_id", PERSON_CATEGORY) != PERSON_CATEGORY:
            continue
        bbox = e["bbox"]
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise InputError(f"{path}: {where}: bbox must be [x, y, width, height], got {bbox!r}")
        frame = _frame_of(e["image_id"], lookup, f"{path}: {where}")
        rows.append((frame, *(_number(v, f"{path}: {where}: bbox") for v in bbox),
                     _number(e.get("score", 1.0), f"{path}: {where}: score"), where))  # fmt: skip
    if entries and not rows:
        raise InputError(f"{path}: no person boxes (category_id {PERSON_CATEGORY}) in the file")
    return rows


def _name_lookup(frame_names: Sequence[str]) -> dict[str, int]:
    """Frame index by file name and by file name without its suffix."""
    lookup = {}
    for t, name in enumerate(frame_names):
        lookup.setdefault(Path(name).stem, t)
        lookup[name] = t
    return lookup


def _frame_of(image_id: object, lookup: dict[str, int], where: str) -> int:
    if isinstance(image_id, int) and not isinstance(image_id, bool):
        if image_id < 0:
            raise InputError(f"{where}: image_id {image_id} is negative (frames are 0-based)")
        return image_id
    if isinstance(image_id, str) and image_id in lookup:
        return lookup[image_id]
    if isinstance(image_id, str) and Path(image_id).name in lookup:
        return lookup[Path(image_id).name]
    raise InputError(f"{where}: image_id {image_id!r} is neither a frame index nor a frame's file name")


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{where}: {value!r} is not a finite number")
    return float(value)


def _mot_rows(path: Path, text: str) -> list[Row]:
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"line {n}"
        cells = line.replace(" ", "").split(",")
        if len(cells) < 6:
            raise InputError(f"{path}: {where}: expected frame,id,x,y,w,h,conf,... (MOT): {line.strip()!r}")
        try:
            values = [float(c) for c in cells[:7]]
        except ValueError:
            raise InputError(f"{path}: {where}: not a row of numbers: {line.strip()!r}") from None
        if not all(math.isfinite(v) for v in values):
            raise InputError(f"{path}: {where}: NaN or infinite values")
        frame = values[0]
        if frame < 1 or frame != int(frame):
            raise InputError(f"{path}: {where}: frame {cells[0]} is not a 1-based frame number")
        score = values[6] if len(values) > 6 and values[6] >= 0 else 1.0  # -1: the format's "no score"
        rows.append((int(frame) - 1, *values[2:6], score, where))
    return rows


def _group(path: Path, rows: list[Row], size: tuple[int, int], min_score: float) -> FrameBoxes:
    """Rows -> per-frame boxes x1 y1 x2 y2, clipped to the frame; refuses empty and out-of-frame boxes."""
    width, height = size
    boxes: dict[int, list] = {}
    scores: dict[int, list] = {}
    for frame, x, y, w, h, score, where in rows:
        if w <= 0 or h <= 0:
            raise InputError(f"{path}: {where}: box width and height must be > 0, got {w:g} x {h:g}")
        box = np.clip([x, y, x + w, y + h], 0, [width, height, width, height])
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            raise InputError(f"{path}: {where}: box {x:g},{y:g},{w:g},{h:g} lies outside the "
                             f"{width}x{height} frame")  # fmt: skip
        if score >= min_score:
            boxes.setdefault(frame, []).append(box)
            scores.setdefault(frame, []).append(score)
    if not boxes:
        raise InputError(f"{path}: no boxes with a score >= {min_score:g}")
    return FrameBoxes(
        path, {t: np.asarray(b, np.float64) for t, b in boxes.items()},
        {t: np.asarray(s, np.float64) for t, s in scores.items()},
    )  # fmt: skip


# --- matching -----------------------------------------------------------------------------------------------


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes a (N, 4) and b (M, 4), x1 y1 x2 y2 -> (N, M)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=-1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def match_by_distance(windows: np.ndarray, boxes: np.ndarray, max_shift: float) -> list[tuple[int, int]]:
    """One-to-one (window, box) pairs of least total centre distance, in units of the box's longer side;
    pairs farther apart than `max_shift` are dropped."""
    if len(windows) == 0 or len(boxes) == 0:
        return []
    centre = lambda b: (b[:, :2] + b[:, 2:]) / 2  # noqa: E731
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    dist = np.linalg.norm(centre(windows)[:, None] - centre(boxes)[None], axis=-1) / np.maximum(side, 1e-9)
    rows, cols = linear_sum_assignment(dist)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if dist[r, c] <= max_shift]


def match_boxes(windows: np.ndarray, boxes: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """One-to-one (window, box) pairs of largest total IoU, each pair with IoU >= min_iou."""
    if len(windows) == 0 or len(boxes) == 0:
        return []
    iou = box_iou(windows, boxes)
    rows, cols = linear_sum_assignment(iou, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= min_iou]


# --- who is tracked -----------------------------------------------------------------------------------------


@dataclass
class RosterStep:
    """What the streams do on one frame, in the roster's new order (P' streams).

    keep: (P',) index of each stream in the previous order, -1 for a new person. boxes: (P', 4) crop boxes for
    this frame. start: (P',) streams that run P (new, or restarting from a detector box). drifted: (P',)
    streams whose window had left their person's box (matched by distance instead), restarting from it.
    """

    keep: np.ndarray
    boxes: np.ndarray
    start: np.ndarray
    drifted: np.ndarray


@dataclass
class Roster:
    """The people being tracked: their ids (stable across frames) and frames since their box was last seen.

    min_iou: a box and a window overlap this much to be the same person. max_shift: a stream that overlaps no
    box is matched to a left-over box whose centre is within this many box sizes of its window's centre: its
    window drifted off the person, and it restarts from the box. max_missed: frames a person may go without a
    box (detector misses) before their stream ends. new_max_iou: a box that overlaps a tracked window more
    than this is a duplicate detection of that person, not a new person.
    """

    min_iou: float = 0.2
    max_shift: float = 0.75
    max_missed: int = 5
    new_max_iou: float = 0.5
    ids: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)
    next_id: int = 0

    def step(
        self, windows: np.ndarray, last_windows: np.ndarray, due: np.ndarray, boxes: np.ndarray
    ) -> RosterStep:
        """Plan one frame from the detector's boxes (N, 4) of that frame.

        windows (P, 4): the streams' planned crop boxes; last_windows (P, 4): their last confident windows,
        matched against the boxes instead for the streams that are `due` (P,) to restart.
        """
        due = np.asarray(due, bool)
        ref = np.where(due[:, None], last_windows, windows) if len(windows) else np.zeros((0, 4))
        pairs = dict(match_boxes(ref, boxes, self.min_iou))
        drifted = self._match_drifted(ref, boxes, pairs)
        pairs.update(drifted)
        rows: list[tuple[int, np.ndarray, bool, int, int]] = []  # (previous index, box, start, id, missed)
        for p in range(len(windows)):
            miss = 0 if p in pairs else self.missed[p] + 1
            if miss > self.max_missed:
                continue  # the person left
            restart = bool(due[p]) or p in drifted
            box = boxes[pairs[p]] if (restart and p in pairs) else windows[p]
            rows.append((p, box, restart, self.ids[p], miss))
        overlap = box_iou(boxes, ref).max(axis=1) if len(ref) else np.zeros(len(boxes))
        taken = set(pairs.values())  # including the boxes of drifted streams
        for n in range(len(boxes)):
            if n not in taken and overlap[n] <= self.new_max_iou:  # else: a duplicate of a tracked person
                rows.append((-1, boxes[n], True, self.next_id, 0))
                self.next_id += 1
        self.ids, self.missed = [r[3] for r in rows], [r[4] for r in rows]
        keep = np.array([r[0] for r in rows], np.int64)
        return RosterStep(
            keep,
            np.array([r[1] for r in rows], np.float64).reshape(-1, 4),
            np.array([r[2] for r in rows], bool),
            np.isin(keep, list(drifted)),
        )

    def _match_drifted(self, ref: np.ndarray, boxes: np.ndarray, pairs: dict[int, int]) -> dict[int, int]:
        """{stream: box} for the streams left without a box, matched by centre distance to the left-over
        boxes."""
        streams = [p for p in range(len(ref)) if p not in pairs]
        free = [n for n in range(len(boxes)) if n not in set(pairs.values())]
        found = match_by_distance(ref[streams], boxes[free], self.max_shift) if streams and free else []
        return {streams[i]: free[j] for i, j in found}


def take_rows(values: np.ndarray, keep: np.ndarray, fill: np.ndarray | float) -> np.ndarray:
    """values (P, ...) reordered to keep (P',): row keep[i], or the fill where keep[i] == -1 (a new stream).

    fill: a scalar, or (P', ...) rows of which those of the new streams are taken.
    """
    out = np.empty((len(keep), *values.shape[1:]), values.dtype)
    out[keep < 0] = fill if np.ndim(fill) == 0 else np.asarray(fill)[keep < 0]
    out[keep >= 0] = values[keep[keep >= 0]]
    return out


def take_state(state: tuple[Tensor, ...] | None, keep: np.ndarray) -> tuple[Tensor, ...] | None:
    """The streams' state tensors (P, ...) reordered to keep (P',); a new stream's row is a placeholder
    (it starts with P, which replaces it). None when no stream carries over."""
    if state is None or not (keep >= 0).any():
        return None
    idx = torch.from_numpy(np.where(keep >= 0, keep, int(keep.max())))
    return tuple(s[idx.to(s.device)] for s in state)
