"""The package works when installed from its wheel, with nothing of the clone in reach."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel from a copy of the sources (the clone stays clean) and install it into a folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src_copy"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(src)], tmp, env)
    (wheel,) = (tmp / "dist").glob("dkdpose-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "dkdpose/configs/synthetic_tiny.yaml" in names
    _run([*pip, "install", "--no-deps", "--target", str(tmp / "site"), str(wheel)], tmp, env)
    return tmp / "site"


def test_the_installed_wheel_synthesizes_and_trains_from_an_empty_folder(installed: Path, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(installed), OMP_NUM_THREADS="1")
    dkdpose = [sys.executable, "-m", "dkdpose"]
    where = _run([sys.executable, "-c", "import dkdpose; print(dkdpose.__file__)"], tmp_path, env).stdout
    assert Path(where.strip()).is_relative_to(installed)
    assert _run([*dkdpose, "--version"], tmp_path, env).stdout.strip() == "dkdpose 0.1.0"

    synth = [*dkdpose, "synth", "--preset", "synthetic_tiny", "--out", "data/tiny", "--videos", "4"]
    _run(synth, tmp_path, env)
    card = json.loads((tmp_path / "data/tiny/card.json").read_text())
    assert card["videos"] == 4 and (tmp_path / "data/tiny/frames").is_dir()

    sets = ["data.root=data/tiny", "train.epochs=1", "train.steps_per_epoch=1", "train.batch_size=2",
            "data.val_videos=0", "model.channels=16"]  # fmt: skip
    train = [*dkdpose, "train", "--config", "configs/synthetic_tiny.yaml", "--out", "runs/tiny"]
    _run(train + [a for s in sets for a in ("--set", s)], tmp_path, env)
    assert (tmp_path / "runs/tiny/last.pt").is_file()

    video = sorted((tmp_path / "data/tiny/frames").iterdir())[0]
    (tmp_path / "det.txt").write_text("".join(f"{t},-1,8,4,40,56,0.9\n" for t in range(1, 9)))
    predict = [*dkdpose, "predict", str(video.relative_to(tmp_path)), "--weights", "runs/tiny/last.pt"]
    _run(predict + ["--boxes", "det.txt", "--coco", "coco.json", "--json", "poses.json"], tmp_path, env)
    coco = json.loads((tmp_path / "coco.json").read_text())
    assert len(coco) == 8 and {r["image_id"] for r in coco} == set(range(8))
    assert json.loads((tmp_path / "coco_categories.json").read_text())["categories"][0]["joint_set"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "coco.json", "coco_categories.json", "data", "det.txt", "poses.json", "runs",
    ]  # fmt: skip
