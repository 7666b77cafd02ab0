"""Joint sets of Penn Action (13), Sub-JHMDB (15) and MPII (16), exactly as in `docs/protocol.md`.

A `JointSet` carries everything that depends on the joint order: names, left/right flip pairs, the skeleton
edges used for drawing, the seven table groups of the paper (Head Sho Elb Wri Hip Knee Ank), the torso pair
used by torso-normalized PCK, and whether PCK counts only visible joints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GROUP_NAMES = ("Head", "Sho", "Elb", "Wri", "Hip", "Knee", "Ank")


@dataclass(frozen=True)
class JointSet:
    """One dataset's joints. Indices are 0-based positions in `names`."""

    name: str
    names: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    groups: dict[str, tuple[int, ...]]
    torso: tuple[int, int]
    visible_only: bool  # PCK counts a joint only where visibility == 1

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def flip_pairs(self) -> tuple[tuple[int, int], ...]:
        """(left, right) index pairs found by matching `left_*` / `right_*` (or `l_*` / `r_*`) names."""
        pairs = []
        for i, n in enumerate(self.names):
            for lp, rp in (("left_", "right_"), ("l_", "r_")):
                if n.startswith(lp):
                    pairs.append((i, self.names.index(rp + n[len(lp) :])))
        return tuple(pairs)

    @property
    def flip_index(self) -> np.ndarray:
        """(K,) permutation that maps joint j to its mirror joint (itself when it has none)."""
        perm = np.arange(self.num_joints)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def index(self, name: str) -> int:
        return self.names.index(name)


def _edges(names: tuple[str, ...], pairs: list[tuple[str, str]]) -> tuple[tuple[int, int], ...]:
    return tuple((names.index(a), names.index(b)) for a, b in pairs)


_PENN = (
    "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
_JHMDB = (
    "neck", "belly", "face", "right_shoulder", "left_shoulder", "right_hip", "left_hip", "right_elbow",
    "left_elbow", "right_knee", "left_knee", "right_wrist", "left_wrist", "right_ankle", "left_ankle",
)  # fmt: skip
_MPII = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax", "upper_neck", "head_top",
    "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
)  # fmt: skip

_LIMBS = [
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
]  # fmt: skip


def _lr_groups(names: tuple[str, ...], head: str) -> dict[str, tuple[int, ...]]:
    parts = {"Sho": "shoulder", "Elb": "elbow", "Wri": "wrist", "Hip": "hip", "Knee": "knee", "Ank": "ankle"}
    groups = {"Head": (names.index(head),)}
    for g, part in parts.items():
        groups[g] = (names.index("left_" + part), names.index("right_" + part))
    return {g: groups[g] for g in GROUP_NAMES}


PENN_ACTION = JointSet(
    name="penn_action",
    names=_PENN,
    edges=_edges(
        _PENN,
        [("head", "left_shoulder"), ("head", "right_shoulder"), ("left_shoulder", "right_shoulder"),
         ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"), ("left_hip", "right_hip")] + _LIMBS,
    ),  # fmt: skip
    groups=_lr_groups(_PENN, "head"),
    torso=(_PENN.index("right_shoulder"), _PENN.index("left_hip")),
    visible_only=True,
)

SUB_JHMDB = JointSet(
    name="sub_jhmdb",
    names=_JHMDB,
    edges=_edges(
        _JHMDB,
        [("face", "neck"), ("neck", "left_shoulder"), ("neck", "right_shoulder"), ("neck", "belly"),
         ("belly", "left_hip"), ("belly", "right_hip")] + _LIMBS,
    ),  # fmt: skip
    groups=_lr_groups(_JHMDB, "face"),
    torso=(_JHMDB.index("left_shoulder"), _JHMDB.index("right_hip")),
    visible_only=False,
)

MPII = JointSet(
    name="mpii",
    names=_MPII,
    edges=_edges(
        _MPII,
        [("r_ankle", "r_knee"), ("r_knee", "r_hip"), ("r_hip", "pelvis"), ("pelvis", "l_hip"),
         ("l_hip", "l_knee"), ("l_knee", "l_ankle"), ("pelvis", "thorax"), ("thorax", "upper_neck"),
         ("upper_neck", "head_top"), ("r_wrist", "r_elbow"), ("r_elbow", "r_shoulder"),
         ("r_shoulder", "thorax"), ("thorax", "l_shoulder"), ("l_shoulder", "l_elbow"),
         ("l_elbow", "l_wrist")],
    ),  # fmt: skip
    groups={
        "Head": (_MPII.index("head_top"),),
        **{g: (_MPII.index("l_" + p), _MPII.index("r_" + p))
           for g, p in (("Sho", "shoulder"), ("Elb", "elbow"), ("Wri", "wrist"), ("Hip", "hip"),
                        ("Knee", "knee"), ("Ank", "ankle"))},
    },  # fmt: skip
    torso=(_MPII.index("r_shoulder"), _MPII.index("l_hip")),
    visible_only=True,
)

JOINT_SETS: dict[str, JointSet] = {js.name: js for js in (PENN_ACTION, SUB_JHMDB, MPII)}

# Each target joint is the mean of these MPII joints (the paper pre-trains P and F on MPII).
_FROM_MPII: dict[str, dict[str, tuple[str, ...]]] = {
    "penn_action": {
        "head": ("upper_neck", "head_top"),
        **{side + "_" + p: (side[0] + "_" + p,) for side in ("left", "right")
           for p in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")},
    },  # fmt: skip
    "sub_jhmdb": {
        "neck": ("upper_neck",),
        "belly": ("pelvis", "thorax"),
        "face": ("upper_neck", "head_top"),
        **{side + "_" + p: (side[0] + "_" + p,) for side in ("left", "right")
           for p in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")},
    },  # fmt: skip
}


def get_joint_set(name: str) -> JointSet:
    """Look up a joint set by dataset name (`penn_action`, `sub_jhmdb`, `mpii`)."""
    if name not in JOINT_SETS:
        raise ValueError(f"unknown joint set {name!r}; choose one of {sorted(JOINT_SETS)}")
    return JOINT_SETS[name]


def mpii_mapping(target: str) -> np.ndarray:
    """(K_target, 16) averaging matrix: `target_joints = M @ mpii_joints` (rows sum to 1)."""
    js = get_joint_set(target)
    if target not in _FROM_MPII:
        raise ValueError(f"no MPII mapping for {target!r}")
    m = np.zeros((js.num_joints, MPII.num_joints), dtype=np.float64)
    for name, sources in _FROM_MPII[target].items():
        for s in sources:
            m[js.index(name), MPII.index(s)] = 1.0 / len(sources)
    return m


def map_from_mpii(joints: np.ndarray, visibility: np.ndarray, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Map MPII joints (..., 16, 2) and visibility (..., 16) to `target`'s joints.

    A target joint is visible only when all the MPII joints it averages are visible.
    Returns joints (..., K, 2) and visibility (..., K).
    """
    m = mpii_mapping(target)
    out = np.einsum("km,...mc->...kc", m, joints)
    vis = visibility.astype(bool)
    out_vis = np.stack([vis[..., row > 0].all(axis=-1) for row in m], axis=-1)
    return out, out_vis.astype(np.float32)
