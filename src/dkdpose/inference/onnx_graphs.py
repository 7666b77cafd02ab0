"""The streaming model as ONNX graphs, written from a model in memory (`dkdpose export` and int8 inference).

`export_graphs` traces `init_stream` as `first_frame.onnx` and `step` as `step.onnx`, every input and
output with a dynamic batch axis 0 (DKD's per-sample dynamic convolution exports batch-agnostic,
`models/matching.py`), runs each under ONNX Runtime against PyTorch, and with calibration frames also writes
`step_int8.onnx` and `first_frame_int8.onnx` (`inference.quantize`). `OnnxStreamRunner`
(`inference.runners`) runs the result.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from dkdpose.errors import InputError
from dkdpose.inference.quantize import quantize_first_frame, quantize_step
from dkdpose.inference.runners import (
    FIRST_FRAME,
    FIRST_FRAME_INT8,
    FORMAT,
    META_NAME,
    STEP,
    STEP_INT8,
    file_sha256,
    ort_session,
)
from dkdpose.inference.subpixel_deconv import with_subpixel_deconvs
from dkdpose.io import enter_atomic, write_json
from dkdpose.models.dkd import BaselinePose

try:  # onnx is an optional extra (`pip install 'dkdpose[export]'`)
    import onnx
except ImportError:
    onnx = None

OPSET = 17


class _FirstFrame(nn.Module):
    """frame (B, 3, S, S) -> heatmaps, *state (flattened for ONNX outputs)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, frame: Tensor) -> tuple[Tensor, ...]:
        heat, state = self.model.init_stream(frame)
        return (heat, *state)


class _Step(nn.Module):
    """frame (B, 3, S, S), *state -> heatmaps, *next_state."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, frame: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        heat, nxt = self.model.step(frame, tuple(state))
        return (heat, *nxt)


def _io(names: list[str], tensors: tuple[Tensor, ...]) -> list[dict]:
    return [
        {"name": n, "shape": list(t.shape), "dtype": "float32"} for n, t in zip(names, tensors, strict=True)
    ]


def _export_graph(
    module: nn.Module, args: tuple[Tensor, ...], path: Path, inputs: list[str], outputs: list[str]
):
    if onnx is None:
        raise InputError("dkdpose export needs onnx and onnxruntime (pip install 'dkdpose[export]')")
    # The exporter restores the wrapper's training flag afterwards, and `train(flag)` recurses into the model:
    # a wrapper left in training mode would switch the model's BatchNorm to batch statistics (and update it).
    module.eval()
    torch.onnx.export(
        module, args, str(path), dynamo=False, input_names=inputs, output_names=outputs, opset_version=OPSET,
        dynamic_axes={name: {0: "batch"} for name in (*inputs, *outputs)},
    )  # fmt: skip
    onnx.checker.check_model(onnx.load(str(path)))


def _max_diff(session, feeds: dict[str, np.ndarray], want: tuple[Tensor, ...]) -> float:
    got = session.run(None, feeds)
    return max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want, strict=True))


@torch.no_grad()
def export_graphs(
    model: nn.Module, size: int, out: Path, stack: ExitStack, calibration: Tensor | None = None
) -> tuple[dict, list[str], float]:
    """Write first_frame.onnx and step.onnx of `model` at `size` into `out`, each through a temporary file
    that `stack` renames on a clean exit; with `calibration` frames (T, 3, S, S) also step_int8.onnx, the
    step (for a stateless model: first_frame) statically quantized (`quantize.quantize_step`), and for a
    stateful model first_frame_int8.onnx, P quantized (`quantize.quantize_first_frame`).

    Returns (the "graphs" entry of export.json, the state names, the largest |ONNX - PyTorch| difference).
    """
    frame = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    heat, state = model.init_stream(frame)
    step_heat, step_state = model.step(frame, state)  # references first: nothing below may change them
    graph_model = with_subpixel_deconvs(model)  # the deconv heads as int8-friendly convs (same outputs)
    state_names = [f"state_{i}" for i in range(len(state))]
    nxt_names = [f"next_{n}" for n in state_names]
    first = _export_checked(
        _FirstFrame(graph_model), (frame,), ["frame"], ["heatmaps", *state_names], (heat, *state),
        out / FIRST_FRAME, stack,
    )  # fmt: skip
    graphs = {"first_frame": first[0], "step": None}
    diff, float_graph = first[1], first[2]
    if not isinstance(model, BaselinePose):  # a stateless single-frame model runs first_frame throughout
        step = _export_checked(
            _Step(graph_model), (frame, *state), ["frame", *state_names], ["heatmaps", *nxt_names],
            (step_heat, *step_state), out / STEP, stack,
        )  # fmt: skip
        graphs["step"] = step[0]
        diff, float_graph = max(diff, step[1]), step[2]
    if calibration is not None:
        tmp_int8 = enter_atomic(stack, out / STEP_INT8)
        quantize_step(model, float_graph, tmp_int8, calibration, state_names)
        source = graphs["step"] or graphs["first_frame"]
        int8 = {"file": STEP_INT8, "sha256": file_sha256(tmp_int8), "calibration_frames": len(calibration)}
        graphs["step_int8"] = {**source, **int8}
        if graphs["step"] is not None:  # a stateful model: P (first frame) quantized as well
            tmp_first = enter_atomic(stack, out / FIRST_FRAME_INT8)
            quantize_first_frame(first[2], tmp_first, calibration)
            int8 = {**int8, "file": FIRST_FRAME_INT8, "sha256": file_sha256(tmp_first)}
            graphs["first_frame_int8"] = {**graphs["first_frame"], **int8}
    return graphs, state_names, diff


def _export_checked(
    module: nn.Module,
    args: tuple[Tensor, ...],
    inputs: list[str],
    outputs: list[str],
    want: tuple[Tensor, ...],
    path: Path,
    stack: ExitStack,
) -> tuple[dict, float, Path]:
    """One graph exported to a temporary file for `path` and run under ONNX Runtime against `want`.

    Returns (its export.json entry, the largest |ONNX - PyTorch| difference, the temporary file).
    """
    tmp = enter_atomic(stack, path)
    _export_graph(module, args, tmp, inputs, outputs)
    diff = _max_diff(ort_session(tmp), {n: a.numpy() for n, a in zip(inputs, args, strict=True)}, want)
    entry = {
        "file": path.name,
        "sha256": file_sha256(tmp),  # a swapped or edited graph file is refused when loaded
        "inputs": _io(inputs, args),
        "outputs": _io(outputs, want),
    }
    return entry, diff, tmp


def write_export_meta(out: Path, graphs: dict, state_names: list[str], size: int) -> None:
    """A minimal export.json for graphs exported from a model in memory (no checkpoint file behind them)."""
    meta = {"format": FORMAT, "version": 1, "model": None, "input_size": [size, size], "batch": "dynamic",
            "opset": OPSET, "state_names": state_names, "graphs": graphs}  # fmt: skip
    write_json(out / META_NAME, meta)
