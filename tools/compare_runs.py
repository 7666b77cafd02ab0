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

from dkdpose.errors import InputError
from dkdpose.evaluation import compare


def paired_bootstrap(a: dict, b: dict, norm: str) -> dict:
    """`dkdpose.evaluation.compare.paired_bootstrap`, exiting with the message on mismatched scores."""
    try:
        return compare.paired_bootstrap(a, b, norm)
    except InputError as e:
        raise SystemExit(str(e)) from None


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
