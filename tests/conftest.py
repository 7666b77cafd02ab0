"""Fixtures shared by several test folders: fake on-disk datasets and a tiny tracked video with its model.

Helpers that tests import directly live beside this file: `fake_datasets.py` (miniature Penn Action,
Sub-JHMDB and MPII folders in their original layouts) and `tiny_models.py` (a 64 px model with peaky
heatmaps, a walking stick-figure video). pytest puts this folder on `sys.path`, so every test folder can
import them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_datasets import write_fake_mpii, write_fake_penn_action, write_fake_sub_jhmdb
from tiny_models import person_frames, tiny_checkpoint, write_video


@pytest.fixture
def fake_penn_action(tmp_path: Path) -> tuple[Path, dict]:
    """A miniature Penn Action folder and the labels written into it: (root, {video id: labels})."""
    root = tmp_path / "Penn_Action"
    return root, write_fake_penn_action(root)


@pytest.fixture
def fake_sub_jhmdb(tmp_path: Path) -> tuple[Path, dict]:
    """A miniature Sub-JHMDB folder and its labels: (root, {video: labels})."""
    root = tmp_path / "JHMDB"
    return root, write_fake_sub_jhmdb(root)


@pytest.fixture
def fake_mpii(tmp_path: Path) -> tuple[Path, dict]:
    """A miniature MPII folder (images and annotation JSON) and its annotations."""
    root = tmp_path / "mpii"
    return root, write_fake_mpii(root)


@pytest.fixture(scope="session")
def walking_person(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{"ckpt": a tiny DKD checkpoint (64 px, excited weights), "video": 6 frames of a walking figure}."""
    d = tmp_path_factory.mktemp("walking_person")
    return {"ckpt": tiny_checkpoint(d / "dkd.pt"), "video": write_video(d / "walk.mp4", person_frames())}
