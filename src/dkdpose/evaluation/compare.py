"""Paired bootstrap over test videos: is run B's PCK@0.2 different from run A's, or within the noise?

Two score dicts (`score.json` of `dkdpose eval` / `dkdpose score`) on the same test split; the videos are
resampled with replacement (10,000 times, seed 0) and pooled PCK of both is recomputed on each resample from
the per-video hits (`per_video`: PCK and joints counted). Videos, not frames, are the independent units:
frames of one video share the person, the background and the distractors.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dkdpose.errors import InputError
from dkdpose.io import read_json

NORMS = ("person", "torso")


def read_score(path: str | Path) -> dict:
    """A score.json with a usable `per_video` block (joints counted >= 0; PCK in [0, 100] or null per norm);
    InputError naming the file and the video otherwise."""
    score = read_json(path, "score file", dict, "a score.json object of `dkdpose eval` / `dkdpose score`")
    videos = score.get("per_video")
    if not isinstance(videos, dict) or not videos:
        raise InputError(f"{path}: no 'per_video' scores (a score.json of `dkdpose eval` / `dkdpose score`)")
    for vid, row in videos.items():
        if not isinstance(row, dict) or not _number(row.get("joints_counted"), 0, math.inf):
            raise InputError(f"{path}: video {vid}: 'joints_counted' must be a number >= 0")
        for norm in NORMS:
            if row.get(norm) is not None and not _number(row[norm], 0, 100):
                raise InputError(f"{path}: video {vid}: {norm!r} must be a PCK in 0..100 or null")
    if not sum(row["joints_counted"] for row in videos.values()):
        raise InputError(f"{path}: no joint was counted in any video; nothing to compare")
    return score


def _number(value: object, low: float, high: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high


def per_video_hits(score: dict, norm: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(video ids, hits (V,), counted (V,)) from a score dict's per_video block."""
    ids = sorted(score["per_video"])
    counted = np.array([score["per_video"][v]["joints_counted"] for v in ids], np.float64)
    pck = np.array([score["per_video"][v][norm] or 0.0 for v in ids], np.float64)
    return ids, pck / 100.0 * counted, counted


def paired_bootstrap(a: dict, b: dict, norm: str, draws: int = 10_000, seed: int = 0) -> dict:
    """{"a", "b", "diff", "low", "high"}: pooled PCK (%) of both, B - A and its 95% percentile interval."""
    if a.get("first_frame") != b.get("first_frame"):
        raise InputError("one score counts the first frames and the other does not (the propagation "
                         "protocol, `--first-pose ground_truth`): score both the same way")  # fmt: skip
    ids_a, hits_a, cnt = per_video_hits(a, norm)
    ids_b, hits_b, cnt_b = per_video_hits(b, norm)
    if ids_a != ids_b or not np.array_equal(cnt, cnt_b):
        raise InputError("the two scores are not on the same videos and joints")
    idx = np.random.default_rng(seed).integers(0, len(ids_a), size=(draws, len(ids_a)))
    diffs = 100.0 * (hits_b[idx].sum(1) - hits_a[idx].sum(1)) / cnt[idx].sum(1)
    pa, pb = 100.0 * hits_a.sum() / cnt.sum(), 100.0 * hits_b.sum() / cnt.sum()
    low, high = np.percentile(diffs, [2.5, 97.5])
    return {"a": pa, "b": pb, "diff": pb - pa, "low": float(low), "high": float(high)}


def comparison(a: dict, b: dict) -> dict:
    """B - A for both normalizations: {"torso", "torso_ci95", "person", "person_ci95"} (PCK points)."""
    out = {}
    for norm in ("torso", "person"):
        r = paired_bootstrap(a, b, norm)
        out[norm], out[f"{norm}_ci95"] = round(r["diff"], 3), [round(r["low"], 3), round(r["high"], 3)]
    return out
