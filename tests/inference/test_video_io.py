"""Opening users' videos: files and image folders, and the errors for missing, corrupt and empty input."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from dkdpose.errors import InputError
from dkdpose.inference.video_io import open_video, read_ahead


def _frames(n: int, w: int = 48, h: int = 32) -> list[np.ndarray]:
    """RGB frames: frame i is red with i white pixels' worth of brightness in its top-left block."""
    out = []
    for i in range(n):
        img = np.zeros((h, w, 3), np.uint8)
        img[..., 0] = 200  # red in RGB
        img[:8, :8] = 40 * i
        out.append(img)
    return out


def test_a_video_file_gives_rgb_frames_fps_and_size(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (48, 32))
    for f in _frames(5):
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    src = open_video(path)
    assert (src.width, src.height, src.num_frames) == (48, 32, 5)
    assert src.fps == pytest.approx(12.0)
    frames = list(src)
    assert len(frames) == 5 and frames[0].shape == (32, 48, 3) and frames[0].dtype == np.uint8
    assert frames[0][20, 30, 0] > 150 and frames[0][20, 30, 2] < 60  # RGB order, not BGR
    assert frames[4][2, 2].mean() > frames[1][2, 2].mean()  # frames come in order
    assert len(list(src)) == 5  # iterable again
    assert open_video(path, fps=50).fps == 50


def test_an_image_folder_is_read_in_name_order(tmp_path):
    for i, f in enumerate(_frames(3)):
        cv2.imwrite(str(tmp_path / f"frame_{2 - i:02d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    (tmp_path / "notes.txt").write_text("not an image")
    src = open_video(tmp_path)
    assert src.is_folder and src.num_frames == 3 and (src.width, src.height) == (48, 32)
    tops = [f[2, 2, 1] for f in src]
    assert tops == [80, 40, 0]  # frame_00 holds the last written frame


def test_missing_corrupt_and_empty_inputs_are_refused_by_name(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.mp4").write_bytes(b"garbage" * 50)
    (tmp_path / "zero.mov").write_bytes(b"")
    for name, match in [
        ("missing.mp4", "no such video"),
        ("empty", "holds no images"),
        ("bad.mp4", "cannot open|no decodable"),
        ("zero.mov", "cannot open|no decodable"),
    ]:
        with pytest.raises(InputError, match=match) as err:
            open_video(tmp_path / name)
        assert name in str(err.value)


def test_a_frame_of_another_size_in_a_folder_is_refused(tmp_path):
    a, b = _frames(1)[0], _frames(1, w=40)[0]
    cv2.imwrite(str(tmp_path / "0.png"), a)
    cv2.imwrite(str(tmp_path / "1.png"), b)
    with pytest.raises(InputError, match="size 40x32"):
        list(open_video(tmp_path))
    with pytest.raises(InputError, match="fps"):
        open_video(tmp_path, fps=0)


def test_read_ahead_keeps_order_raises_in_order_and_stops_with_the_caller():
    frames = (np.full((1, 1, 3), i) for i in range(7))
    assert [int(f[0, 0, 0]) for f in read_ahead(frames, 2)] == list(range(7))

    def failing():
        yield np.zeros((1, 1, 3))
        raise InputError("clip.mp4: frame 2 does not decode")

    got = read_ahead(failing(), 2)
    assert next(got).shape == (1, 1, 3)  # the frame before the error arrives first
    with pytest.raises(InputError, match="frame 2 does not decode"):
        next(got)

    closed = threading.Event()

    def endless():
        try:
            while True:
                yield np.zeros((1, 1, 3))
        finally:
            closed.set()  # the reader's generator is closed (a capture would be released)

    frames = read_ahead(endless(), 2)
    next(frames)
    frames.close()  # the caller stops early
    assert closed.is_set()
    assert not [t for t in threading.enumerate() if t.name == "dkdpose-read-ahead"]
