"""Articulated people drawn with OpenCV: a random appearance and the drawing of one projected body.

A person is a list of primitives (torso polygon, head, neck, limb segments, hands, feet) drawn far-to-near by
depth, so limbs in front hide limbs behind. Both sides of a person share colours, textures and thicknesses:
the left wrist looks exactly like the right wrist, so a model has to use body context (which shoulder the arm
hangs from, where the face looks) to tell them apart. The face patch on the head is shifted towards where the
person faces, the one cue of orientation. Every joint label lies inside the primitive drawn at it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from dkdpose.data.synthetic.motion import HEAD_RADIUS, J

_SHIFT = 4  # fixed-point bits: sub-pixel positions keep slow motion smooth
_ONE = 1 << _SHIFT

_SKIN = ((60, 90, 150), (80, 120, 190), (100, 150, 215), (130, 175, 230), (45, 70, 110), (90, 135, 200))
_HAIR = ((20, 20, 25), (30, 45, 70), (40, 80, 140), (120, 120, 120), (15, 30, 45))


@dataclass(frozen=True)
class Appearance:
    """Colours (BGR), texture and limb thickness (fraction of body height) of one person."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shirt: tuple[int, int, int]
    shirt_stripe: tuple[int, int, int]
    pants: tuple[int, int, int]
    shoes: tuple[int, int, int]
    long_sleeves: bool
    shorts: bool
    striped: bool
    arm_width: float
    leg_width: float
    torso_width: float


def random_colour(rng: np.random.Generator, lo: int = 20, hi: int = 235) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def sample_appearance(rng: np.random.Generator, like: Appearance | None = None) -> Appearance:
    """A random person; with `like`, a look-alike (the same clothes with slightly shifted colours)."""
    if like is not None:

        def jitter(c: tuple[int, int, int]) -> tuple[int, int, int]:
            return tuple(int(np.clip(v + rng.integers(-30, 31), 0, 255)) for v in c)

        return Appearance(
            skin=jitter(like.skin), hair=jitter(like.hair), shirt=jitter(like.shirt),
            shirt_stripe=jitter(like.shirt_stripe), pants=jitter(like.pants), shoes=jitter(like.shoes),
            long_sleeves=like.long_sleeves, shorts=like.shorts, striped=like.striped,
            arm_width=like.arm_width * rng.uniform(0.9, 1.1),
            leg_width=like.leg_width * rng.uniform(0.9, 1.1),
            torso_width=like.torso_width * rng.uniform(0.9, 1.1),
        )  # fmt: skip
    return Appearance(
        skin=_SKIN[rng.integers(len(_SKIN))], hair=_HAIR[rng.integers(len(_HAIR))], shirt=random_colour(rng),
        shirt_stripe=random_colour(rng), pants=random_colour(rng, 10, 200), shoes=random_colour(rng, 0, 120),
        long_sleeves=bool(rng.random() < 0.5), shorts=bool(rng.random() < 0.3),
        striped=bool(rng.random() < 0.4), arm_width=rng.uniform(0.045, 0.065),
        leg_width=rng.uniform(0.06, 0.085), torso_width=rng.uniform(0.9, 1.15),
    )  # fmt: skip


@dataclass
class Primitive:
    """One drawable part: `kind` "line" (2 points), "poly" (n points), "disc" (1 point) or "head" (2 points:
    the head centre and the centre of its face patch). Points: image px in OpenCV fixed point (`_SHIFT` bits).
    """

    depth: float
    kind: str
    pts: list[tuple[int, int]]
    colour: tuple[int, int, int]
    size: float  # line thickness or disc radius, px
    colour2: tuple[int, int, int] | None = None  # the face patch of a "head"


def _fixed(pts: np.ndarray) -> list[tuple[int, int]]:
    return [tuple(p) for p in np.round(np.asarray(pts) * _ONE).astype(np.int64).tolist()]


def person_primitives(
    xy: np.ndarray, depth: np.ndarray, app: Appearance, height: float, yaw: float
) -> list[Primitive]:
    """Primitives of one person from its image joints `xy` (15, 2) and depths (15,), sorted far to near."""
    arm, leg = max(2.0, app.arm_width * height), max(2.5, app.leg_width * height)
    torso_ids = [J["left_shoulder"], J["right_shoulder"], J["right_hip"], J["left_hip"]]
    centre = xy[torso_ids].mean(axis=0)
    torso = centre + (xy[torso_ids] - centre) * np.array([app.torso_width, 1.0])
    band = 0.5 * (xy[[J["left_shoulder"], J["right_shoulder"]]] + xy[J["belly"]])  # a chest stripe
    face = xy[J["face"]] + HEAD_RADIUS * height * np.array([0.45 * math.sin(math.radians(yaw)), 0.1])
    # one conversion for all points: 15 joints, 4 torso corners, 2 stripe ends, the face patch
    pts = _fixed(np.concatenate([xy, torso, band, face[None]]))
    d = depth.tolist()
    torso_depth = sum(d[i] for i in torso_ids) / 4.0
    prims = [Primitive(torso_depth, "poly", pts[15:19], app.shirt, 0.0)]
    if app.striped:
        prims.append(Primitive(torso_depth + 1e-3, "line", pts[19:21], app.shirt_stripe, arm * 0.8))

    def line(a: str, b: str, colour: tuple[int, int, int], width: float, bias: float = 0.0) -> None:
        prims.append(
            Primitive(0.5 * (d[J[a]] + d[J[b]]) + bias, "line", [pts[J[a]], pts[J[b]]], colour, width)
        )

    def disc(a: str, colour: tuple[int, int, int], radius: float) -> None:
        prims.append(Primitive(d[J[a]] + 1e-3, "disc", [pts[J[a]]], colour, radius))

    line("neck", "face", app.skin, arm * 0.9, bias=-1e-3)
    for side in ("left", "right"):
        line(f"{side}_shoulder", f"{side}_elbow", app.shirt, arm * 1.1)
        line(f"{side}_elbow", f"{side}_wrist", app.shirt if app.long_sleeves else app.skin, arm)
        if app.striped:
            line(f"{side}_shoulder", f"{side}_elbow", app.shirt_stripe, arm * 0.35, bias=1e-3)
        disc(f"{side}_wrist", app.skin, arm * 0.75)
        line(f"{side}_hip", f"{side}_knee", app.pants, leg * 1.1)
        line(f"{side}_knee", f"{side}_ankle", app.skin if app.shorts else app.pants, leg * 0.9)
        disc(f"{side}_ankle", app.shoes, leg * 0.6)
    head = [pts[J["face"]], pts[21]]
    prims.append(Primitive(d[J["face"]] + 2e-3, "head", head, app.hair, HEAD_RADIUS * height, app.skin))
    prims.sort(key=lambda p: p.depth)
    return prims


def draw_primitives(img: np.ndarray, prims: list[Primitive], mask_value: int | None = None) -> None:
    """Draw `prims` onto `img` (H, W, 3) uint8 BGR; with `mask_value`, onto a (H, W) mask in that value."""
    aa = cv2.LINE_AA if mask_value is None else cv2.LINE_8
    for p in prims:
        colour = p.colour if mask_value is None else mask_value
        pts = p.pts
        if p.kind == "line":
            cv2.line(img, pts[0], pts[1], colour, max(1, round(p.size)), aa, _SHIFT)
        elif p.kind == "poly":
            cv2.fillConvexPoly(img, np.array(pts, np.int32), colour, aa, _SHIFT)
        elif p.kind == "disc":
            cv2.circle(img, pts[0], int(p.size * _ONE), colour, -1, aa, _SHIFT)
        else:  # head: hair disc with a skin face patch
            cv2.circle(img, pts[0], int(p.size * _ONE), colour, -1, aa, _SHIFT)
            if mask_value is None:
                cv2.circle(img, pts[1], int(0.72 * p.size * _ONE), p.colour2, -1, aa, _SHIFT)
