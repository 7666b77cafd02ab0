"""`dkdpose export`: the streaming model as two ONNX graphs (run by `inference.runners.OnnxStreamRunner`).

Graphs (batch 1; `OnnxStreamRunner` runs the people of a video one after another):
- `first_frame.onnx`: `frame` (1, 3, S, S) -> `heatmaps` (1, K, S/8, S/8), `state_0`, ... : P on the first
  frame plus what the stream carries to frame 2 (DKD: the kernel bases Φ(F(I_1), h_1), (1, C, S_k, S_k)).
- `step.onnx`: `frame`, `state_0`, ... -> `heatmaps`, `next_state_0`, ... : one streaming step (DKD: F,
  the matching of Eqn. 2/6 and Φ for the next frame).
The batch is fixed at 1 because DKD's per-sample dynamic convolution is one grouped convolution with
groups = B x C (`models/matching.py`), and an ONNX Conv's group count is a constant of the graph.
A stateless single-frame model (the Baseline) exports only `first_frame.onnx`, used for every frame.

`export.json` beside them: the model, joint set and names, input and heatmap sizes, the codec's sigma, the
input normalization, the state names and shapes, a SHA-256 of the checkpoint file (so `predict --runtime
onnxruntime` refuses graphs exported from other weights) and the largest |ONNX - PyTorch| heatmap
difference measured on a random frame at export time.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from dkdpose.errors import InputError
from dkdpose.inference.load import load_pose_model
from dkdpose.inference.runners import FIRST_FRAME, FORMAT, META_NAME, STEP, file_sha256, ort_session
from dkdpose.io import enter_atomic, make_folder, write_json
from dkdpose.models.dkd import BaselinePose
from dkdpose.skeleton import get_joint_set

try:  # onnx is an optional extra (`pip install 'dkdpose[export]'`)
    import onnx
except ImportError:
    onnx = None

log = logging.getLogger(__name__)

OPSET = 17


class _FirstFrame(nn.Module):
    """frame (1, 3, S, S) -> heatmaps, *state (flattened for ONNX outputs)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, frame: Tensor) -> tuple[Tensor, ...]:
        heat, state = self.model.init_stream(frame)
        return (heat, *state)


class _Step(nn.Module):
    """frame (1, 3, S, S), *state -> heatmaps, *next_state."""

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
        module, args, str(path), dynamo=False, input_names=inputs, output_names=outputs, opset_version=OPSET
    )
    onnx.checker.check_model(onnx.load(str(path)))


def _max_diff(session, feeds: dict[str, np.ndarray], want: tuple[Tensor, ...]) -> float:
    got = session.run(None, feeds)
    return max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want, strict=True))


@torch.no_grad()
def export_onnx(weights: str | Path, out_dir: str | Path) -> dict:
    """Export checkpoint `weights` to `out_dir` (created): the graphs above and export.json; returns its dict.

    Each file is written to a temporary name and renamed only once every graph has passed `onnx.checker`.
    """
    model, ckpt, codec = load_pose_model(weights)
    out = make_folder(out_dir)
    s = codec.input_size[0]
    frame = torch.randn(1, 3, s, s, generator=torch.Generator().manual_seed(0))
    heat, state = model.init_stream(frame)
    step_heat, step_state = model.step(frame, state)  # references first: nothing below may change them
    state_names = [f"state_{i}" for i in range(len(state))]
    stateless_single = isinstance(model, BaselinePose)
    graphs: dict = {}
    with ExitStack() as stack:
        tmp_first = enter_atomic(stack, out / FIRST_FRAME)
        _export_graph(_FirstFrame(model), (frame,), tmp_first, ["frame"], ["heatmaps", *state_names])
        diff = _max_diff(ort_session(tmp_first), {"frame": frame.numpy()}, (heat, *state))
        graphs["first_frame"] = {
            "file": FIRST_FRAME,
            "sha256": file_sha256(tmp_first),  # a swapped or edited graph file is refused when loaded
            "inputs": _io(["frame"], (frame,)),
            "outputs": _io(["heatmaps", *state_names], (heat, *state)),
        }
        graphs["step"] = None
        if not stateless_single:
            tmp_step = enter_atomic(stack, out / STEP)
            nxt_names = [f"next_{n}" for n in state_names]
            step_flat = (step_heat, *step_state)
            _export_graph(
                _Step(model), (frame, *state), tmp_step, ["frame", *state_names], ["heatmaps", *nxt_names]
            )
            feeds = {
                "frame": frame.numpy(),
                **{n: t.numpy() for n, t in zip(state_names, state, strict=True)},
            }
            diff = max(diff, _max_diff(ort_session(tmp_step), feeds, step_flat))
            graphs["step"] = {
                "file": STEP,
                "sha256": file_sha256(tmp_step),
                "inputs": _io(["frame", *state_names], (frame, *state)),
                "outputs": _io(["heatmaps", *nxt_names], step_flat),
            }
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
        "batch": 1,
        "opset": OPSET,
        "state_names": state_names,
        "graphs": graphs,
        "weights": str(ckpt["path"]),
        "weights_sha256": file_sha256(ckpt["path"]),
        "max_abs_diff_vs_torch": diff,
    }
