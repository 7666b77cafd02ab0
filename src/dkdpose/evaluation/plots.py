"""Figures of the evaluation: PCK-vs-alpha curves (paper Fig. 4a) and speed vs accuracy (paper Fig. 4b).

Drawn with matplotlib's Agg backend (no display needed) and written atomically as PNG.

- `plot_pck_curves`: from a score dict's "curves" (`metrics.PCKAccumulator.curves`), one line per
  joint group and a thick one for their Mean, PCK (%) against alpha.
- `plot_speed_accuracy`: from a `dkdpose bench --latency` JSON and score JSONs (`dkdpose eval` or
  `dkdpose score` output, or the Sub-JHMDB `score_mean.json`): one point per model (and precision), median
  ms per frame against the Mean PCK; models with a latency but no score on a strip below.
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


def _bench_latencies(bench_path: str | Path) -> dict[tuple[str, str], float]:
    """{(model name, precision): median ms per frame} of a bench JSON (rows without precision: fp32)."""
    latency: dict[tuple[str, str], float] = {}
    for m in _read_json(bench_path, "bench").get("models", []):
        if not isinstance(m, dict) or m.get("ms_per_frame_median") is None:
            continue
        key = (str(m.get("name")), str(m.get("precision", "fp32")))
        if key in latency:
            raise InputError(f"{bench_path}: two rows for {key[0]} at {key[1]}; bench them in separate files")
        latency[key] = float(m["ms_per_frame_median"])
    return latency


def _latency_of(label: str, latency: dict[tuple[str, str], float], bench_path: str | Path) -> float:
    """The bench latency of `label`, "NAME" (fp32) or "NAME:PRECISION"; InputError naming what it has."""
    name, _, precision = label.partition(":")
    key = (name, precision or "fp32")
    if key not in latency:
        has = ", ".join(f"{n}:{p}" for n, p in latency)
        raise InputError(f"{bench_path}: no latency for model {label!r} (has: {has})")
    return latency[key]


def speed_accuracy_points(
    bench_path: str | Path,
    scores: dict[str, str | Path],
    norm: str = "person",
    latency_only: list[str] | None = None,
) -> list[tuple[str, float, float | None]]:
    """(label, median ms per frame, Mean PCK %) for every label in `scores` {label: score JSON path}, then
    (label, ms, None) for every label in `latency_only` (models with a latency but no trained weights).

    A label is a model name of the bench JSON, with ":PRECISION" for a row of another precision than fp32
    (`dkd_r18:int8`); a label the bench file lacks is an InputError naming both.
    """
    latency = _bench_latencies(bench_path)
    points: list[tuple[str, float, float | None]] = []
    for label, score_path in scores.items():
        ms = _latency_of(label, latency, bench_path)
        score = _read_json(score_path, "score")
        try:
            pck = score[norm]["groups"]["Mean"]
        except (KeyError, TypeError):
            raise InputError(f"{score_path}: not a score file (no {norm}.groups.Mean)") from None
        if pck is None:
            raise InputError(f"{score_path}: Mean PCK ({norm}) is null: nothing was counted")
        points.append((label, ms, float(pck)))
    points += [(label, _latency_of(label, latency, bench_path), None) for label in latency_only or []]
    return points


def plot_speed_accuracy(
    points: list[tuple[str, float, float | None]], path: str | Path, title: str = "", ylabel: str = "PCK (%)"
) -> None:
    """Scatter of (label, ms per frame, PCK %) points with their labels, the paper's Fig. 4b layout -> PNG.

    Points without a PCK (None) go on a strip below the scatter, on the same time axis ("latency only").
    """
    scored = [p for p in points if p[2] is not None]
    timed = sorted((p for p in points if p[2] is None), key=lambda p: p[1])  # left to right
    rows = 2 if timed else 1
    fig, axes = plt.subplots(rows, 1, figsize=(6.5, 4.5 + 1.0 * (rows - 1)), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [4, 1.5][:rows]})  # fmt: skip
    ax = axes[0][0]
    for label, ms, pck in scored:
        ax.scatter([ms], [pck], s=40)
        ax.annotate(label, (ms, pck), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set(ylabel=ylabel)
    ax.set_title(title or "speed vs accuracy")
    ax.grid(alpha=0.3)
    if timed:
        strip = axes[1][0]
        for i, (label, ms, _) in enumerate(timed):
            strip.scatter([ms], [0], marker="x", s=40, color="gray")
            offset = (4, (8, -14, 20, -26)[i % 4])  # four label heights: neighbours do not overlap
            strip.annotate(label, (ms, 0), textcoords="offset points", xytext=offset, fontsize=7)
        strip.set(yticks=[], ylim=(-1, 1), ylabel="latency\nonly")
        strip.grid(alpha=0.3, axis="x")
    axes[-1][0].set(xlabel="time per frame (ms, median)")
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
    colours = plt.get_cmap("tab20").colors  # 20 distinct colours: tab10 repeats after 10 runs
    for i, (name, c) in enumerate(curves.items()):
        ax.plot(c["steps"], c["val_torso"], marker="o", markersize=3, linewidth=1.5, label=name,
                color=colours[i % len(colours)])  # fmt: skip
    ax.set(xlabel="training step", ylabel="validation torso PCK@0.2 (%)")
    ax.set_title(title or "Learning curves")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, path)
