"""Does the previous frames' evidence help a fixed single-frame network? A causal average of its heatmaps.

    python tools/temporal_average_probe.py --weights runs/demo/baseline.pt --root data/synthetic_small

Runs the checkpoint's single-frame network on every frame of the held-out validation videos of its own
training config (`data.val_videos`, `train.seed`; `--videos train` for the videos it trained on, `--videos
test` for the test split), each frame cropped on its own box as in `dkdpose eval`, and scores torso and
person PCK@0.2 of the running average

    h'_1 = h_1,   h'_t = (1 - b) h_t + b h'_{t-1}   (heatmaps (K, h, w) in crop coordinates)

for each weight b of `--weights-previous` (b = 0 is the network alone, as `dkdpose eval` scores it). It is the
simplest use of the past that a temporal model could learn: if no b > 0 beats b = 0, carrying earlier
heatmaps forward adds nothing to this network on these videos. For a DKD checkpoint it averages P's output.
Prints a Markdown table; writes nothing.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from dkdpose.data.clips import read_rgb
from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.data.readers import read_records
from dkdpose.errors import InputError
from dkdpose.evaluation.metrics import PCKAccumulator
from dkdpose.inference.decode import decode_to_image, joint_heatmaps
from dkdpose.inference.load import load_pose_model
from dkdpose.inference.tta import StreamPlan, stream_crops
from dkdpose.skeleton import get_joint_set
from dkdpose.training.loaders import split_train_val


def parse_weights(text: str) -> list[float]:
    """"0,0.2,0.5" -> [0.0, 0.2, 0.5]; each weight in [0, 1)."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(f"--weights-previous: {text!r} is not a comma-separated list of numbers") from None
    bad = [v for v in values if not 0.0 <= v < 1.0]  # NaN fails the comparison too
    if bad:
        raise InputError(f"--weights-previous: every weight must be in [0, 1), got {bad}")
    return values


def probe_videos(ckpt: dict, dataset: str, root: str, videos: str) -> list:
    """The records to score: the checkpoint's validation or training videos (its config's split) or the test
    split."""
    if videos == "test":
        records = read_records(dataset, root, subset="test")
    else:
        cfg = ckpt.get("config") or {}
        val_videos = int((cfg.get("data") or {}).get("val_videos", 0))
        if val_videos <= 0:
            raise InputError(f"{ckpt['path']}: its config holds out no validation videos (use --videos test)")
        seed = int((cfg.get("train") or {}).get("seed", 0))
        train, val = split_train_val(read_records(dataset, root, subset="train"), val_videos, seed)
        records = val if videos == "val" else train
    if not records:
        raise InputError(f"{root}: no {videos} videos found for {dataset}")
    return records


@torch.no_grad()
def frame_heatmaps(model, record, codec: HeatmapCodec) -> tuple[torch.Tensor, list[np.ndarray]]:
    """The network alone on each frame: heatmaps (T, K, h, w) and each frame's crop affine (2, 3)."""
    plan, k = StreamPlan((1.0,), False), len(get_joint_set(record.joint_set).names)
    heats, affines = [], []
    for t in range(record.num_frames):
        source = f"video {record.video_id}, frame {record.frames[t]}"
        image = read_rgb(record.frames[t])
        crops, _, ref = stream_crops(image, record.boxes[t], plan, codec.input_size[0], source)
        heat, _ = model.init_stream(crops)
        heats.append(joint_heatmaps(heat.float(), k, codec, source)[0])
        affines.append(ref)
    return torch.stack(heats), affines


def averaged_keypoints(
    heats: torch.Tensor, affines: list[np.ndarray], codec: HeatmapCodec, b: float
) -> np.ndarray:
    """Keypoints (T, K, 2) original px decoded from the running average with weight b on the past."""
    keypoints, average = [], None
    for heat, affine in zip(heats, affines, strict=True):
        average = heat if average is None else (1.0 - b) * heat + b * average
        keypoints.append(decode_to_image(average, affine, codec)[0])
    return np.stack(keypoints)


def main(argv: list[str] | None = None) -> int:
    """Exit status 0, or 2 with one line on stderr for bad input."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True, help="a single-frame checkpoint (or a DKD one: its P)")
    ap.add_argument("--dataset", default="penn_action", choices=["penn_action"])
    ap.add_argument("--root", required=True, help="dataset folder in its original layout")
    ap.add_argument("--videos", default="val", choices=["val", "train", "test"],
                    help="val: the checkpoint's held-out validation videos (default); train: the videos it "
                    "trained on; test: the test split")
    ap.add_argument("--weights-previous", default="0,0.2,0.4,0.6,0.8",
                    help="comma-separated weights b of the past, each in [0, 1)")
    args = ap.parse_args(argv)
    try:
        weights = parse_weights(args.weights_previous)
        model, ckpt, codec = load_pose_model(args.weights, args.dataset)
        records = probe_videos(ckpt, args.dataset, args.root, args.videos)
        per_video = [(r, *frame_heatmaps(model, r, codec)) for r in records]
    except InputError as e:
        print(f"temporal_average_probe: error: {e}", file=sys.stderr)
        return 2
    print(f"{args.weights} on {len(records)} {args.videos} videos of {args.root}\n")
    print("| weight of the past b | torso PCK@0.2 | person PCK@0.2 |\n|---:|---:|---:|")
    for b in weights:
        acc = PCKAccumulator(get_joint_set(args.dataset))
        for r, heats, affines in per_video:
            acc.add(r.video_id, averaged_keypoints(heats, affines, codec, b), r.joints, r.visibility, r.boxes)
        score = acc.score(0.2, args.dataset, None)
        print(f"| {b:g} | {score['torso']['mean']:.1f} | {score['person']['mean']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
