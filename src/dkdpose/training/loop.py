"""Training: single-frame pre-training (stage 1) and DKD training by Algorithm 1 (stage 2).

One explicit loop, no framework. Stage 1 is the `baseline` variant with `data.clip_length: 1` (the paper
pre-trains P and F for single-frame pose on MPII); stage 2 trains a video model on 5-frame clips with the
temporally adversarial discriminator D and the λ balance of Eqn. 7 (`gan_step`). Variants (paper Tables 1-2):

  dkd       DKD + temporal D              no_tat   DKD, no discriminator
  no_pkd    per-frame F + classifier + D  sat      DKD + spatial D (one frame and its heatmaps)
  lstm      ConvLSTM instead of Φ + D     baseline single-frame network
  lstm_pm   LSTM Pose Machines (the peer), no discriminator

The run directory holds `config.yaml`, `metrics.csv`, TensorBoard events (when tensorboard is installed),
`last.pt` (every epoch) and `best.pt` (best validation torso PCK, when validation videos are held out).
Under `torchrun` the generator is wrapped in DistributedDataParallel; D's gradients are averaged by hand
because its two backward passes per step (`gan_step`) do not fit DDP's one-backward contract.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from dkdpose.config import RunConfig, save_config
from dkdpose.data.clips import ClipDataset
from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.data.readers import read_records
from dkdpose.data.records import VideoRecord
from dkdpose.errors import InputError
from dkdpose.models.build import build_model
from dkdpose.models.discriminator import SpatialDiscriminator, TemporalDiscriminator
from dkdpose.models.weights import load_checkpoint, save_checkpoint
from dkdpose.skeleton import get_joint_set, map_from_mpii
from dkdpose.training.losses import heatmap_change, is_finite, pose_l2, reconstruction_l2, update_lambda

log = logging.getLogger(__name__)

ADVERSARIAL = {"dkd": "temporal", "no_pkd": "temporal", "lstm": "temporal", "sat": "spatial"}
METRIC_FIELDS = [
    "step",
    "epoch",
    "loss_g",
    "loss_pose",
    "loss_d",
    "l2_real",
    "l2_fake",
    "lambda",
    "lr",
    "clips_per_s",
]


class NonFiniteLoss(RuntimeError):
    """A loss became NaN or infinite: the run stops rather than writing a poisoned checkpoint."""


# --- set-up -------------------------------------------------------------------------------------------------


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_kind: str) -> Dist:
    """Join the process group when started by torchrun (RANK/WORLD_SIZE set): NCCL on GPU, gloo on CPU."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def pick_device(name: str, dd: Dist) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise InputError("train.device is cuda but no CUDA device is available")
        torch.cuda.set_device(dd.local_rank)
        return torch.device("cuda", dd.local_rank)
    return torch.device("cpu")


def set_threads(threads: int | None) -> None:
    """Set torch's intra-op thread count (None: leave torch's default); refuses numbers below 1."""
    if threads is None:
        return
    if threads < 1:
        raise InputError(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def model_name(cfg: RunConfig) -> str:
    """The builder name for a variant: `dkd_r18` + `no_pkd` -> `dkd_r18_no_pkd`."""
    name, variant = cfg.model.name, cfg.train.variant
    if variant in ("no_pkd", "lstm") and not name.endswith("_" + variant):
        return f"{name}_{variant}"
    return name


def model_kwargs(cfg: RunConfig) -> dict:
    """The keyword options of `build_model` for this run (stored in checkpoints to rebuild the model)."""
    m = cfg.model
    kw = {"input_size": cfg.data.input_size, "pretrained": m.pretrained or None}
    if cfg.train.variant not in ("baseline", "lstm_pm"):
        kw.update(initializer=m.initializer, kernel_size=m.kernel_size, channels=m.channels)
    elif cfg.train.variant == "baseline":
        kw.update(channels=m.channels)
    return kw


def build_discriminator(cfg: RunConfig, num_joints: int) -> nn.Module | None:
    kind = ADVERSARIAL.get(cfg.train.variant)
    backbone = cfg.model.name.split("_")[1] if "_r" in cfg.model.name else "r18"
    depth = int(backbone[1:])
    if kind == "temporal":
        return TemporalDiscriminator(num_joints=num_joints, depth=depth)
    if kind == "spatial":
        return SpatialDiscriminator(num_joints=num_joints, depth=depth)
    return None


def init_from_stage1(model: nn.Module, cfg: RunConfig) -> None:
    """Load stage-1 single-frame checkpoints into P (whole network) and F (backbone + deconv head)."""
    if cfg.model.init_initializer:
        ckpt = load_checkpoint(cfg.model.init_initializer)
        model.load_initializer_state(ckpt["state_dict"], source=cfg.model.init_initializer)
    if cfg.model.init_encoder:
        ckpt = load_checkpoint(cfg.model.init_encoder)
        model.load_encoder_state(ckpt["state_dict"], source=cfg.model.init_encoder)


def freeze_parts(model: nn.Module, names: list[str]) -> list[nn.Module]:
    """Fix the parameters of the named child modules (e.g. "distillator", "initializer"); returns them.

    Their BatchNorm statistics are fixed too: the caller puts the returned modules in eval mode after every
    `model.train()`. Used to check that a part learns (compare with it frozen at its random start).
    """
    children = dict(model.named_children())
    parts = []
    for name in names:
        if name not in children:
            raise InputError(f"train.freeze: the model has no part {name!r} (parts: {', '.join(children)})")
        children[name].requires_grad_(False)
        parts.append(children[name])
    return parts


def make_optimizer(params, cfg: RunConfig) -> torch.optim.Optimizer:
    if cfg.train.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.train.lr)
    return torch.optim.RMSprop(params, lr=cfg.train.lr)


def lr_factor(step: int, steps_per_epoch: int, cfg: RunConfig) -> float:
    """Multiplier of train.lr before optimizer step `step` (0-based): linear warm-up, then x lr_factor per
    milestone epoch passed.

    The warm-up ramps from 1/N to 1 over the first N = train.warmup_steps steps. It matters for stage 2:
    RMSprop starts its running average of squared gradients at zero, so its first updates are about
    10x lr per weight whatever the gradient's size, which wrecks a pre-trained P and F in a few steps.
    """
    t = cfg.train
    warm = min(1.0, (step + 1) / t.warmup_steps) if t.warmup_steps > 0 else 1.0
    epoch = step // max(steps_per_epoch, 1)
    return warm * t.lr_factor ** sum(epoch >= m for m in t.lr_milestones)


def make_scheduler(opt: torch.optim.Optimizer, cfg: RunConfig, steps_per_epoch: int):
    """A per-step LambdaLR following `lr_factor` (stepped after every optimizer step)."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, steps_per_epoch, cfg))


# --- data ---------------------------------------------------------------------------------------------------


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


def prepare_data(cfg: RunConfig) -> None:
    """Generate the synthetic benchmark at data.root when it is missing and the config has a synth section."""
    if not cfg.synth or Path(cfg.data.root).exists():
        return
    from dkdpose.data.synthetic.generate import generate_dataset
    from dkdpose.data.synthetic.presets import synth_options

    log.info("%s does not exist: generating it from the config's synth section", cfg.data.root)
    generate_dataset(cfg.data.root, **synth_options(None, dict(cfg.synth)))


def load_train_records(cfg: RunConfig) -> list:
    d = cfg.data
    if d.dataset == "mpii":
        from dkdpose.data.mpii import read_mpii

        return [mpii_as(r, d.mpii_target) for r in read_mpii(d.mpii_json, Path(d.root) / "images")]
    return read_records(d.dataset, d.root, "train", split=d.split)


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
    train_dl = torch.utils.data.DataLoader(
        train_ds, batch_size=t.batch_size, sampler=sampler, num_workers=d.workers, drop_last=True,
        persistent_workers=False, pin_memory=False,
    )  # fmt: skip
    val_dl = None
    if val_recs:
        val_ds = ClipDataset(val_recs, augment=False, seed=t.seed, stride=d.clip_length, **common)
        val_dl = torch.utils.data.DataLoader(val_ds, batch_size=t.batch_size, num_workers=d.workers)
    return train_dl, val_dl


def mpii_as(record: VideoRecord, target: str) -> VideoRecord:
    """An MPII image record with its 16 joints mapped to `target`'s joints (skeleton.map_from_mpii)."""
    joints, vis = map_from_mpii(record.joints, record.visibility, target)
    return dataclasses.replace(record, joints=joints.astype(np.float32), visibility=vis, joint_set=target)


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


# --- one step -----------------------------------------------------------------------------------------------


def discriminator_pairs(disc: nn.Module, kind: str, images: Tensor, heat: Tensor) -> tuple[Tensor, Tensor]:
    """Run D over a clip and return (reconstruction, what it should reconstruct).

    temporal: D(I_t, h_t, I_{t+1}, h_{t+1}) -> d_t = h_{t+1} - h_t, for t = 1..T-1.
    spatial:  D(I_t, h_t) -> h_t, for t = 1..T.
    images (B, T, 3, H, W), heat (B, T, K, h, w) -> two (B, N, K, h, w) tensors.
    """
    b, t = heat.shape[:2]
    if kind == "temporal":
        i0, i1 = images[:, :-1].flatten(0, 1), images[:, 1:].flatten(0, 1)
        h0, h1 = heat[:, :-1].flatten(0, 1), heat[:, 1:].flatten(0, 1)
        return disc(i0, h0, i1, h1).unflatten(0, (b, t - 1)), heatmap_change(heat)
    rec = disc(images.flatten(0, 1), heat.flatten(0, 1)).unflatten(0, (b, t))
    return rec, heat


def gan_step(
    gen: nn.Module, disc: nn.Module | None, kind: str | None, batch: dict, opt_g, opt_d, lam: float,
    cfg: RunConfig, scaler=None, autocast=None, dd: Dist | None = None,
) -> dict:  # fmt: skip
    """One iteration of Algorithm 1; returns the scalar losses and the new λ.

    L_G = Σ_t ℓ2(h_t, ĥ_t) + η Σ_t ℓ2(d^f_t, d_t) updates the generator (P, F, Φ) with D frozen;
    D minimizes Σ ℓ2(d^r, d̂) − λ Σ ℓ2(d^f, d) (maximizes L_D, Eqn. 4) on the same predictions, detached.
    Both use D as it was before this step, as in Algorithm 1. The two backward passes are restricted to their
    own parameters (`inputs=`), which is exactly "detached predictions for D, D frozen for G" without a second
    forward pass. Then λ follows Eqn. 7.
    """
    images, target, weight = batch["image"], batch["heatmaps"], batch["target_weight"]
    with autocast():
        heat = gen(images)  # (B, T, K, h, w)
        loss_pose = pose_l2(heat.float(), target, weight)
        if disc is None:
            loss_g, out = loss_pose, {}
        else:
            rec_f, d_f = discriminator_pairs(disc, kind, images, heat)
            rec_r, d_r = discriminator_pairs(disc, kind, images, target)
            l2_fake = reconstruction_l2(rec_f.float(), d_f.float())
            l2_real = reconstruction_l2(rec_r.float(), d_r.float())
            loss_g = loss_pose + cfg.train.eta * l2_fake
            loss_d = l2_real - lam * l2_fake
            out = {"loss_d": loss_d, "l2_real": l2_real, "l2_fake": l2_fake}
    if not is_finite(loss_g, *out.values()):
        raise NonFiniteLoss(f"non-finite loss (loss_g={loss_g.item()}); stopping the run")
    scale = scaler.scale if scaler is not None else (lambda x: x)
    opt_g.zero_grad(set_to_none=True)
    if disc is not None:
        opt_d.zero_grad(set_to_none=True)
        scale(out["loss_d"]).backward(
            inputs=[p for p in disc.parameters() if p.requires_grad], retain_graph=True
        )
        if dd is not None and dd.world > 1:
            average_gradients(disc, dd.world)
    scale(loss_g).backward(inputs=[p for p in gen.parameters() if p.requires_grad])
    for opt in (opt_d, opt_g) if disc is not None else (opt_g,):
        if scaler is not None:
            scaler.step(opt)
        else:
            opt.step()
    if scaler is not None:
        scaler.update()
    result = {"loss_g": loss_g.item(), "loss_pose": loss_pose.item(), "lambda": lam}
    if disc is not None:
        result.update({k: v.item() for k, v in out.items()})
        result["lambda"] = update_lambda(lam, result["l2_real"], result["l2_fake"], cfg.train.gamma)
    return result


def average_gradients(module: nn.Module, world: int) -> None:
    """All-reduce (mean) the gradients of a module that is not wrapped in DDP."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


# --- validation ---------------------------------------------------------------------------------------------


@torch.no_grad()
def validate(gen: nn.Module, loader, codec: HeatmapCodec, joint_set, device: torch.device) -> float:
    """Torso-normalized PCK@0.2 (percent) on held-out training videos, in crop pixels.

    The crop is a similarity transform of the original image, so distance ratios (and PCK) are the same as
    in original pixels; eval computes the full protocol on the test split.
    """
    from dkdpose.evaluation.metrics import counted_joints, joint_distances, pck_hits, torso_sizes

    gen.eval()
    hits = counted = 0
    for batch in loader:
        heat = gen(batch["image"].to(device)).float().cpu()  # (B, T, K, h, w)
        pred = codec.decode(heat)[0].flatten(0, 1).numpy()  # (B*T, K, 2) crop px
        gt = batch["joints"].flatten(0, 1).numpy()
        count = counted_joints(batch["visibility"].flatten(0, 1).numpy(), joint_set.visible_only)
        sizes = torso_sizes(gt, pred, joint_set.torso)
        hit = pck_hits(joint_distances(pred, gt), sizes, 0.2) & count
        hits, counted = hits + int(hit.sum()), counted + int(count.sum())
    gen.train()
    return 100.0 * hits / max(counted, 1)


# --- the run ------------------------------------------------------------------------------------------------


class MetricsLog:
    """metrics.csv (appended, so a resumed run continues the file) and TensorBoard events when available."""

    def __init__(self, out: Path, enabled: bool):
        self.enabled, self.path, self.tb = enabled, out / "metrics.csv", None
        if not enabled:
            return
        if not self.path.exists():
            with self.path.open("w", newline="") as f:
                csv.writer(f).writerow(METRIC_FIELDS)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tb"))
        except ImportError:  # tensorboard is an optional extra
            log.info("tensorboard is not installed: metrics go to metrics.csv only")

    def write(self, row: dict) -> None:
        if not self.enabled:
            return
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow([row.get(k, "") for k in METRIC_FIELDS])
        if self.tb is not None:
            for k in METRIC_FIELDS[2:]:
                if row.get(k, "") != "":
                    self.tb.add_scalar(k, row[k], row["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _unwrap(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, nn.parallel.DistributedDataParallel) else m


def _numpy_rng_state() -> dict:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "gauss": float(gauss)}  # fmt: skip


def rng_state() -> dict:
    """torch, numpy and python RNG states in weights-only-loadable types."""
    version, state, _ = random.getstate()
    return {"torch": torch.get_rng_state(), "numpy": _numpy_rng_state(), "python": [version, *state]}


def restore_rng(rng: dict) -> None:
    torch.set_rng_state(rng["torch"])
    n = rng["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    random.setstate((rng["python"][0], tuple(rng["python"][1:]), None))


class Trainer:
    """Holds one run's networks, optimizers and counters; `fit` runs the epochs."""

    def __init__(self, cfg: RunConfig, out: Path, resume: bool):
        self.cfg, self.out = cfg, out
        device_kind = "cuda" if cfg.train.device == "cuda" or (
            cfg.train.device == "auto" and torch.cuda.is_available()) else "cpu"  # fmt: skip
        self.dd = init_distributed(device_kind)
        self.device = pick_device(cfg.train.device, self.dd)
        seed_everything(cfg.train.seed + self.dd.rank)
        records = load_train_records(cfg)
        if not records:
            raise InputError(f"{cfg.data.root}: no training videos found")
        self.joint_set = get_joint_set(records[0].joint_set)
        self.train_dl, self.val_dl = build_loaders(cfg, records, self.dd)
        hm = cfg.data.input_size // 8
        self.codec = HeatmapCodec((cfg.data.input_size,) * 2, (hm, hm), cfg.data.sigma)
        self._build_networks(init=not resume)
        self.lam, self.epoch, self.step, self.best = 0.0, 0, 0, -1.0
        if resume:
            self._resume(out / "last.pt")
        self._wrap_ddp()
        self._setup_amp()

    def _build_networks(self, init: bool) -> None:
        cfg, k = self.cfg, self.joint_set.num_joints
        self.gen = build_model(model_name(cfg), num_joints=k, **model_kwargs(cfg))
        if init:
            init_from_stage1(self.gen, cfg)
        self.frozen = freeze_parts(self.gen, cfg.train.freeze)
        self.disc = build_discriminator(cfg, k)
        self.kind = ADVERSARIAL.get(cfg.train.variant)
        fmt = torch.channels_last if cfg.train.channels_last else torch.contiguous_format
        self.gen.to(self.device, memory_format=fmt)
        self.opt_g = make_optimizer([p for p in self.gen.parameters() if p.requires_grad], cfg)
        self.sch_g = make_scheduler(self.opt_g, cfg, self.steps_per_epoch)
        self.opt_d = self.sch_d = None
        if self.disc is not None:
            self.disc.to(self.device, memory_format=fmt)
            self.opt_d = make_optimizer(self.disc.parameters(), cfg)
            self.sch_d = make_scheduler(self.opt_d, cfg, self.steps_per_epoch)

    @property
    def steps_per_epoch(self) -> int:
        return self.cfg.train.steps_per_epoch or len(self.train_dl)

    def _resume(self, path: Path) -> None:
        ckpt = load_checkpoint(path, expect_model=model_name(self.cfg), expect_joint_set=self.joint_set.name)
        self.gen.load_state_dict(ckpt["state_dict"])
        self.opt_g.load_state_dict(ckpt["optimizer"])
        self.sch_g.load_state_dict(ckpt["scheduler"])
        if self.disc is not None:
            self.disc.load_state_dict(ckpt["disc"])
            self.opt_d.load_state_dict(ckpt["optimizer_d"])
            self.sch_d.load_state_dict(ckpt["scheduler_d"])
        self.lam, self.epoch, self.step, self.best = (
            ckpt["lambda"],
            ckpt["epoch"],
            ckpt["step"],
            ckpt["best_pck"],
        )
        restore_rng(ckpt["rng"])
        log.info("resumed %s at epoch %d (step %d, lambda %.3f)", path, self.epoch, self.step, self.lam)

    def _wrap_ddp(self) -> None:
        if self.dd.world < 2:
            return
        if self.cfg.train.sync_bn:
            self.gen = nn.SyncBatchNorm.convert_sync_batchnorm(self.gen)
        ids = [self.device.index] if self.device.type == "cuda" else None
        self.gen = nn.parallel.DistributedDataParallel(self.gen, device_ids=ids)

    def _setup_amp(self) -> None:
        amp = self.cfg.train.amp
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
        self.use_amp = self.amp_dtype is not None and self.device.type == "cuda"
        if self.amp_dtype is not None and not self.use_amp:
            log.warning("train.amp=%s is CUDA-only; training in float32 on %s", amp, self.device)
        fp16 = self.use_amp and self.amp_dtype == torch.float16
        self.scaler = torch.amp.GradScaler("cuda") if fp16 else None  # one scaler for both optimizers

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp)

    def state(self) -> dict:
        """Everything `--resume` needs, as one weights-only checkpoint dict."""
        g, js = _unwrap(self.gen), self.joint_set
        opt = lambda o: o.state_dict() if o is not None else None  # noqa: E731
        kwargs = {**model_kwargs(self.cfg), "pretrained": None}  # the weights are in state_dict
        return {
            "model": g.name, "model_kwargs": kwargs, "joint_set": js.name, "num_joints": js.num_joints,
            "variant": self.cfg.train.variant, "state_dict": g.state_dict(), "epoch": self.epoch,
            "step": self.step, "config": self.cfg.to_dict(), "optimizer": self.opt_g.state_dict(),
            "scheduler": self.sch_g.state_dict(), "disc": opt(self.disc), "optimizer_d": opt(self.opt_d),
            "scheduler_d": opt(self.sch_d), "lambda": self.lam, "best_pck": self.best, "rng": rng_state(),
        }  # fmt: skip

    def _batch(self, batch: dict) -> dict:
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items() if torch.is_tensor(v)}
        if self.cfg.train.channels_last:  # (B, T, 3, H, W) has no 4-D memory format; frames are 4-D inside
            batch["image"] = batch["image"].contiguous()
        return batch

    def train_epoch(self, logger: MetricsLog, total_steps: int, t_start: float, step_start: int) -> None:
        cfg, n = self.cfg, self.steps_per_epoch
        self.train_dl.sampler.set_epoch(self.epoch)
        self.train_dl.dataset.set_epoch(self.epoch)
        self.gen.train()  # (validation leaves it in eval mode)
        for part in self.frozen:
            part.eval()
        t_log, clips = time.perf_counter(), 0
        for i, batch in enumerate(self.train_dl):
            if i >= n:
                break
            batch = self._batch(batch)
            res = gan_step(self.gen, self.disc, self.kind, batch, self.opt_g, self.opt_d, self.lam, cfg,
                           self.scaler, self.autocast, self.dd)  # fmt: skip
            self.lam, self.step = res["lambda"], self.step + 1
            clips += batch["image"].shape[0] * self.dd.world
            if self.step % cfg.train.log_every == 0 or i + 1 == n:
                now = time.perf_counter()
                eta = (now - t_start) / max(self.step - step_start, 1) * (total_steps - self.step)
                res.update(step=self.step, epoch=self.epoch + 1, lr=self.opt_g.param_groups[0]["lr"],
                           clips_per_s=round(clips / max(now - t_log, 1e-9), 3))  # fmt: skip
                logger.write(res)
                if self.dd.main:
                    log.info(_log_line(res, cfg.train.epochs, total_steps, eta))
                t_log, clips = now, 0
            self.sch_g.step()
            if self.sch_d is not None:
                self.sch_d.step()

    def end_epoch(self) -> None:
        """Step the schedules, validate, write last.pt (and best.pt) on rank 0."""
        self.epoch += 1
        pck = None
        if self.val_dl is not None:
            pck = validate(_unwrap(self.gen), self.val_dl, self.codec, self.joint_set, self.device)
        if not self.dd.main:
            return
        if pck is not None:
            log.info("epoch %d: validation torso PCK@0.2 %.2f", self.epoch, pck)
            if pck > self.best:
                self.best = pck
                save_checkpoint(self.out / "best.pt", self.state())
        save_checkpoint(self.out / "last.pt", self.state())

    def fit(self, stop_after_epoch: int | None = None) -> dict:
        cfg = self.cfg
        if self.dd.main:
            save_config(cfg, self.out / "config.yaml")
        logger = MetricsLog(self.out, self.dd.main)
        total = self.steps_per_epoch * cfg.train.epochs
        t_start, step_start = time.perf_counter(), self.step
        if self.disc is not None:  # (train_epoch puts the generator in train mode)
            self.disc.train()
        while self.epoch < cfg.train.epochs:
            self.train_epoch(logger, total, t_start, step_start)
            self.end_epoch()
            if stop_after_epoch is not None and self.epoch >= stop_after_epoch:
                break
        logger.close()
        if self.dd.world > 1:
            dist.barrier()
        return {
            "epoch": self.epoch,
            "step": self.step,
            "best_pck": self.best,
            "last": str(self.out / "last.pt"),
        }


def _log_line(res: dict, epochs: int, total_steps: int, eta: float) -> str:
    loss_d = f"{res['loss_d']:.5f}" if "loss_d" in res else "-"
    return (
        f"epoch {res['epoch']}/{epochs} step {res['step']}/{total_steps}  loss_g {res['loss_g']:.5f}  "
        f"loss_d {loss_d}  lambda {res['lambda']:.3f}  lr {res['lr']:.2e}  {res['clips_per_s']:.2f} clips/s  "
        f"ETA {_fmt_eta(eta)}"
    )


def train(
    cfg: RunConfig, out_dir: str | Path, resume: bool = False, stop_after_epoch: int | None = None
) -> dict:
    """Train one run into `out_dir`; returns {"epoch", "step", "best_pck", "last"}.

    `stop_after_epoch` ends the run early after that epoch (as an interruption would), for tests of `resume`.
    """
    out = Path(out_dir)
    last = out / "last.pt"
    if resume and not last.exists():
        raise InputError(f"{last}: --resume given but there is no last.pt to resume from")
    if not resume and last.exists():
        raise InputError(
            f"{out}: holds a previous run (last.pt); pass --resume to continue it or choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    prepare_data(cfg)
    return Trainer(cfg, out, resume).fit(stop_after_epoch)


def _fmt_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"
