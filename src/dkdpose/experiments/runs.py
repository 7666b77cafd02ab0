"""Cached training and evaluation, shared by `dkdpose demo` and `dkdpose ablation`.

`train_cached(cfg, folder)` trains a run epoch by epoch into `folder`: a finished run with the same config
(and the same stage-1 checkpoints) is reused, a cut-off one resumes from its `last.pt` (which restores the
optimizer, λ and RNG state), and a run whose config or stage-1 checkpoint changed is trained again.
`train_time.json` holds the measured wall time summed across resumes, written after every epoch (one
`train` call runs all epochs); it loses at most one epoch when the process is killed. `evaluate_cached`
re-evaluates only when the weights are newer than their score.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from dkdpose.config import RunConfig, same_config
from dkdpose.evaluation.evaluate import EvalOptions, evaluate
from dkdpose.io import remove_own_folder, write_json
from dkdpose.models.weights import load_checkpoint
from dkdpose.training.loaders import prepare_data
from dkdpose.training.loop import train

log = logging.getLogger(__name__)

TIMING_FILE = "train_time.json"
# what a run folder holds
RUN_FILES = ("config.yaml", "metrics.csv", "validation.csv", "last.pt", "best.pt", "tb", TIMING_FILE)


def _init_stamp(cfg: RunConfig) -> dict[str, int]:
    """Modification times of the stage-1 checkpoints a run starts from (a retrained one invalidates it)."""
    m = cfg.model
    return {p: Path(p).stat().st_mtime_ns for p in (m.init_initializer, m.init_encoder) if p}


def _resolved(stamp: dict[str, int]) -> dict[str, int]:
    """An init stamp keyed by absolute paths (a run folder may be named relative or absolute)."""
    return {str(Path(p).resolve()): t for p, t in stamp.items()}


def read_timing(folder: Path) -> dict:
    """train_time.json of a run folder ({"seconds", "epochs", "init"}), or {} before the first epoch."""
    path = folder / TIMING_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _is_stale(cfg: RunConfig, folder: Path, last: Path) -> bool:
    """True when the run in `folder` was made with another config or other stage-1 weights."""
    if not same_config(load_checkpoint(last).get("config"), cfg):
        log.info("%s: trained with another config; training it again", folder)
        return True
    init = read_timing(folder).get("init")  # absent when killed before the first epoch's timing was written
    if init is not None and _resolved(init) != _resolved(_init_stamp(cfg)):
        log.info("%s: its stage-1 checkpoint changed; training it again", folder)
        return True
    return False


def train_cached(cfg: RunConfig, folder: Path, name: str | None = None) -> tuple[Path, bool]:
    """Train `cfg` into `folder` (see the module docstring); returns (the finished last.pt, reused)."""
    last, name = folder / "last.pt", name or folder.name
    if last.exists() and _is_stale(cfg, folder, last):
        remove_own_folder(folder, RUN_FILES)  # never a file of the user's
    epoch = load_checkpoint(last)["epoch"] if last.exists() else 0
    if epoch >= cfg.train.epochs:
        log.info("%s: reusing the finished run", folder)
        return last, True
    prepare_data(cfg)
    timing = {"seconds": 0.0, "epochs": 0, **read_timing(folder), "init": _init_stamp(cfg)}
    clock = [time.perf_counter()]

    def epoch_done(epoch: int) -> None:  # last.pt of `epoch` is written: account its time
        now = time.perf_counter()
        timing["seconds"] = round(timing["seconds"] + now - clock[0], 3)
        timing["epochs"], clock[0] = epoch, now
        write_json(folder / TIMING_FILE, timing)
        log.info("%s: epoch %d/%d done (%.1f min so far)", name, epoch, cfg.train.epochs,
                 timing["seconds"] / 60)  # fmt: skip

    train(cfg, folder, resume=last.exists(), on_epoch_end=epoch_done)
    return last, False


def evaluate_cached(
    weights: Path,
    dataset: str,
    root: str | Path,
    out_dir: Path,
    split: int | None = None,
    options: EvalOptions | None = None,
) -> tuple[dict, bool]:
    """`dkdpose eval` of `weights` on the test split (default options: single scale, no flip) unless its
    score is newer.

    Returns ({"score": score.json, "jitter": jitter.json}, reused).
    """
    score_path, jitter_path = out_dir / "score.json", out_dir / "jitter.json"
    fresh = score_path.exists() and score_path.stat().st_mtime_ns >= weights.stat().st_mtime_ns
    if not fresh:
        evaluate(weights, dataset, root, out_dir, split=split, options=options)
    scores = {"score": json.loads(score_path.read_text()), "jitter": json.loads(jitter_path.read_text())}
    return scores, fresh
