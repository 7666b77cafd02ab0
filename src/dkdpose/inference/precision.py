"""Numeric precision of inference, one mechanism for `predict`, `eval` and `bench --latency`.

`prepare_model(model, precision, ...)` returns an object with the models' streaming API
(`init_stream(frames)`, `step(frames, state)`, float32 heatmaps out) that runs at:
- **fp32**: the model itself.
- **bf16**: `torch.autocast(device, bfloat16)` around the model, weights and frames in channels_last memory
  format (`AutocastStreamModel`); the state between steps is kept as autocast leaves it.
- **int8**: ONNX Runtime (`OnnxStreamModel`): the first-frame graph (P) and the step graph statically
  quantized by `inference.quantize` (QDQ format, per-channel int8 weights, uint8 activations, ranges
  calibrated on `calibration_frames`: a video or image folder the user gives, or a synthetic benchmark
  video). The sessions get `threads` intra-op threads; while they run,
  PyTorch is held at one thread (`torch_threads`) so that its OpenMP workers do not compete with ONNX
  Runtime's.

`dkdpose export --int8 --calibrate DIR` writes the same quantized graphs next to the float32 ones, for
`predict --runtime onnxruntime --precision int8`.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from pathlib import Path

import torch
from torch import Tensor, nn

from dkdpose.errors import InputError
from dkdpose.inference.onnx_graphs import export_graphs, write_export_meta
from dkdpose.inference.quantize import calibration_frames
from dkdpose.inference.runners import OnnxStreamRunner

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "int8")
State = tuple[Tensor, ...]


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise InputError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def parse_precisions(text: str) -> list[str]:
    """ "fp32,bf16,int8" -> ["fp32", "bf16", "int8"] (each checked; at least one)."""
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise InputError("--precision names no precision")
    return [check_precision(p) for p in names]


def onnxruntime_context(runtime: str, precision: str) -> AbstractContextManager:
    """Around a whole run: PyTorch at one thread when ONNX Runtime does the network's work (int8, or the
    onnxruntime runtime), so that PyTorch's idle OpenMP workers do not take cores from ONNX Runtime."""
    return torch_threads(1) if runtime == "onnxruntime" or precision == "int8" else nullcontext()


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """PyTorch's intra-op thread count set to `n` inside the block, restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# --- bf16 ---------------------------------------------------------------------------------------------------


class AutocastStreamModel(nn.Module):
    """`model` under bfloat16 autocast with channels_last weights and frames; heatmaps come back float32."""

    def __init__(self, model: nn.Module, device: torch.device):
        super().__init__()
        self.model = model.to(memory_format=torch.channels_last)
        self.device_type = device.type

    def _run(self, fn, frames: Tensor, *state: State) -> tuple[Tensor, State]:
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            heat, nxt = fn(frames.contiguous(memory_format=torch.channels_last), *state)
        return heat.float(), nxt

    @property
    def takes_first_pose(self) -> bool:
        return getattr(self.model, "takes_first_pose", False)

    def init_stream(self, frames: Tensor, first_heatmaps: Tensor | None = None) -> tuple[Tensor, State]:
        """frames (B, 3, S, S) -> heatmaps (B, K, S/8, S/8) float32, state; first_heatmaps: a given h_1."""
        if first_heatmaps is None:
            return self._run(self.model.init_stream, frames)
        return self._run(lambda f: self.model.init_stream(f, first_heatmaps=first_heatmaps), frames)

    def step(self, frames: Tensor, state: State) -> tuple[Tensor, State]:
        return self._run(self.model.step, frames, state)


# --- int8 ---------------------------------------------------------------------------------------------------


class OnnxStreamModel(nn.Module):
    """An `OnnxStreamRunner` behind the models' streaming API, PyTorch at one thread while it runs."""

    def __init__(self, runner: OnnxStreamRunner):
        super().__init__()
        self.runner = runner

    def init_stream(self, frames: Tensor) -> tuple[Tensor, State]:
        with torch_threads(1):
            return self.runner.init(frames.float().cpu())

    def step(self, frames: Tensor, state: State) -> tuple[Tensor, State]:
        with torch_threads(1):
            return self.runner.step(frames.float().cpu(), state)


def int8_model(
    model: nn.Module, size: int, calibration: str | Path | None = None, threads: int | None = None
) -> OnnxStreamModel:
    """`model` exported and its step quantized in a temporary folder (held by the returned model)."""
    tmp = tempfile.TemporaryDirectory(prefix="dkdpose-int8-")
    out = Path(tmp.name)
    frames = calibration_frames(calibration, size)
    with ExitStack() as stack:
        graphs, state_names, _ = export_graphs(model.float().eval(), size, out, stack, frames)
    write_export_meta(out, graphs, state_names, size)
    wrapped = OnnxStreamModel(OnnxStreamRunner(out, "cpu", threads or torch.get_num_threads(), int8=True))
    wrapped._tmp = tmp  # removed with the model
    return wrapped


def prepare_model(
    model: nn.Module,
    precision: str,
    device: torch.device | str = "cpu",
    size: int = 256,
    calibration: str | Path | None = None,
    threads: int | None = None,
) -> nn.Module:
    """`model` (eval mode, on `device`) wrapped to run at `precision` (module doc); `size`: its input size.

    int8 runs on the CPU under ONNX Runtime with `threads` intra-op threads (default: PyTorch's count).
    """
    device = torch.device(device)
    check_precision(precision)
    if precision == "fp32":
        return model
    if precision == "bf16":
        return AutocastStreamModel(model, device)
    if device.type != "cpu":
        raise InputError(f"--precision int8 runs on the CPU (ONNX Runtime), not on {device}")
    log.info("int8: exporting and quantizing the step (calibration: %s)", calibration or "synthetic video")
    return int8_model(model.cpu(), size, calibration, threads)
