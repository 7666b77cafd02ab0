"""`generate_dataset`: render the synthetic benchmark and write it in the Penn Action or Sub-JHMDB layout.

The output appears atomically: videos are written into a temporary sibling folder, the card, contact sheet and
the marker file `.dkdpose_synth` (the parameters as JSON) are written last, and only then is the folder
renamed onto `out`. An existing `out` is reused when its marker holds the same parameters, replaced when it is
an earlier synth output with other parameters, and refused (InputError) when it is anything else but an empty
folder.

Video `i` depends only on (seed, i), and the pool returns results in index order, so the output is the same
for any number of workers.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from dkdpose.data.layouts import (
    penn_video_id,
    write_penn_action_video,
    write_sub_jhmdb_splits,
    write_sub_jhmdb_video,
)
from dkdpose.data.synthetic.card import compute_card, write_contact_sheet
from dkdpose.data.synthetic.motion import ACTION_NAMES, J
from dkdpose.data.synthetic.params import SynthParams
from dkdpose.data.synthetic.render import RenderedVideo, render_video
from dkdpose.errors import InputError
from dkdpose.io import write_json
from dkdpose.skeleton import PENN_ACTION

log = logging.getLogger(__name__)

MARKER = ".dkdpose_synth"
# Penn Action's `head` is the centre of the head, the body model's `face` joint
_PENN_FROM_BODY = np.array([J["face" if n == "head" else n] for n in PENN_ACTION.names])


@dataclass
class SynthResult:
    """What `generate_dataset` did: the card, where, whether it reused a cached output, and its speed."""

    out: Path
    card: dict[str, object]
    reused: bool
    seconds: float
    frames_per_second: float


def generate_dataset(
    out: str | Path,
    format: str = "penn_action",
    videos: int = 20,
    frames: int = 30,
    seed: int = 0,
    size: tuple[int, int] = (256, 256),
    workers: int = 1,
    progress: bool = False,
    **difficulty: float,
) -> SynthResult:
    """Generate (or reuse) the benchmark in `out`; `size` is (width, height); `difficulty` holds the other
    fields of `SynthParams` (test_fraction, distractor, occluder, blur, noise, flicker, shake, zoom, speed).
    """
    unknown = set(difficulty) - set(SynthParams.__dataclass_fields__)
    if unknown:
        raise InputError(f"unknown synth option(s): {', '.join(sorted(unknown))}")
    params = SynthParams(format, videos, frames, seed, size[0], size[1], **difficulty).validate()
    if not isinstance(workers, int) or workers <= 0:
        raise InputError(f"--workers must be a positive integer, got {workers!r}")
    out = Path(out)
    cached = _cached_card(out, params)
    if cached is not None:
        log.info("%s already holds this benchmark (same parameters): reusing it", out)
        return SynthResult(out, cached, True, 0.0, 0.0)
    tmp = _make_temp_sibling(out)
    try:
        start = time.perf_counter()
        _write_videos(tmp, params, workers, progress)
        seconds = time.perf_counter() - start
        card = compute_card(tmp, params.format)
        card["parameters"] = params.as_dict()
        write_json(tmp / "card.json", card)
        write_contact_sheet(tmp, params.format, tmp / "contact_sheet.png")
        write_json(tmp / MARKER, params.as_dict())
        _replace(tmp, out)
    except OSError as e:
        raise InputError(f"{out}: cannot write the benchmark ({e.strerror or e})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = params.videos * params.frames
    return SynthResult(out, card, False, seconds, total / max(seconds, 1e-9))


def _cached_card(out: Path, params: SynthParams) -> dict[str, object] | None:
    """The card of a previous output with equal parameters, None when `out` may be (re)generated; InputError
    when `out` is something else than a folder, an empty folder or a previous synth output."""
    if not out.exists():
        return None
    if not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; choose another --out")
    marker = out / MARKER
    if not marker.is_file():
        if any(out.iterdir()):
            raise InputError(
                f"{out}: folder exists and is not a dkdpose synth output (no {MARKER}); choose another --out"
            )
        return None
    try:
        previous = json.loads(marker.read_text())
        card = json.loads((out / "card.json").read_text())
    except (OSError, ValueError):
        log.warning("%s: unreadable synth marker or card; generating again", out)
        return None
    if previous != params.as_dict():
        log.info("%s holds a synth output with other parameters; replacing it", out)
        return None
    return card


def _make_temp_sibling(out: Path) -> Path:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    except OSError as e:
        raise InputError(f"{out}: cannot create the output folder ({e.strerror or e})") from None


def _replace(tmp: Path, out: Path) -> None:
    """Move the finished `tmp` onto `out`; an old `out` (empty or an earlier synth output) is removed."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = tmp.with_name(tmp.name + ".old")
    os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _write_videos(root: Path, params: SynthParams, workers: int, progress: bool) -> None:
    """Render and write every video (in a pool of `workers` processes when > 1), then the split files."""
    tasks = [(params, i, root) for i in range(params.videos)]
    bar = tqdm(total=params.videos * params.frames, unit="frame", desc="synth", disable=not progress)
    folds = []
    with bar:
        if workers == 1:
            results = map(_make_video, tasks)
            folds = [_tick(bar, r, params.frames) for r in results]
        else:
            ctx = multiprocessing.get_context("spawn")  # no fork: the caller may hold torch threads
            with ctx.Pool(min(workers, params.videos), initializer=_init_worker) as pool:
                folds = [_tick(bar, r, params.frames) for r in pool.imap(_make_video, tasks)]
    if params.format == "sub_jhmdb":
        write_sub_jhmdb_splits(root, folds)


def _tick(bar: tqdm, result: tuple[str, str, int], frames: int) -> tuple[str, str, int]:
    bar.update(frames)
    return result


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already


def _make_video(task: tuple[SynthParams, int, Path]) -> tuple[str, str, int]:
    """Render video `index` and write it; returns (action, video name, Sub-JHMDB fold)."""
    params, index, root = task
    video = render_video(params, index)
    extra = {"distractor_bbox": video.distractor_boxes + 1.0}  # NaN stays NaN
    if params.format == "penn_action":
        vid = penn_video_id(index)
        write_penn_action_video(
            root, vid, video.frames, video.joints[:, _PENN_FROM_BODY], video.visibility[:, _PENN_FROM_BODY],
            video.boxes, video.action, train=not _is_test(video, params.test_fraction), pose=_view(video.yaw),
            extra=extra,
        )  # fmt: skip
        return video.action, vid, 0
    name = f"synth_{index + 1:04d}"
    write_sub_jhmdb_video(
        root, video.action, name, video.frames, video.joints, video.person_masks, _view(video.yaw), extra
    )
    return video.action, name, _fold(video)


def _is_test(video: RenderedVideo, fraction: float) -> bool:
    """Every 1/fraction-th video of each action is a test video; the offset varies with the action, so that
    even a handful of videos has test videos of several actions."""
    offset = ACTION_NAMES.index(video.action) / len(ACTION_NAMES) / fraction
    j = video.split_index + offset
    return math.floor((j + 1) * fraction) > math.floor(j * fraction)


def _fold(video: RenderedVideo) -> int:
    """Sub-JHMDB fold 0-2 (the video is a test video of split fold + 1)."""
    return (video.split_index + ACTION_NAMES.index(video.action)) % 3


def _view(yaw: float) -> str:
    """Penn Action's viewpoint string from the body yaw (degrees, + = facing the image's right)."""
    return "front" if abs(yaw) < 30 else ("right" if yaw > 0 else "left")
