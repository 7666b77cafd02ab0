"""Torso (or person) PCK@0.2 by position in the stream, how long misses last, on degraded frames, or by
where the second person is.

    python tools/pck_by_frame.py data/synthetic_small runs/ablation/dkd_r18/eval/predictions.json [...]
    python tools/pck_by_frame.py --persistence data/synthetic_distinct runs/abl/dkd_r18/eval/predictions.json
    python tools/pck_by_frame.py --glitch 0.12 data/synthetic_glitch runs/abl_glitch/*/eval/predictions.json
    python tools/pck_by_frame.py --distractor data/synthetic_distinct runs/abl/*/eval/predictions.json

By position: frame 1 (P's), frames 2-5, 6-10, 11-20, 21-end. A DKD stream starts from P on frame 1 and then
runs on Φ's kernels only, so a model whose error grows along the video (drift) shows falling numbers from left
to right; a single-frame baseline should be flat.

`--persistence`: over every joint counted (protocol.md) in two consecutive frames t-1 and t of a test video,
- miss: the share of such joints missed at t;
- miss after miss: the share missed at t among those missed at t-1 (equal to `miss` when misses come and go
  independently of the previous frame, near 100 when a miss lasts);
- hit before: among the misses at t, the share that was a hit at t-1 (what the previous frame could hand on);
- copy hits: among the misses at t, the share where the t-1 prediction itself, copied to t, would be a hit.
A model that carries the previous pose (DKD's h_t, a tracker, smoothing) can only repair misses of the last
two kinds; when misses last for many frames, there is little to carry.

`--glitch RATE [--seed N]` (a benchmark made by `dkdpose synth --glitch RATE --seed N`): PCK on the degraded
frames of the bursts, on the first clean frame after a burst, and on the other clean frames, with the bursts
drawn exactly as the generator drew them.

`--distractor` (a synthetic benchmark, whose label files carry `distractor_bbox`): PCK on the frames
without the second person, with it apart from the target (boxes disjoint) and with it overlapping the
target's box; the share of counted joints in overlapping frames; the share of all misses whose prediction
lies in the distractor's box and outside the target's (the joint was looked for on the other person; a
confusion inside the target's box is not counted there); and, where the label files also carry the
distractor's joints (`distractor_x`, `distractor_y`), the share of misses whose prediction is within the PCK
threshold of one of the distractor's joints and nearer to it than to any joint of the target, wherever the
boxes are ("-" for label files without them), and the same share with the distractor's joints taken half a
video away in time (rolled by T/2 frames): the rate at which misses fall near the other person by chance,
because it stands close by, which the first share must exceed to show confusions; and the same share with
its joints mirrored to the other side of the target (about the vertical line through the mean of the
target's joints in each frame), the chance control for a person who stays beside the target, whose joints
half a video away are still near where they were.
DKD's kernels carry what the target looks like; that can repair confusions with another person, not a joint
found in the wrong place on the target.

Reads the test split's labels (Penn Action layout) and `dkdpose eval`'s predictions.json; prints one row per
file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from dkdpose.data.readers import read_records
from dkdpose.data.synthetic.card import boxes_overlap, read_distractor_labels
from dkdpose.data.synthetic.render import GLITCH_STREAM, glitch_frames
from dkdpose.errors import InputError
from dkdpose.evaluation.metrics import counted_joints, joint_distances, person_sizes, torso_sizes
from dkdpose.skeleton import get_joint_set

BINS = ((0, 1), (1, 5), (5, 10), (10, 20), (20, None))
BIN_COLUMNS = ("frame 1", "2-5", "6-10", "11-20", "21-end")
PERSISTENCE_COLUMNS = ("miss", "miss after miss", "hit before", "copy hits")
GLITCH_COLUMNS = ("degraded", "after a burst", "other clean")
DISTRACTOR_COLUMNS = ("no distractor", "apart", "overlapping", "overlapping share",
                      "misses on the distractor", "misses at its joints", "at its joints, T/2 away",
                      "at its mirror image")


def video_hits(rec, keypoints: list, norm: str, alpha: float,
               size: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """PCK hits (T, K), counted joints (T, K) and hits of the previous frame's prediction (T-1, K); `size`
    (T,): the PCK normaliser when the caller has it already (`norm_sizes`)."""
    js = get_joint_set(rec.joint_set)
    kp = np.asarray(keypoints, np.float64)
    gt = np.asarray(rec.joints, np.float64)[..., :2]
    size = norm_sizes(rec, kp, norm) if size is None else size
    hit = joint_distances(kp, gt) <= alpha * size[:, None]
    copy = joint_distances(kp[:-1], gt[1:]) <= alpha * size[1:, None]  # t-1's prediction scored at t
    return hit, counted_joints(rec.visibility, js.visible_only), copy


def norm_sizes(rec, kp: np.ndarray, norm: str) -> np.ndarray:
    """(T,) the PCK normaliser of each frame: the person's box size or the torso size."""
    if norm == "person":
        return person_sizes(rec.boxes)
    return torso_sizes(np.asarray(rec.joints, np.float64)[..., :2], kp, get_joint_set(rec.joint_set).torso)


def _pool(ok: np.ndarray, cnt: np.ndarray, frame_sets, hits: list[int], counted: list[int]) -> None:
    """Add the hits and counted joints of each frame selection (index or mask over T) to hits / counted."""
    for i, frames in enumerate(frame_sets):
        hits[i] += int((ok & cnt)[frames].sum())
        counted[i] += int(cnt[frames].sum())


def _percent(hits: list[int], counted: list[int]) -> list[float]:
    return [100.0 * h / c if c else float("nan") for h, c in zip(hits, counted, strict=True)]


def pck_by_bin(records: dict, predictions: dict, norm: str, alpha: float = 0.2) -> list[float]:
    """Pooled PCK (%) of the frames in each of BINS (0-based frame ranges) over every predicted video."""
    hits, counted = [0] * len(BINS), [0] * len(BINS)
    for vid, pred in predictions["videos"].items():
        ok, cnt, _ = video_hits(records[vid], pred["keypoints"], norm, alpha)
        _pool(ok, cnt, [slice(a, b) for a, b in BINS], hits, counted)
    return _percent(hits, counted)


def persistence(records: dict, predictions: dict, norm: str, alpha: float = 0.2) -> dict[str, float]:
    """The four shares (%) of `--persistence`, pooled over every predicted video."""
    n = dict.fromkeys(("pairs", "miss", "miss_prev", "miss_both", "hit_before", "copy_hit"), 0)
    for vid, pred in predictions["videos"].items():
        hit, cnt, copy = video_hits(records[vid], pred["keypoints"], norm, alpha)
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

    values = (share(n["miss"], n["pairs"]), share(n["miss_both"], n["miss_prev"]),
              share(n["hit_before"], n["miss"]), share(n["copy_hit"], n["miss"]))  # fmt: skip
    return dict(zip(PERSISTENCE_COLUMNS, values, strict=True))


def pck_by_glitch(records: dict, predictions: dict, norm: str, rate: float, seed: int = 0,
                  alpha: float = 0.2) -> list[float]:  # fmt: skip
    """Pooled PCK (%) on the degraded frames, the first clean frame after each burst and the other frames."""
    hits, counted = [0] * 3, [0] * 3
    for vid, pred in predictions["videos"].items():
        ok, cnt, _ = video_hits(records[vid], pred["keypoints"], norm, alpha)
        bad = glitch_frames(np.random.default_rng([seed, int(vid) - 1, GLITCH_STREAM]), len(ok), rate)
        after = ~bad & np.r_[False, bad[:-1]]
        _pool(ok, cnt, (bad, after, ~bad & ~after), hits, counted)
    return _percent(hits, counted)


def read_distractors(root: str, video_ids) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """video id -> ((T, 4) x1 y1 x2 y2 of the synthetic distractor, (T, K, 2) its joints or None when the
    label file has none), 0-based pixels, NaN where it is absent (Penn Action layout)."""
    try:
        return {vid: read_distractor_labels(Path(root) / "labels" / f"{vid}.mat") for vid in video_ids}
    except InputError as e:
        raise SystemExit(str(e)) from None


def _inside(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """points (T, K, 2), boxes (T, 4) -> (T, K): inside the frame's box (False where the box is NaN)."""
    x, y, b = points[..., 0], points[..., 1], boxes[:, None, :]
    with np.errstate(invalid="ignore"):
        return (x >= b[..., 0]) & (x <= b[..., 2]) & (y >= b[..., 1]) & (y <= b[..., 3])


def _nearest(kp: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """kp (T, K, 2), joints (T, K', 2) -> (T, K) distance to the nearest of `joints` in the same frame
    (inf where all of them are NaN)."""
    dist = np.linalg.norm(kp[:, :, None, :] - joints[:, None, :, :], axis=-1)  # (T, K, K')
    return np.where(np.isnan(dist), np.inf, dist).min(axis=-1)


def at_other_person(kp: np.ndarray, target: np.ndarray, other: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """(T, K): the prediction is within `radius` (T,) of one of the other person's joints (T, K', 2; NaN:
    absent) and nearer to it than to any of the target's joints (T, K, 2)."""
    near_other = _nearest(kp, other)
    return (near_other <= radius[:, None]) & (near_other < _nearest(kp, target))


def mirrored(other: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The other person's joints (T, K', 2) reflected about the vertical line through the mean x of the
    target's joints (T, K, 2) in each frame: where it would stand on the target's other side."""
    centre = np.nanmean(target[..., 0], axis=1)[:, None]  # (T, 1)
    return np.stack([2.0 * centre - other[..., 0], other[..., 1]], axis=-1)


def pck_by_distractor(records: dict, predictions: dict, norm: str, distractors: dict,
                      alpha: float = 0.2) -> list[float]:  # fmt: skip
    """Pooled PCK (%) on frames without the distractor, with it apart, with it overlapping the target's box,
    the share (%) of counted joints in overlapping frames, the share (%) of misses predicted on the
    distractor (in its box, outside the target's), the share (%) of misses at one of its joints (within the
    PCK threshold and nearer to it than to any joint of the target; NaN when a video's labels lack them) and
    that share with its joints rolled by T/2 frames and mirrored about the target's centre line (chance)."""
    hits, counted, misses, on_other, at_joint = [0] * 3, [0] * 3, 0, 0, [0, 0, 0]
    exact = all(distractors[vid][1] is not None for vid in predictions["videos"])
    for vid, pred in predictions["videos"].items():
        rec, kp = records[vid], np.asarray(pred["keypoints"], np.float64)
        size = norm_sizes(rec, kp, norm)
        ok, cnt, _ = video_hits(rec, kp, norm, alpha, size)
        d, t = distractors[vid][0][: len(ok)], np.asarray(rec.boxes, np.float64)
        present = ~np.isnan(d).any(axis=1)
        apart = ~boxes_overlap(t, d)
        _pool(ok, cnt, (~present, present & apart, present & ~apart), hits, counted)
        kp = kp[..., :2]
        miss = cnt & ~ok
        misses += int(miss.sum())
        on_other += int((miss & _inside(kp, d) & ~_inside(kp, t)).sum())
        if exact:
            gt, other = np.asarray(rec.joints, np.float64)[..., :2], distractors[vid][1][: len(ok)]
            controls = (other, np.roll(other, len(ok) // 2, 0), mirrored(other, gt))
            for i, joints in enumerate(controls):
                near = at_other_person(kp, gt, joints, alpha * size)
                at_joint[i] += int((miss & near).sum())
    pck = _percent(hits, counted)
    overlapping = 100.0 * counted[2] / sum(counted) if sum(counted) else float("nan")
    share = (lambda n: 100.0 * n / misses if misses else float("nan"))  # noqa: E731
    exact_shares = [share(n) if exact else float("nan") for n in at_joint]
    return pck + [overlapping, share(on_other), *exact_shares]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="dataset root (Penn Action layout)")
    ap.add_argument("predictions", nargs="+", help="predictions.json files of `dkdpose eval`")
    ap.add_argument("--norm", default="torso", choices=("torso", "person"))
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--persistence", action="store_true", help="how long misses last, not PCK by position")
    mode.add_argument("--glitch", type=float, default=None, metavar="RATE",
                    help="PCK on degraded / after-burst / other frames of a `synth --glitch RATE` benchmark")
    ap.add_argument("--seed", type=int, default=0, help="the benchmark's synth seed (with --glitch)")
    mode.add_argument("--distractor", action="store_true",
                    help="PCK without / apart from / overlapping the second person, and misses on it")
    args = ap.parse_args()
    records = {r.video_id: r for r in read_records("penn_action", args.root, "test")}
    distractors = read_distractors(args.root, records) if args.distractor else {}
    heads = (PERSISTENCE_COLUMNS if args.persistence else GLITCH_COLUMNS if args.glitch
             else DISTRACTOR_COLUMNS if args.distractor else BIN_COLUMNS)  # fmt: skip
    print(f"| predictions | {' | '.join(heads)} |\n|---|" + "---:|" * len(heads))
    for path in args.predictions:
        with open(path) as f:
            preds = json.load(f)
        if args.persistence:
            row = persistence(records, preds, args.norm)
            cells = [row[c] for c in PERSISTENCE_COLUMNS]
        elif args.glitch:
            cells = pck_by_glitch(records, preds, args.norm, args.glitch, args.seed)
        elif args.distractor:
            cells = pck_by_distractor(records, preds, args.norm, distractors)
        else:
            cells = pck_by_bin(records, preds, args.norm)
        print(f"| {path} | " + " | ".join("-" if np.isnan(v) else f"{v:.1f}" for v in cells) + " |")


if __name__ == "__main__":
    main()
