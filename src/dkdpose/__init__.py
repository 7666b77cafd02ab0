"""dkdpose: Dynamic Kernel Distillation for efficient pose estimation in videos.

The public Python API (each name is imported on first use, so `import dkdpose` and `dkdpose --help` stay
fast):

    build_model(name, num_joints, **options)      a video pose model (`dkdpose.models.build`)
    load_checkpoint(path)                          a checked checkpoint dict (`dkdpose.models.weights`)
    load_config(path, overrides)                   a run config (`dkdpose.config`)
    prepare_data(cfg)                              generate a config's synthetic benchmark if missing
    train(cfg, out_dir)                            train one run (`dkdpose.training.loop`)
    evaluate(weights, dataset, root, out_dir, split, EvalOptions(...))   the test protocol
    predict(video, weights, PredictOutputs(...), boxes, TrackerOptions(...))   a video -> overlay/JSON/CSV
    PoseTracker(weights, boxes=None, options=TrackerOptions(...))        frame by frame, for live use:

        tracker = dkdpose.PoseTracker("runs/demo/dkd.pt")
        keypoints, scores, boxes = tracker.update(frame_rgb)   # (P, K, 2) px, (P, K), (P, 4)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {
    "build_model": "dkdpose.models.build",
    "load_checkpoint": "dkdpose.models.weights",
    "load_config": "dkdpose.config",
    "prepare_data": "dkdpose.training.loaders",
    "train": "dkdpose.training.loop",
    "evaluate": "dkdpose.evaluation.evaluate",
    "EvalOptions": "dkdpose.evaluation.evaluate",
    "predict": "dkdpose.inference.predict",
    "PredictOutputs": "dkdpose.inference.predict",
    "PoseTracker": "dkdpose.inference.tracker",
    "TrackerOptions": "dkdpose.inference.tracker",
    "ReinitPolicy": "dkdpose.inference.tracking",
    "WindowParams": "dkdpose.inference.tracking",
}
__all__ = [
    "EvalOptions", "PoseTracker", "PredictOutputs", "ReinitPolicy", "TrackerOptions", "WindowParams",
    "__version__", "build_model", "evaluate", "load_checkpoint", "load_config", "predict", "prepare_data",
    "train",
]  # fmt: skip

if TYPE_CHECKING:
    from dkdpose.config import load_config
    from dkdpose.evaluation.evaluate import EvalOptions, evaluate
    from dkdpose.inference.predict import PredictOutputs, predict
    from dkdpose.inference.tracker import PoseTracker, TrackerOptions
    from dkdpose.inference.tracking import ReinitPolicy, WindowParams
    from dkdpose.models.build import build_model
    from dkdpose.models.weights import load_checkpoint
    from dkdpose.training.loaders import prepare_data
    from dkdpose.training.loop import train


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (PEP 562)."""
    if name not in _API:
        raise AttributeError(f"module 'dkdpose' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
