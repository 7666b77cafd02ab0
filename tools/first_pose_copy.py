"""The trivial propagation baseline: each test video's annotated first-frame pose copied to every frame.

    python tools/first_pose_copy.py --dataset penn_action --root data/synthetic_distinct --out copy.json
    dkdpose score --dataset penn_action --root data/synthetic_distinct --predictions copy.json \
        --skip-first-frame

Under the propagation protocol (`dkdpose eval --first-pose ground_truth`) the first frame's pose is given and
frames 2.. are scored; a model that only repeated it would score what this file scores. It says how far the
people move in the test videos, and so how much of a propagation score a model earns by following them.
"""

from __future__ import annotations

import argparse

import numpy as np

from dkdpose.data.readers import read_records
from dkdpose.evaluation.predictions import write_predictions


def copied_first_poses(records: list) -> dict[str, np.ndarray]:
    """{video id: (T, K, 2)} every frame holding the first frame's annotated joints (unlabelled ones at 0)."""
    return {r.video_id: np.repeat(np.nan_to_num(r.joints[:1]), r.num_frames, axis=0) for r in records}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True, choices=["penn_action", "sub_jhmdb"])
    ap.add_argument("--root", required=True, help="dataset folder in its original layout")
    ap.add_argument("--split", type=int, default=1, help="Sub-JHMDB split 1-3 (default 1)")
    ap.add_argument("--out", required=True, help="predictions JSON to write")
    args = ap.parse_args()
    records = read_records(args.dataset, args.root, subset="test", split=args.split)
    write_predictions(args.out, args.dataset, copied_first_poses(records))
    print(f"wrote {args.out}: {len(records)} test videos")


if __name__ == "__main__":
    main()
