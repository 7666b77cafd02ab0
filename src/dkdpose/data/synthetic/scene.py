"""The world around the people: cluttered backgrounds, moving occluders, the camera and the lighting.

Everything lives on a world canvas twice the frame size; a per-frame camera (zoom, a pan that follows the
target with a lag, shake) maps world pixels to image pixels with one affine `image = zoom * (world - centre) +
frame centre`. Backgrounds hold clutter and limb-like bars in the people's colours (with hand-like ends), so
that a limb cannot be found by colour and shape alone. Occluders (poles, boards, balls, a low fence) pass over
the target's limbs; the joints they hide get visibility 0. Lighting adds flicker (a per-frame gain) and sensor
noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from dkdpose.data.synthetic.figures import _HAIR, _SKIN, random_colour

CANVAS = 2.0  # world canvas size / frame size


def make_background(rng: np.random.Generator, width: int, height: int, person_px: float) -> np.ndarray:
    """(CANVAS*H, CANVAS*W, 3) uint8 BGR world canvas: wall and floor, texture, clutter and limb-like bars."""
    w, h = int(CANVAS * width), int(CANVAS * height)
    ramp = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    top, bottom = np.array(random_colour(rng)), np.array(random_colour(rng))
    img = top * (1.0 - ramp) + bottom * ramp + np.zeros((1, w, 1), np.float32)
    horizon = int(h * rng.uniform(0.45, 0.7))
    img[horizon:] = img[horizon:] * 0.5 + np.array(random_colour(rng), np.float32) * 0.5
    texture = cv2.resize(
        rng.normal(0.0, 1.0, (8, 8, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
    )
    img = np.clip(img + texture * rng.uniform(8.0, 25.0), 0, 255).astype(np.uint8)
    _draw_clutter(img, rng, int(rng.integers(10, 24)), person_px)
    _draw_bars(img, rng, int(rng.integers(5, 12)), person_px)
    if rng.random() < 0.5:  # out of focus
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.6, 1.5))
    return img


def _draw_clutter(img: np.ndarray, rng: np.random.Generator, n: int, person_px: float) -> None:
    h, w = img.shape[:2]
    for _ in range(n):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        size = (int(rng.uniform(0.05, 0.4) * person_px), int(rng.uniform(0.05, 0.4) * person_px))
        colour = random_colour(rng, 0, 256)
        fill = -1 if rng.random() < 0.7 else max(1, int(rng.integers(1, 4)))
        if rng.random() < 0.5:
            cv2.rectangle(
                img, (c[0] - size[0], c[1] - size[1]), (c[0] + size[0], c[1] + size[1]), colour, fill
            )
        else:
            cv2.ellipse(img, c, size, float(rng.uniform(0, 180)), 0, 360, colour, fill, cv2.LINE_AA)


def _draw_bars(img: np.ndarray, rng: np.random.Generator, n: int, person_px: float) -> None:
    """Limb-like clutter: one or two thick segments in skin or clothing colours, often ending in a 'hand'."""
    h, w = img.shape[:2]
    for _ in range(n):
        thick = max(2, int(rng.uniform(0.04, 0.09) * person_px))
        colour = _SKIN[rng.integers(len(_SKIN))] if rng.random() < 0.4 else random_colour(rng)
        p = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        pts = [p]
        for _ in range(int(rng.integers(1, 3))):
            ang = rng.uniform(0, 2 * math.pi)
            pts.append(
                pts[-1] + rng.uniform(0.12, 0.26) * person_px * np.array([math.cos(ang), math.sin(ang)])
            )
        poly = np.round(np.array(pts)).astype(np.int32)
        cv2.polylines(img, [poly], False, colour, thick, cv2.LINE_AA)
        if rng.random() < 0.6:
            end_colour = (
                _SKIN[rng.integers(len(_SKIN))] if rng.random() < 0.7 else _HAIR[rng.integers(len(_HAIR))]
            )
            cv2.circle(
                img, tuple(int(v) for v in poly[-1]), max(2, int(thick * 0.8)), end_colour, -1, cv2.LINE_AA
            )


@dataclass(frozen=True)
class Occluder:
    """A moving object in front of the people; positions relative to the target's ground point (world px)."""

    kind: str  # "pole" | "board" | "ball" | "fence"
    colour: tuple[int, int, int]
    stripe: tuple[int, int, int]
    half_size: tuple[float, float]  # half width, half height (ball: radius, radius)
    start: tuple[float, float]  # centre offset at frame 0 (x from the target's ground x, y from the floor)
    end: tuple[float, float]  # centre offset at the last frame

    def centre(self, t: float, frames: int, target_ground: tuple[float, float]) -> np.ndarray:
        u = t / max(1, frames - 1)
        off = np.array(self.start) * (1.0 - u) + np.array(self.end) * u
        return np.array(target_ground) + off


def sample_occluders(rng: np.random.Generator, person_px: float, prob: float) -> list[Occluder]:
    """0-2 occluders that cross the target (or a fence hiding its feet), each with probability `prob`."""
    out = []
    for _ in range(2):
        if rng.random() >= prob:
            continue
        kind = str(rng.choice(["pole", "board", "ball", "fence"], p=[0.35, 0.35, 0.2, 0.1]))
        h = person_px
        side = rng.choice([-1.0, 1.0])
        y = -h * rng.uniform(0.1, 0.85)
        if kind == "pole":
            half = (h * rng.uniform(0.04, 0.08), h * 0.9)
            y = -h * rng.uniform(0.3, 0.6)
        elif kind == "board":
            half = (h * rng.uniform(0.12, 0.25), h * rng.uniform(0.08, 0.2))
        elif kind == "ball":
            r = h * rng.uniform(0.07, 0.13)
            half = (r, r)
        else:
            half, y = (h * 4.0, h * rng.uniform(0.05, 0.1)), -h * rng.uniform(0.0, 0.06)
        x0, x1 = side * h * rng.uniform(0.5, 1.0), -side * h * rng.uniform(0.2, 1.0)
        if kind == "fence":
            x0 = x1 = 0.0
        dy = 0.0 if kind in ("pole", "fence") else h * rng.uniform(-0.2, 0.2)
        colour, stripe = random_colour(rng), random_colour(rng)
        out.append(Occluder(kind, colour, stripe, half, (x0, y), (x1, y + dy)))
    return out


def draw_occluder(
    img: np.ndarray, occ: Occluder, centre: np.ndarray, zoom: float, mask_value: int | None = None
) -> None:
    """Draw one occluder centred at image point `centre`; with `mask_value`, onto a (H, W) mask."""
    hw, hh = occ.half_size[0] * zoom, occ.half_size[1] * zoom
    colour = occ.colour if mask_value is None else mask_value
    c = np.round(centre * 16).astype(np.int32)
    if occ.kind == "ball":
        cv2.circle(
            img, tuple(c), int(hw * 16), colour, -1, cv2.LINE_AA if mask_value is None else cv2.LINE_8, 4
        )
        return
    x1, y1 = (centre - (hw, hh)).round().astype(int)
    x2, y2 = (centre + (hw, hh)).round().astype(int)
    cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), colour, -1)
    if mask_value is None:  # planks / stripes so that occluders have texture
        n = 3 if occ.kind != "pole" else 5
        for i in range(1, n):
            if occ.kind == "pole":
                yy = int(y1 + (y2 - y1) * i / n)
                cv2.line(img, (int(x1), yy), (int(x2), yy), occ.stripe, max(1, int(hh / 30)))
            else:
                yy = int(y1 + (y2 - y1) * i / n)
                cv2.line(img, (int(x1), yy), (int(x2), yy), occ.stripe, max(1, int(hh / 8)))


@dataclass(frozen=True)
class Camera:
    """Per-frame zoom (T,) and centre (T, 2) in world px; maps world to image pixels."""

    zoom: np.ndarray
    centre: np.ndarray
    width: int
    height: int

    def affine(self, t: int) -> np.ndarray:
        """(2, 3) world -> image affine of frame `t`."""
        z = self.zoom[t]
        cx, cy = self.centre[t]
        return np.array([[z, 0.0, self.width / 2 - z * cx], [0.0, z, self.height / 2 - z * cy]])

    def to_image(self, pts: np.ndarray, t: int) -> np.ndarray:
        """World points (..., 2) -> image points (..., 2) of frame `t`."""
        return (pts - self.centre[t]) * self.zoom[t] + np.array([self.width / 2, self.height / 2])


def sample_camera(
    rng: np.random.Generator,
    follow: np.ndarray,
    centre_y: float,
    size: tuple[int, int],
    zoom: float,
    shake: float,
) -> Camera:
    """A camera that follows the world x positions `follow` (T,) with a lag, zooms smoothly and shakes.

    `zoom` and `shake` are difficulty levels (0 = a still camera, 1 = the default amount).
    """
    t_count = len(follow)
    width, height = size
    z0, z1 = 1.0 + zoom * rng.uniform(-0.12, 0.12, 2)
    u = np.linspace(0.0, 1.0, t_count)
    zooms = z0 + (z1 - z0) * (3 * u**2 - 2 * u**3)  # smoothstep
    cx = np.empty(t_count)
    cx[0] = follow[0] + rng.uniform(-0.05, 0.05) * width
    for t in range(1, t_count):  # pan after the target with a lag, as a camera operator does
        cx[t] = cx[t - 1] + 0.3 * (follow[t] - cx[t - 1])
    cy = centre_y + np.cumsum(rng.normal(0.0, 0.002 * height * zoom, t_count))
    jitter = rng.normal(0.0, 0.006 * shake, (t_count, 2)) * np.array([width, height])
    centre = np.stack([cx, cy], axis=1) + jitter / zooms[:, None]
    return Camera(zooms, centre, width, height)


@dataclass(frozen=True)
class Lighting:
    """Per-frame gain (T,), a colour cast (3,) and a noise bank (n, H, W, 3) float32 for one video."""

    gain: np.ndarray
    cast: np.ndarray
    noise: np.ndarray
    shifts: np.ndarray  # (T, 2) offset of the frame's window into the larger noise bank

    def apply(self, img: np.ndarray, t: int) -> np.ndarray:
        """Flicker, cast and noise on a (H, W, 3) uint8 frame."""
        h, w = img.shape[:2]
        dy, dx = self.shifts[t]
        noise = self.noise[t % len(self.noise), dy : dy + h, dx : dx + w]
        scale = (self.gain[t] * self.cast).tolist()
        out = cv2.multiply(img, (*scale, 0.0), dtype=cv2.CV_32F)  # OpenCV: ~4x faster than numpy here
        out = cv2.add(out, np.ascontiguousarray(noise))
        return np.clip(out, 0, 255, out=out).astype(np.uint8)


def sample_lighting(
    rng: np.random.Generator, frames: int, size: tuple[int, int], flicker: float, noise: float
) -> Lighting:
    """Gain = 1 + slow sinusoid + per-frame jitter (scaled by `flicker`); Gaussian noise scaled by `noise`."""
    t = np.arange(frames)
    slow = np.sin(2 * math.pi * t / rng.uniform(8, 30) + rng.uniform(0, 2 * math.pi))
    gain = 1.0 + flicker * (0.07 * slow + 0.05 * rng.normal(0.0, 1.0, frames))
    cast = 1.0 + 0.08 * flicker * rng.normal(0.0, 1.0, 3)
    sigma = noise * rng.uniform(2.0, 7.0)
    pad = 32  # each frame takes a randomly offset window, so frames do not share noise
    bank = rng.normal(0.0, sigma, (3, size[1] + pad, size[0] + pad, 3)).astype(np.float32)
    shifts = rng.integers(0, pad + 1, (frames, 2))
    return Lighting(gain.astype(np.float32), cast.astype(np.float32), bank, shifts)
