"""Seconds per training step of a torchvision ResNet with each number of torch threads, taking turns.

    python tools/thread_timing.py --model resnet18 --batch 20 --size 96 --threads 2 1 --repeats 3

One forward + backward of a random batch is one step. For each repetition, every thread setting in turn gets
one untimed warm-up step and then `--steps` timed steps; the mean is printed. Alternating the settings spreads
any change in the CPU's load over all of them. On a CPU shared with other jobs, fewer threads can be faster.
"""

from __future__ import annotations

import argparse
import time

import torch
import torchvision


def step_seconds(model: torch.nn.Module, batch: torch.Tensor, steps: int) -> float:
    """Mean wall seconds of `steps` forward + backward passes of `model` on `batch` (B, 3, H, W)."""
    start = time.perf_counter()
    for _ in range(steps):
        model(batch).sum().backward()
    return (time.perf_counter() - start) / steps


def time_threads(model_name: str, batch: int, size: int, threads: list[int], repeats: int = 3,
                 steps: int = 2, seed: int = 0) -> dict[int, list[float]]:  # fmt: skip
    """{threads: [mean seconds per step, one per repetition]}; torch's thread count is restored afterwards."""
    torch.manual_seed(seed)
    model = getattr(torchvision.models, model_name)()
    x = torch.randn(batch, 3, size, size)
    before = torch.get_num_threads()
    times: dict[int, list[float]] = {n: [] for n in threads}
    try:
        for _ in range(repeats):
            for n in threads:
                torch.set_num_threads(n)
                step_seconds(model, x, 1)  # warm-up
                times[n].append(step_seconds(model, x, steps))
    finally:
        torch.set_num_threads(before)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18", help="torchvision.models name (default resnet18)")
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--size", type=int, default=96, help="square input in pixels (default 96)")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per repetition (default 2)")
    args = parser.parse_args()
    times = time_threads(args.model, args.batch, args.size, args.threads, args.repeats, args.steps)
    for n, values in times.items():
        print(f"{n} thread(s): " + ", ".join(f"{v:.2f}" for v in values) + " s per step")


if __name__ == "__main__":
    main()
