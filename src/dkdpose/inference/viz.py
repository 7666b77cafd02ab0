"""Drawing poses on frames: skeleton edges and joints coloured by per-joint confidence, person boxes.

Images are (H, W, 3) uint8 RGB; keypoints (K, 2) in that image's 0-based pixels; scores (K,) joint confidences
(heatmap peaks; clamped to [0, 1] for the colour). Colours run from red (0, unsure) through yellow to green
(1, sure); an edge takes the colour of its less confident end. Used by `predict`'s overlay video and by
anything that wants a frame strip.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from dkdpose.skeleton import JointSet

# Box colours (RGB) of people 0, 1, 2, ...: distinct from the red-green confidence scale.
PERSON_COLORS = ((66, 135, 245), (230, 90, 230), (60, 220, 230), (250, 250, 250), (150, 100, 40))


def confidence_color(score: float) -> tuple[int, int, int]:
    """RGB colour of a confidence: red at <= 0, yellow at 0.5, green at >= 1."""
    s = float(np.clip(np.nan_to_num(score), 0.0, 1.0))
    return (int(round(255 * min(1.0, 2 - 2 * s))), int(round(255 * min(1.0, 2 * s))), 0)


def _thickness(image: np.ndarray) -> int:
    return max(1, int(round(min(image.shape[:2]) / 160)))


def draw_keypoints(
    image: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray,
    joint_set: JointSet,
    box: Sequence[float] | None = None,
    label: str | None = None,
    box_color: tuple[int, int, int] = PERSON_COLORS[0],
) -> np.ndarray:
    """A copy of `image` with one person's skeleton, joints and (optionally) box and label drawn on it."""
    out = np.ascontiguousarray(image.copy())
    _draw_person(out, keypoints, scores, joint_set, box, label, box_color)
    return out


def _draw_person(
    out: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray,
    joint_set: JointSet,
    box: Sequence[float] | None,
    label: str | None,
    box_color: tuple[int, int, int],
) -> None:
    """Draw in place on `out` (H, W, 3) uint8 RGB."""
    t = _thickness(out)
    pts = np.round(np.nan_to_num(np.asarray(keypoints, dtype=np.float64))).astype(int)
    if box is not None:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), box_color, t, cv2.LINE_AA)
        if label:
            cv2.putText(
                out, label, (x1 + 2, max(y1 - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.35 * t, box_color, t
            )
    for a, b in joint_set.edges:
        color = confidence_color(min(scores[a], scores[b]))
        cv2.line(out, tuple(pts[a]), tuple(pts[b]), color, t, cv2.LINE_AA)
    for j in range(len(pts)):
        cv2.circle(out, tuple(pts[j]), t + 1, confidence_color(scores[j]), -1, cv2.LINE_AA)


def draw_people(
    image: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray,
    joint_set: JointSet,
    boxes: np.ndarray | None = None,
) -> np.ndarray:
    """A copy of `image` with every person drawn: keypoints (P, K, 2), scores (P, K), boxes (P, 4) or None.

    Person p is labelled #p; a person whose keypoints are NaN (absent from this frame) is not drawn.
    """
    out = np.ascontiguousarray(image.copy())
    for p in range(len(keypoints)):
        if not np.isfinite(keypoints[p]).all():
            continue
        box = None if boxes is None else boxes[p]
        color = PERSON_COLORS[p % len(PERSON_COLORS)]
        _draw_person(out, keypoints[p], scores[p], joint_set, box, f"#{p}", color)
    draw_confidence_legend(out)
    return out


def draw_confidence_legend(out: np.ndarray) -> None:
    """In place: a small red-to-green bar with '0' and '1' in the bottom-left corner (the colour key)."""
    h, w = out.shape[:2]
    bar_w, bar_h = max(20, w // 8), max(3, h // 80)
    x0, y0 = 4, h - bar_h - 4
    if x0 + bar_w >= w or y0 <= 0:
        return  # frame too small for a legend
    for i in range(bar_w):
        out[y0 : y0 + bar_h, x0 + i] = confidence_color(i / max(bar_w - 1, 1))
