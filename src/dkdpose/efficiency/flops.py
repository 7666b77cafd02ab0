"""Multiply-accumulate counts (GMACs) and parameter counts of the video models, as in the paper's Tables 1-3.

Counted with `torch.utils.flop_counter.FlopCounterMode`, which counts FLOPs = 2 x MACs for convolutions and
matrix products (elementwise ops, BatchNorm, pooling and activations count 0); we report MACs. Transposed
convolutions are counted over their *input* pixels (in_channels x out_channels x k x k per input pixel). The
models are built on the meta device, so counting allocates no memory and computes nothing.

For streaming models the per-frame cost is one `step` (a frame after the first); the first-frame cost is
`init_stream` (for DKD: P, F and Φ, with P = ResNet-101 unless told otherwise).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from dkdpose.models.build import build_model

# Paper figures ("Flops(G)", Tables 1-3, Penn Action, 256x256; LSTM PM at 368x368).
PAPER_GFLOPS = {
    "baseline_r18": 4.28,
    "baseline_r34": 6.69,
    "baseline_r50": 7.66,
    "baseline_r101": 11.02,
    "dkd_r18": 5.27,
    "dkd_r34": 7.68,
    "dkd_r50": 8.65,
    "dkd_r18_no_pkd": 4.28,
    "dkd_r34_no_pkd": 6.69,
    "dkd_r50_no_pkd": 7.66,
    "dkd_r34_lstm": 10.16,
    "lstm_pm": 70.98,
}


def count_macs(fn: Callable[[], object]) -> int:
    """Multiply-accumulates of everything `fn()` runs (FlopCounterMode's FLOPs / 2)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() // 2


def stream_macs(model: nn.Module, size: int, batch: int = 1) -> tuple[int, int]:
    """(first-frame MACs, MACs per frame after the first) of a stream of `size` x `size` frames per sample."""
    frame = torch.zeros(batch, 3, size, size, device=next(model.parameters()).device)
    with torch.no_grad():
        first = count_macs(lambda: model.init_stream(frame))
        _, state = model.init_stream(frame)
        per_frame = count_macs(lambda: model.step(frame, state))
    return first // batch, per_frame // batch


def model_flops(name: str, size: int, num_joints: int = 13, **model_kwargs) -> dict:
    """One row of the FLOPs table for model `name` on `size` x `size` input.

    Returns {"name", "input": [size, size], "gmacs_per_frame", "gmacs_first_frame", "params_m"}, where
    params_m counts every parameter of the model (P included for the DKD family), in millions.
    """
    with torch.device("meta"):  # shapes only: nothing is allocated or computed
        model = build_model(name, num_joints, input_size=size, **model_kwargs).eval()
    first, per_frame = stream_macs(model, size)
    return {
        "name": name,
        "input": [size, size],
        "gmacs_per_frame": round(per_frame / 1e9, 3),
        "gmacs_first_frame": round(first / 1e9, 3),
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
    }
