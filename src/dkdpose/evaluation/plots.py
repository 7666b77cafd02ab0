"""Figures of the evaluation: PCK-vs-alpha curves (paper Fig. 4a) and speed vs accuracy (paper Fig. 4b).

Drawn with matplotlib's Agg backend (no display needed) and written atomically as PNG.

- `plot_pck_curves`: from a score dict's "curves" (`metrics.PCKAccumulator.curves`), one line per
  joint group and a thick one for their Mean, PCK (%) against alpha.
- `plot_speed_accuracy`: from a `dkdpose bench --latency` JSON and score JSONs (`dkdpose eval` or
  `dkdpose score` output, or the Sub-JHMDB `score_mean.json`): one point per model, median ms per frame
  against the Mean PCK.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, never a window
import matplotlib.pyplot as plt  # noqa: E402

from dkdpose.errors import InputError  # noqa: E402
from dkdpose.io import (
    atomic_path,  # noqa: E402
    read_json,  # noqa: E402
)
from dkdpose.skeleton import GROUP_NAMES  # noqa: E402

log = logging.getLogger(__name__)




def _save(fig: plt.Figure, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_pck_curves(curves: dict, norm: str, path: str | Path, title: str = "") -> None:
    """PCK-vs-alpha of `norm` ("person" / "torso") from `curves` {"alpha": [..], norm: {"groups": ..}}."""
    alphas = curves["alpha"]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for g in GROUP_NAMES:
        ys = curves[norm]["groups"][g]
        ax.plot(alphas, [float("nan") if y is None else y for y in ys], label=g, linewidth=1)
    mean = [float("nan") if y is None else y for y in curves[norm]["groups"]["Mean"]]
    ax.plot(alphas, mean, label="Mean", color="black", linewidth=2.5)
    ax.set(xlabel="alpha", ylabel="PCK (%)", xlim=(min(alphas), max(alphas)), ylim=(0, 100))
    ax.set_title(f"{title} PCK normalized by {norm} size".strip())
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncol=2)
    _save(fig, path)


def _read_json(path: str | Path, what: str) -> dict:
    return read_json(path, f"{what} file", dict)


def speed_accuracy_points(
    bench_path: str | Path, scores: dict[str, str | Path], norm: str = "person"
) -> list[tuple[str, float, float]]:
    """(name, median ms per frame, Mean PCK %) for every model in `scores` {model name: score JSON path}.

    The model name must appear in the bench JSON's "models"; otherwise InputError naming both.
    """
    bench = _read_json(bench_path, "bench")
    latency = {
        m.get("name"): m.get("ms_per_frame_median") for m in bench.get("models", []) if isinstance(m, dict)
    }
    points = []
    for name, score_path in scores.items():
        if latency.get(name) is None:
            raise InputError(
                f"{bench_path}: no latency for model {name!r} (has: {', '.join(map(str, latency))})"
            )
        score = _read_json(score_path, "score")
        try:
            pck = score[norm]["groups"]["Mean"]
        except (KeyError, TypeError):
            raise InputError(f"{score_path}: not a score file (no {norm}.groups.Mean)") from None
        if pck is None:
            raise InputError(f"{score_path}: Mean PCK ({norm}) is null: nothing was counted")
        points.append((name, float(latency[name]), float(pck)))
    return points


def plot_speed_accuracy(points: list[tuple[str, float, float]], path: str | Path, title: str = "") -> None:
    """Scatter of (name, ms per frame, PCK %) points with their names, the paper's Fig. 4b layout -> PNG."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, ms, pck in points:
        ax.scatter([ms], [pck], s=40)
        ax.annotate(name, (ms, pck), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set(xlabel="time per frame (ms, median)", ylabel="PCK (%)")
    ax.set_title(title or "speed vs accuracy")
    ax.grid(alpha=0.3)
    _save(fig, path)


def parse_named_files(specs: list[str]) -> dict[str, str]:
    """["dkd_r18=a.json", ...] -> {"dkd_r18": "a.json"}; InputError for a spec without `name=`."""
    out = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise InputError(f"--scores takes NAME=FILE (e.g. dkd_r18=runs/eval/score.json), got {spec!r}")
        out[name.strip()] = path.strip()
    return out


def plot_learning_curves(curves: dict[str, dict], path: str | Path, title: str = "") -> None:
    """Validation torso PCK against training step, one line per run: curves {name: {"steps", "val_torso"}}."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, c in curves.items():
        ax.plot(c["steps"], c["val_torso"], marker="o", markersize=3, linewidth=1.5, label=name)
    ax.set(xlabel="training step", ylabel="validation torso PCK@0.2 (%)")
    ax.set_title(title or "Learning curves")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, path)
