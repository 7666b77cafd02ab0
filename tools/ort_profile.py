"""Where an ONNX graph's time goes in ONNX Runtime: the kernel time per operator type, from its profiler.

    python tools/ort_profile.py dkd_onnx/step_int8.onnx --threads 1 --runs 20

Feeds random float32 inputs (dynamic dimensions as 1), runs the graph `--warmup` times untimed and `--runs`
times timed, then prints the median wall time per run and, per operator type, its share of the summed kernel
time, its milliseconds per run and its node count (ONNX Runtime's `SessionOptions.enable_profiling`).
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort


def profile(
    path: str, threads: int, runs: int, warmup: int = 3
) -> tuple[float, list[tuple[str, float, int]]]:
    """(median ms per run, [(op type, ms per run, nodes)] by time) of graph `path`."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.enable_profiling = True
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {
        i.name: rng.random([d if isinstance(d, int) else 1 for d in i.shape], dtype=np.float32)
        for i in session.get_inputs()
    }
    times = []
    for k in range(warmup + runs):
        start = time.perf_counter()
        session.run(None, feeds)
        if k >= warmup:
            times.append(time.perf_counter() - start)
    trace = Path(session.end_profiling())
    total, nodes = collections.Counter(), collections.defaultdict(set)
    for event in json.loads(trace.read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            op = event["args"].get("op_name", "?")
            total[op] += event["dur"]
            nodes[op].add(event["name"])
    trace.unlink()
    calls = warmup + runs
    ops = [(op, us / calls / 1e3, len(nodes[op])) for op, us in total.most_common()]
    return statistics.median(times) * 1e3, ops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("graph")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    if not Path(args.graph).is_file():
        parser.error(f"{args.graph}: no such ONNX graph (dkdpose export writes them)")
    ms, ops = profile(args.graph, args.threads, args.runs)
    summed = sum(t for _, t, _ in ops)
    print(f"{args.graph}: {ms:.1f} ms per run (median of {args.runs}), {args.threads} thread(s)")
    for op, t, n in ops[: args.top]:
        print(f"  {op:24s} {100 * t / summed:5.1f}%  {t:6.2f} ms  {n:3d} nodes")


if __name__ == "__main__":
    main()
