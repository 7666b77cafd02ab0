"""Reading a user's video: a video file (mp4, avi, mov, ... via cv2.VideoCapture) or a folder of images.

`open_video(path)` checks the input up front (it exists, it decodes, it has at least one frame) and returns a
`VideoSource`: an iterable of frames, each an (H, W, 3) uint8 RGB array, with `fps`, `width`, `height` and
`num_frames` (the container's count for a video file, which some containers only estimate; exact for a
folder). Every problem is an `InputError` that names the file: a missing path, a file OpenCV cannot decode, an
empty video or folder, an image that cannot be read or whose size differs from the first frame's.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from dkdpose.data.clips import read_rgb
from dkdpose.errors import InputError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_FPS = 30.0  # for image folders and containers that report no frame rate


class VideoSource:
    """Frames of a video file or image folder; iterate it (once or many times) for RGB frames (H, W, 3)."""

    def __init__(self, path: Path, fps: float, width: int, height: int, num_frames: int, images: list[Path]):
        self.path = path
        self.fps = fps
        self.width = width
        self.height = height
        self.num_frames = num_frames
        self._images = images  # empty for a video file

    @property
    def is_folder(self) -> bool:
        return bool(self._images)

    def __iter__(self) -> Iterator[np.ndarray]:
        frames = self._iter_images() if self._images else self._iter_video()
        for frame in frames:
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
        cap = cv2.VideoCapture(str(self.path))
        decoded = 0
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
