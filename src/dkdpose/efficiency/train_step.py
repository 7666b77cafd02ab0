"""`dkdpose bench --train-step`: seconds per training step at each autocast precision, side by side.

A step is one iteration of Algorithm 1 (`training.step.gan_step`: the generator's forward pass over a clip
batch, D on real and fake pairs, both backward passes and both optimizer updates), as `dkdpose train` runs it
for a run config: its model, variant, discriminator, optimizer, batch size, clip length, input size and
`train.channels_last`. Each setting -- a precision (`none` = float32, `bf16` = `torch.autocast` with bfloat16,
as `train.amp: bf16`) and a memory format of the weights (`contiguous`, or `channels_last` as
`train.channels_last: true`; by default the config's) -- gets its own copy of the networks, built from the
same seed; every round runs one step of each setting in turn, so a change of load on the machine hits them
alike and the ratio stays fair. The frames stay in the loader's contiguous layout, as in `dkdpose train`. The
first `warmup` rounds are not timed. No data is read: the batch is random frames and target heatmaps of the
config's shape, so the loader's cost is not in the figure (it runs in worker processes during training).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dkdpose.config import RunConfig
from dkdpose.devices import cpu_model, resolve_device
from dkdpose.errors import InputError
from dkdpose.models.build import build_model
from dkdpose.models.variants import VARIANTS
from dkdpose.training.loop import build_discriminator, make_optimizer
from dkdpose.training.step import gan_step

AMPS = ("none", "bf16")
MEMORY_FORMATS = ("contiguous", "channels_last")
NUM_JOINTS = 13  # Penn Action's joints: the step's cost hardly depends on K


@dataclass
class _Trainee:
    """One setting's networks, optimizers and autocast context."""

    amp: str
    memory_format: str
    gen: nn.Module
    disc: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    autocast: Callable[[], AbstractContextManager]
    times: list[float]


def _parse_list(text: str, allowed: tuple[str, ...], option: str) -> list[str]:
    """ "a,b" -> ["a", "b"]: each one of `allowed`, at least one, no repeats."""
    names = [a.strip() for a in text.split(",") if a.strip()]
    bad = [a for a in names if a not in allowed]
    if not names or bad or len(set(names)) != len(names):
        raise InputError(f"{option} must list some of {', '.join(allowed)} once each, got {text!r}")
    return names


def parse_amps(text: str) -> list[str]:
    """ "none,bf16" -> ["none", "bf16"] (each one of AMPS, at least one, no repeats)."""
    return _parse_list(text, AMPS, "--amp")


def parse_memory_formats(text: str) -> list[str]:
    """ "contiguous,channels_last" -> the two names (each one of MEMORY_FORMATS, at least one, no repeats)."""
    return _parse_list(text, MEMORY_FORMATS, "--memory-format")


def _trainee(cfg: RunConfig, amp: str, device: torch.device, memory_format: str | None = None) -> _Trainee:
    """The networks of `cfg` at precision `amp`, weights in `memory_format` (None: as the config says)."""
    with torch.random.fork_rng(devices=[]):  # the same weights at every precision; caller's RNG untouched
        torch.manual_seed(cfg.train.seed)
        kwargs = {**cfg.model_kwargs(), "pretrained": None}  # the weights do not change the step's cost
        gen = build_model(cfg.model_name(), num_joints=NUM_JOINTS, **kwargs)
        disc = build_discriminator(cfg, NUM_JOINTS)
    if memory_format is None:
        memory_format = "channels_last" if cfg.train.channels_last else "contiguous"
    fmt = torch.channels_last if memory_format == "channels_last" else torch.contiguous_format
    gen.to(device, memory_format=fmt).train()
    opt_d = None
    if disc is not None:
        disc.to(device, memory_format=fmt).train()
        opt_d = make_optimizer(disc.parameters(), cfg)
    opt_g = make_optimizer([p for p in gen.parameters() if p.requires_grad], cfg)
    dtype = torch.bfloat16 if amp == "bf16" else None
    autocast = lambda: torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)  # noqa: E731
    return _Trainee(amp, memory_format, gen, disc, opt_g, opt_d, autocast, [])


def random_batch(cfg: RunConfig, device: torch.device, seed: int = 0) -> dict[str, Tensor]:
    """A clip batch of the config's shape: image (B, T, 3, S, S), heatmaps (B, T, K, S/8, S/8) in [0, 1),
    target_weight (B, T, K) of ones."""
    b, t, s = cfg.train.batch_size, cfg.data.clip_length, cfg.data.input_size
    g = torch.Generator().manual_seed(seed)
    batch = {
        "image": torch.randn(b, t, 3, s, s, generator=g),
        "heatmaps": torch.rand(b, t, NUM_JOINTS, s // 8, s // 8, generator=g),
        "target_weight": torch.ones(b, t, NUM_JOINTS),
    }
    return {k: v.to(device) for k, v in batch.items()}


def _timed_step(tr: _Trainee, cfg: RunConfig, batch: dict[str, Tensor], device: torch.device) -> float:
    kind = VARIANTS[cfg.train.variant].discriminator
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    gan_step(tr.gen, tr.disc, kind, batch, tr.opt_g, tr.opt_d, 0.0, cfg, autocast=tr.autocast)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def bench_train_step(
    cfg: RunConfig,
    amps: list[str] | None = None,
    repeats: int = 5,
    warmup: int = 1,
    device: str = "cpu",
    threads: int | None = None,
    memory_formats: list[str] | None = None,
) -> dict:
    """Seconds per training step of run config `cfg` at each of `amps` (default both) x `memory_formats`
    (default: the config's), interleaved.

    Returns {"device", "cpu", "torch_threads", "load_1min", "model", "variant", "batch_size", "clip_length",
    "input_size", "channels_last", "repeats", "warmup", "steps": [{"amp", "memory_format", "seconds_median",
    "seconds_min", "seconds_max", "ratio_to_first"}]}; ratio_to_first = this median / the first setting's.
    """
    amps = list(amps or AMPS)
    parse_amps(",".join(amps))
    formats = list(memory_formats or [None])
    if memory_formats is not None:
        parse_memory_formats(",".join(memory_formats))
    if repeats < 1 or warmup < 0:
        raise InputError(f"bench: --repeats must be >= 1 and --warmup >= 0, got {repeats}, {warmup}")
    if threads is not None and threads < 1:
        raise InputError(f"bench: --threads must be >= 1, got {threads}")
    dev = resolve_device(device)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        trainees = [_trainee(cfg, amp, dev, fmt) for fmt in formats for amp in amps]
        batch = random_batch(cfg, dev)
        for round_ in range(warmup + repeats):
            for tr in trainees:
                seconds = _timed_step(tr, cfg, batch, dev)
                if round_ >= warmup:
                    tr.times.append(seconds)
        threads_used = torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)  # a library call must not leave the process single-threaded
    return _result(cfg, trainees, dev, threads_used, repeats, warmup)


def _result(
    cfg: RunConfig, trainees: list[_Trainee], dev: torch.device, threads: int, repeats: int, warmup: int
) -> dict:
    first = statistics.median(trainees[0].times)
    steps = [
        {
            "amp": tr.amp,
            "memory_format": tr.memory_format,
            "seconds_median": round(statistics.median(tr.times), 4),
            "seconds_min": round(min(tr.times), 4),
            "seconds_max": round(max(tr.times), 4),
            "ratio_to_first": round(statistics.median(tr.times) / first, 3),
        }
        for tr in trainees
    ]
    return {
        "device": str(dev), "cpu": cpu_model(), "torch_threads": threads,
        "load_1min": round(os.getloadavg()[0], 2),  # other processes on the CPU inflate every row alike
        "model": cfg.model_name(), "variant": cfg.train.variant, "batch_size": cfg.train.batch_size,
        "clip_length": cfg.data.clip_length, "input_size": cfg.data.input_size,
        "channels_last": cfg.train.channels_last, "repeats": repeats, "warmup": warmup, "steps": steps,
    }  # fmt: skip


def format_train_step_table(result: dict) -> str:
    """The training-step result as a text table under a line naming the machine and the step's shape."""
    head = (
        f"{result['cpu']} ({result['device']}), {result['torch_threads']} threads, "
        f"load {result['load_1min']}; "
        f"{result['model']} ({result['variant']}), {result['batch_size']} clips x {result['clip_length']} "
        f"frames at {result['input_size']} px; medians of {result['repeats']} interleaved rounds"
    )
    lines = [head, f"{'amp':6s} {'memory format':14s} {'s/step':>8s} {'min':>8s} {'max':>8s} {'ratio':>6s}"]
    for r in result["steps"]:
        lines.append(
            f"{r['amp']:6s} {r['memory_format']:14s} {r['seconds_median']:8.3f} {r['seconds_min']:8.3f} "
            f"{r['seconds_max']:8.3f} {r['ratio_to_first']:6.2f}"
        )
    return "\n".join(lines)
