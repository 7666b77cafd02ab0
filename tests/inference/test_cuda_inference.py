"""Inference on a CUDA device: channels_last, bf16 autocast, ONNX export of a model on the GPU.
Skipped without CUDA; `tools/gpu_check.sh` runs them on a GPU machine."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import CUDA_ONLY, cuda_clip, cuda_model

from dkdpose.inference.onnx_graphs import _export_graph, _Step
from dkdpose.inference.precision import prepare_model

pytestmark = CUDA_ONLY


def test_channels_last_step_equals_the_contiguous_one():
    model = cuda_model().eval()
    frames = cuda_clip(2, 2)
    with torch.no_grad():
        heat, state = model.init_stream(frames[:, 0])
        want, _ = model.step(frames[:, 1], state)
        model = model.to(memory_format=torch.channels_last)
        got, _ = model.step(frames[:, 1].contiguous(memory_format=torch.channels_last), state)
    torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-4)


def test_bf16_inference_stays_close_to_fp32():
    model = cuda_model().eval()
    frames = cuda_clip(2, 2)
    with torch.no_grad():
        want, state = model.init_stream(frames[:, 0])
        bf16 = prepare_model(cuda_model().eval(), "bf16", "cuda", 64)
        got, _ = bf16.init_stream(frames[:, 0])
    assert got.dtype == torch.float32
    assert float((got - want).abs().max() / want.abs().max()) < 0.05


def test_export_from_a_cuda_model_matches_onnxruntime(tmp_path):
    """The step traced on the GPU (dynamic batch), run by ONNX Runtime on the CPU at batch 3."""
    ort = pytest.importorskip("onnxruntime")
    model = cuda_model().eval()
    frames = cuda_clip(3, 2)
    with torch.no_grad():
        _, state = model.init_stream(frames[:, 0])
        want, (want_next,) = model.step(frames[:, 1], state)
        names = ["frame", "state_0", "heatmaps", "next_state_0"]
        path = tmp_path / "step.onnx"
        _export_graph(_Step(model), (frames[:1, 1], state[0][:1]), path, names[:2], names[2:])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"frame": frames[:, 1].cpu().numpy(), "state_0": state[0].cpu().numpy()}
    got, got_next = session.run(None, feeds)
    np.testing.assert_allclose(got, want.cpu().numpy(), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(got_next, want_next.cpu().numpy(), rtol=1e-3, atol=1e-3)
