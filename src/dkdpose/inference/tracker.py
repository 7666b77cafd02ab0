"""`PoseTracker`: online pose tracking frame by frame, one or several people as parallel streams.

    frame -> crop of each person's window (`frame_crop`) -> runner.init (P, frame 1 / re-init) or runner.step
          -> `decode.joint_heatmaps` -> `decode.decode_to_image` -> keypoints (P, K, 2) original px, scores
          -> next windows from the keypoints (`tracking.window_from_keypoints`) -> next frame

Frame 1 runs the pose initializer P (`init_stream`) on the given boxes (default: the whole frame); every later
frame runs the streaming step on a crop window that follows the previous frame's keypoints. A stream restarts
with P on the next frame when its mean joint confidence falls below `reinit.below`, or every `reinit.every`
frames; only the streams that restart run P (the others step), and their states are merged back by index. A
stream that restarts for low confidence is cropped from its last confident window enlarged by RECOVER_SCALE,
so the initializer sees the neighbourhood where the person was last seen; a periodic restart uses the tracked
window. With `smooth`, the returned keypoints are One-Euro filtered; the tracking uses the raw ones.

With a detector's boxes (`update(frame, detections)`, `boxes.py`), a `Roster` decides the streams on every
frame: it keeps each person's id by matching the boxes to the windows, starts a stream for a person who
enters, ends the stream of one who left, and restarts a lost or drifted stream from its matched box. The rows
of `update`'s results are then the people in the frame; `tracker.ids` gives their ids.

Live use (a webcam, a robot, another pipeline):

    tracker = PoseTracker("runs/demo/dkd.pt", boxes=[(40, 10, 200, 300)])
    for frame_rgb in frames:                      # (H, W, 3) uint8 RGB
        keypoints, scores, boxes = tracker.update(frame_rgb)   # (P, K, 2) px, (P, K), (P, 4)

`dkdpose predict` (`predict.py`) runs the same object over every frame of a video; `track_video` is that loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dkdpose.data.clips import frame_crop
from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.errors import InputError
from dkdpose.inference.boxes import FrameBoxes, Roster, take_rows, take_state
from dkdpose.inference.decode import decode_to_image, joint_heatmaps
from dkdpose.inference.load import checkpoint_joint_set
from dkdpose.inference.precision import check_precision, prepare_model
from dkdpose.inference.runners import RUNTIMES, StreamRunner, advance_streams, load_runner
from dkdpose.inference.tracking import (
    OneEuroFilter,
    ReinitPolicy,
    WindowParams,
    clip_box,
    scale_box,
    window_from_keypoints,
)
from dkdpose.inference.video_io import VideoSource
from dkdpose.skeleton import JointSet

RECOVER_SCALE = 1.5


@dataclass(frozen=True)
class TrackerOptions:
    """How `PoseTracker` runs: re-initialization, crop windows, smoothing and the runtime.

    reinit: when a stream restarts with P (`ReinitPolicy`); window: how the crop window follows the
    keypoints (`WindowParams`); smooth: One-Euro filter the returned keypoints; device: cpu or cuda;
    runtime: "torch" or "onnxruntime" (then `onnx_dir`, a folder written by `dkdpose export`);
    joint_set: refuse weights trained for another joint set; precision: fp32, bf16 or int8 and calibrate:
    int8 calibration video or folder (`inference.precision`); threads: ONNX Runtime's intra-op threads.
    """

    reinit: ReinitPolicy = field(default_factory=ReinitPolicy)
    window: WindowParams = field(default_factory=WindowParams)
    smooth: bool = False
    device: str = "cpu"
    runtime: str = "torch"
    onnx_dir: str | Path | None = None
    joint_set: str | None = None
    precision: str = "fp32"
    calibrate: str | Path | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        check_precision(self.precision)
        if self.precision == "bf16" and self.runtime == "onnxruntime":
            raise InputError("--precision bf16 runs in PyTorch (--runtime torch), not in ONNX Runtime")
        if self.threads is not None and self.threads < 1:
            raise InputError(f"--threads must be >= 1, got {self.threads}")
        if self.reinit.every < 0:
            raise InputError(f"--reinit-every must be >= 0 (0 = never), got {self.reinit.every}")
        if self.reinit.below is not None and not np.isfinite(self.reinit.below):
            raise InputError(f"--reinit-below must be a number, got {self.reinit.below}")
        if self.runtime not in RUNTIMES:
            raise InputError(f"--runtime must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}")
        if self.runtime == "onnxruntime" and self.onnx_dir is None:
            raise InputError("--runtime onnxruntime needs --onnx-dir (a folder written by `dkdpose export`)")


class PoseTracker:
    """Tracks the people of a video frame by frame: `update(frame_rgb) -> (keypoints, scores, boxes)`.

    weights: a checkpoint (.pt). boxes: start boxes x1 y1 x2 y2 in original pixels, one per person (default:
    the whole first frame). fps: the frame rate, for the One-Euro filter's time step (with `smooth`).
    source: names the video in error messages.
    """

    def __init__(
        self,
        weights: str | Path,
        boxes: Sequence[Sequence[float]] | np.ndarray | None = None,
        options: TrackerOptions | None = None,
        fps: float = 30.0,
        source: str = "video",
    ):
        options = options or TrackerOptions()
        runner, ckpt, codec = load_runner(weights, options)
        if options.runtime == "torch" and options.precision != "fp32":
            runner.model = prepare_model(
                runner.model, options.precision, runner.device, codec.input_size[0], options.calibrate,
                options.threads,
            )  # fmt: skip
        self.joint_set: JointSet = checkpoint_joint_set(ckpt)
        self.model_name: str = ckpt["model"]
        self._setup(runner, codec, self.joint_set.num_joints, boxes, options, fps, source)

    @classmethod
    def from_runner(
        cls,
        runner: StreamRunner,
        codec: HeatmapCodec,
        num_joints: int,
        boxes: Sequence[Sequence[float]] | np.ndarray | None = None,
        options: TrackerOptions | None = None,
        fps: float = 30.0,
        source: str = "video",
    ) -> PoseTracker:
        """A tracker on a runner that is already loaded (tests, custom runtimes)."""
        tracker = cls.__new__(cls)
        tracker.joint_set, tracker.model_name = None, None
        tracker._setup(runner, codec, num_joints, boxes, options or TrackerOptions(), fps, source)
        return tracker

    def _setup(self, runner, codec, num_joints, boxes, options, fps, source) -> None:
        self.runner, self.codec, self.num_joints, self.options = runner, codec, num_joints, options
        self.smoother = OneEuroFilter(fps) if options.smooth else None
        self.source = source
        self.reset(boxes)

    def reset(self, boxes: Sequence[Sequence[float]] | np.ndarray | None = None) -> None:
        """Start again on the next frame with P, from `boxes` (P, 4) original px (None: the whole frame)."""
        self._start_boxes = None if boxes is None or len(boxes) == 0 else np.asarray(boxes, np.float64)
        self.frame_index = 0
        self.reinits: list[tuple[int, int, str]] = []  # (frame, person id, low|periodic|drift), as they ran
        self.ids = np.zeros(0, np.int64)  # (P,) the person id of each stream (row of `update`'s results)
        self.roster: Roster | None = None  # made by the first `update` with detections
        self._state = None
        if self.smoother is not None:
            self.smoother.reset()

    def update(
        self, frame_rgb: np.ndarray, detections: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Track one frame (H, W, 3) uint8 RGB -> keypoints (P, K, 2) original px (smoothed with `smooth`),
        scores (P, K) (heatmap peaks), boxes (P, 4): the windows this frame was cropped from.

        detections: the person boxes (N, 4) x1 y1 x2 y2 a detector found in this frame (N may be 0); given,
        they decide who is tracked (module docstring), and row p of the results is person `ids[p]`.
        """
        t, where = self.frame_index, f"{self.source}, frame {self.frame_index}"
        frame_size = (frame_rgb.shape[1], frame_rgb.shape[0])
        if t == 0:
            self._first_frame(frame_size, from_detections=detections is not None)
        new = np.full(len(self._boxes), t == 0)
        if detections is not None:
            new = self._follow(np.asarray(detections, np.float64).reshape(-1, 4), new)
        restarts = np.flatnonzero(self._start & ~new)
        self.reinits += [(t, int(self.ids[p]), str(self._kinds[p])) for p in restarts]
        if not len(self._boxes):  # nobody to track in this frame
            self.frame_index += 1
            k = self.num_joints
            return np.zeros((0, k, 2)), np.zeros((0, k)), np.zeros((0, 4))
        crops, affines = _crop_all(frame_rgb, self._boxes, self.codec.input_size[0], where)
        heat, self._state = advance_streams(self.runner, crops, self._state, self._start)
        heat = joint_heatmaps(heat, self.num_joints, self.codec, where)
        kp, sc = decode_to_image(heat, np.stack(affines), self.codec, dtype=np.float64)
        self._since = np.where(self._start, 1, self._since + 1)
        shown = kp
        if self.smoother is not None:
            self.smoother.reset(self._start)
            shown = self.smoother(kp)
        boxes = self._boxes.copy()
        self._plan_next(kp, sc, frame_size)
        self.frame_index += 1
        return shown, sc, boxes

    def _first_frame(self, frame_size: tuple[int, int], from_detections: bool = False) -> None:
        whole = np.array([[0.0, 0.0, float(frame_size[0]), float(frame_size[1])]])
        if self._start_boxes is not None:
            self._boxes = self._start_boxes.copy()
        else:  # with detections, nobody until the detector finds somebody
            self._boxes = np.zeros((0, 4)) if from_detections else whole
        self._last_good = self._boxes.copy()
        self._start = np.ones(len(self._boxes), bool)
        self._since = np.zeros(len(self._boxes), np.int64)
        self._kinds = np.full(len(self._boxes), "periodic")
        self.ids = np.arange(len(self._boxes))
        self._state = None

    def _follow(self, detections: np.ndarray, new: np.ndarray) -> np.ndarray:
        """Let the roster plan this frame from the detector's boxes (N, 4); returns the new-stream mask."""
        if self.roster is None:  # adopt the streams running so far under their ids
            n, next_id = len(self.ids), int(self.ids.max(initial=-1)) + 1
            self.roster = Roster(ids=self.ids.tolist(), missed=[0] * n, next_id=next_id)
        plan = self.roster.step(self._boxes, self._last_good, self._start, detections)
        keep = plan.keep
        self._boxes, self._start = plan.boxes, plan.start
        self._last_good = take_rows(self._last_good, keep, plan.boxes)
        self._since = take_rows(self._since, keep, 0)
        self._kinds = np.where(plan.drifted, "drift", take_rows(self._kinds, keep, "periodic"))
        self._state = take_state(self._state, keep)
        if self.smoother is not None:
            self.smoother.select(keep)
        self.ids = np.asarray(self.roster.ids, np.int64)
        return take_rows(new, keep, True)

    def _plan_next(self, kp: np.ndarray, sc: np.ndarray, frame_size: tuple[int, int]) -> None:
        """The next frame's windows and which streams restart with P there."""
        periodic, low = self.options.reinit.due(self._since, sc)
        tracked = window_from_keypoints(kp, sc, self._boxes, frame_size, self.options.window)
        self._last_good = np.where(low[:, None], self._last_good, tracked)
        recover = clip_box(scale_box(self._last_good, RECOVER_SCALE), *frame_size)
        self._boxes = np.where(low[:, None], recover, tracked)
        self._start = periodic | low
        self._kinds = np.where(low, "low", "periodic")


def _crop_all(
    frame: np.ndarray, boxes: np.ndarray, size: int, source: str
) -> tuple[Tensor, list[np.ndarray]]:
    crops, affines = zip(*(frame_crop(frame, b, (size, size), source=source) for b in boxes), strict=True)
    return torch.stack(crops), list(affines)


# --- a whole video ------------------------------------------------------------------------------------------


@dataclass
class TrackResult:
    """Per frame: keypoints (T, P, K, 2) original px (maybe smoothed), scores (T, P, K), boxes (T, P, 4).

    P counts every person seen (person p = id p); the rows of a person absent from a frame are NaN.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    reinits: list[tuple[int, int, str]] = field(default_factory=list)  # (frame, person, low|periodic|drift)


FrameCallback = Callable[[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]


def track_video(
    source: VideoSource,
    runner: StreamRunner | PoseTracker,
    codec: HeatmapCodec | None = None,
    boxes: np.ndarray | None = None,
    num_joints: int | None = None,
    policy: ReinitPolicy | None = None,
    window: WindowParams | None = None,
    smoother: OneEuroFilter | None = None,
    on_frame: FrameCallback | None = None,
    detections: FrameBoxes | None = None,
) -> TrackResult:
    """Run a `PoseTracker` over every frame of `source`, with a detector's boxes per frame if given.

    `runner` is a ready PoseTracker (then codec .. smoother are unused), or a StreamRunner that a tracker is
    made of, with `codec`, start `boxes` (P, 4) original px, `num_joints`, `policy`, `window` and `smoother`.
    `on_frame(t, frame_rgb, keypoints (P, K, 2), scores (P, K), boxes (P, 4))` is called after each frame
    with row p = person id p, NaN for the people not in the frame (keypoints as in the outputs, i.e. smoothed
    when smoothing is on).
    """
    tracker = runner if isinstance(runner, PoseTracker) else _tracker_of(
        runner, codec, boxes, num_joints, policy, window, smoother, str(source.path))  # fmt: skip
    frames: list[Frame] = []
    for t, frame in enumerate(source):
        kp, sc, bx = tracker.update(frame, None if detections is None else detections.at(t))
        frames.append((tracker.ids.copy(), kp, sc, bx))
        if on_frame is not None:
            on_frame(t, frame, *_by_id(frames[-1]))
    if not frames:
        raise InputError(f"{source.path}: no frames could be decoded")
    people = max((int(f[0].max()) + 1 for f in frames if len(f[0])), default=0)
    columns = zip(*(_by_id(f, people) for f in frames), strict=True)  # keypoints, scores, boxes
    return TrackResult(*(np.stack(c) for c in columns), list(tracker.reinits))


Frame = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # ids (P,), keypoints, scores, boxes


def _by_id(frame: Frame, people: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One frame's (keypoints, scores, boxes) with row i = person id i (of `people`, default max id + 1)."""
    ids, *values = frame
    people = (int(ids.max()) + 1 if len(ids) else 0) if people is None else people
    out = []
    for v in values:
        full = np.full((people, *v.shape[1:]), np.nan)
        full[ids] = v
        out.append(full)
    return tuple(out)


def _tracker_of(runner, codec, boxes, num_joints, policy, window, smoother, source: str) -> PoseTracker:
    options = TrackerOptions(reinit=policy or ReinitPolicy(), window=window or WindowParams())
    tracker = PoseTracker.from_runner(runner, codec, num_joints, boxes, options, source=source)
    tracker.smoother = smoother
    return tracker
