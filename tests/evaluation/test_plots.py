"""Learning-curve plot: one line per run, every run its own colour."""

from __future__ import annotations

import matplotlib.pyplot as plt

from dkdpose.evaluation import plots


def test_learning_curves_give_twelve_runs_twelve_colours(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: (drawn.extend(fig.axes[0].lines), plt.close(fig)))
    curves = {f"run{i}": {"steps": [30, 60], "val_torso": [10.0 + i, 20.0 + i]} for i in range(12)}
    plots.plot_learning_curves(curves, tmp_path / "curves.png")
    assert [line.get_label() for line in drawn] == list(curves)
    assert len({line.get_color() for line in drawn}) == 12
