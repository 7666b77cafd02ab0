"""`dkdpose export`: the streaming model as two ONNX graphs (run by `inference.runners.OnnxStreamRunner`).

Graphs (axis 0 of every input and output is a dynamic batch axis: `OnnxStreamRunner` runs all the people of
a frame in one call):
- `first_frame.onnx`: `frame` (B, 3, S, S) -> `heatmaps` (B, K, S/8, S/8), `state_0`, ... : P on the first
  frame plus what the stream carries to frame 2 (DKD: the kernel bases Φ(F(I_1), h_1), (B, C, S_k, S_k)).
- `step.onnx`: `frame`, `state_0`, ... -> `heatmaps`, `next_state_0`, ... : one streaming step (DKD: F,
  the matching of Eqn. 2/6 and Φ for the next frame).
- with `--int8`, `step_int8.onnx` and `first_frame_int8.onnx`: the step and the first frame statically
  quantized (`dkdpose.inference.quantize`).
DKD's per-sample dynamic convolution exports in its batch-agnostic form (`models/matching.py`), so no shape
in the graphs depends on the batch they were traced with (shapes in export.json are those of the trace,
B = 1). A stateless single-frame model (the Baseline) exports only `first_frame.onnx`, used for every frame
(with `--int8`, quantized as `step_int8.onnx`).

`export.json` beside them: the model, joint set and names, input and heatmap sizes, the codec's sigma, the
input normalization, the state names and shapes, a SHA-256 of the checkpoint file (so `predict --runtime
onnxruntime` refuses graphs exported from other weights) and the largest |ONNX - PyTorch| heatmap
difference measured on a random frame at export time.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path

import torch

from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from dkdpose.inference.load import load_pose_model
from dkdpose.inference.onnx_graphs import OPSET, export_graphs
from dkdpose.inference.quantize import calibration_frames
from dkdpose.inference.runners import FORMAT, META_NAME, file_sha256
from dkdpose.io import make_folder, write_json
from dkdpose.skeleton import get_joint_set

log = logging.getLogger(__name__)


@torch.no_grad()
def export_onnx(
    weights: str | Path, out_dir: str | Path, int8: bool = False, calibrate: str | Path | None = None
) -> dict:
    """Export checkpoint `weights` to `out_dir` (created): the graphs above and export.json; returns its dict.

    Each file is written to a temporary name and renamed only once every graph has passed `onnx.checker`.
    `int8`: also write `step_int8.onnx` (and for a stateful model `first_frame_int8.onnx`), statically
    quantized with calibration frames from `calibrate` (a video or image folder; default: a synthetic
    benchmark video).
    """
    model, ckpt, codec = load_pose_model(weights)
    out = make_folder(out_dir)
    frames = calibration_frames(calibrate, codec.input_size[0]) if int8 else None
    with ExitStack() as stack:
        graphs, state_names, diff = export_graphs(model, codec.input_size[0], out, stack, frames)
        meta = _meta(ckpt, codec, graphs, state_names, diff)
    write_json(out / META_NAME, meta)
    log.info("exported %s to %s (max |onnx - torch| = %.2g)", ckpt["model"], out, diff)
    return meta


def _meta(ckpt: dict, codec: HeatmapCodec, graphs: dict, state_names: list[str], diff: float) -> dict:
    js = get_joint_set(ckpt["joint_set"])
    return {
        "format": FORMAT,
        "version": 1,
        "model": ckpt["model"],
        "joint_set": js.name,
        "joints": list(js.names),
        "num_joints": js.num_joints,
        "input_size": list(codec.input_size),
        "heatmap_size": list(codec.heatmap_size),
        "sigma": codec.sigma,
        "normalization": {
            "color": "RGB",
            "scale": 1 / 255,
            "mean": IMAGENET_MEAN.tolist(),
            "std": IMAGENET_STD.tolist(),
        },
        "batch": "dynamic",
        "opset": OPSET,
        "state_names": state_names,
        "graphs": graphs,
        "weights": str(ckpt["path"]),
        "weights_sha256": file_sha256(ckpt["path"]),
        "max_abs_diff_vs_torch": diff,
    }
