"""The machine a command runs on: device names, CPU threads and a description for reports.

Every command that takes `--device` or `--threads` resolves it here, so the same words are accepted and
refused everywhere.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from dkdpose.errors import InputError


def resolve_device(device: str) -> torch.device:
    """ "cpu", "cuda", "cuda:N" or "auto" (CUDA when available) -> torch.device.

    InputError for other names, and when CUDA is asked for and absent.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r}; use cpu or cuda") from None
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"device must be cpu or cuda, got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available on this machine")
    return dev


def set_threads(threads: int | None) -> None:
    """Set torch's intra-op thread count (None: leave torch's default); refuses numbers below 1."""
    if threads is None:
        return
    if threads < 1:
        raise InputError(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what `platform` knows."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return model


def usable_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def describe_device(device: torch.device) -> str:
    """A human-readable name of the device measured on: the GPU's name, or the CPU and torch's threads."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {cpu_model()}, {torch.get_num_threads()} torch threads"


def describe_machine(device: str = "cpu") -> str:
    """CPU model, usable cores, torch version and threads, and the GPU when `device` is a CUDA one.

    `device` is what the timed work ran on (a config's train.device); "CPU only" is said only for "cpu".
    """
    threads = torch.get_num_threads()
    cpu = f"{cpu_model()}, {usable_cores()} cores, torch {torch.__version__} ({threads} threads)"
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(torch.device(device))} (CUDA {torch.version.cuda}); CPU {cpu}"
    return f"{cpu}, CPU only"
