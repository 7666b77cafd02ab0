"""The training data: records of the configured dataset, the validation hold-out and the DataLoaders.

    config -> records (`load_train_records`; MPII images mapped onto the target joint set)
           -> train / validation videos (`split_train_val`, seeded)
           -> ClipDataset -> DataLoader (seeded shuffle, or DistributedSampler under DDP)

`prepare_data` is the explicit step before training that generates the synthetic benchmark at
`data.root` when the config has a `synth:` section and the folder does not exist yet.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import cv2
import numpy as np
import torch

from dkdpose.config import RunConfig
from dkdpose.data.clips import ClipDataset
from dkdpose.data.mpii import read_mpii
from dkdpose.data.readers import read_records
from dkdpose.data.records import VideoRecord
from dkdpose.data.synthetic.generate import generate_dataset
from dkdpose.data.synthetic.presets import synth_options
from dkdpose.errors import InputError
from dkdpose.skeleton import get_joint_set, map_from_mpii
from dkdpose.training.runtime import Dist

log = logging.getLogger(__name__)


def prepare_data(cfg: RunConfig) -> None:
    """Generate the synthetic benchmark at data.root when it is missing and the config has a synth section."""
    if not cfg.synth or Path(cfg.data.root).exists():
        return
    log.info("%s does not exist: generating it from the config's synth section", cfg.data.root)
    generate_dataset(cfg.data.root, **synth_options(None, dict(cfg.synth)))


def split_train_val(records: list, val_videos: int, seed: int) -> tuple[list, list]:
    """Hold out `val_videos` training videos (seeded) for validation; the test split is never used."""
    if val_videos <= 0:
        return records, []
    if val_videos >= len(records):
        raise InputError(f"data.val_videos={val_videos} leaves no training videos (there are {len(records)})")
    order = np.random.default_rng(seed).permutation(len(records))
    held = set(order[:val_videos].tolist())
    return [r for i, r in enumerate(records) if i not in held], [
        r for i, r in enumerate(records) if i in held
    ]


def load_train_records(cfg: RunConfig) -> list:
    d = cfg.data
    if d.dataset == "mpii":
        return [mpii_as(r, d.mpii_target) for r in read_mpii(d.mpii_json, Path(d.root) / "images")]
    return read_records(d.dataset, d.root, "train", split=d.split)


def mpii_as(record: VideoRecord, target: str) -> VideoRecord:
    """An MPII image record with its 16 joints mapped to `target`'s joints (skeleton.map_from_mpii)."""
    joints, vis = map_from_mpii(record.joints, record.visibility, target)
    return dataclasses.replace(record, joints=joints.astype(np.float32), visibility=vis, joint_set=target)


def build_loaders(cfg: RunConfig, records: list, dd: Dist):
    """Training DataLoader (seeded shuffle; DistributedSampler under DDP) and validation loader or None."""
    d, t = cfg.data, cfg.train
    train_recs, val_recs = split_train_val(records, d.val_videos, t.seed)
    hm = d.input_size // 8
    common = dict(
        clip_length=d.clip_length, input_size=(d.input_size, d.input_size), heatmap_size=(hm, hm),
        sigma=d.sigma, joint_set=get_joint_set(train_recs[0].joint_set),
    )  # fmt: skip
    train_ds = ClipDataset(train_recs, augment=d.augment, seed=t.seed, **common)
    if dd.world > 1:
        sampler = torch.utils.data.DistributedSampler(train_ds, dd.world, dd.rank, shuffle=True, seed=t.seed)
    else:
        sampler = SeededRandomSampler(train_ds, t.seed)
    if d.workers > 0:
        one_opencv_thread()
    workers = dict(num_workers=d.workers, persistent_workers=d.workers > 0)
    train_dl = torch.utils.data.DataLoader(
        train_ds, batch_size=t.batch_size, sampler=sampler, drop_last=True, pin_memory=False, **workers
    )
    val_dl = None
    if val_recs:
        val_ds = ClipDataset(val_recs, augment=False, seed=t.seed, stride=d.clip_length, **common)
        val_dl = torch.utils.data.DataLoader(val_ds, batch_size=t.batch_size, **workers)
    return train_dl, val_dl


def one_opencv_thread() -> None:
    """OpenCV on one thread in this process, before DataLoader workers fork from it (they inherit it).

    The workers already run side by side; OpenCV's own thread pool in every worker (as many threads as cores,
    each) oversubscribes the CPU, worst when several runs train at once. It is set here and not in the
    workers: a worker forked from a process whose OpenCV pool has run (an evaluation before the next run's
    training, in the same process) hangs when it resizes that pool."""
    cv2.setNumThreads(1)


class SeededRandomSampler(torch.utils.data.Sampler):
    """A shuffling sampler whose order depends only on (seed, epoch): resumed runs see the same order."""

    def __init__(self, dataset, seed: int):
        self.n, self.seed, self.epoch = len(dataset), seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n
