"""`dkdpose score`: score a predictions file against a dataset's ground truth with the PCK protocol.

Penn Action scores its `test` subset (the `train == -1` videos); Sub-JHMDB the test videos of one split
(default 1). The result is the score dict of `docs/protocol.md` (see `metrics.PCKAccumulator.score`);
`format_table` renders it like the paper's tables (Head Sho Elb Wri Hip Knee Ank Mean; one row per
normalization).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from dkdpose.data.readers import read_records
from dkdpose.data.records import VideoRecord
from dkdpose.errors import InputError
from dkdpose.evaluation.metrics import PCKAccumulator, counted_joints, person_sizes
from dkdpose.evaluation.predictions import SCORED_DATASETS, check_predictions, read_predictions
from dkdpose.io import make_folder, write_json
from dkdpose.skeleton import get_joint_set

log = logging.getLogger(__name__)

# The score dict's "first_frame" under the propagation protocol (absent under the paper's: every frame scored)
GIVEN_FIRST_FRAME = "given, not scored"


def score_predictions(
    dataset: str,
    root: str | Path,
    predictions_path: str | Path,
    split: int | None = None,
    alpha: float = 0.2,
    first_frame_given: bool = False,
) -> dict:
    """Score `predictions_path` on the test videos of `dataset` under `root`: the protocol's score dict.

    `split` (Sub-JHMDB only) defaults to 1; `alpha` is the PCK threshold. first_frame_given: the
    propagation protocol, where each video's first-frame pose was given to the model; that frame is not scored
    and the dict says so ("first_frame": "given, not scored"). Bad input raises InputError.
    """
    if dataset not in SCORED_DATASETS:
        raise InputError(f"cannot score dataset {dataset!r}; choose one of {', '.join(SCORED_DATASETS)}")
    if split is not None and dataset != "sub_jhmdb":
        raise InputError(f"--split applies to sub_jhmdb only, not {dataset}")
    if not (math.isfinite(alpha) and alpha >= 0):
        raise InputError(f"alpha must be a finite number >= 0, got {alpha}")
    if split is not None and split not in (1, 2, 3):
        raise InputError(f"--split must be 1, 2 or 3, got {split}")
    split = (split or 1) if dataset == "sub_jhmdb" else None
    preds = read_predictions(predictions_path)  # first: cheap, and a typo in its path should fail fast
    records = read_records(dataset, root, subset="test", split=split or 1)
    if not records:
        raise InputError(f"{root}: no test videos found for {dataset}")
    check_predictions(preds, records, predictions_path, dataset)
    acc = PCKAccumulator(get_joint_set(dataset))
    first = 1 if first_frame_given else 0
    for r in records:
        _check_boxes(r, acc.joint_set.visible_only, root)
        acc.add(r.video_id, preds.keypoints[r.video_id][first:], r.joints[first:], r.visibility[first:],
                r.boxes[first:])  # fmt: skip
    log.debug("scored %d videos, %d frames", len(records), acc.frames)
    score = acc.score(alpha, dataset, split)
    return {**score, "first_frame": GIVEN_FIRST_FRAME} if first_frame_given else score


def _check_boxes(record: VideoRecord, visible_only: bool, root: str | Path) -> None:
    """Refuse a zero-size (or NaN) ground-truth box in a frame with counted joints: PCK is undefined there."""
    counted = counted_joints(record.visibility, visible_only).any(axis=1)  # (T,)
    bad = np.flatnonzero(~(person_sizes(record.boxes) > 0) & counted)
    if bad.size:
        box = np.round(record.boxes[bad[0]], 2).tolist()
        raise InputError(f"{root}: video {record.video_id} frame {bad[0] + 1}: the ground-truth box {box} "
                         "has zero size (PCK is undefined)")  # fmt: skip


def write_score(path: str | Path, score: dict) -> None:
    """Write the score JSON atomically, creating the parent folder if needed."""
    path = Path(path)
    make_folder(path.parent)
    write_json(path, score)
