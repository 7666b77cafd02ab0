"""Static int8 quantization of the exported graphs (ONNX Runtime), and their calibration frames.

`quantize_step` turns the float32 step graph into a QDQ graph: per-channel int8 weights, uint8 activations,
MinMax ranges observed on the step's inputs along a calibration stream; `quantize_first_frame` does the same
for the first-frame graph (P), calibrated on every frame of the stream. Only the convolutions are quantized
(they carry the FLOPs; the export writes the deconvolution heads as convolutions); the matching's MatMul and
its shifted sums stay float32.
`calibration_frames` reads that stream from a user's video or image folder, or renders a synthetic video.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from dkdpose.data.clips import frame_crop
from dkdpose.data.synthetic.params import SynthParams
from dkdpose.data.synthetic.render import render_video
from dkdpose.errors import InputError
from dkdpose.inference.video_io import open_video

try:  # onnxruntime is an optional extra (`pip install 'dkdpose[export]'`)
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
except ImportError:
    quantize_static = None

CALIBRATION_FRAMES = 16
QUANTIZED_OPS = ["Conv", "ConvTranspose"]


@contextmanager
def _quiet_root_logger():
    """onnxruntime.quantization logs a line per shared bias to the root logger at INFO: hold it at WARNING."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        root.setLevel(level)


class _CalibrationReader:
    """onnxruntime.quantization CalibrationDataReader over a list of feeds dicts."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]):
        self._feeds = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


@torch.no_grad()
def step_feeds(model: nn.Module, frames: Tensor, state_names: list[str]) -> list[dict[str, np.ndarray]]:
    """The step graph's inputs along a stream of `frames` (T, 3, S, S): frame t with the state after t-1."""
    _, state = model.init_stream(frames[:1])
    feeds = []
    for t in range(1, len(frames)):
        frame = frames[t : t + 1]
        named = {n: s.numpy() for n, s in zip(state_names, state, strict=True)}
        feeds.append({"frame": frame.numpy(), **named})
        _, state = model.step(frame, state)
    return feeds


def quantize_step(
    model: nn.Module, step_onnx: Path, out: Path, frames: Tensor, state_names: list[str]
) -> None:
    """Statically quantize the float32 step graph `step_onnx` of `model` to `out`.

    QDQ format, per-channel int8 weights, uint8 activations, MinMax ranges of the step's inputs along the
    calibration stream `frames` (T, 3, S, S).
    """
    if len(frames) < 2:
        raise InputError(f"int8 calibration needs at least 2 frames (a stream), got {len(frames)}")
    quantize_graph(step_onnx, out, step_feeds(model, frames, state_names))


def quantize_first_frame(first_onnx: Path, out: Path, frames: Tensor) -> None:
    """Statically quantize the float32 first-frame graph (P) to `out`, calibrated on every frame (T, 3, S, S)
    of `frames` as a first frame."""
    quantize_graph(first_onnx, out, [{"frame": frames[t : t + 1].numpy()} for t in range(len(frames))])


def quantize_graph(graph: Path, out: Path, feeds: list[dict[str, np.ndarray]]) -> None:
    """QDQ quantization of float32 `graph` to `out` (per-channel int8 weights, uint8 activations, MinMax
    ranges over the calibration `feeds`)."""
    if quantize_static is None:
        raise InputError("int8 quantization needs onnxruntime (pip install 'dkdpose[export]')")
    reader = _CalibrationReader(feeds)
    prepared = out.with_name(out.name + ".pre.onnx")
    try:  # constant folding + shape inference first: BatchNorm-folded conv biases become initializers
        with _quiet_root_logger():
            _quantize(graph, prepared, out, reader)
    finally:
        prepared.unlink(missing_ok=True)


def _quantize(graph: Path, prepared: Path, out: Path, reader: _CalibrationReader) -> None:
    quant_pre_process(str(graph), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=QUANTIZED_OPS,
        calibrate_method=CalibrationMethod.MinMax,
    )  # fmt: skip


def calibration_frames(source: str | Path | None, size: int, count: int = CALIBRATION_FRAMES) -> Tensor:
    """Up to `count` consecutive frames (T, 3, size, size), normalized like the model's input.

    `source`: a video file or image folder (each whole frame, squared around its centre), or None for the
    target crops of a synthetic benchmark video (`dkdpose.data.synthetic`).
    """
    crops = []
    if source is None:
        video = render_video(SynthParams(frames=count), 0)
        for bgr, box in zip(video.frames[:count], video.boxes, strict=False):
            crops.append(frame_crop(np.ascontiguousarray(bgr[..., ::-1]), box, (size, size))[0])
    else:
        video = open_video(source)
        for t, rgb in enumerate(video):
            if t >= count:
                break
            crops.append(frame_crop(rgb, (0, 0, video.width, video.height), (size, size))[0])
    if len(crops) < 2:
        raise InputError(f"{source}: int8 calibration needs at least 2 frames, found {len(crops)}")
    return torch.stack(crops)
