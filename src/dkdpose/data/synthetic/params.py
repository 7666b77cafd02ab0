"""The parameters of one synthetic benchmark: size, layout, seed and the difficulty knobs.

Two generations with equal `SynthParams` give byte-identical frames and identical labels; `as_dict()` is what
`card.json` and the cache marker record, so an existing output is reused only when every parameter matches.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dkdpose.errors import InputError

FORMATS = ("penn_action", "sub_jhmdb")
MAX_SIDE = 4096  # pixels; a 4096x4096 frame is 48 MiB
MAX_FRAMES = 100_000
MAX_VIDEOS = 9999  # Penn Action video ids have 4 digits


@dataclass(frozen=True)
class SynthParams:
    format: str = "penn_action"
    videos: int = 20
    frames: int = 30
    seed: int = 0
    width: int = 256
    height: int = 256
    test_fraction: float = 0.25  # Penn Action: share of test videos (Sub-JHMDB: 3 folds, one per split)
    distractor: float = 0.75  # probability that a video has a distractor person
    lookalike: float = 0.6  # probability that the distractor wears the target's clothes (shifted colours)
    occluder: float = 0.45  # probability of each of two occluders
    blur: float = 1.0  # motion blur on fast limbs: shutter as a fraction of a frame (0 = off)
    noise: float = 1.0  # sensor noise level (0 = off)
    flicker: float = 1.0  # illumination flicker level (0 = off)
    shake: float = 1.0  # camera shake level (0 = off)
    zoom: float = 1.0  # camera zoom level (0 = fixed)
    speed: float = 1.0  # multiplies the action speed (cycles per frame)
    glitch: float = 0.0  # probability per frame that a burst of 1-3 degraded frames starts (0 = off)
    beside: float = 0.0  # probability that the distractor stays beside the target all video (0 = never)
    group_box: float = 0.0  # probability that the label box holds the target and the distractor together

    def as_dict(self) -> dict[str, object]:
        """The parameters; the later knobs (`glitch`, `beside`, `group_box`) only when on, so outputs made
        before they existed keep their identity."""
        d = dataclasses.asdict(self)
        for name in ("glitch", "beside", "group_box"):
            if not d[name]:
                del d[name]
        return d

    def validate(self) -> SynthParams:
        """Self, or InputError naming the first bad parameter."""
        if self.format not in FORMATS:
            raise InputError(f"unknown format {self.format!r}; choose one of {', '.join(FORMATS)}")
        for name in ("videos", "frames", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0 and name != "seed":
                raise InputError(f"--{name} must be a positive integer, got {value!r}")
        if self.seed < 0:
            raise InputError(f"--seed must be a non-negative integer, got {self.seed}")
        if self.videos > MAX_VIDEOS:
            raise InputError(
                f"--videos must be at most {MAX_VIDEOS} (4-digit Penn Action ids), got {self.videos}"
            )
        if (
            not all(isinstance(v, int) for v in (self.width, self.height))
            or min(self.width, self.height) < 32
            or max(self.width, self.height) > MAX_SIDE
        ):
            raise InputError(
                f"--size must be at least 32x32, at most {MAX_SIDE} a side, got {self.width}x{self.height}"
            )
        if self.frames > MAX_FRAMES:
            raise InputError(f"--frames must be at most {MAX_FRAMES}, got {self.frames}")
        if not 0.0 < self.test_fraction < 1.0:
            raise InputError(f"--test-fraction must be between 0 and 1, got {self.test_fraction}")
        for name in ("distractor", "lookalike", "occluder", "glitch", "beside", "group_box"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                option = "--" + name.replace("_", "-")
                raise InputError(f"{option} is a probability in [0, 1], got {getattr(self, name)}")
        for name in ("blur", "noise", "flicker", "shake", "zoom", "speed"):
            if not 0.0 <= getattr(self, name) <= 5.0:
                raise InputError(f"--{name} must be in [0, 5], got {getattr(self, name)}")
        if self.speed == 0.0:
            raise InputError("--speed must be positive")
        return self
