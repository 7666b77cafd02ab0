"""`dkdpose bench --latency`: per-frame latency of the streaming step, side by side in one process.

What is measured, for each model (names as in `bench --flops`; lstm_pm at `variants.input_size_for`,
368 for 256; or a checkpoint file: its architecture, options and training input size, `model_spec`):
- **latency**: one `model.step` on one stream (B = 1) with the state carried from the previous step, as online
  inference runs it. After `warmup` rounds, `repeats` rounds in which the models take turns (round-robin), so
  that a change of machine load or clock hits every model alike and the ratios stay fair. Median and p90
  in ms.
- **throughput**: `model.step` on B parallel streams (`--streams`), `stream_repeats` round-robin rounds;
  frames per second = B / median step time.
- **peak memory** (MiB): CUDA: the model's parameters and buffers plus the peak extra memory
  `torch.cuda.max_memory_allocated` sees during one B-stream step. CPU: the peak resident set (VmHWM of
  /proc/self/status, reset through /proc/self/clear_refs just before the step) of a fresh process that builds
  only that model and runs one B-stream step, minus that process's resident set before building it; so weights
  and the step's working memory, without the other models or the interpreter.
- **matmul peak**: the best GFLOP/s of a square float32 matrix product (2 n^3 FLOPs), measured at the start
  and at the end of the same run. **efficiency** = the model's achieved FLOP rate at B = 1 (2 x its per-frame
  MACs from `dkdpose.efficiency.flops` / median step time) divided by that peak.
- **precision**: every model runs at each requested precision (`dkdpose.inference.precision`: fp32, bf16 =
  autocast + channels_last, int8 = ONNX Runtime with the statically quantized step calibrated on a synthetic
  video), each (model, precision) pair its own row and its own copy of the model (same weights), all in
  the same round-robin. int8 rows have no peak-memory figure (ONNX Runtime allocates outside PyTorch).
CUDA times use CUDA events around the call and synchronize before reading them; CPU times use perf_counter.
"""

from __future__ import annotations

import gc
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from dkdpose.devices import describe_device, resolve_device
from dkdpose.efficiency.flops import model_flops
from dkdpose.errors import InputError
from dkdpose.inference.precision import check_precision, prepare_model
from dkdpose.inference.runners import OnnxStreamRunner
from dkdpose.models.build import MODEL_NAMES, build_model, check_input_size
from dkdpose.models.variants import input_size_for
from dkdpose.models.weights import load_checkpoint

log = logging.getLogger(__name__)

DEFAULT_LATENCY_MODELS = ("baseline_r18", "dkd_r18", "baseline_r101", "dkd_r50", "lstm_pm")


# --- timing -------------------------------------------------------------------------------------------------


def time_call(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds one call of `fn` takes: CUDA events + synchronize on a GPU, perf_counter on the CPU."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(device)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(end) / 1e3
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@torch.no_grad()
def matmul_peak_gflops(device: torch.device, n: int | None = None, repeats: int = 5) -> float:
    """Best float32 GFLOP/s of an n x n matrix product (2 n^3 FLOPs) in `repeats` timed runs after a warm-up.

    n defaults to 2048 on the CPU and 8192 on a GPU: large enough for the BLAS to reach its plateau.
    """
    n = n or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    torch.mm(a, b)  # warm-up: threads, caches, cuBLAS handles
    best = min(time_call(lambda: torch.mm(a, b), device) for _ in range(repeats))
    return 2.0 * n**3 / best / 1e9


# --- one model ----------------------------------------------------------------------------------------------


@dataclass
class _Stream:
    """One model with a running stream of batch B; `advance` times one step and carries the state forward."""

    model: nn.Module
    frames: Tensor  # (B, 3, S, S)
    state: tuple = ()
    times: list[float] = field(default_factory=list)

    @torch.no_grad()
    def start(self) -> None:
        _, self.state = self.model.init_stream(self.frames)

    @torch.no_grad()
    def advance(self, device: torch.device, record: bool = True) -> None:
        def step() -> None:
            _, self.state = self.model.step(self.frames, self.state)

        seconds = time_call(step, device)
        if record:
            self.times.append(seconds)


def model_input_size(name: str, size: int) -> int:
    """The input a model runs at for a `size` crop of the ResNet models (lstm_pm: its native 368 for 256)."""
    return input_size_for(name, size)


@dataclass
class ModelSpec:
    """What one bench row builds: model `name` at `size` with `num_joints` and build options `kwargs`
    (`build_model`'s defaults, or those recorded in `checkpoint`)."""

    name: str
    size: int
    num_joints: int = 13
    kwargs: dict = field(default_factory=dict)
    checkpoint: str | None = None


def model_spec(entry: str, size: int, num_joints: int = 13) -> ModelSpec:
    """A model name (at `model_input_size(name, size)`, default options) or a checkpoint file (`.pt`: its
    model, options, joints and training input size; random weights, as speed does not depend on them)."""
    if entry in MODEL_NAMES:
        return ModelSpec(entry, model_input_size(entry, size), num_joints)
    if not entry.endswith(".pt"):
        raise InputError(f"bench: unknown model {entry}; choose from {', '.join(MODEL_NAMES)} or a .pt file")
    ckpt = load_checkpoint(entry)
    kwargs = {k: v for k, v in ckpt["model_kwargs"].items() if k not in ("pretrained", "input_size")}
    if "kernel_size" in kwargs:  # as `build_model_from_checkpoint`: older checkpoints had unsigned bases
        kwargs.setdefault("kernel_signed", False)
    ckpt_size = ckpt["model_kwargs"].get("input_size")
    if not isinstance(ckpt_size, int):
        raise InputError(f"{entry}: the checkpoint records no input size")
    return ModelSpec(ckpt["model"], ckpt_size, int(ckpt["num_joints"]), kwargs, str(entry))


def _build(spec: ModelSpec, device: torch.device, precision: str = "fp32") -> nn.Module:
    # P = ResNet-101 (the paper's initializer); it runs on the first frame only, so the step does not see it.
    with torch.random.fork_rng(devices=[]):  # the same weights at every precision, caller's RNG untouched
        torch.manual_seed(0)
        model = build_model(spec.name, spec.num_joints, input_size=spec.size, **spec.kwargs)
    return prepare_model(model.eval().to(device), precision, device, spec.size)


def _frames(batch: int, size: int, device: torch.device, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, size, size, generator=g).to(device)


def _state_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


# --- peak memory --------------------------------------------------------------------------------------------


def _proc_status_kib(key: str) -> int | None:
    """A `kB` field of /proc/self/status (VmRSS, VmHWM), or None where there is no such file (not Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_rss_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to /proc/self/clear_refs); False on failure."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def cpu_step_peak_mib(
    name: str,
    size: int,
    streams: int,
    num_joints: int = 13,
    precision: str = "fp32",
    kwargs: dict | None = None,
) -> float | None:
    """Peak resident MiB of building `name` (with build options `kwargs`) and running one B-stream step, in
    *this* process (see module doc).

    Meant to run in a fresh process (`_cpu_peak_in_subprocess`); None where /proc is unavailable.
    """
    gc.collect()
    before = _proc_status_kib("VmRSS")
    device = torch.device("cpu")
    model = _build(ModelSpec(name, size, num_joints, kwargs or {}), device, precision)
    stream = _Stream(model, _frames(streams, size, device, seed=0))
    stream.start()
    reset = _reset_rss_peak()  # forget init_stream's peak (P, a larger network, runs only on frame 1)
    stream.advance(device)
    peak = _proc_status_kib("VmHWM")
    if before is None or peak is None:
        return None
    if not reset:
        log.debug("cannot reset the RSS peak: %s's peak memory includes its first frame", name)
    return (peak - before) / 1024.0


def _cpu_peak_in_subprocess(
    spec: ModelSpec, streams: int, threads: int, precision: str = "fp32"
) -> float | None:
    """`cpu_step_peak_mib` in a fresh interpreter, so that no other model's memory is in its resident set."""
    code = (
        "import json, sys, torch; from dkdpose.efficiency.latency import cpu_step_peak_mib; "
        f"torch.set_num_threads({int(threads)}); "
        "print(json.dumps(cpu_step_peak_mib(*json.loads(sys.argv[1]))))"
    )
    args = json.dumps([spec.name, spec.size, streams, spec.num_joints, precision, spec.kwargs])
    name = spec.name
    proc = subprocess.run([sys.executable, "-c", code, args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:  # e.g. out of memory: give no number rather than lose the whole benchmark
        log.warning(
            "peak memory of %s not measured: %s", name, (proc.stderr.strip().splitlines() or ["?"])[-1]
        )
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cuda_step_peak_mib(stream: _Stream, device: torch.device) -> float:
    """Parameters + buffers of the model plus the peak extra CUDA memory of one B-stream step, MiB."""
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    stream.advance(device, record=False)
    torch.cuda.synchronize(device)
    extra = torch.cuda.max_memory_allocated(device) - base
    return (_state_bytes(stream.model) + extra) / 2**20


# --- the benchmark ------------------------------------------------------------------------------------------


def _check_args(models: list[str], size: int, streams: int, repeats: int, device: str) -> torch.device:
    unknown = [m for m in models if m not in MODEL_NAMES and not m.endswith(".pt")]
    if unknown:
        raise InputError(
            f"bench: unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODEL_NAMES)} or a .pt"
        )
    if not models:
        raise InputError("bench --latency: --models names no model")
    check_input_size(size, "bench --size", minimum=32)
    if streams < 1 or repeats < 1:
        raise InputError(f"bench: --streams and --repeats must be >= 1, got {streams} and {repeats}")
    return resolve_device(device)


def _round_robin(streams: list[_Stream], rounds: int, device: torch.device, record: bool, desc: str) -> None:
    """`rounds` rounds in which every model takes one step in turn (the fairness of one-process ratios)."""
    for _ in tqdm(range(rounds), desc=desc, disable=not sys.stderr.isatty()):
        for s in streams:
            s.advance(device, record)


def bench_latency(
    models: list[str] | None = None,
    size: int = 256,
    streams: int = 4,
    device: str = "cpu",
    repeats: int = 10,
    warmup: int = 2,
    stream_repeats: int = 3,
    num_joints: int = 13,
    threads: int | None = None,
    precisions: list[str] | None = None,
) -> dict:
    """Latency, throughput, peak memory and efficiency of `models` (default DEFAULT_LATENCY_MODELS), one run.

    Returns {"device", "peak_gflops", "size", "streams", "repeats", "torch_threads", "peak_gflops_runs",
    "precisions", "models": [{"name", "precision", "ms_per_frame_median", "ms_per_frame_p90", "fps_streams",
    "peak_mem_mb", "efficiency",
    "input", "gmacs_per_frame"}]}; efficiency is a fraction (0-1) of peak_gflops.

    `threads` sets torch's CPU threads for the whole run (the matmul peak included). On a CPU shared with
    other jobs, 1 thread avoids the barrier stalls of a thread pool whose threads get descheduled, which hit
    many-layer networks far harder than few-layer ones.
    """
    names = list(models or DEFAULT_LATENCY_MODELS)
    dev = _check_args(names, size, streams, repeats, device)
    precisions = [check_precision(p) for p in (precisions or ["fp32"])]
    if "int8" in precisions and dev.type != "cpu":
        raise InputError("bench: --precision int8 runs on the CPU (ONNX Runtime); use --device cpu")
    if threads is not None and threads < 1:
        raise InputError(f"bench: --threads must be >= 1, got {threads}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        with torch.no_grad():
            specs = [model_spec(n, size, num_joints) for n in names]
            rows = [(spec, p) for spec in specs for p in precisions]
            return _measure(rows, size, streams, dev, repeats, warmup, stream_repeats)
    finally:
        torch.set_num_threads(previous)  # a library call must not leave the process single-threaded


def _measure(
    names: list[tuple[ModelSpec, str]],
    size: int,
    streams: int,
    dev: torch.device,
    repeats: int,
    warmup: int,
    stream_repeats: int,
) -> dict:
    """The measurements of `bench_latency` for (model, precision) `names`, in its order: peak, latency,
    throughput, peak again, memory."""
    peak_start = matmul_peak_gflops(dev)
    single, multi = [], []
    for i, (spec, precision) in enumerate(names):
        model = _build(spec, dev, precision)
        single.append(_Stream(model, _frames(1, spec.size, dev, seed=i)))
        multi.append(_Stream(model, _frames(streams, spec.size, dev, seed=100 + i)))
    for st in single + multi:
        st.start()
    _round_robin(single, warmup, dev, record=False, desc="warm-up")
    _round_robin(single, repeats, dev, record=True, desc="latency (1 stream)")
    _round_robin(multi, 1, dev, record=False, desc=f"warm-up ({streams} streams)")
    _round_robin(multi, stream_repeats, dev, record=True, desc=f"throughput ({streams} streams)")
    peak_end = matmul_peak_gflops(dev)
    peak = max(peak_start, peak_end)
    rows = [
        _model_row(spec, precision, streams, one, many, dev, peak)
        for (spec, precision), one, many in zip(names, single, multi, strict=True)
    ]
    return {
        "device": describe_device(dev),
        "peak_gflops": round(peak, 2),
        "models": rows,
        "size": size,
        "streams": streams,
        "repeats": repeats,
        "torch_threads": torch.get_num_threads(),
        "peak_gflops_runs": [round(peak_start, 2), round(peak_end, 2)],
        "precisions": sorted({p for _, p in names}, key=("fp32", "bf16", "int8").index),
    }


def _model_row(
    spec: ModelSpec, precision: str, streams: int, one: _Stream, many: _Stream, dev: torch.device, peak: float
) -> dict:
    name, s = spec.name, spec.size
    ms = np.array(one.times) * 1e3
    median = float(np.median(ms))
    gmacs = model_flops(name, s, spec.num_joints, **spec.kwargs)["gmacs_per_frame"]
    achieved_gflops = 2.0 * gmacs / (median / 1e3)  # FLOPs = 2 x MACs, as the matmul peak counts them
    if dev.type == "cuda":
        mem = cuda_step_peak_mib(many, dev)
    elif precision == "int8":
        mem = None  # ONNX Runtime's memory: not measured (module doc)
    else:
        mem = _cpu_peak_in_subprocess(spec, streams, torch.get_num_threads(), precision)
    log.debug("%s: median %.1f ms, %.2f GMACs, %.1f GFLOP/s", name, median, gmacs, achieved_gflops)
    return {
        "name": name,
        "precision": precision,
        "ms_per_frame_median": round(median, 3),
        "ms_per_frame_p90": round(float(np.percentile(ms, 90)), 3),
        "fps_streams": round(streams / float(np.median(many.times)), 3),
        "peak_mem_mb": None if mem is None else round(mem, 1),
        "efficiency": round(achieved_gflops / peak, 4),
        "input": [s, s],
        "gmacs_per_frame": gmacs,
        "checkpoint": spec.checkpoint,
    }


def format_latency_table(result: dict) -> str:
    """The latency result as a text table (one row per model) under a line naming the machine and its peak."""
    head = f"{result['device']}; matmul peak {result['peak_gflops']:.1f} GFLOP/s; {result['streams']} streams"
    cols = f"{'model':20s} {'prec.':>5s} {'input':>9s} {'ms median':>10s} {'ms p90':>9s} {'fps(B)':>8s}"
    cols += f" {'peak MiB':>9s}"
    cols += f" {'eff.':>6s}"
    lines = [head, cols]
    for r in result["models"]:
        mem = "-" if r["peak_mem_mb"] is None else f"{r['peak_mem_mb']:.0f}"
        lines.append(
            f"{r['name']:20s} {r.get('precision', 'fp32'):>5s} {'x'.join(map(str, r['input'])):>9s} "
            f"{r['ms_per_frame_median']:10.1f} "
            f"{r['ms_per_frame_p90']:9.1f} {r['fps_streams']:8.2f} {mem:>9s} {100 * r['efficiency']:5.1f}%"
        )
    return "\n".join(lines)


def time_onnx_step(
    onnx_dir: str | Path, streams: int = 1, repeats: int = 20, warmup: int = 3, seed: int = 0
) -> dict:
    """Time the exported streaming step under ONNX Runtime on the CPU, state carried from step to step.

    Runs `first_frame` once, then `warmup` untimed and `repeats` timed steps on `streams` random frames.
    Returns {"runtime": "onnxruntime", "input": [S, S], "streams", "ms_per_frame_median",
    "ms_per_frame_p90", "fps_streams"} (ms per frame: a B-stream step, one call, is timed as a whole and
    divided by B).
    """
    if streams < 1 or repeats < 1 or warmup < 0:
        raise InputError(
            "time_onnx_step: need streams >= 1, repeats >= 1, warmup >= 0; "
            f"got {streams}, {repeats}, {warmup}"
        )
    runner = OnnxStreamRunner(onnx_dir)
    s = runner.meta["input_size"]
    frames = torch.randn(streams, 3, s[1], s[0], generator=torch.Generator().manual_seed(seed))
    _, state = runner.init(frames)
    times = []
    for i in range(warmup + repeats):
        t0 = time.perf_counter()
        _, state = runner.step(frames, state)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    per_frame_ms = np.array(times) * 1e3 / streams
    return {
        "runtime": "onnxruntime",
        "input": list(s),
        "streams": streams,
        "ms_per_frame_median": round(float(np.median(per_frame_ms)), 3),
        "ms_per_frame_p90": round(float(np.percentile(per_frame_ms, 90)), 3),
        "fps_streams": round(streams / float(np.median(times)), 3),
    }
