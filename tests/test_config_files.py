"""Configs by name or path: shipped inside the package, overridden by a user's file."""

from __future__ import annotations

from pathlib import Path

import pytest

from dkdpose.config import load_config
from dkdpose.config_files import find_config, shipped_dir, shipped_names
from dkdpose.data.synthetic.presets import load_preset
from dkdpose.errors import InputError


def test_shipped_configs_are_found_by_name_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    assert {"synthetic_tiny", "demo_dkd", "ablation_synthetic_small"} <= set(shipped_names())
    for name in ("synthetic_tiny", "synthetic_tiny.yaml", "configs/synthetic_tiny.yaml"):
        assert find_config(name) == shipped_dir() / "synthetic_tiny.yaml"
    assert load_config("configs/synthetic_tiny.yaml").data.input_size == 64
    assert load_preset("synthetic_tiny")["videos"] == 8


def test_a_users_file_wins_over_the_shipped_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs/synthetic_tiny.yaml").write_text("synth: {videos: 3}\ntrain: {epochs: 7}\n")
    (tmp_path / "mine.yaml").write_text("synth: {videos: 5}\n")
    assert load_preset("synthetic_tiny")["videos"] == 3
    assert load_config("synthetic_tiny").train.epochs == 7
    assert load_preset("mine.yaml")["videos"] == 5
    assert load_preset(str(tmp_path / "mine.yaml"))["videos"] == 5


def test_an_unknown_config_names_the_shipped_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=r"nope\.yaml: config file not found.*synthetic_tiny"):
        load_config("nope.yaml")
    with pytest.raises(InputError, match="elsewhere/synthetic_tiny.yaml: synth preset file not found"):
        load_preset("elsewhere/synthetic_tiny.yaml")  # a path in another folder is not a shipped name
