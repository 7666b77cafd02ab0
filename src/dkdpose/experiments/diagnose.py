"""Diagnostics of trained video pose models: does a model use time, and where does it go wrong?

`dkdpose diagnose --config C --weights A.pt B.pt ... --out DIR` runs every checkpoint on the same crops of the
held-out videos (`--split val`, the training config's validation videos, or `test`) and writes
`diagnostics.json` and `diagnostics.md`:

- `per_frame`: for frame t = 1..T of each clip, the pose loss (mean squared error against the training
  targets) and torso PCK@0.2. DKD's frame 1 is P's output; its later frames come through Φ and the matching.
- `pose_input`: the per-frame torso PCK with h_1 = the ground truth (P replaced by the true pose: how much a
  perfect start helps later frames; DKD and w-LSTM), and, for DKD, with h_t zeroed inside Φ (how much the
  model uses the pose it carries).
- `centre_bias`: per joint group, the mean signed error toward the crop centre, in heatmap cells (> 0: the
  predictions are pulled toward the centre of the crop, where the target person stands).
- `probe`: torso PCK of a linear probe (1x1 conv + BatchNorm) trained on the frozen frame features F(I) of
  the training videos: how much pose the encoder's features hold, whatever the head does with them.

Everything is in crop pixels of un-augmented clips (stride T, no overlap); the crop is a similarity
transform of the frame, so PCK ratios equal those in frame pixels.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from dkdpose.config import RunConfig
from dkdpose.data.clips import ClipDataset
from dkdpose.data.readers import read_records
from dkdpose.errors import InputError
from dkdpose.evaluation.metrics import counted_joints, joint_distances, pck_hits, torso_sizes
from dkdpose.io import check_output, write_json, write_text
from dkdpose.models.build import build_model_from_checkpoint
from dkdpose.models.dkd import DKD, DKDConvLSTM, set_pose_input
from dkdpose.models.weights import load_checkpoint
from dkdpose.skeleton import JointSet
from dkdpose.training.loaders import load_train_records, split_train_val
from dkdpose.training.step import generate


@dataclasses.dataclass
class Outputs:
    """Predictions and labels of one model on the diagnosed clips: coords (N, T, K, 2) crop px."""

    pred: np.ndarray
    gt: np.ndarray
    counted: np.ndarray  # (N, T, K) bool
    loss: np.ndarray  # (N, T) per-frame MSE against the targets


def diagnosed_records(cfg: RunConfig, split: str) -> tuple[list, list]:
    """(train records, diagnosed records); `split`: "val" (the config's held-out videos) or "test"."""
    train, val = split_train_val(load_train_records(cfg), cfg.data.val_videos, cfg.train.seed)
    if split == "val":
        if not val:
            msg = "the config holds out no validation videos (data.val_videos: 0): use --split test"
            raise InputError(msg)
        return train, val
    return train, read_records(cfg.data.dataset, cfg.data.root, "test", split=cfg.data.split)


def clip_dataset(cfg: RunConfig, records: list, clip_length: int, stride: int) -> ClipDataset:
    hm = cfg.data.input_size // 8
    return ClipDataset(records, clip_length=clip_length, input_size=(cfg.data.input_size,) * 2,
                       heatmap_size=(hm, hm), sigma=cfg.data.sigma, augment=False, stride=stride)  # fmt: skip


def _batches(ds: ClipDataset, batch: int):
    return torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=False, num_workers=0)


@torch.no_grad()
def run_clips(model: nn.Module, ds: ClipDataset, first_pose: str = "predicted") -> Outputs:
    """The model on every clip of `ds`; first_pose = "ground_truth" feeds DKD the true h_1 instead of P's
    (`training.step.generate`)."""
    codec, preds, gts, counted, losses = ds.codec, [], [], [], []
    for b in _batches(ds, 8):
        heat = generate(model, b["image"], b["heatmaps"], first_pose).float()
        w = b["target_weight"][..., None, None]
        losses.append((((heat - b["heatmaps"]) * w) ** 2).mean(dim=(2, 3, 4)).numpy())
        preds.append(codec.decode(heat)[0].numpy())
        gts.append(b["joints"].numpy())
        counted.append(counted_joints(b["visibility"].numpy(), ds.joint_set.visible_only))
    cat = np.concatenate
    return Outputs(cat(preds), cat(gts), cat(counted), cat(losses))


def per_frame_pck(out: Outputs, joint_set: JointSet, alpha: float = 0.2) -> list[float]:
    """Torso PCK@alpha (percent) of each frame position t = 1..T over all clips."""
    n, t, k, _ = out.pred.shape
    pred, gt = out.pred.reshape(n * t, k, 2), out.gt.reshape(n * t, k, 2)
    hits = pck_hits(joint_distances(pred, gt), torso_sizes(gt, pred, joint_set.torso), alpha)
    hits = (hits & out.counted.reshape(n * t, k)).reshape(n, t, k)
    return [round(100.0 * hits[:, i].sum() / max(out.counted[:, i].sum(), 1), 2) for i in range(t)]


def centre_bias(out: Outputs, joint_set: JointSet, input_size: int) -> dict[str, float]:
    """Per joint group: mean (pred - gt) . u in heatmap cells, u the unit vector from gt to crop centre."""
    centre = np.full(2, (input_size - 1) / 2.0)
    to_centre = centre - out.gt
    norm = np.linalg.norm(to_centre, axis=-1, keepdims=True)
    ok = out.counted & (norm[..., 0] > 1.0)
    along = ((out.pred - out.gt) * to_centre / np.maximum(norm, 1e-9)).sum(-1) / 8.0  # stride 8: cells
    return {g: round(float(along[..., list(idx)][ok[..., list(idx)]].mean()), 3)
            for g, idx in joint_set.groups.items()}  # fmt: skip


@torch.no_grad()
def _features(encoder: nn.Module, ds: ClipDataset) -> tuple[Tensor, ...]:
    """F on every one-frame item: features (N, C, h, w), targets (N, K, h, w), weights (N, K), joints, vis."""
    feats, heat, weight, joints, vis = [], [], [], [], []
    for b in _batches(ds, 16):
        feats.append(encoder(b["image"][:, 0]))
        heat.append(b["heatmaps"][:, 0])
        weight.append(b["target_weight"][:, 0])
        joints.append(b["joints"][:, 0])
        vis.append(b["visibility"][:, 0])
    return tuple(torch.cat(x) for x in (feats, heat, weight, joints, vis))


def linear_probe(model: nn.Module, train: ClipDataset, held: ClipDataset, steps: int, seed: int) -> float:
    """Torso PCK@0.2 on `held` of a 1x1 conv + BN trained (Adam) on the frozen F features of `train`."""
    torch.manual_seed(seed)
    encoder = model.encoder.eval()
    x, y, w, _, _ = _features(encoder, train)
    k = y.shape[1]
    probe = nn.Sequential(nn.Conv2d(x.shape[1], k, 1, bias=False), nn.BatchNorm2d(k))
    opt = torch.optim.Adam(probe.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(len(x), (64,), generator=gen)
        loss = (((probe(x[idx]) - y[idx]) * w[idx][..., None, None]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    probe.eval()
    hx, _, _, joints, vis = _features(encoder, held)
    with torch.no_grad():
        pred = held.codec.decode(probe(hx))[0].numpy()
    gt, count = joints.numpy(), counted_joints(vis.numpy(), held.joint_set.visible_only)
    hits = pck_hits(joint_distances(pred, gt), torso_sizes(gt, pred, held.joint_set.torso), 0.2) & count
    return round(100.0 * hits.sum() / max(count.sum(), 1), 2)


def diagnose_model(model: nn.Module, clips: ClipDataset, probe_sets: tuple, probe_steps: int) -> dict:
    """Every diagnostic of one model (module doc)."""
    js, size = clips.joint_set, clips.input_size[0]
    out = run_clips(model, clips)
    result = {
        "per_frame": {
            "torso": per_frame_pck(out, js),
            "loss": [round(float(v), 6) for v in out.loss.mean(0)],
        },
        "centre_bias": centre_bias(out, js, size),
    }
    if isinstance(model, DKD | DKDConvLSTM):  # the models that carry h_t to the next frame
        truth_first = run_clips(model, clips, first_pose="ground_truth")
        result["pose_input"] = {"h1_ground_truth": per_frame_pck(truth_first, js)}
    if isinstance(model, DKD):
        set_pose_input(model, "zero")
        result["pose_input"]["ht_zero"] = per_frame_pck(run_clips(model, clips), js)
        set_pose_input(model, "predicted")
    if probe_steps:
        result["probe_torso"] = linear_probe(model, *probe_sets, steps=probe_steps, seed=0)
    return result


def diagnose(cfg: RunConfig, weights: list[Path], out: Path, split: str = "val", probe_steps: int = 300,
             threads: int | None = None, probe_stride: int = 8) -> dict:  # fmt: skip
    """Diagnose every checkpoint in `weights` on the same clips; writes diagnostics.json / .md to `out`."""
    # the dataset root comes from the config: the CLI's output guard cannot see it
    check_output(out, weights, [cfg.data.root or None], folder=True, what="--out")
    if threads:
        torch.set_num_threads(threads)
    train_recs, recs = diagnosed_records(cfg, split)
    t = cfg.data.clip_length
    clips = clip_dataset(cfg, recs, t, stride=t)
    probe_sets = (clip_dataset(cfg, train_recs, 1, probe_stride), clip_dataset(cfg, recs, 1, probe_stride))
    results = {"split": split, "clips": len(clips), "clip_length": t, "input_size": cfg.data.input_size,
               "probe_steps": probe_steps, "models": {}}  # fmt: skip
    for path in weights:
        model = build_model_from_checkpoint(load_checkpoint(path)).eval()
        if clips.joint_set.num_joints != model.num_joints:
            names = clips.joint_set.name
            raise InputError(f"{path}: a model of {model.num_joints} joints for a {names} config")
        results["models"][str(path)] = diagnose_model(model, clips, probe_sets, probe_steps)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "diagnostics.json", results)
    write_text(out / "diagnostics.md", diagnostics_markdown(results))
    return results


def diagnostics_markdown(results: dict) -> str:
    """The tables of diagnostics.json for reading."""
    t = results["clip_length"]
    head = "| model | " + " | ".join(f"t={i + 1}" for i in range(t)) + " |"
    rule = "|---|" + "---:|" * t
    title = (f"# Diagnostics ({results['split']} videos, {results['clips']} clips of {t} frames, "
             f"{results['input_size']} px crops)")  # fmt: skip
    lines = [title, "", "## Torso PCK@0.2 per frame of the clip", "", head, rule]
    for name, m in results["models"].items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.1f}" for v in m["per_frame"]["torso"]) + " |")
        for key, label in (("h1_ground_truth", "h_1 = ground truth"), ("ht_zero", "h_t zeroed in Φ")):
            if key in m.get("pose_input", {}):
                cells = " | ".join(f"{v:.1f}" for v in m["pose_input"][key])
                lines.append(f"| {name}, {label} | {cells} |")
    lines += ["", "## Pose loss per frame of the clip", "", head, rule]
    lines += [f"| {n} | " + " | ".join(f"{v:.5f}" for v in m["per_frame"]["loss"]) + " |"
              for n, m in results["models"].items()]  # fmt: skip
    groups = list(next(iter(results["models"].values()))["centre_bias"])
    lines += ["", "## Signed error toward the crop centre (heatmap cells; > 0: pulled to the centre)", "",
              "| model | " + " | ".join(groups) + " | linear probe on F (torso PCK) |",
              "|---|" + "---:|" * (len(groups) + 1)]  # fmt: skip
    for n, m in results["models"].items():
        probe = m.get("probe_torso")
        cells = [f"{m['centre_bias'][g]:+.3f}" for g in groups] + ["-" if probe is None else f"{probe:.1f}"]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
