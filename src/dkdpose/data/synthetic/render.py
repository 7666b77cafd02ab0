"""Render one synthetic video: the target, an optional look-alike distractor, occluders, camera, lighting.

Everything random about video `index` comes from `numpy.random.default_rng([seed, index])`, so a video does
not depend on which worker renders it or on the other videos. Labels are those of the target person:

- `joints` (T, 15, 2): 0-based image pixels in the Sub-JHMDB order (Penn Action takes 13 of them);
- `visibility` (T, 15): 0 where a joint is outside the frame or covered by an occluder or by the distractor
  standing in front (the test reads these pixels from the masks that were drawn, not from geometry);
- `boxes` (T, 4): the tight box x1 y1 x2 y2 (inclusive pixels) of the target's drawn silhouette (with
  `group_box`, of both people's silhouettes where the distractor is in the frame);
- `distractor_boxes` (T, 4): the same for the distractor, NaN where it is absent or out of the frame;
- `distractor_joints` (T, 15, 2): the distractor's joints like `joints`, NaN in the same frames.

Motion blur: a person whose joints move more than a pixel or two per frame is drawn at several instants of the
shutter interval around t and the drawings are averaged; the label is the pose at t, the centre of the streak.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

from dkdpose.data.synthetic.figures import Appearance, draw_primitives, person_primitives, sample_appearance
from dkdpose.data.synthetic.motion import ACTION_NAMES, NUM_BODY_JOINTS, THIGH, Motion, project
from dkdpose.data.synthetic.params import SynthParams
from dkdpose.data.synthetic.scene import (
    CANVAS,
    Camera,
    Lighting,
    Occluder,
    draw_occluder,
    make_background,
    sample_camera,
    sample_lighting,
    sample_occluders,
)

_YAW_RANGE = {"walk": (55.0, 90.0), "jumping_jacks": (0.0, 30.0), "wave": (0.0, 30.0)}  # others: (0, 70)


@dataclass(frozen=True)
class Person:
    """One person's look and path: height (world px), yaw (degrees), ground x per frame (T,), floor y."""

    motion: Motion
    look: Appearance
    height: float
    yaw: float
    ground_x: np.ndarray
    ground_y: float

    def joints(self, t: float, camera: Camera, frame: int) -> tuple[np.ndarray, np.ndarray, float]:
        """Image joints (15, 2), depths (15,) and image height of the pose at time `t`, seen by `frame`."""
        gx = float(np.interp(t, np.arange(len(self.ground_x)), self.ground_x))
        xy, depth = project(self.motion.pose(t), self.yaw, self.height, (gx, self.ground_y))
        zoom = float(camera.zoom[frame])
        return camera.to_image(xy, frame), depth * zoom, self.height * zoom


@dataclass
class RenderedVideo:
    """One video's frames (T x (H, W, 3) uint8 BGR) and the target's labels and masks (see the module doc)."""

    action: str
    split_index: int  # position of the video among its action's videos (decides train/test)
    yaw: float
    frames: list[np.ndarray]
    joints: np.ndarray  # (T, 15, 2) float64, 0-based px
    visibility: np.ndarray  # (T, 15) 0/1
    boxes: np.ndarray  # (T, 4) x1 y1 x2 y2, 0-based px
    distractor_boxes: np.ndarray  # (T, 4), NaN rows where there is no distractor in the frame
    distractor_joints: np.ndarray  # (T, 15, 2), NaN where distractor_boxes is
    person_masks: np.ndarray  # (T, H, W) uint8, 1 = the target's whole silhouette (the puppet mask)
    cover_masks: np.ndarray  # (T, H, W) uint8, 1 = something drawn in front of the target
    look: Appearance  # the target's colours, for checks that labels agree with pixels
    occluders: list[Occluder]


def video_action(index: int) -> tuple[str, int]:
    """The action of video `index` (round robin, so actions are balanced) and its position in the action."""
    return ACTION_NAMES[index % len(ACTION_NAMES)], index // len(ACTION_NAMES)


def render_video(params: SynthParams, index: int) -> RenderedVideo:
    """Render video `index` of the benchmark described by `params`."""
    rng = np.random.default_rng([params.seed, index])
    size = (params.width, params.height)
    action, position = video_action(index)
    target = _sample_target(rng, params, action)
    distractor = _sample_distractor(rng, params, target) if rng.random() < params.distractor else None
    if distractor is not None and params.beside > 0:
        beside_rng = np.random.default_rng([params.seed, index, BESIDE_STREAM])
        distractor = keep_beside(distractor, target, params, beside_rng)
    background = make_background(rng, params.width, params.height, target.height)
    centre_y = target.ground_y - 0.5 * target.height + rng.uniform(-0.05, 0.05) * params.height
    camera = sample_camera(rng, target.ground_x, centre_y, size, params.zoom, params.shake)
    occluders = sample_occluders(rng, target.height, params.occluder)
    lighting = sample_lighting(rng, params.frames, size, params.flicker, params.noise)
    scene = _Scene(params, background, camera, target, distractor, occluders, lighting)
    out = RenderedVideo(
        action=action, split_index=position, yaw=target.yaw, frames=[],
        joints=np.zeros((params.frames, NUM_BODY_JOINTS, 2)),
        visibility=np.zeros((params.frames, NUM_BODY_JOINTS)),
        boxes=np.zeros((params.frames, 4)), distractor_boxes=np.full((params.frames, 4), np.nan),
        distractor_joints=np.full((params.frames, NUM_BODY_JOINTS, 2), np.nan),
        person_masks=np.zeros((params.frames, params.height, params.width), np.uint8),
        cover_masks=np.zeros((params.frames, params.height, params.width), np.uint8),
        look=target.look, occluders=occluders,
    )  # fmt: skip
    for t in range(params.frames):
        scene.render_frame(t, out)
    if params.group_box > 0:
        group_rng = np.random.default_rng([params.seed, index, GROUP_STREAM])
        if group_rng.random() < params.group_box:
            out.boxes = group_boxes(out.boxes, out.distractor_boxes)
    if params.glitch > 0:
        degrade_bursts(out.frames, np.random.default_rng([params.seed, index, GLITCH_STREAM]), params.glitch)
    return out


GLITCH_STREAM = 7  # the bursts draw from their own generator, so every other draw of the video is unchanged
BESIDE_STREAM = 8  # so does the path of a distractor kept beside the target
GROUP_STREAM = 9  # and the choice of a group box
BESIDE_REACH = 0.35  # a distractor kept beside the target is at most this many body heights from it


def group_boxes(target: np.ndarray, distractor: np.ndarray) -> np.ndarray:
    """(T, 4) boxes holding both people: the union of `target` (T, 4) and `distractor` (T, 4) where the
    distractor is in the frame, `target` where it is not (NaN rows). With such boxes the crop no longer says
    which of the two is the target, as a detector's box of two people who overlap does not."""
    present = np.isfinite(distractor).all(axis=1)
    out = target.copy()
    out[present, :2] = np.minimum(target[present, :2], distractor[present, :2])
    out[present, 2:] = np.maximum(target[present, 2:], distractor[present, 2:])
    return out


def keep_beside(distractor: Person, target: Person, params: SynthParams, rng: np.random.Generator) -> Person:
    """With probability `params.beside`, `distractor` with a new path that keeps it beside the target for the
    whole video: 0.1-0.25 body heights to one side, swaying by up to 0.1 heights (0.5-1.5 cycles), never more
    than `BESIDE_REACH` heights away, so both people share the target's crop in every frame and overlap
    partly, as in a crowd, a game or a dance. Otherwise `distractor` unchanged. Only the path changes: look,
    motion, size and depth are the distractor's own."""
    if rng.random() >= params.beside:
        return distractor
    h = target.height
    centre = float(rng.choice([-1.0, 1.0])) * rng.uniform(0.1, 0.25) * h
    sway = rng.uniform(0.03, BESIDE_REACH - 0.25) * h
    cycles, phase = rng.uniform(0.5, 1.5), rng.uniform(0.0, 2.0 * math.pi)
    u = np.linspace(0.0, 1.0, params.frames)
    offset = centre + sway * np.sin(2.0 * math.pi * cycles * u + phase)
    return dataclasses.replace(distractor, ground_x=target.ground_x + offset)


def glitch_frames(rng: np.random.Generator, frames: int, rate: float) -> np.ndarray:
    """(frames,) bool: bursts of 1-3 consecutive frames, each clean frame starting one with prob. `rate`."""
    bad = np.zeros(frames, bool)
    t = 0
    while t < frames:
        if rng.random() < rate:
            length = int(rng.integers(1, 4))
            bad[t : t + length] = True
            t += length + 1  # a clean frame after every burst
        else:
            t += 1
    return bad


def degrade_bursts(frames: list[np.ndarray], rng: np.random.Generator, rate: float) -> None:
    """Degrade the frames of brief bursts in place (`glitch_frames`): a strong defocus blur (sigma 8 px), a
    third of the contrast and heavy noise, as in a focus hunt, a compression glitch or a dropped exposure. The
    labels stay: the joints are still there and still counted, but a single frame barely shows them (the
    person is a faint blob), while the frames around a burst are clean: the previous frame is informative."""
    for t in np.flatnonzero(glitch_frames(rng, len(frames), rate)):
        img = frames[t].astype(np.float32)
        img = cv2.GaussianBlur(img, (0, 0), sigmaX=8.0)
        img = 0.35 * img + 0.65 * img.mean(axis=(0, 1), keepdims=True)
        img += rng.normal(0.0, 22.0, img.shape)
        frames[t] = np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _motion(rng: np.random.Generator, params: SynthParams, action: str) -> Motion:
    return Motion(
        action=action,
        cycles_per_frame=params.speed * rng.uniform(0.025, 0.08),
        amplitude=rng.uniform(0.6, 1.0),
        phase=rng.uniform(0.0, 2.0 * math.pi),
        side=str(rng.choice(["left", "right"])),
    )


def _sample_target(rng: np.random.Generator, params: SynthParams, action: str) -> Person:
    motion = _motion(rng, params, action)
    lo, hi = _YAW_RANGE.get(action, (0.0, 70.0))
    yaw = float(rng.uniform(lo, hi) * rng.choice([-1.0, 1.0]))
    height = params.height * rng.uniform(0.55, 0.72)
    if action == "walk":  # the feet carry the body: one cycle = two steps of the projected stride
        stride = (
            4.0 * THIGH * math.sin(math.radians(28.0 * motion.amplitude)) * abs(math.sin(math.radians(yaw)))
        )
        speed = math.copysign(stride * height * motion.cycles_per_frame, yaw)
    else:
        speed = rng.uniform(-0.006, 0.006) * height
    t = np.arange(params.frames)
    ground_x = CANVAS * params.width / 2 + speed * (t - (params.frames - 1) / 2)
    ground_y = CANVAS * params.height / 2 + 0.5 * height
    return Person(motion, sample_appearance(rng), height, yaw, ground_x, ground_y)


def _sample_distractor(rng: np.random.Generator, params: SynthParams, target: Person) -> Person:
    """A person that approaches or crosses the target, dressed like it with probability `params.lookalike`."""
    action = target.motion.action if rng.random() < 0.4 else str(rng.choice(ACTION_NAMES))
    motion = _motion(rng, params, action)
    look = sample_appearance(rng, like=target.look if rng.random() < params.lookalike else None)
    h = target.height
    side = float(rng.choice([-1.0, 1.0]))
    start = side * h * rng.uniform(0.3, 0.75)
    end = -side * h * rng.uniform(0.0, 0.6) if rng.random() < 0.6 else side * h * rng.uniform(0.1, 0.4)
    u = np.linspace(0.0, 1.0, params.frames)
    offset = start + (end - start) * u
    yaw = float(rng.uniform(-60.0, 60.0))
    depth_step = h * rng.uniform(-0.08, 0.08)  # nearer people stand lower in the image and are drawn later
    return Person(
        motion, look, h * rng.uniform(0.85, 1.1), yaw, target.ground_x + offset, target.ground_y + depth_step
    )


@dataclass
class _Scene:
    params: SynthParams
    background: np.ndarray
    camera: Camera
    target: Person
    distractor: Person | None
    occluders: list[Occluder]
    lighting: Lighting

    def render_frame(self, t: int, out: RenderedVideo) -> None:
        """Draw frame `t` and write its labels into `out`."""
        p = self.params
        img = cv2.warpAffine(
            self.background, self.camera.affine(t), (p.width, p.height), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )  # fmt: skip
        people = [(self.target.ground_y, 0, self.target)]
        if self.distractor is not None:
            people.append((self.distractor.ground_y, 1, self.distractor))
        cover = np.zeros((p.height, p.width), np.uint8)
        target_drawn = False
        for _, is_distractor, person in sorted(people, key=lambda x: x[0]):
            mask = np.zeros((p.height, p.width), np.uint8)
            xy, depth, height = person.joints(t, self.camera, t)
            draw_primitives(mask, person_primitives(xy, depth, person.look, height, person.yaw), mask_value=1)
            img = self._draw_blurred(img, person, t, xy, depth, height)
            if is_distractor:
                out.distractor_boxes[t] = _mask_box(mask)
                if not np.isnan(out.distractor_boxes[t]).any():  # in the frame
                    out.distractor_joints[t] = xy
                if target_drawn:
                    cover |= mask
            else:
                target_drawn = True
                out.joints[t], out.person_masks[t] = xy, mask
                out.boxes[t] = _mask_box(mask)
        for occ in self.occluders:
            centre = self.camera.to_image(
                occ.centre(t, p.frames, (self.target.ground_x[t], self.target.ground_y)), t
            )
            draw_occluder(img, occ, centre, float(self.camera.zoom[t]))
            draw_occluder(cover, occ, centre, float(self.camera.zoom[t]), mask_value=1)
        out.cover_masks[t] = cover
        out.visibility[t] = _visibility(out.joints[t], cover)
        out.frames.append(self.lighting.apply(img, t))

    def _draw_blurred(
        self, img: np.ndarray, person: Person, t: int, xy: np.ndarray, depth: np.ndarray, height: float
    ) -> np.ndarray:
        """Draw `person` (joints `xy` (15, 2), `depth` (15,) at frame `t`), averaged over the shutter interval
        when its joints move fast."""
        shutter = self.params.blur
        n = 1
        if shutter > 0:
            before, _, _ = person.joints(t - 0.5 * shutter, self.camera, t)
            travel = 2.0 * float(np.abs(xy - before).max())  # px moved during the shutter
            n = int(min(6, math.ceil(travel / 2.5)))  # one drawing per 2.5 px of travel
        if n <= 1:
            draw_primitives(img, person_primitives(xy, depth, person.look, height, person.yaw))
            return img
        acc = np.zeros(img.shape, np.uint16)
        for s in np.linspace(-0.5 * shutter, 0.5 * shutter, n):
            layer = img.copy()
            sxy, sdepth, _ = person.joints(t + s, self.camera, t)
            draw_primitives(layer, person_primitives(sxy, sdepth, person.look, height, person.yaw))
            acc += layer
        return ((acc + n // 2) // n).astype(np.uint8)


def _mask_box(mask: np.ndarray) -> np.ndarray:
    """(4,) tight box x1 y1 x2 y2 of the nonzero pixels (inclusive), NaN when the mask is empty."""
    cols, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
    if cols.size == 0:
        return np.full(4, np.nan)
    return np.array([cols[0], rows[0], cols[-1], rows[-1]], dtype=np.float64)


def _visibility(joints: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """(K,) 1 where a joint (K, 2) is inside the frame and its pixel is not covered."""
    h, w = cover.shape
    px = np.round(joints).astype(int)
    inside = (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
    vis = inside.astype(np.float64)
    idx = np.flatnonzero(inside)
    vis[idx] = (cover[px[idx, 1], px[idx, 0]] == 0).astype(np.float64)
    return vis
