"""Time MediaPipe Pose and `dkdpose predict` on the same frames, interleaved, and print the speed ratio.

    pip install mediapipe==0.10.14      # not a dkdpose dependency; its wheel bundles the pose models
    python tools/peer_mediapipe.py --weights dkd.pt --frames 60 --rounds 3 [--precision int8] [--threads 2]

Both read the same RGB frames (the first --frames of a video or image folder given with --video, else of a
synthetic 256x256 benchmark video), written losslessly to a temporary image folder. Each round times
MediaPipe Pose (`model_complexity`, default 1) over all frames, then `dkdpose.inference.predict.predict` over
the same frames (its own frames/s: the whole loop, frame 1's initializer included); the figures are the
medians over the rounds. Without mediapipe it says so and times only the dkdpose half.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from dkdpose.data.synthetic.params import SynthParams
from dkdpose.data.synthetic.render import render_video
from dkdpose.inference.predict import predict
from dkdpose.inference.tracker import TrackerOptions
from dkdpose.inference.video_io import open_video

MEDIAPIPE_VERSION = "0.10.14"


def benchmark_frames(video: str | None, limit: int) -> list[np.ndarray]:
    """Up to `limit` RGB frames (H, W, 3) uint8 of `video` (file or image folder), else of a synthetic 256x256
    benchmark video (one person)."""
    if video is None:
        rendered = render_video(SynthParams(frames=limit), 0)
        return [np.ascontiguousarray(bgr[..., ::-1]) for bgr in rendered.frames[:limit]]
    frames = []
    for rgb in open_video(video):
        if len(frames) >= limit:
            break
        frames.append(rgb)
    return frames


def write_frames(folder: Path, frames: list[np.ndarray]) -> Path:
    """The frames as numbered PNG images in `folder` (what `dkdpose predict` reads), lossless."""
    folder.mkdir(parents=True, exist_ok=True)
    for t, rgb in enumerate(frames):
        cv2.imwrite(str(folder / f"{t:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder


def mediapipe_fps(frames: list[np.ndarray], complexity: int = 1) -> float | None:
    """Frames/s of MediaPipe Pose (video mode) over `frames`, or None where mediapipe is not installed."""
    try:
        import mediapipe as mp
    except ImportError:
        return None
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=complexity) as pose:
        pose.process(frames[0])  # graph start-up, outside the timing
        t0 = time.perf_counter()
        for rgb in frames:
            pose.process(rgb)
        return len(frames) / (time.perf_counter() - t0)


def dkdpose_fps(video: Path, weights: Path, **options) -> float:
    """Frames/s that `dkdpose predict` reports over `video` (the whole online loop)."""
    return float(
        predict(video, weights, options=TrackerOptions(**options), progress=False)["frames_per_second"]
    )


def run(args: argparse.Namespace) -> dict:
    """The interleaved rounds; returns {"mediapipe_fps": [..] or None, "dkdpose_fps": [..], "ratio"}."""
    frames = benchmark_frames(args.video, args.frames)
    with tempfile.TemporaryDirectory(prefix="peer-") as tmp:
        video = write_frames(Path(tmp) / "frames", frames)  # both halves read exactly these frames
        options = {"precision": args.precision, "runtime": args.runtime, "onnx_dir": args.onnx_dir}
        if args.threads:
            options["threads"] = args.threads
        mp_runs: list[float] = []
        dkd_runs: list[float] = []
        for _ in range(args.rounds):
            mp = mediapipe_fps(frames, args.complexity)
            if mp is not None:
                mp_runs.append(mp)
            dkd_runs.append(dkdpose_fps(video, Path(args.weights), **options))
    result = {"frames": len(frames), "mediapipe_fps": mp_runs or None, "dkdpose_fps": dkd_runs}
    if mp_runs:
        result["ratio"] = statistics.median(dkd_runs) / statistics.median(mp_runs)
    return result


def report(result: dict, precision: str) -> str:
    lines = [f"{result['frames']} frames; medians over {len(result['dkdpose_fps'])} interleaved rounds"]
    if result["mediapipe_fps"] is None:
        lines.append(
            "MediaPipe Pose: skipped (mediapipe is not installed; "
            f"pip install mediapipe=={MEDIAPIPE_VERSION}, Python <= 3.12)"
        )
    else:
        lines.append(f"MediaPipe Pose: {statistics.median(result['mediapipe_fps']):.1f} frames/s")
    lines.append(f"dkdpose predict ({precision}): {statistics.median(result['dkdpose_fps']):.1f} frames/s")
    if "ratio" in result:
        lines.append(f"dkdpose / MediaPipe: {result['ratio']:.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="dkdpose checkpoint (tools/untrained_checkpoint.py)")
    parser.add_argument("--video", default=None, help="video file or image folder (default: synthetic)")
    parser.add_argument("--frames", type=int, default=60, help="frames to time (default 60)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--complexity", type=int, default=1, help="MediaPipe model_complexity (default 1)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "int8"])
    parser.add_argument("--runtime", default="torch", choices=["torch", "onnxruntime"])
    parser.add_argument("--onnx-dir", default=None, help="export folder for --runtime onnxruntime")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.frames < 2 or args.rounds < 1:
        parser.error("--frames must be >= 2 and --rounds >= 1")
    print(report(run(args), args.precision))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
