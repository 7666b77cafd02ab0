"""How the first stage-2 optimizer steps treat the pre-trained P: frame-1 pose loss per step, per optimizer.

    python tools/warmup_probe.py --config configs/demo_dkd.yaml --init runs/demo/baseline.pt --steps 8

Builds the config's DKD model with P and F from `--init` (a stage-1 checkpoint), then takes `--steps` steps of
the pose loss (no discriminator) on the same training batches with each setting below, printing P's frame-1
loss *before* each step. The README's "Learning-rate warm-up" paragraph quotes this script's output.
"""

from __future__ import annotations

import argparse
import itertools
import sys

import torch

from dkdpose.config import load_config
from dkdpose.errors import InputError
from dkdpose.models.build import build_model
from dkdpose.training.loaders import build_loaders, load_train_records
from dkdpose.training.loop import init_from_stage1, make_optimizer, make_scheduler
from dkdpose.training.losses import pose_l2
from dkdpose.training.runtime import Dist

SETTINGS = {  # name: (optimizer, warm-up steps)
    "rmsprop": ("rmsprop", 0),
    "adam": ("adam", 0),
    "rmsprop + warm-up 50": ("rmsprop", 50),
}


def frame1_losses(cfg, batches: list[dict], optimizer: str, warmup: int) -> list[float]:
    """P's frame-1 loss before each of len(batches) steps of the whole model on the pose loss."""
    torch.manual_seed(0)
    cfg.train.optimizer, cfg.train.warmup_steps = optimizer, warmup
    joints = batches[0]["target_weight"].shape[-1]
    model = build_model(cfg.model_name(), num_joints=joints, **cfg.model_kwargs())
    init_from_stage1(model, cfg)
    model.train()
    opt = make_optimizer(model.parameters(), cfg)
    sch = make_scheduler(opt, cfg, steps_per_epoch=10**6)
    out = []
    for b in batches:
        heat = model(b["image"])  # (B, T, K, h, w)
        out.append(pose_l2(heat[:, :1], b["heatmaps"][:, :1], b["target_weight"][:, :1]).item())
        opt.zero_grad()
        pose_l2(heat, b["heatmaps"], b["target_weight"]).backward()
        opt.step()
        sch.step()
    return out


def main(argv: list[str] | None = None) -> int:
    """Exit status 0, or 2 with one line on stderr for a bad config, override or checkpoint."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--init", required=True, help="stage-1 checkpoint for P and F")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="config override")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    try:
        cfg = load_config(args.config, [*args.set, f"model.init_initializer={args.init}",
                                        f"model.init_encoder={args.init}", "data.workers=0"])  # fmt: skip
        loader, _ = build_loaders(cfg, load_train_records(cfg), Dist())
        batches = list(itertools.islice(iter(loader), args.steps))
        for name, (optimizer, warmup) in SETTINGS.items():
            losses = frame1_losses(cfg, batches, optimizer, warmup)
            print(f"{name:>22}: " + " ".join(f"{v:.4f}" for v in losses), flush=True)
    except InputError as e:
        print(f"warmup_probe: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
