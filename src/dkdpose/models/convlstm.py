"""Convolutional LSTM (Shi et al., NIPS 2015): the temporal module of the DKD-w-LSTM ablation (Table 2) and
of LSTM Pose Machines.

One convolution over concat(x_t, hidden_{t-1}) gives the input, forget, output gates and the candidate; the
state is (hidden, cell), both (B, hidden_channels, h, w).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ConvLSTMCell(nn.Module):
    """x (B, in_channels, h, w), state (hidden, cell) -> new (hidden, cell), each (B, hidden, h, w)."""

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int = 3,
        gate_bias: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
    ):
        """`gate_bias`: initial biases of the (input, forget, output, candidate) gates."""
        super().__init__()
        self.gates = nn.Conv2d(
            in_channels + hidden_channels, 4 * hidden_channels, kernel_size, padding=kernel_size // 2
        )
        self.hidden_channels = hidden_channels
        with torch.no_grad():
            self.gates.bias.copy_(torch.tensor(gate_bias).repeat_interleave(hidden_channels))

    def zero_state(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """All-zero (hidden, cell) matching x's batch, size, device and dtype."""
        b, _, h, w = x.shape
        zeros = x.new_zeros(b, self.hidden_channels, h, w)
        return zeros, zeros

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        hidden, cell = state
        i, f, o, g = self.gates(torch.cat([x, hidden], dim=1)).chunk(4, dim=1)
        cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(cell), cell
