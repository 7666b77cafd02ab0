"""Kinematic action models: joint angles over time -> 3-D body joints -> projected 2-D joints.

A body is a 15-joint skeleton in the Sub-JHMDB order (`dkdpose.skeleton.SUB_JHMDB`; Penn Action takes 13 of
them, its `head` being the `face` joint). Lengths are fractions of the body height (ankle to top of head = 1),
with adult proportions. The body frame is x = towards the person's left, y = down, z = towards where the
person faces; the origin is the pelvis (mid-hip). A limb segment's direction is given by two angles in
degrees: abduction `a` (sideways, away from the body; 180 = straight up) and flexion `f` (forwards, towards
+z), and `direction(a, f) = (sin a cos f, cos a cos f, sin f)` is a unit vector. The right side uses mirrored
x, so that the same angles give a mirror-symmetric pose.

Each action maps a phase (radians) and an amplitude (0..1) to a `Pose` of angles; its speed and starting phase
are drawn per video. `project` rotates the body by a yaw about the vertical axis and projects it
orthographically (image x right, y down) with the feet on a ground line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dkdpose.skeleton import SUB_JHMDB

J = {name: i for i, name in enumerate(SUB_JHMDB.names)}  # joint name -> index in the 15-joint body
NUM_BODY_JOINTS = SUB_JHMDB.num_joints

# Segment lengths as fractions of the body height: 0.49 (legs) + 0.30 (torso) + 0.10 (neck to head centre)
# + 0.065 (head radius) ~= 0.96, the rest is the feet and the shoulder drop.
TORSO, NECK_TO_FACE, BELLY = 0.30, 0.10, 0.12
SHOULDER_HALF, HIP_HALF = 0.115, 0.085
UPPER_ARM, FOREARM, THIGH, SHIN = 0.17, 0.16, 0.245, 0.245
HEAD_RADIUS = 0.065


@dataclass
class Pose:
    """Angles in degrees. `arms`/`legs`: {"left"|"right": (a_upper, f_upper, a_lower, f_lower)}."""

    arms: dict[str, tuple[float, float, float, float]]
    legs: dict[str, tuple[float, float, float, float]]
    lean_forward: float = 0.0  # trunk rotation towards +z
    lean_side: float = 0.0  # trunk rotation towards the person's left
    twist: float = 0.0  # upper-body yaw relative to the hips
    jump: float = 0.0  # lift off the ground, fraction of the body height


@dataclass(frozen=True)
class Motion:
    """One video's motion: the action and its random speed, amplitude, phase and side."""

    action: str
    cycles_per_frame: float
    amplitude: float
    phase: float
    side: str = "left"  # the leading arm/leg for one-sided actions (wave, lunge)
    extra: dict[str, float] = field(default_factory=dict)

    def pose(self, t: float) -> Pose:
        """The pose at (possibly fractional) frame `t`."""
        phi = self.phase + 2.0 * math.pi * self.cycles_per_frame * t
        return ACTIONS[self.action](phi, self.amplitude, self.side)


def _sym(upper: tuple[float, float], lower: tuple[float, float]) -> tuple[float, float, float, float]:
    return (upper[0], upper[1], lower[0], lower[1])


def _stand_legs(spread: float = 5.0, bend: float = 0.0) -> dict[str, tuple[float, float, float, float]]:
    leg = (spread, bend, spread, -bend)
    return {"left": leg, "right": leg}


def _other(side: str) -> str:
    return "right" if side == "left" else "left"


def _jumping_jacks(phi: float, amp: float, side: str) -> Pose:
    s = 0.5 * (1.0 - math.cos(phi))  # 0 = arms down, 1 = arms up
    arm = (15.0 + 150.0 * amp * s, 0.0, 20.0 + 155.0 * amp * s, 0.0)
    leg = (3.0 + 22.0 * amp * s, 0.0, 3.0 + 22.0 * amp * s, 0.0)
    return Pose(
        {"left": arm, "right": arm}, {"left": leg, "right": leg}, jump=0.05 * amp * math.sin(phi) ** 2
    )


def _squat(phi: float, amp: float, side: str) -> Pose:
    s = 0.5 * (1.0 - math.cos(phi))
    thigh_f = 95.0 * amp * s
    leg = (12.0, thigh_f, 8.0, -25.0 * amp * s)  # knees forward, shins slanting back
    arm = (10.0, 90.0 * amp * s, 8.0, 95.0 * amp * s)  # arms raised forwards for balance
    return Pose({"left": arm, "right": arm}, {"left": leg, "right": leg}, lean_forward=30.0 * amp * s)


def _golf_swing(phi: float, amp: float, side: str) -> Pose:
    u = (phi / (2.0 * math.pi)) % 1.0
    # slow backswing (0 -> 1), fast downswing through impact to the follow-through (1 -> -0.8), slow return
    if u < 0.55:
        swing = 0.5 * (1.0 - math.cos(math.pi * u / 0.55))
    elif u < 0.72:
        swing = 1.0 - 1.8 * 0.5 * (1.0 - math.cos(math.pi * (u - 0.55) / 0.17))
    else:
        swing = -0.8 + 0.8 * 0.5 * (1.0 - math.cos(math.pi * (u - 0.72) / 0.28))
    beta = 135.0 * amp * swing
    # both hands hold the club: the arms point the same way, so the left arm crosses the body on the backswing
    left = (-beta + 8.0, 35.0, -beta * 1.1 + 4.0, 35.0)
    right = (beta + 8.0, 35.0, beta * 1.1 + 4.0, 35.0)
    return Pose({"left": left, "right": right}, _stand_legs(12.0, 12.0), lean_forward=25.0, twist=0.35 * beta)


def _walk(phi: float, amp: float, side: str) -> Pose:
    swing = 28.0 * amp * math.sin(phi)
    knee_l = 45.0 * amp * max(0.0, math.cos(phi))
    knee_r = 45.0 * amp * max(0.0, -math.cos(phi))
    legs = {"left": (4.0, swing, 3.0, swing - knee_l), "right": (4.0, -swing, 3.0, -swing - knee_r)}
    arms = {
        "left": (8.0, -0.8 * swing, 6.0, -0.8 * swing + 20.0),
        "right": (8.0, 0.8 * swing, 6.0, 0.8 * swing + 20),
    }
    return Pose(arms, legs, lean_forward=5.0, jump=0.012 * amp * abs(math.cos(phi)))


def _wave(phi: float, amp: float, side: str) -> Pose:
    arms = {
        side: (125.0 + 10.0 * math.sin(phi), 10.0, 150.0 + 40.0 * amp * math.sin(phi), 5.0),
        _other(side): (10.0, 5.0, 8.0, 10.0),
    }
    return Pose(arms, _stand_legs(6.0), lean_side=(-4.0 if side == "left" else 4.0) * math.sin(phi))


def _lunge(phi: float, amp: float, side: str) -> Pose:
    s = 0.5 * (1.0 - math.cos(phi))
    legs = {
        side: (8.0, 75.0 * amp * s, 6.0, -5.0 * amp * s),  # front leg: thigh forwards, shin vertical
        _other(side): (8.0, -30.0 * amp * s, 6.0, -30.0 * amp * s - 55.0 * amp * s),  # back knee drops
    }
    arm = (40.0, -10.0, -35.0, 5.0)  # hands on the hips
    return Pose({"left": arm, "right": arm}, legs, lean_forward=5.0 * s)


def _boxing(phi: float, amp: float, side: str) -> Pose:
    punch = {"left": max(0.0, math.sin(phi)) ** 3, "right": max(0.0, -math.sin(phi)) ** 3}
    arms = {
        s: (20.0 - 15.0 * p, 40.0 + 48.0 * amp * p, -15.0 + 10.0 * p, 150.0 - 65.0 * amp * p)
        for s, p in punch.items()
    }
    bounce = 0.015 * amp * abs(math.sin(2.0 * phi))
    return Pose(
        arms, _stand_legs(11.0, 8.0), twist=25.0 * amp * (punch["right"] - punch["left"]), jump=bounce
    )


def _tennis_serve(phi: float, amp: float, side: str) -> Pose:
    u = (phi / (2.0 * math.pi)) % 1.0
    # toss arm goes up, racket arm cocks behind the head, then a fast swing over and down across the body
    up = 0.5 * (1.0 - math.cos(math.pi * min(u / 0.6, 1.0)))
    hit = 0.0 if u < 0.6 else 0.5 * (1.0 - math.cos(math.pi * min((u - 0.6) / 0.15, 1.0)))
    back = 1.0 if u < 0.75 else 1.0 - (u - 0.75) / 0.25
    racket = (
        15.0 + 145.0 * amp * up - 170.0 * amp * hit,
        -20.0 * up + 60.0 * hit,
        40.0 + 160.0 * up * back,
        0.0,
    )
    toss = (10.0 + 160.0 * amp * up * (1.0 - hit), 10.0, 10.0 + 165.0 * amp * up * (1.0 - hit), 10.0)
    arms = {side: racket, _other(side): toss}
    return Pose(
        arms, _stand_legs(9.0, 10.0 * up), lean_forward=-10.0 * up + 25.0 * hit, jump=0.04 * hit * amp
    )


ACTIONS: dict[str, Callable[[float, float, str], Pose]] = {
    "jumping_jacks": _jumping_jacks,
    "squat": _squat,
    "golf_swing": _golf_swing,
    "walk": _walk,
    "wave": _wave,
    "lunge": _lunge,
    "boxing": _boxing,
    "tennis_serve": _tennis_serve,
}
ACTION_NAMES = tuple(ACTIONS)


def direction(a: float, f: float, mirror: bool = False) -> np.ndarray:
    """(3,) unit vector of a segment with abduction `a` and flexion `f` (degrees); `mirror`: right side."""
    a, f = math.radians(a), math.radians(f)
    x = math.sin(a) * math.cos(f)
    return np.array([-x if mirror else x, math.cos(a) * math.cos(f), math.sin(f)])


def _rot_y(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_x(deg: float) -> np.ndarray:
    """Rotation that tips the up-vector (0, -1, 0) towards +z by `deg` (forward lean)."""
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])


def _rot_z(deg: float) -> np.ndarray:
    """Rotation that tips the up-vector (0, -1, 0) towards +x by `deg` (side lean)."""
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def body_joints(pose: Pose) -> np.ndarray:
    """(15, 3) joints in the body frame (pelvis at the origin, units of body height), Sub-JHMDB order."""
    p = np.zeros((NUM_BODY_JOINTS, 3))
    upper = _rot_y(pose.twist) @ _rot_z(pose.lean_side) @ _rot_x(pose.lean_forward)  # trunk orientation
    up = upper @ np.array([0.0, -1.0, 0.0])
    right_axis = upper @ np.array([1.0, 0.0, 0.0])  # towards the person's left
    p[J["left_hip"]], p[J["right_hip"]] = np.array([HIP_HALF, 0, 0]), np.array([-HIP_HALF, 0, 0])
    p[J["belly"]] = BELLY * up
    p[J["neck"]] = TORSO * up
    p[J["face"]] = (TORSO + NECK_TO_FACE) * up
    for side, sign in (("left", 1.0), ("right", -1.0)):
        mirror = side == "right"
        sh = p[J["neck"]] + sign * SHOULDER_HALF * right_axis - 0.02 * up
        au, fu, al, fl = pose.arms[side]
        el = sh + UPPER_ARM * (upper @ direction(au, fu, mirror))
        p[J[f"{side}_shoulder"]], p[J[f"{side}_elbow"]] = sh, el
        p[J[f"{side}_wrist"]] = el + FOREARM * (upper @ direction(al, fl, mirror))
        tu, ft, sl, fs = pose.legs[side]
        kn = p[J[f"{side}_hip"]] + THIGH * direction(tu, ft, mirror)
        p[J[f"{side}_knee"]] = kn
        p[J[f"{side}_ankle"]] = kn + SHIN * direction(sl, fs, mirror)
    return p


def project(
    pose: Pose, yaw: float, height_px: float, ground: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Image joints (15, 2) (x right, y down, px) and depths (15,) (larger = nearer the camera).

    The body, turned by `yaw` degrees (0 = facing the camera, +90 = facing the image's right), is
    scaled to `height_px` and placed with its lowest ankle on the ground point `ground` = (x of the pelvis,
    y of the floor), lifted by `pose.jump`.
    """
    pts = body_joints(pose) @ _rot_y(yaw).T  # (15, 3)
    # facing the camera the person's left (+x) is on the image's right; the camera looks along -z
    lowest = max(pts[J["left_ankle"], 1], pts[J["right_ankle"], 1]) + 0.03  # + the sole of the foot
    xy = np.empty((NUM_BODY_JOINTS, 2))
    xy[:, 0] = ground[0] + height_px * pts[:, 0]
    xy[:, 1] = ground[1] + height_px * (pts[:, 1] - lowest - pose.jump)
    return xy, pts[:, 2] * height_px
