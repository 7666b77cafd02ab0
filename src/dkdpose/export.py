"""`dkdpose export`: the streaming model as two ONNX graphs, and the ONNX Runtime path of `predict`.

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

`time_onnx_step(onnx_dir)` times the exported step under ONNX Runtime (for `bench --latency`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from dkdpose.errors import InputError
from dkdpose.io import atomic_path, write_json
from dkdpose.models.dkd import BaselinePose

log = logging.getLogger(__name__)

META_NAME = "export.json"
FIRST_FRAME = "first_frame.onnx"
STEP = "step.onnx"
FORMAT = "dkdpose-onnx"
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


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _io(names: list[str], tensors: tuple[Tensor, ...]) -> list[dict]:
    return [
        {"name": n, "shape": list(t.shape), "dtype": "float32"} for n, t in zip(names, tensors, strict=True)
    ]


def _export_graph(
    module: nn.Module, args: tuple[Tensor, ...], path: Path, inputs: list[str], outputs: list[str]
):
    import onnx

    # The exporter restores the wrapper's training flag afterwards, and `train(flag)` recurses into the model:
    # a wrapper left in training mode would switch the model's BatchNorm to batch statistics (and update it).
    module.eval()
    torch.onnx.export(
        module, args, str(path), dynamo=False, input_names=inputs, output_names=outputs, opset_version=OPSET
    )
    onnx.checker.check_model(onnx.load(str(path)))


def _ort_session(path: str | Path, device: str = "cpu"):
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise InputError(
                f"{path}: device {device!r} asked for, but this onnxruntime has no CUDA provider"
            )
        providers.insert(0, "CUDAExecutionProvider")
    try:
        return ort.InferenceSession(str(path), providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types for bad files
        raise InputError(f"{path}: ONNX Runtime cannot load the graph ({type(e).__name__})") from e


def _max_diff(session, feeds: dict[str, np.ndarray], want: tuple[Tensor, ...]) -> float:
    got = session.run(None, feeds)
    return max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want, strict=True))


@torch.no_grad()
def export_onnx(weights: str | Path, out_dir: str | Path) -> dict:
    """Export checkpoint `weights` to `out_dir` (created): the graphs above and export.json; returns its dict.

    Each file is written to a temporary name and renamed only once every graph has passed `onnx.checker`.
    """
    from dkdpose.inference.predict import load_pose_model  # late: predict imports this module's runner

    model, ckpt, codec = load_pose_model(weights)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{out}: cannot create the output folder ({e.strerror})") from None
    s = codec.input_size[0]
    frame = torch.randn(1, 3, s, s, generator=torch.Generator().manual_seed(0))
    heat, state = model.init_stream(frame)
    step_heat, step_state = model.step(frame, state)  # references first: nothing below may change them
    state_names = [f"state_{i}" for i in range(len(state))]
    stateless_single = isinstance(model, BaselinePose)
    graphs: dict = {}
    with ExitStack() as stack:
        tmp_first = _enter(stack, out / FIRST_FRAME)
        _export_graph(_FirstFrame(model), (frame,), tmp_first, ["frame"], ["heatmaps", *state_names])
        diff = _max_diff(_ort_session(tmp_first), {"frame": frame.numpy()}, (heat, *state))
        graphs["first_frame"] = {
            "file": FIRST_FRAME,
            "inputs": _io(["frame"], (frame,)),
            "outputs": _io(["heatmaps", *state_names], (heat, *state)),
        }
        graphs["step"] = None
        if not stateless_single:
            tmp_step = _enter(stack, out / STEP)
            nxt_names = [f"next_{n}" for n in state_names]
            step_flat = (step_heat, *step_state)
            _export_graph(
                _Step(model), (frame, *state), tmp_step, ["frame", *state_names], ["heatmaps", *nxt_names]
            )
            feeds = {
                "frame": frame.numpy(),
                **{n: t.numpy() for n, t in zip(state_names, state, strict=True)},
            }
            diff = max(diff, _max_diff(_ort_session(tmp_step), feeds, step_flat))
            graphs["step"] = {
                "file": STEP,
                "inputs": _io(["frame", *state_names], (frame, *state)),
                "outputs": _io(["heatmaps", *nxt_names], step_flat),
            }
        meta = _meta(ckpt, codec, graphs, state_names, diff)
    write_json(out / META_NAME, meta)
    log.info("exported %s to %s (max |onnx - torch| = %.2g)", ckpt["model"], out, diff)
    return meta


def _enter(stack: ExitStack, path: Path) -> Path:
    try:
        return stack.enter_context(atomic_path(path))
    except OSError as e:
        raise InputError(f"{path}: cannot write here ({e.strerror})") from None


def _meta(ckpt: dict, codec, graphs: dict, state_names: list[str], diff: float) -> dict:
    from dkdpose.skeleton import get_joint_set

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


def read_export_meta(onnx_dir: str | Path) -> dict:
    """export.json of an export folder, checked for the graph files it names; InputError naming the folder."""
    d = Path(onnx_dir)
    path = d / META_NAME
    if not path.is_file():
        raise InputError(f"{d}: not a dkdpose export folder (no {META_NAME}; run `dkdpose export` first)")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: unreadable ({type(e).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "graphs" not in meta:
        raise InputError(f"{path}: not a dkdpose export description (format {FORMAT!r})")
    for g in meta["graphs"].values():
        if g is not None and not (d / g["file"]).is_file():
            raise InputError(f"{d}: {g['file']} is missing (re-run `dkdpose export`)")
    return meta


def load_onnx_runner(
    weights: str | Path, onnx_dir: str | Path, device: str = "cpu", joint_set: str | None = None
) -> tuple[OnnxStreamRunner, dict, HeatmapCodec]:
    """(runner, {"model", "joint_set", "path"}, codec) for `predict --runtime onnxruntime`.

    The checkpoint file is not loaded: its SHA-256 must be the one recorded at export, so it is the file the
    graphs were made from (and that `export_onnx` validated); model, joint set and sizes come from
    export.json. No PyTorch weights or model stay in memory beside the ONNX Runtime sessions.
    `joint_set`: refuse an export of weights trained for another joint set.
    """
    path = Path(weights)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found")
    meta = read_export_meta(onnx_dir)
    if meta.get("weights_sha256") != file_sha256(path):
        raise InputError(f"{onnx_dir}: exported from other weights than {path} (re-run `dkdpose export`)")
    if joint_set is not None and meta["joint_set"] != joint_set:
        raise InputError(
            f"{path}: checkpoint was trained for joint set {meta['joint_set']!r}, expected {joint_set!r}"
        )
    runner = OnnxStreamRunner(onnx_dir, device)
    codec = HeatmapCodec(tuple(meta["input_size"]), tuple(meta["heatmap_size"]), float(meta["sigma"]))
    return runner, {"model": meta["model"], "joint_set": meta["joint_set"], "path": str(path)}, codec


class OnnxStreamRunner:
    """`init(frames)` / `step(frames, state)` like the models' `init_stream` / `step`, on ONNX Runtime.

    frames (B, 3, S, S) float32 normalized crops; heatmaps come back as (B, K, h, w) CPU tensors, the state
    as a tuple of (B, ...) tensors. The graphs take batch 1 (module docstring), so the B streams run in turn.
    """

    def __init__(self, onnx_dir: str | Path, device: str = "cpu"):
        self.dir = Path(onnx_dir)
        self.meta = read_export_meta(self.dir)
        graphs = self.meta["graphs"]
        self.first = _ort_session(self.dir / graphs["first_frame"]["file"], device)
        self.step_session = (
            _ort_session(self.dir / graphs["step"]["file"], device) if graphs["step"] else None
        )
        self.state_names = list(self.meta["state_names"])

    def _run(self, session, frames: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        per_stream = []
        for b in range(frames.shape[0]):
            feeds = {"frame": frames[b : b + 1].float().cpu().numpy()}
            if session is self.step_session:
                feeds.update(
                    {n: s[b : b + 1].cpu().numpy() for n, s in zip(self.state_names, state, strict=True)}
                )
            per_stream.append(session.run(None, feeds))
        outs = [torch.from_numpy(np.concatenate(parts)) for parts in zip(*per_stream, strict=True)]
        return outs[0], tuple(outs[1:])

    def init(self, frames: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        return self._run(self.first, frames, ())

    def step(self, frames: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        if self.step_session is None:  # stateless single-frame model: the same graph on every frame
            return self._run(self.first, frames, ())
        return self._run(self.step_session, frames, state)


def time_onnx_step(
    onnx_dir: str | Path, streams: int = 1, repeats: int = 20, warmup: int = 3, seed: int = 0
) -> dict:
    """Time the exported streaming step under ONNX Runtime on the CPU, state carried from step to step.

    Runs `first_frame` once, then `warmup` untimed and `repeats` timed steps on `streams` random frames.
    Returns {"runtime": "onnxruntime", "input": [S, S], "streams", "ms_per_frame_median",
    "ms_per_frame_p90", "fps_streams"} (ms per step of ONE stream: a B-stream step is timed as a whole and
    divided by B, since the graphs run the streams in turn).
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
