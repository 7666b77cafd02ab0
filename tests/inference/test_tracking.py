"""The crop window, re-initialization decisions and the One-Euro filter (synthetic keypoints, no model)."""

from __future__ import annotations

import numpy as np
import pytest

from dkdpose.inference.tracking import (
    OneEuroFilter,
    ReinitPolicy,
    WindowParams,
    clip_box,
    keypoint_boxes,
    window_from_keypoints,
)

# A 13-joint figure around (0, 0), about 40 x 100 px.
FIGURE = np.array(
    [[0, -45], [-15, -30], [15, -30], [-20, -10], [20, -10], [-20, 10], [20, 10],
     [-10, 5], [10, 5], [-10, 30], [10, 30], [-10, 55], [10, 55]], dtype=np.float64,
)  # fmt: skip


def _centre(box: np.ndarray) -> np.ndarray:
    return (box[..., :2] + box[..., 2:]) / 2


def test_the_window_follows_a_moving_person():
    frame = (640, 360)
    params = WindowParams(margin=0.15)
    box = np.array([[50.0, 50.0, 250.0, 300.0]])  # a loose first box
    scores = np.ones((1, 13))
    for t in range(40):
        kp = (FIGURE + [150 + 8 * t, 180 - 1.5 * t])[None]  # walks right and a little up
        box = window_from_keypoints(kp, scores, box, frame, params)
        tight = keypoint_boxes(kp, scores, 0.2)[0]
        np.testing.assert_allclose(_centre(box), _centre(tight), atol=1e-6)
        side = max(tight[0, 2] - tight[0, 0], tight[0, 3] - tight[0, 1])
        # frame 0 may shrink the loose 250 px box only by max_growth; from then on: the keypoints + margins
        want = 250 / 1.5 if t == 0 else 1.3 * side
        assert max(box[0, 2] - box[0, 0], box[0, 3] - box[0, 1]) == pytest.approx(want)
    assert _centre(box)[0, 0] == pytest.approx(150 + 8 * 39)


def test_unsure_joints_do_not_pull_the_window_and_too_few_keep_the_old_one():
    kp = (FIGURE + [300, 200])[None].copy()
    scores = np.ones((1, 13))
    kp[0, 5] = [600, 20]  # a far-away false detection ...
    scores[0, 5] = 0.05  # ... that the network is unsure about
    prev = np.array([[240.0, 130.0, 360.0, 280.0]])
    box = window_from_keypoints(kp, scores, prev, (640, 360))
    assert box[0, 2] < 400

    scores[:] = 0.05
    scores[0, :2] = 0.9  # two confident joints are not enough for a box
    np.testing.assert_array_equal(window_from_keypoints(kp, scores, prev, (640, 360)), prev)


def test_the_window_size_change_is_bounded_and_the_window_is_clipped_to_the_frame():
    prev = np.array([[100.0, 100.0, 200.0, 200.0]])  # side 100
    big = (FIGURE * 5 + [150, 150])[None]  # a 5x larger figure: a jump the window may not follow in one frame
    box = window_from_keypoints(big, np.ones((1, 13)), prev, (2000, 2000), WindowParams(max_growth=1.5))
    assert max(box[0, 2] - box[0, 0], box[0, 3] - box[0, 1]) == pytest.approx(150)

    edge = (FIGURE + [5, 30])[None]  # a person at the top-left corner
    box = window_from_keypoints(edge, np.ones((1, 13)), prev, (640, 360))
    assert (box[0, :2] >= 0).all() and box[0, 2] <= 640 and box[0, 3] <= 360
    np.testing.assert_array_equal(clip_box(np.array([-5.0, -5, 700, 400]), 640, 360), [0, 0, 640, 360])


def test_windows_of_several_people_are_independent():
    kp = np.stack([FIGURE + [100, 150], FIGURE + [400, 180]])
    prev = np.array([[0.0, 0, 200, 300], [300, 0, 500, 300]])
    both = window_from_keypoints(kp, np.ones((2, 13)), prev, (640, 360))
    one = window_from_keypoints(kp[1:], np.ones((1, 13)), prev[1:], (640, 360))
    np.testing.assert_allclose(both[1:], one)
    assert _centre(both)[0, 0] == pytest.approx(100) and _centre(both)[1, 0] == pytest.approx(400)


def test_reinit_policy():
    scores = np.array([[0.9] * 13, [0.2] * 13, [0.6] * 13])
    periodic, low = ReinitPolicy(every=5, below=0.5).due(np.array([5, 1, 4]), scores)
    assert periodic.tolist() == [True, False, False] and low.tolist() == [False, True, False]
    periodic, low = ReinitPolicy().due(np.array([100, 100, 100]), scores)
    assert not periodic.any() and not low.any()


def test_one_euro_smooths_jitter_follows_motion_and_resets_per_row():
    rng = np.random.default_rng(0)
    fps, n = 30.0, 120
    truth = np.zeros((n, 2, 13, 2))
    truth[:, 1, :, 0] = 300 * np.arange(n)[:, None] / fps  # person 1 moves at 300 px/s; person 0 stands
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    f = OneEuroFilter(fps)
    out = np.stack([f(x) for x in noisy])
    assert out.shape == noisy.shape
    still_in = np.abs(np.diff(noisy[:, 0], axis=0)).mean()
    still_out = np.abs(np.diff(out[:, 0], axis=0)).mean()
    assert still_out < 0.3 * still_in  # the standing person's jitter is mostly gone
    lag = np.abs(out[60:, 1, :, 0] - truth[60:, 1, :, 0]).mean()
    assert lag < 10  # the fast one is followed with a lag of a few pixels (speed raises the cut-off)

    f.reset(np.array([False, True]))
    jump = noisy[-1] + [[[0, 0]], [[-500, 0]]]
    got = f(jump)
    np.testing.assert_allclose(got[1], jump[1])  # a re-initialized person takes its new position at once
    assert np.abs(got[0] - jump[0]).max() < 10  # the other keeps being filtered
    with pytest.raises(ValueError):
        OneEuroFilter(0.0)
