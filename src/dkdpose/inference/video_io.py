"""Reading a user's video: a video file (mp4, avi, mov, ... via cv2.VideoCapture), a folder of images, or a
live source: a camera index (`0`) or a stream URL (`rtsp://...`, `http://...`, `file:///...`), see
`open_source`.

`open_video(path)` checks the input up front (it exists, it decodes, it has at least one frame) and returns a
`VideoSource`: an iterable of frames, each an (H, W, 3) uint8 RGB array, with `fps`, `width`, `height` and
`num_frames` (the container's count for a video file, which some containers only estimate; exact for a
folder). Every problem is an `InputError` that names the file: a missing path, a file OpenCV cannot decode, an
empty video or folder, an image that cannot be read or whose size differs from the first frame's.

A live source is read once, frame by frame as it delivers them (`num_frames` is 0: unknown). Inside
`stop_on_interrupt(source)`, Ctrl-C (SIGINT) ends the source after the frame in hand instead of raising, so
the caller finishes and writes what it has; a second Ctrl-C interrupts as usual.
"""

from __future__ import annotations

import logging
import math
import queue
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from dkdpose.data.clips import read_rgb
from dkdpose.errors import InputError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_FPS = 30.0  # for image folders and containers that report no frame rate
READ_AHEAD = 2  # frames of a file or folder decoded in a background thread ahead of the one in hand
_END = object()


class VideoSource:
    """Frames of a video file or image folder; iterate it (once or many times) for RGB frames (H, W, 3)."""

    def __init__(
        self,
        path: Path | str,
        fps: float,
        width: int,
        height: int,
        num_frames: int,
        images: list[Path],
        live: tuple[cv2.VideoCapture, np.ndarray] | None = None,
    ):
        self.path = path  # a camera index or URL (str) for a live source
        self.fps = fps
        self.width = width
        self.height = height
        self.num_frames = num_frames
        self._images = images  # empty for a video file
        self._live = live  # a live source: its open capture and first frame (BGR), until iterated
        self.stop_requested = False  # set by `stop_on_interrupt`: end after the frame in hand

    @property
    def is_live(self) -> bool:
        return self._live is not None

    @property
    def is_folder(self) -> bool:
        return bool(self._images)

    def frame_name(self, t: int) -> str:
        """A name for frame t (0-based): the image's file name in a folder, else `frame_000123`."""
        return self._images[t].name if self._images else f"frame_{t:06d}"

    def __iter__(self) -> Iterator[np.ndarray]:
        frames = self._iter_images() if self._images else self._iter_video()
        if not self.is_live:  # a live source is read as it delivers frames, not ahead
            frames = read_ahead(frames, READ_AHEAD)
        for frame in frames:
            if self.stop_requested:
                return
            if frame.shape[:2] != (self.height, self.width):
                raise InputError(
                    f"{self.path}: a frame has size {frame.shape[1]}x{frame.shape[0]}, "
                    f"the first frame {self.width}x{self.height}"
                )
            yield frame

    def _iter_images(self) -> Iterator[np.ndarray]:
        for image in self._images:
            yield read_rgb(image)

    def _iter_video(self) -> Iterator[np.ndarray]:
        decoded = 0
        if self._live is not None:  # once only: a live source cannot be rewound
            (cap, first), self._live = self._live, (_ReadOnce(), None)
            if first is not None:
                decoded += 1
                yield cv2.cvtColor(first, cv2.COLOR_BGR2RGB)
        else:
            cap = cv2.VideoCapture(str(self.path))
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:  # the end, or a truncated tail: OpenCV does not tell them apart
                    break
                decoded += 1
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()
        if decoded < self.num_frames:  # said once, in one line: the outputs cover the decoded frames only
            msg = "%s: the header promises %d frames but only %d decode (truncated?); the outputs cover %d"
            log.warning(msg, self.path, self.num_frames, decoded, decoded)


def read_ahead(frames: Iterator[np.ndarray], depth: int) -> Iterator[np.ndarray]:
    """`frames`, produced by a background thread up to `depth` frames ahead of the caller, so that decoding
    overlaps the caller's work. An exception of the reader is raised here, in order; when the caller stops
    early the thread closes `frames` and ends."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item) -> bool:  # False once the caller has stopped
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for frame in frames:
                if not offer(frame):
                    return
            offer(_END)
        except BaseException as e:  # noqa: BLE001 (handed to the caller's thread)
            offer(e)
        finally:
            frames.close()

    worker = threading.Thread(target=work, name="dkdpose-read-ahead", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def open_video(path: str | Path, fps: float | None = None) -> VideoSource:
    """Open a video file or an image folder (images sorted by name); `fps` overrides the stored rate."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such video file or image folder")
    source = _open_folder(path) if path.is_dir() else _open_file(path)
    if fps is not None:
        if not (math.isfinite(fps) and fps > 0):
            raise InputError(f"{path}: fps must be a positive number, got {fps}")
        source.fps = float(fps)
    return source


def _open_folder(path: Path) -> VideoSource:
    images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise InputError(f"{path}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
    first = read_rgb(images[0])
    return VideoSource(path, DEFAULT_FPS, first.shape[1], first.shape[0], len(images), images)


def _open_file(path: Path) -> VideoSource:
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise InputError(
                f"{path}: cannot open the video (not a video file, unsupported codec or corrupt)"
            )
        ok, bgr = cap.read()
        if not ok or bgr is None:
            raise InputError(f"{path}: the video has no decodable frames (empty or corrupt)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        cap.release()
    if not (math.isfinite(fps) and 0 < fps < 1000):
        log.warning(
            "%s: the container reports no usable frame rate (%s); assuming %g", path, fps, DEFAULT_FPS
        )
        fps = DEFAULT_FPS
    return VideoSource(path, fps, bgr.shape[1], bgr.shape[0], max(count, 1), [])


class _ReadOnce:
    """Stands in for a live capture that was already read: no frames."""

    def read(self) -> tuple[bool, None]:
        return False, None

    def release(self) -> None:
        pass


def is_live_source(spec: str | Path) -> bool:
    """A camera index (`0`, `1`, ...) or a URL (`scheme://...`), as opposed to a file or folder path."""
    text = str(spec)
    return text.isdigit() or "://" in text


def open_source(spec: str | Path, fps: float | None = None) -> VideoSource:
    """`open_video` for a file or folder; a live source for a camera index or a stream URL."""
    return open_stream(str(spec), fps) if is_live_source(spec) else open_video(spec, fps)


def open_stream(spec: str, fps: float | None = None) -> VideoSource:
    """Open a camera index or stream URL with OpenCV; InputError when it opens no frame."""
    target: int | str = int(spec) if spec.isdigit() else spec
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # our one-line message says it
    try:
        cap = cv2.VideoCapture(target)
        if isinstance(target, int):
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a backlog, when we fall behind
        ok, first = cap.read() if cap.isOpened() else (False, None)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not ok or first is None:
        cap.release()
        what = "camera" if isinstance(target, int) else "stream"
        raise InputError(f"{spec}: cannot open the {what} or read a frame from it")
    rate = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    if fps is not None:
        rate = float(fps)
    elif not (math.isfinite(rate) and 0 < rate < 1000):
        rate = DEFAULT_FPS
    return VideoSource(spec, rate, first.shape[1], first.shape[0], 0, [], live=(cap, first))


@contextmanager
def stop_on_interrupt(source: VideoSource) -> Iterator[None]:
    """Inside, the first Ctrl-C ends `source` after the frame in hand (no-op outside the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: object) -> None:
        source.stop_requested = True
        signal.signal(signal.SIGINT, previous)  # a second Ctrl-C interrupts at once
        log.info("stopping after this frame (Ctrl-C again to abort without outputs)")

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
