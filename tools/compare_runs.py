"""Paired bootstrap over test videos: is run B's PCK@0.2 different from run A's, or within the noise?

    python tools/compare_runs.py runs/ablation/baseline_r18/eval/score.json \
        runs/ablation/dkd_r18/eval/score.json

Reads two score.json files of `dkdpose eval` / `dkdpose score` on the same test split and resamples the
videos (with replacement, 10,000 times, seed 0), recomputing pooled PCK of both on each resample from the
per-video hits (`per_video`: PCK and joints counted). Prints B - A with its 95% percentile interval, for the
person and the torso normalization. Videos, not frames, are the independent units: frames of one video share
the person, the background and the distractors.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def per_video_hits(score: dict, norm: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(video ids, hits (V,), counted (V,)) from score.json's per_video block."""
    ids = sorted(score["per_video"])
    counted = np.array([score["per_video"][v]["joints_counted"] for v in ids], np.float64)
    pck = np.array([score["per_video"][v][norm] or 0.0 for v in ids], np.float64)
    return ids, pck / 100.0 * counted, counted


def paired_bootstrap(a: dict, b: dict, norm: str, draws: int = 10_000, seed: int = 0) -> dict:
    """{"a", "b", "diff", "low", "high"}: pooled PCK (%) of both, B - A and its 95% interval."""
    ids_a, hits_a, cnt = per_video_hits(a, norm)
    ids_b, hits_b, cnt_b = per_video_hits(b, norm)
    if ids_a != ids_b or not np.array_equal(cnt, cnt_b):
        raise SystemExit("the two score files are not on the same videos and joints")
    idx = np.random.default_rng(seed).integers(0, len(ids_a), size=(draws, len(ids_a)))
    diffs = 100.0 * (hits_b[idx].sum(1) - hits_a[idx].sum(1)) / cnt[idx].sum(1)
    pa, pb = 100.0 * hits_a.sum() / cnt.sum(), 100.0 * hits_b.sum() / cnt.sum()
    low, high = np.percentile(diffs, [2.5, 97.5])
    return {"a": pa, "b": pb, "diff": pb - pa, "low": float(low), "high": float(high)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="score.json of run A")
    ap.add_argument("b", nargs="+", help="score.json of run B (several: one line each)")
    args = ap.parse_args()
    with open(args.a) as f:
        a = json.load(f)
    for path in args.b:
        with open(path) as f:
            b = json.load(f)
        for norm in ("person", "torso"):
            r = paired_bootstrap(a, b, norm)
            print(f"{path} vs {args.a} [{norm}]: {r['b']:.1f} - {r['a']:.1f} = {r['diff']:+.1f} "
                  f"(95% interval {r['low']:+.1f} .. {r['high']:+.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
