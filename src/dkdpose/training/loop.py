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

The parts: `loaders.py` (records, hold-out, DataLoaders, `prepare_data`), `runtime.py` (DDP, device, seeds,
RNG state), `step.py` (`gan_step`), `log.py` (metrics.csv, TensorBoard, the progress line); this module
builds the networks and optimizers and runs the epochs (`Trainer`, `train`). The dataset must exist before
`train`: `prepare_data(cfg)` generates a synthetic one from the config's `synth:` section.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from dkdpose.config import RunConfig, check_same_config, save_config
from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.errors import InputError
from dkdpose.evaluation.metrics import counted_joints, joint_distances, pck_hits, torso_sizes
from dkdpose.io import check_output, make_folder
from dkdpose.models.build import build_discriminator as build_variant_discriminator
from dkdpose.models.build import build_model
from dkdpose.models.variants import VARIANTS, discriminator_depth
from dkdpose.models.weights import (
    check_resumable,
    load_checkpoint,
    load_state_dict_checked,
    load_training_state,
    save_checkpoint,
)
from dkdpose.skeleton import get_joint_set
from dkdpose.training.loaders import build_loaders, load_train_records
from dkdpose.training.log import MetricsLog, log_line, write_validation_row
from dkdpose.training.runtime import (
    init_distributed,
    pick_device,
    restore_rng,
    rng_state,
    seed_everything,
    unwrap,
)
from dkdpose.training.step import gan_step

log = logging.getLogger(__name__)


# --- set-up -------------------------------------------------------------------------------------------------


def build_discriminator(cfg: RunConfig, num_joints: int) -> nn.Module | None:
    """D of the run's variant (`variants.VARIANTS`), as deep as the model's encoder; None without one."""
    kind = VARIANTS[cfg.train.variant].discriminator
    return build_variant_discriminator(kind, num_joints, discriminator_depth(cfg.model.name))


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


def generator_param_groups(model: nn.Module, cfg: RunConfig) -> list[dict]:
    """G's trainable parameters; with train.stage1_lr_mult != 1 the parts filled from stage-1 checkpoints
    (`stage1_parts`: P from model.init_initializer, F from model.init_encoder) form a group at lr x mult.

    The usual fine-tuning rule (a smaller lr for pre-trained weights than for new ones), applied alike to
    every variant: the Baseline's whole network, DKD's P and F. With mult 1 there is one group (the paper).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    mult, m = cfg.train.stage1_lr_mult, cfg.model
    if mult == 1.0 or not (m.init_initializer or m.init_encoder):
        return [{"params": params}]
    parts = model.stage1_parts(bool(m.init_initializer), bool(m.init_encoder))
    pre = {id(p) for part in parts for p in part.parameters()}
    groups = [
        {"params": [p for p in params if id(p) not in pre]},
        {"params": [p for p in params if id(p) in pre], "lr": cfg.train.lr * mult},
    ]
    return [g for g in groups if g["params"]]


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


# --- validation ---------------------------------------------------------------------------------------------


@torch.no_grad()
def validate(gen: nn.Module, loader, codec: HeatmapCodec, joint_set, device: torch.device) -> float:
    """Torso-normalized PCK@0.2 (percent) on held-out training videos, in crop pixels.

    The crop is a similarity transform of the original image, so distance ratios (and PCK) are the same as
    in original pixels; eval computes the full protocol on the test split.
    """
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
        self.gen = build_model(cfg.model_name(), num_joints=k, **cfg.model_kwargs())
        if init:
            init_from_stage1(self.gen, cfg)
        self.frozen = freeze_parts(self.gen, cfg.train.freeze)
        self.disc = build_discriminator(cfg, k)
        self.kind = VARIANTS[cfg.train.variant].discriminator
        fmt = torch.channels_last if cfg.train.channels_last else torch.contiguous_format
        self.gen.to(self.device, memory_format=fmt)
        self.opt_g = make_optimizer(generator_param_groups(self.gen, cfg), cfg)
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
        ckpt = load_checkpoint(path, expect_model=self.cfg.model_name(), expect_joint_set=self.joint_set.name)
        check_resumable(ckpt, self.disc is not None)
        load_state_dict_checked(self.gen, ckpt["state_dict"], str(path))
        load_training_state(self.opt_g, self.sch_g, ckpt["optimizer"], ckpt["scheduler"], str(path))
        if self.disc is not None:
            load_state_dict_checked(self.disc, ckpt["disc"], f"{path} (discriminator)")
            load_training_state(self.opt_d, self.sch_d, ckpt["optimizer_d"], ckpt["scheduler_d"], str(path))
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
        unused = self.cfg.train.first_pose == "ground_truth"  # P is not run: its weights get no gradient
        self.gen = nn.parallel.DistributedDataParallel(
            self.gen, device_ids=ids, find_unused_parameters=unused
        )

    def _setup_amp(self) -> None:
        amp = self.cfg.train.amp
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
        # bf16 autocast runs on CPUs too (fast where the CPU has AVX-512 BF16 / AMX); fp16 is CUDA-only
        self.use_amp = self.amp_dtype is not None and (self.device.type == "cuda" or amp == "bf16")
        if self.amp_dtype is not None and not self.use_amp:
            log.warning("train.amp=%s is CUDA-only; training in float32 on %s", amp, self.device)
        fp16 = self.use_amp and self.amp_dtype == torch.float16
        self.scaler = torch.amp.GradScaler("cuda") if fp16 else None  # one scaler for both optimizers

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp)

    def state(self) -> dict:
        """Everything `--resume` needs, as one weights-only checkpoint dict."""
        g, js = unwrap(self.gen), self.joint_set
        opt = lambda o: o.state_dict() if o is not None else None  # noqa: E731
        kwargs = {**self.cfg.model_kwargs(), "pretrained": None}  # the weights are in state_dict
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
                    log.info(log_line(res, cfg.train.epochs, total_steps, eta))
                t_log, clips = now, 0
            self.sch_g.step()
            if self.sch_d is not None:
                self.sch_d.step()

    def end_epoch(self) -> None:
        """Step the schedules, validate, write last.pt (and best.pt) on rank 0."""
        self.epoch += 1
        pck = None
        if self.val_dl is not None:
            pck = validate(unwrap(self.gen), self.val_dl, self.codec, self.joint_set, self.device)
        if not self.dd.main:
            return
        improved = pck is not None and pck > self.best
        if pck is not None:
            log.info("epoch %d: validation torso PCK@0.2 %.2f", self.epoch, pck)
            write_validation_row(self.out / "validation.csv", self.epoch, self.step, pck)
            self.best = max(self.best, pck)
        state = self.state()
        save_checkpoint(self.out / "last.pt", state)  # first: a kill during the saves never loses the epoch
        if improved:
            save_checkpoint(self.out / "best.pt", state)

    def fit(
        self, stop_after_epoch: int | None = None, on_epoch_end: Callable[[int], None] | None = None
    ) -> dict:
        cfg = self.cfg
        if self.dd.main:
            save_config(cfg, self.out / "config.yaml")
        logger = MetricsLog(self.out, self.dd.main, self.step)
        total = self.steps_per_epoch * cfg.train.epochs
        t_start, step_start = time.perf_counter(), self.step
        if self.disc is not None:  # (train_epoch puts the generator in train mode)
            self.disc.train()
        while self.epoch < cfg.train.epochs:
            self.train_epoch(logger, total, t_start, step_start)
            self.end_epoch()
            if on_epoch_end is not None and self.dd.main:
                on_epoch_end(self.epoch)
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


def train(
    cfg: RunConfig,
    out_dir: str | Path,
    resume: bool = False,
    stop_after_epoch: int | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
) -> dict:
    """Train one run into `out_dir`; returns {"epoch", "step", "best_pck", "last"}.

    `stop_after_epoch` ends the run early after that epoch (as an interruption would), for tests of `resume`.
    `on_epoch_end(epoch)` is called after each epoch's last.pt is written (on rank 0).
    `data.root` must hold the dataset: call `prepare_data(cfg)` first for a config with a `synth:` section.
    """
    out = Path(out_dir)
    last = out / "last.pt"
    inputs = [cfg.model.init_initializer or None, cfg.model.init_encoder or None]
    check_output(out, inputs, [cfg.data.root or None, cfg.data.mpii_json or None], True, "run folder")
    if resume and not last.exists():
        raise InputError(f"{last}: --resume given but there is no last.pt to resume from")
    if not resume and last.exists():
        raise InputError(
            f"{out}: holds a previous run (last.pt); pass --resume to continue it or choose another --out"
        )
    if resume:
        previous = load_checkpoint(last)
        check_resumable(previous, with_discriminator=False)  # (the discriminator's part: when loading)
        check_same_config(previous.get("config"), cfg, str(last))
    make_folder(out)
    return Trainer(cfg, out, resume).fit(stop_after_epoch, on_epoch_end)
