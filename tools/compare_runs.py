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
import sys

from dkdpose.errors import InputError
from dkdpose.evaluation.compare import NORMS, paired_bootstrap, read_score


def comparison_lines(path_a: str, paths_b: list[str]) -> list[str]:
    """One line per B and normalization; every file is read and checked before anything is compared."""
    a, bs = read_score(path_a), [read_score(p) for p in paths_b]
    lines = []
    for path, b in zip(paths_b, bs, strict=True):
        for norm in NORMS:
            try:
                r = paired_bootstrap(a, b, norm)
            except InputError as e:
                raise InputError(f"{path} vs {path_a}: {e}") from None
            lines.append(f"{path} vs {path_a} [{norm}]: {r['b']:.1f} - {r['a']:.1f} = {r['diff']:+.1f} "
                         f"(95% interval {r['low']:+.1f} .. {r['high']:+.1f})")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    """Exit status 0, or 2 with one line on stderr for a missing, corrupt or mismatched score file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="score.json of run A")
    ap.add_argument("b", nargs="+", help="score.json of run B (several: one line each)")
    args = ap.parse_args(argv)
    try:
        lines = comparison_lines(args.a, args.b)
    except InputError as e:
        print(f"compare_runs: error: {e}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
