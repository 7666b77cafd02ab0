"""Stream runners: what runs a video pose model frame by frame, under PyTorch or ONNX Runtime.

A runner has `init(frames)` (P, frame 1 or a re-initialization) and `step(frames, state)` (the streaming
step), like the models' `init_stream` / `step`: frames (B, 3, S, S) normalized crops -> heatmaps
(B, K, h, w) and the state, a tuple of (B, ...) tensors. `advance_streams` runs one frame of several
streams of which some restart and some step.

- `TorchStreamRunner`: the model itself, without gradients, on a device.
- `OnnxStreamRunner`: the graphs written by `dkdpose export` (`dkdpose.export`), described by
  `export.json` (`read_export_meta`); `load_onnx_runner` checks that they were exported from the given
  checkpoint file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor, nn

from dkdpose.data.heatmaps import HeatmapCodec
from dkdpose.devices import resolve_device
from dkdpose.errors import InputError
from dkdpose.inference.load import load_pose_model
from dkdpose.io import read_json

try:  # onnxruntime is an optional extra (`pip install 'dkdpose[export]'`)
    import onnxruntime as ort
except ImportError:
    ort = None

META_NAME = "export.json"
FIRST_FRAME = "first_frame.onnx"
STEP = "step.onnx"
STEP_INT8 = "step_int8.onnx"
FIRST_FRAME_INT8 = "first_frame_int8.onnx"  # P quantized (stateful models exported with --int8)
FORMAT = "dkdpose-onnx"
RUNTIMES = ("torch", "onnxruntime")
State = tuple[Tensor, ...]


# --- PyTorch ------------------------------------------------------------------------------------------------


class StreamRunner(Protocol):
    """What `track_video` needs: frames (B, 3, S, S) -> (heatmaps (B, K, h, w), state of (B, ...) tensors)."""

    def init(self, frames: Tensor) -> tuple[Tensor, State]: ...

    def step(self, frames: Tensor, state: State) -> tuple[Tensor, State]: ...


class TorchStreamRunner:
    """A video pose model's `init_stream` / `step` on `device`, without gradients."""

    def __init__(self, model: nn.Module, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)

    @torch.no_grad()
    def init(self, frames: Tensor) -> tuple[Tensor, State]:
        return self.model.init_stream(frames.to(self.device))

    @torch.no_grad()
    def step(self, frames: Tensor, state: State) -> tuple[Tensor, State]:
        return self.model.step(frames.to(self.device), state)


def advance_streams(
    runner: StreamRunner, crops: Tensor, state: State | None, start: np.ndarray
) -> tuple[Tensor, State]:
    """One frame for all P streams: P (`init`) for the streams in `start` (P,), the step for the others.

    crops (P, 3, S, S); state: the (P, ...) tensors of the last frame (None before the first). Returns
    heatmaps (P, K, h, w) and the merged state, rows in stream order.
    """
    if state is None or start.all():
        return runner.init(crops)
    if not start.any():
        return runner.step(crops, state)
    restart = torch.from_numpy(np.flatnonzero(start))
    keep = torch.from_numpy(np.flatnonzero(~start))
    heat_k, state_k = runner.step(crops[keep], tuple(s[keep.to(s.device)] for s in state))
    heat_r, state_r = runner.init(crops[restart])
    heat = _merge(heat_k, heat_r, keep, restart)
    return heat, tuple(_merge(a, b, keep, restart) for a, b in zip(state_k, state_r, strict=True))


def _merge(a: Tensor, b: Tensor, idx_a: Tensor, idx_b: Tensor) -> Tensor:
    out = a.new_empty((len(idx_a) + len(idx_b), *a.shape[1:]))
    out[idx_a.to(a.device)] = a
    out[idx_b.to(a.device)] = b.to(a.device)
    return out


# --- ONNX Runtime -------------------------------------------------------------------------------------------


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ort_session(path: str | Path, device: str = "cpu", threads: int | None = None):
    """An ONNX Runtime session of graph `path` (CUDA provider first for a cuda device); InputError if not.

    `threads`: its intra-op thread count (None: ONNX Runtime's default, one per core).
    """
    if ort is None:
        raise InputError(f"{path}: ONNX Runtime is not installed (pip install 'dkdpose[export]')")
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise InputError(
                f"{path}: device {device!r} asked for, but this onnxruntime has no CUDA provider"
            )
        providers.insert(0, "CUDAExecutionProvider")
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types for bad files
        raise InputError(f"{path}: ONNX Runtime cannot load the graph ({type(e).__name__})") from e


def read_export_meta(onnx_dir: str | Path) -> dict:
    """export.json of an export folder, checked for the graph files it names; InputError naming the folder."""
    d = Path(onnx_dir)
    path = d / META_NAME
    if not path.is_file():
        raise InputError(f"{d}: not a dkdpose export folder (no {META_NAME}; run `dkdpose export` first)")
    meta = read_json(path, "export description")
    if meta.get("format") != FORMAT or not isinstance(meta.get("graphs"), dict):
        raise InputError(f"{path}: not a dkdpose export description (format {FORMAT!r})")
    for name in ("first_frame", "step", "step_int8", "first_frame_int8"):
        g = meta["graphs"].get(name)
        if g is not None or name == "first_frame":
            _check_graph(d, path, name, g)
    return meta


def _check_graph(d: Path, meta_path: Path, name: str, g: object) -> None:
    """The graph file `g` of export.json exists in `d` and has the SHA-256 recorded at export."""
    again = "re-run `dkdpose export`"
    if not isinstance(g, dict) or not isinstance(g.get("file"), str) or not isinstance(g.get("sha256"), str):
        raise InputError(f"{meta_path}: graph {name!r} lacks its file name or sha256 ({again})")
    file = d / g["file"]
    if file.name != g["file"] or not file.is_file():
        raise InputError(f"{d}: {g['file']} is missing ({again})")
    if file_sha256(file) != g["sha256"]:
        raise InputError(f"{file}: not the graph that was exported (its sha256 differs; {again})")


def load_onnx_runner(
    weights: str | Path,
    onnx_dir: str | Path,
    device: str = "cpu",
    joint_set: str | None = None,
    threads: int | None = None,
    int8: bool = False,
) -> tuple[OnnxStreamRunner, dict, HeatmapCodec]:
    """(runner, {"model", "joint_set", "path"}, codec) for `predict --runtime onnxruntime`.

    The checkpoint file is not loaded: its SHA-256 must be the one recorded at export, so it is the file the
    graphs were made from (and that `export_onnx` validated); model, joint set and sizes come from
    export.json. No PyTorch weights or model stay in memory beside the ONNX Runtime sessions.
    `joint_set`: refuse an export of weights trained for another joint set. `threads`, `int8`: see
    `OnnxStreamRunner`.
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
    runner = OnnxStreamRunner(onnx_dir, device, threads, int8, meta)
    codec = HeatmapCodec(tuple(meta["input_size"]), tuple(meta["heatmap_size"]), float(meta["sigma"]))
    return runner, {"model": meta["model"], "joint_set": meta["joint_set"], "path": str(path)}, codec


class OnnxStreamRunner:
    """`init(frames)` / `step(frames, state)` like the models' `init_stream` / `step`, on ONNX Runtime.

    frames (B, 3, S, S) float32 normalized crops; heatmaps come back as (B, K, h, w) CPU tensors, the state
    as a tuple of (B, ...) tensors. The B streams run in one call (the graphs' batch axis is dynamic; graphs
    of older exports, fixed at batch 1, run the streams in turn). `threads`: ONNX Runtime's intra-op
    threads (None: its default). `int8`: run the quantized graphs (step_int8.onnx and first_frame_int8.onnx,
    `dkdpose export --int8`). `meta`: export.json as `read_export_meta` already checked it (read here if
    None), so the graph files are hashed once.
    """

    def __init__(
        self,
        onnx_dir: str | Path,
        device: str = "cpu",
        threads: int | None = None,
        int8: bool = False,
        meta: dict | None = None,
    ):
        self.dir = Path(onnx_dir)
        self.meta = meta if meta is not None else read_export_meta(self.dir)  # the caller's checked copy
        graphs = self.meta["graphs"]
        first, step = graphs["first_frame"], graphs["step"]
        if int8:
            if graphs.get("step_int8") is None:
                raise InputError(f"{self.dir}: no int8 step graph (export with `dkdpose export --int8`)")
            if step is None:  # stateless: the quantized single-frame graph runs on every frame
                first = graphs["step_int8"]
            else:  # P quantized too where the export has it (older int8 exports: P in float32)
                step, first = graphs["step_int8"], graphs.get("first_frame_int8") or first
        self.first = ort_session(self.dir / first["file"], device, threads)
        self.step_session = ort_session(self.dir / step["file"], device, threads) if step else None
        self.one_at_a_time = self.meta.get("batch") == 1  # graphs exported with a fixed batch of 1
        self.state_names = list(self.meta["state_names"])

    def _run(self, session, frames: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        if self.one_at_a_time and frames.shape[0] > 1:
            parts = [self._run(session, frames[b : b + 1], tuple(s[b : b + 1] for s in state))
                     for b in range(frames.shape[0])]  # fmt: skip
            heat = torch.cat([p[0] for p in parts])
            return heat, tuple(torch.cat(s) for s in zip(*(p[1] for p in parts), strict=True))
        feeds = {"frame": frames.float().cpu().numpy()}
        if session is self.step_session:
            feeds.update({n: s.float().cpu().numpy() for n, s in zip(self.state_names, state, strict=True)})
        outs = [torch.from_numpy(o) for o in session.run(None, feeds)]
        return outs[0], tuple(outs[1:])

    def init(self, frames: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        return self._run(self.first, frames, ())

    def step(self, frames: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        if self.step_session is None:  # stateless single-frame model: the same graph on every frame
            return self._run(self.first, frames, ())
        return self._run(self.step_session, frames, state)


# --- either -------------------------------------------------------------------------------------------------


def load_runner(weights: str | Path, options) -> tuple[StreamRunner, dict, HeatmapCodec]:
    """(runner, checkpoint dict, codec) for `options.runtime` (a `TrackerOptions`): PyTorch on
    `options.device`, or ONNX Runtime on the export of `weights` in `options.onnx_dir`."""
    dev = resolve_device(options.device)
    if options.runtime == "onnxruntime":
        threads = options.threads or torch.get_num_threads()
        int8 = options.precision == "int8"
        return load_onnx_runner(weights, options.onnx_dir, str(dev), options.joint_set, threads, int8)
    model, ckpt, codec = load_pose_model(weights, options.joint_set, dev)
    del ckpt["state_dict"]  # loaded into the model; the dict's copy would only hold memory
    return TorchStreamRunner(model, dev), ckpt, codec
