"""`generate_dataset`: render the synthetic benchmark and write it in the Penn Action or Sub-JHMDB layout.

The output appears atomically: videos are written into a temporary sibling folder, the card, contact sheet and
the marker file `.dkdpose_synth` are written last, and only then is the folder renamed onto `out`. The marker
holds the parameters and a manifest: the size of every file synth wrote. An existing `out` is reused when its
marker holds the same parameters and every manifest file is intact; it is replaced only when every file in it
is one synth wrote (listed in the manifest, same size), so that nothing a user added or edited is ever
deleted; anything else is refused (InputError) with one line naming what would be lost.

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
from dkdpose.io import make_temp_folder, write_json
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
    tmp = make_temp_folder(out)
    try:
        start = time.perf_counter()
        _write_videos(tmp, params, workers, progress)
        seconds = time.perf_counter() - start
        card = compute_card(tmp, params.format)
        card["parameters"] = params.as_dict()
        write_json(tmp / "card.json", card)
        write_contact_sheet(tmp, params.format, tmp / "contact_sheet.png")
        write_json(tmp / MARKER, {"parameters": params.as_dict(), "files": manifest(tmp)})
        _replace(tmp, out)
    except OSError as e:
        raise InputError(f"{out}: cannot write the benchmark ({e.strerror or e})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = params.videos * params.frames
    return SynthResult(out, card, False, seconds, total / max(seconds, 1e-9))


def manifest(root: Path) -> dict[str, int]:
    """{relative path: size in bytes} of every file under `root` (symbolic links count as files)."""
    files = {}
    for folder, dirs, names in os.walk(root):
        for name in names + [d for d in dirs if (Path(folder) / d).is_symlink()]:
            path = Path(folder) / name
            files[path.relative_to(root).as_posix()] = path.lstat().st_size
    files.pop(MARKER, None)
    return files


def _foreign_files(out: Path, listed: dict[str, int]) -> list[str]:
    """Files under `out` that synth did not write: not in the manifest `listed`, or of another size."""
    return sorted(name for name, size in manifest(out).items() if listed.get(name) != size)


def _read_marker(out: Path) -> tuple[dict, dict[str, int]] | None:
    """(parameters, manifest) from `out`'s marker; None when it is missing, unreadable or of an old format."""
    try:
        marker = json.loads((out / MARKER).read_text())
        params, files = marker["parameters"], marker["files"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    ok = isinstance(params, dict) and isinstance(files, dict)
    return (params, files) if ok and all(isinstance(v, int) for v in files.values()) else None


def _cached_card(out: Path, params: SynthParams) -> dict[str, object] | None:
    """The card of a previous intact output with equal parameters; None when `out` may be (re)generated.

    InputError when `out` is not a folder, or holds a file synth did not write (it would be lost).
    """
    if not out.exists() and not out.is_symlink():
        return None
    if out.is_symlink() or not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; choose another --out")
    marker = _read_marker(out)
    if marker is None and (out / MARKER).exists():
        lost = sorted(manifest(out))
        raise InputError(f"{out}: its {MARKER} marker is unreadable or of an old version, so {_lost(lost)} "
                         "would be lost; remove the folder yourself or choose another --out")  # fmt: skip
    foreign = _foreign_files(out, marker[1] if marker else {})
    if foreign:
        what = "is not a dkdpose synth output" if marker is None else "holds files synth did not write"
        raise InputError(f"{out}: {what}; {_lost(foreign)} would be lost; move them or choose another --out")
    if marker is None:  # an empty folder
        return None
    intact = set(marker[1]) == set(manifest(out))
    if marker[0] != params.as_dict() or not intact:
        log.info("%s holds a synth output with other parameters (or incomplete); replacing it", out)
        return None
    try:
        return json.loads((out / "card.json").read_text())
    except (OSError, ValueError):
        return None


def _lost(names: list[str]) -> str:
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{len(names)} file(s) ({shown})"


def _replace(tmp: Path, out: Path) -> None:
    """Move the finished `tmp` onto `out`; an old `out` (empty or an earlier synth output) is removed."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = tmp.with_name(tmp.name.removesuffix(".partial") + ".old.partial")
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
        extra.update(_distractor_xy(video.distractor_joints[:, _PENN_FROM_BODY]))
        vid = penn_video_id(index)
        write_penn_action_video(
            root, vid, video.frames, video.joints[:, _PENN_FROM_BODY], video.visibility[:, _PENN_FROM_BODY],
            video.boxes, video.action, train=not _is_test(video, params.test_fraction), pose=_view(video.yaw),
            extra=extra,
        )  # fmt: skip
        return video.action, vid, 0
    name = f"synth_{index + 1:04d}"
    extra.update(_distractor_xy(video.distractor_joints))
    write_sub_jhmdb_video(
        root, video.action, name, video.frames, video.joints, video.person_masks, _view(video.yaw), extra
    )
    return video.action, name, _fold(video)


def _distractor_xy(joints: np.ndarray) -> dict[str, np.ndarray]:
    """(T, K, 2) 0-based distractor joints -> the label fields `distractor_x`, `distractor_y` (T, K), 1-based
    like the layouts' own coordinates, NaN where the distractor is not in the frame."""
    return {"distractor_x": joints[..., 0] + 1.0, "distractor_y": joints[..., 1] + 1.0}


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
