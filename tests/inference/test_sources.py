"""Live sources for `predict`: a stream URL (a video file opened as a stream here), Ctrl-C, bad cameras."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
from tiny_models import person_frames, tiny_checkpoint, write_video

import dkdpose.inference.predict as predict_module
from dkdpose.cli import main
from dkdpose.inference.video_io import is_live_source, open_source


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("stream_assets")
    video = write_video(d / "walk.mp4", person_frames(6))
    return {"ckpt": tiny_checkpoint(d / "dkd.pt"), "video": video, "url": video.resolve().as_uri()}


def test_a_stream_url_is_read_once_frame_by_frame(assets):
    assert is_live_source("0") and is_live_source("rtsp://cam/1") and not is_live_source(assets["video"])
    stream, file = open_source(assets["url"]), open_source(assets["video"])
    assert stream.is_live and not file.is_live and stream.num_frames == 0
    assert (stream.width, stream.height) == (96, 80) and stream.fps == pytest.approx(25.0)
    frames = list(stream)
    assert len(frames) == 6
    np.testing.assert_array_equal(np.stack(frames), np.stack(list(file)))
    assert list(stream) == []  # a live source cannot be rewound


def test_ctrl_c_stops_a_stream_and_writes_the_frames_so_far(assets, tmp_path, monkeypatch, capsys):
    real = predict_module.draw_people
    drawn = []

    def draw_and_press_ctrl_c(frame, *args):
        drawn.append(1)
        if len(drawn) == 3:
            signal.raise_signal(signal.SIGINT)  # as a user pressing Ctrl-C while frame 2 is processed
        return real(frame, *args)

    monkeypatch.setattr(predict_module, "draw_people", draw_and_press_ctrl_c)
    before = signal.getsignal(signal.SIGINT)
    out, js = tmp_path / "o.mp4", tmp_path / "p.json"
    args = ["--weights", str(assets["ckpt"]), "--out", str(out), "--json", str(js)]
    rc = main(["predict", assets["url"], *args])
    assert rc == 0 and "stopped by Ctrl-C" in capsys.readouterr().out
    assert len(json.loads(js.read_text())["people"][0]["keypoints"]) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4", "p.json"]  # no temporary file left
    assert signal.getsignal(signal.SIGINT) is before


def test_a_camera_or_stream_that_gives_no_frame_is_refused_in_one_line(tmp_path, assets, capsys):
    for spec in ("63", (tmp_path / "none.mp4").as_uri()):
        rc = main(["predict", spec, "--weights", str(assets["ckpt"]), "--json", str(tmp_path / "p.json")])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and "cannot open the" in err[0], err
    assert list(tmp_path.iterdir()) == []
