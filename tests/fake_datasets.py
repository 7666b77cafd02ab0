"""Miniature fake Penn Action, Sub-JHMDB and MPII datasets in their exact on-disk layouts (torchvision-style).

Each writer fills a folder with tiny images (cv2) and label files (`scipy.io.savemat`, JSON) and returns the
labels it wrote, in the files' own convention (MATLAB 1-based pixels), so tests can check the readers'
conversions. The real datasets' quirks are included: a Penn Action `bbox` missing its last row, `dimensions`
that lie, invisible joints stored as zeros.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import scipy.io

PENN_K, JHMDB_K, MPII_K = 13, 15, 16
IMG_W, IMG_H = 40, 30  # tiny frames; labels stay inside them


def write_image(path: Path, seed: int = 0) -> None:
    """A tiny random colour image (the readers list frames, they never decode them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 255, (IMG_H, IMG_W, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)


def rewrite_mat(path: Path, drop: tuple[str, ...] = (), **updates: object) -> None:
    """Rewrite a `.mat` file without the fields in `drop` and with `updates` (for the refusal tests)."""
    data = {k: v for k, v in scipy.io.loadmat(str(path)).items() if not k.startswith("__") and k not in drop}
    data.update(updates)
    scipy.io.savemat(str(path), data)


# --- Penn Action -----------------------------------------------------------------------------------------


def penn_labels(nframes: int, train: bool, rng: np.random.Generator, action: str = "tennis_serve") -> dict:
    """One video's label fields as the real files hold them (1-based pixels, doubles), quirks included."""
    x = rng.uniform(5, IMG_W - 5, (nframes, PENN_K)).round(1)
    y = rng.uniform(5, IMG_H - 5, (nframes, PENN_K)).round(1)
    vis = (rng.random((nframes, PENN_K)) > 0.25).astype(np.float64)
    vis[:, 2] = vis[:, 7] = 1.0  # keep the torso pair visible
    invisible = vis == 0
    x[invisible[: nframes // 2 + 1].nonzero()] = 0.0  # quirk: some invisible joints are stored as zeros
    y[invisible[: nframes // 2 + 1].nonzero()] = 0.0
    x1, y1 = x.min(1, initial=IMG_W, where=vis > 0) - 2, y.min(1, initial=IMG_H, where=vis > 0) - 2
    x2, y2 = x.max(1, initial=0, where=vis > 0) + 2, y.max(1, initial=0, where=vis > 0) + 2
    return {
        "action": action,
        "pose": "front",
        "x": x,
        "y": y,
        "visibility": vis,
        "train": np.array([[1.0 if train else -1.0]]),
        "bbox": np.stack([x1, y1, x2, y2], axis=1),
        "dimensions": np.array([[480.0, 640.0, nframes + 7]]),  # quirk: lies about size and frame count
        "nframes": np.array([[float(nframes)]]),
    }


def write_penn_video(root: Path, video_id: str, labels: dict) -> None:
    """`root/labels/<id>.mat` and `root/frames/<id>/NNNNNN.jpg` (one frame per label row)."""
    (root / "labels").mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(root / "labels" / f"{video_id}.mat"), labels)
    for t in range(len(labels["x"])):
        write_image(root / "frames" / video_id / f"{t + 1:06d}.jpg", seed=t)


def write_fake_penn_action(root: Path, seed: int = 0) -> dict[str, dict]:
    """Five videos (0001 0003 0005 train, 0002 0004 test) under `root`; returns their labels by video id.

    Video 0004 has a `bbox` one row short (the real 1154 / 1865 quirk).
    """
    rng = np.random.default_rng(seed)
    videos = {}
    for i, (nframes, train) in enumerate([(3, True), (4, False), (2, True), (5, False), (3, True)], start=1):
        vid = f"{i:04d}"
        videos[vid] = penn_labels(nframes, train, rng, action="tennis_serve" if train else "golf_swing")
    videos["0004"]["bbox"] = videos["0004"]["bbox"][:-1]
    for vid, labels in videos.items():
        write_penn_video(Path(root), vid, labels)
    return videos


# --- Sub-JHMDB -------------------------------------------------------------------------------------------

JHMDB_VIDEOS = {  # action -> [(video, nframes, [train=1 / test=2 in split 1, 2, 3])]
    "kick_ball": [
        ("Kick_the_ball_kick_ball_f_cm_np1_ri_goo_0", 3, [1, 2, 1]),
        ("kick_it_ball_u_nm_np1_fr_0", 2, [2, 1, 1]),
    ],
    "swing_baseball": [("Baseball_Swing_swing_baseball_f_cm_np1_fr_med_1", 4, [1, 1, 2])],
}


def jhmdb_labels(nframes: int, rng: np.random.Generator) -> dict:
    """`pos_img` (2, 15, T) 1-based inside a per-frame person rectangle, and `part_mask` (H, W, T) uint8."""
    mask = np.zeros((IMG_H, IMG_W, nframes), dtype=np.uint8)
    pos = np.zeros((2, JHMDB_K, nframes))
    for t in range(nframes):
        c1, r1 = int(rng.integers(1, 10)), int(rng.integers(1, 8))
        c2, r2 = int(rng.integers(c1 + 8, IMG_W - 1)), int(rng.integers(r1 + 8, IMG_H - 1))
        mask[r1 : r2 + 1, c1 : c2 + 1, t] = 3  # puppet part ids are nonzero
        mask[r1, c1, t] = 0  # not a full rectangle: the box is still first/last nonzero column and row
        pos[0, :, t] = rng.uniform(c1 + 1, c2 + 1, JHMDB_K)  # 1-based pixels
        pos[1, :, t] = rng.uniform(r1 + 1, r2 + 1, JHMDB_K)
    return {"pos_img": pos, "part_mask": mask}


def write_jhmdb_video(root: Path, action: str, video: str, labels: dict) -> None:
    nframes = labels["pos_img"].shape[2]
    for t in range(nframes):
        write_image(root / "Rename_Images" / action / video / f"{t + 1:05d}.png", seed=t)
    pose_dir, mask_dir = root / "joint_positions" / action / video, root / "puppet_mask" / action / video
    pose_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    scale = np.ones((1, nframes))
    world = np.zeros_like(labels["pos_img"])
    scipy.io.savemat(
        str(pose_dir / "joint_positions.mat"),
        {"pos_img": labels["pos_img"], "pos_world": world, "scale": scale, "viewpoint": "E"},
    )
    scipy.io.savemat(str(mask_dir / "puppet_mask.mat"), {"part_mask": labels["part_mask"]})


def write_fake_sub_jhmdb(root: Path, seed: int = 0) -> dict[str, dict]:
    """Three videos of two actions with split files 1-3; returns {"<action>/<video>": labels + "splits"}."""
    root, rng = Path(root), np.random.default_rng(seed)
    (root / "sub_splits").mkdir(parents=True, exist_ok=True)
    out = {}
    for action, videos in JHMDB_VIDEOS.items():
        for video, nframes, splits in videos:
            labels = jhmdb_labels(nframes, rng)
            write_jhmdb_video(root, action, video, labels)
            out[f"{action}/{video}"] = {**labels, "splits": splits}
        for n in (1, 2, 3):
            lines = "".join(f"{video}.avi {splits[n - 1]}\n" for video, _, splits in videos)
            (root / "sub_splits" / f"{action}_test_split_{n}.txt").write_text(lines)
    return out


# --- MPII ------------------------------------------------------------------------------------------------


def write_fake_mpii(root: Path, seed: int = 0) -> dict[str, list[dict]]:
    """SimpleBaseline layout: annot/train.json (3 people, 2 in one image), annot/valid.json (1), images/."""
    root, rng = Path(root), np.random.default_rng(seed)
    files = {"train.json": ["000001.jpg", "000001.jpg", "000002.jpg"], "valid.json": ["000003.jpg"]}
    out = {}
    for name, images in files.items():
        people = []
        for image in images:
            write_image(root / "images" / image)
            joints = rng.uniform(1, IMG_W, (MPII_K, 2)).round(1)
            vis = (rng.random(MPII_K) > 0.2).astype(int)
            center = [float(rng.uniform(10, 30)), float(rng.uniform(10, 20))]
            people.append(
                {
                    "image": image,
                    "center": center,
                    "scale": 0.1,
                    "joints": joints.tolist(),
                    "joints_vis": vis.tolist(),
                }
            )
        (root / "annot").mkdir(parents=True, exist_ok=True)
        (root / "annot" / name).write_text(json.dumps(people))
        out[name] = people
    return out
