"""Streaming-step time of a DKD model in eager PyTorch and under torch.compile, float32 and bf16.

    python tools/compile_step.py --model dkd_r18 --size 256 --threads 1 --repeats 10

One step is `model.step(frame, state)` on a random (1, 3, size, size) frame with the state of
`model.init_stream`. For each precision (fp32; bf16 = autocast + channels_last, as `--precision bf16`) it
prints the median eager time, the one-off compilation time and the median compiled time, and their ratio.
Untrained weights (speed does not depend on them). Needs a C++ compiler for torch.compile on a CPU.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from dkdpose.efficiency.latency import time_call
from dkdpose.inference.precision import prepare_model
from dkdpose.models.build import build_model


def median_ms(fn, repeats: int, warmup: int = 2) -> float:
    """Median wall milliseconds of `fn()` over `repeats` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    return statistics.median(time_call(fn, torch.device("cpu")) for _ in range(repeats)) * 1e3


@torch.no_grad()
def time_precision(model_name: str, size: int, precision: str, repeats: int) -> dict:
    """{"eager_ms", "compile_s", "compiled_ms", "ratio"} of one precision (fp32 or bf16), the model wrapped
    as `--precision` wraps it (`dkdpose.inference.precision.prepare_model`)."""
    model = prepare_model(build_model(model_name, 13).eval(), precision)
    frame = torch.randn(1, 3, size, size)
    _, state = model.init_stream(frame)
    eager = median_ms(lambda: model.step(frame, state), repeats)
    compiled_step = torch.compile(model.step)
    compile_s = time_call(lambda: compiled_step(frame, state), torch.device("cpu"))
    compiled = median_ms(lambda: compiled_step(frame, state), repeats)
    return {"eager_ms": eager, "compile_s": compile_s, "compiled_ms": compiled, "ratio": compiled / eager}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="dkd_r18")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.model} step at {args.size} px, batch 1, {args.threads} torch thread(s), "
          f"medians of {args.repeats}")  # fmt: skip
    for precision in args.precision:
        r = time_precision(args.model, args.size, precision, args.repeats)
        print(f"{precision}: eager {r['eager_ms']:.1f} ms, compiled {r['compiled_ms']:.1f} ms "
              f"(compiled / eager {r['ratio']:.2f}; compilation {r['compile_s']:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
