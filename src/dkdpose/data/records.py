"""The record every reader returns: one video (or one image, T = 1) with its labels.

This is the single data contract between the readers and the rest of the pipeline:

- `frames`: T image paths, in temporal order.
- `joints`: (T, K, 2) float32, x then y, **0-based** original-image pixels (MATLAB labels converted at load).
- `visibility`: (T, K) float32, 1 = visible/labelled, 0 = not.
- `boxes`: (T, 4) float32 person boxes x1 y1 x2 y2 in the same 0-based pixels.
- `video_id`: the id in predictions files (Penn Action `"0042"`, Sub-JHMDB `"<action>/<video>"`).
- `action`, `split` (`"train"` or `"test"`), `joint_set` (a name from `dkdpose.skeleton`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class VideoRecord:
    video_id: str
    frames: list[Path]
    joints: np.ndarray  # (T, K, 2) float32, 0-based px
    visibility: np.ndarray  # (T, K) float32 0/1
    boxes: np.ndarray  # (T, 4) float32 x1 y1 x2 y2, 0-based px
    action: str
    split: str
    joint_set: str

    @property
    def num_frames(self) -> int:
        return len(self.frames)
