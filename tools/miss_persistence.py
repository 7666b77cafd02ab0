"""Do a model's misses last from frame to frame? What a temporal model could take from the previous frame.

    python tools/miss_persistence.py data/synthetic_distinct runs/abl/baseline_r18/eval/predictions.json [...]

For each predictions file, over every joint counted (protocol.md) in two consecutive frames t-1 and t of a
test video, with PCK@0.2 (torso by default) deciding hit or miss:

- miss: the share of such joints missed at t;
- miss after miss: the share missed at t among those missed at t-1 (equal to `miss` when misses come and go
  independently of the previous frame, near 100 when a miss lasts);
- hit before: among the misses at t, the share that was a hit at t-1 (what the previous frame could hand on);
- copy hits: among the misses at t, the share where the t-1 prediction itself, copied to t, would be a hit.

A model that carries the previous pose (DKD's h_t, a tracker, smoothing) can only repair misses of the last
two kinds; when misses last for many frames, there is little to carry. Reads the test split's labels (Penn
Action layout) and `dkdpose eval`'s predictions.json; prints one row per file.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from dkdpose.data.readers import read_records
from dkdpose.evaluation.metrics import counted_joints, joint_distances, person_sizes, torso_sizes
from dkdpose.skeleton import get_joint_set

COLUMNS = ("miss", "miss after miss", "hit before", "copy hits")


def persistence(records: dict, predictions: dict, norm: str, alpha: float = 0.2) -> dict[str, float]:
    """The four shares (%) of the module docstring, pooled over every predicted video."""
    n = dict.fromkeys(("pairs", "miss", "miss_prev", "miss_both", "hit_before", "copy_hit"), 0)
    for vid, pred in predictions["videos"].items():
        rec = records[vid]
        js = get_joint_set(rec.joint_set)
        kp = np.asarray(pred["keypoints"], np.float64)  # (T, K, 2)
        gt = np.asarray(rec.joints, np.float64)[..., :2]
        size = person_sizes(rec.boxes) if norm == "person" else torso_sizes(gt, kp, js.torso)  # (T,)
        hit = joint_distances(kp, gt) <= alpha * size[:, None]  # (T, K)
        copy = joint_distances(kp[:-1], gt[1:]) <= alpha * size[1:, None]  # t-1's prediction scored at t
        cnt = counted_joints(rec.visibility, js.visible_only)
        pair = cnt[1:] & cnt[:-1]
        miss, miss_prev = ~hit[1:] & pair, ~hit[:-1] & pair
        n["pairs"] += int(pair.sum())
        n["miss"] += int(miss.sum())
        n["miss_prev"] += int(miss_prev.sum())
        n["miss_both"] += int((miss & miss_prev).sum())
        n["hit_before"] += int((miss & hit[:-1]).sum())
        n["copy_hit"] += int((miss & copy).sum())

    def share(a: int, b: int) -> float:
        return 100.0 * a / b if b else float("nan")

    return {
        "miss": share(n["miss"], n["pairs"]),
        "miss after miss": share(n["miss_both"], n["miss_prev"]),
        "hit before": share(n["hit_before"], n["miss"]),
        "copy hits": share(n["copy_hit"], n["miss"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="dataset root (Penn Action layout)")
    ap.add_argument("predictions", nargs="+", help="predictions.json files of `dkdpose eval`")
    ap.add_argument("--norm", default="torso", choices=("torso", "person"))
    args = ap.parse_args()
    records = {r.video_id: r for r in read_records("penn_action", args.root, "test")}
    print(f"| predictions | {' | '.join(COLUMNS)} |\n|---|" + "---:|" * len(COLUMNS))
    for path in args.predictions:
        with open(path) as f:
            row = persistence(records, json.load(f), args.norm)
        print(f"| {path} | " + " | ".join(f"{row[c]:.1f}" for c in COLUMNS) + " |")


if __name__ == "__main__":
    main()
