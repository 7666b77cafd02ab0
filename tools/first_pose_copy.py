"""The trivial propagation baseline: each test video's first-frame pose copied to every frame.

    python tools/first_pose_copy.py --dataset penn_action --root data/synthetic_distinct --out copy.json
    dkdpose score --dataset penn_action --root data/synthetic_distinct --predictions copy.json \
        --skip-first-frame

Under the propagation protocol (`dkdpose eval --first-pose ground_truth`) the first frame's pose is given and
frames 2.. are scored; a model that only repeated it would score what this file scores. It says how far the
people move in the test videos, and so how much of a propagation score a model earns by following them.

With `--from PREDICTIONS` the first pose is a model's (frame 1 of a predictions file, e.g. the single-frame
network that serves as DKD's P) instead of the annotation: the copy a DKD stream started from that model's
pose must beat under the paper's protocol (score it without --skip-first-frame).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from dkdpose.data.readers import read_records
from dkdpose.errors import InputError
from dkdpose.evaluation.predictions import check_predictions, read_predictions, write_predictions
from dkdpose.io import check_output


def copied_first_poses(records: list) -> dict[str, np.ndarray]:
    """{video id: (T, K, 2)} every frame holding the first frame's annotated joints (unlabelled ones at 0)."""
    return {r.video_id: np.repeat(np.nan_to_num(r.joints[:1]), r.num_frames, axis=0) for r in records}


def copied_predicted_poses(records: list, path: str, dataset: str) -> dict[str, np.ndarray]:
    """{video id: (T, K, 2)} every frame holding frame 1 of the predictions file at `path` (checked first)."""
    preds = read_predictions(path)
    check_predictions(preds, records, path, dataset)
    return {r.video_id: np.repeat(preds.keypoints[r.video_id][:1], r.num_frames, axis=0) for r in records}


def main(argv: list[str] | None = None) -> int:
    """Exit status 0, or 2 with one line on stderr for bad input (nothing written)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True, choices=["penn_action", "sub_jhmdb"])
    ap.add_argument("--root", required=True, help="dataset folder in its original layout")
    ap.add_argument("--split", type=int, default=1, help="Sub-JHMDB split 1-3 (default 1)")
    ap.add_argument("--out", required=True, help="predictions JSON to write")
    ap.add_argument("--from", dest="source", help="predictions whose frame 1 is copied (default: labels)")
    args = ap.parse_args(argv)
    try:
        # never inside the dataset, never a folder, a link or the predictions read
        check_output(args.out, roots=[args.root], inputs=[args.source])
        records = read_records(args.dataset, args.root, subset="test", split=args.split)
        if not records:
            raise InputError(f"{args.root}: no test videos found for {args.dataset}")
        if args.source:
            poses = copied_predicted_poses(records, args.source, args.dataset)
        else:
            poses = copied_first_poses(records)
        write_predictions(args.out, args.dataset, poses)
    except InputError as e:
        print(f"first_pose_copy: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {len(records)} test videos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
