"""Torso (or person) PCK@0.2 by position in the stream: frame 1 (P's), frames 2-5, 6-10, 11-20, 21-end.

    python tools/pck_by_frame.py data/synthetic_small runs/ablation/dkd_r18/eval/predictions.json [...]

A DKD stream starts from P on frame 1 and then runs on Φ's kernels only, so a model whose error grows along
the video (drift) shows falling numbers from left to right; a single-frame baseline should be flat. Reads the
test split's labels (Penn Action layout) and `dkdpose eval`'s predictions.json; prints one row per file.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from dkdpose.data.readers import read_records
from dkdpose.evaluation.metrics import counted_joints, joint_distances, person_sizes, torso_sizes
from dkdpose.skeleton import get_joint_set

BINS = ((0, 1), (1, 5), (5, 10), (10, 20), (20, None))


def pck_by_bin(records: dict, predictions: dict, norm: str, alpha: float = 0.2) -> list[float]:
    """Pooled PCK (%) of the frames in each of BINS (0-based frame ranges) over every predicted video."""
    hits, counted = [0] * len(BINS), [0] * len(BINS)
    for vid, pred in predictions["videos"].items():
        rec = records[vid]
        js = get_joint_set(rec.joint_set)
        kp = np.asarray(pred["keypoints"], np.float64)
        gt = np.asarray(rec.joints, np.float64)[..., :2]
        size = person_sizes(rec.boxes) if norm == "person" else torso_sizes(gt, kp, js.torso)
        ok = joint_distances(kp, gt) <= alpha * size[:, None]
        cnt = counted_joints(rec.visibility, js.visible_only)
        for i, (a, b) in enumerate(BINS):
            hits[i] += int((ok & cnt)[a:b].sum())
            counted[i] += int(cnt[a:b].sum())
    return [100.0 * h / c if c else float("nan") for h, c in zip(hits, counted, strict=True)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="dataset root (Penn Action layout)")
    ap.add_argument("predictions", nargs="+", help="predictions.json files of `dkdpose eval`")
    ap.add_argument("--norm", default="torso", choices=("torso", "person"))
    args = ap.parse_args()
    records = {r.video_id: r for r in read_records("penn_action", args.root, "test")}
    heads = ["frame 1", "2-5", "6-10", "11-20", "21-end"]
    print(f"| predictions | {' | '.join(heads)} |\n|---|" + "---:|" * len(heads))
    for path in args.predictions:
        with open(path) as f:
            cells = pck_by_bin(records, json.load(f), args.norm)
        print(f"| {path} | " + " | ".join(f"{v:.1f}" for v in cells) + " |")


if __name__ == "__main__":
    main()
