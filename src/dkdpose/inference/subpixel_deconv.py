"""The deconvolution head rewritten as sub-pixel convolutions for export (same outputs, faster in int8).

A ConvTranspose2d with kernel 4, stride 2 and padding 1 (SimpleBaseline's head) computes each of the four
output phases (even/odd row x even/odd column) as a 2 x 2 convolution of its input: in one dimension

    y[2m]     = w[3] x[m-1] + w[1] x[m]
    y[2m + 1] = w[2] x[m]   + w[0] x[m+1]

So one Conv2d with 2 x 2 kernels and 4 x C_out outputs over the input padded by 1 gives the four phases, each
an (h, w) window of its (h+1, w+1) output, and a pixel shuffle interleaves them. ONNX Runtime has no int8
kernel for ConvTranspose (a quantized graph runs it in float between DequantizeLinear and QuantizeLinear),
but it has one for Conv, so the rewritten head quantizes. The BatchNorm that follows each deconvolution is
folded into the convolution, as ONNX Runtime does for a Conv.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Which ConvTranspose2d taps feed the 2 x 2 conv of phase 0 / phase 1 (per dimension; module doc).
PHASE_TAPS = ((3, 1), (2, 0))


class SubPixelDeconv(nn.Module):
    """ConvTranspose2d(k=4, s=2, p=1) (+ BatchNorm, folded) as Conv2d(k=2, pad=1) -> phases -> pixel shuffle.

    (B, C_in, h, w) -> (B, C_out, 2h, 2w), equal to the deconvolution (then the BatchNorm, in eval mode).
    """

    def __init__(self, deconv: nn.ConvTranspose2d, bn: nn.BatchNorm2d | None = None):
        super().__init__()
        w = deconv.weight.detach()  # (C_in, C_out, 4, 4)
        c_in, c_out = w.shape[:2]
        phases = [  # each (C_out, C_in, 2, 2)
            w[:, :, list(PHASE_TAPS[a]), :][:, :, :, list(PHASE_TAPS[b])].transpose(0, 1)
            for a in (0, 1)
            for b in (0, 1)
        ]
        weight = torch.stack(phases, dim=1)  # (C_out, 4, C_in, 2, 2): channel order (C_out, a, b)
        bias = deconv.bias.detach() if deconv.bias is not None else torch.zeros(c_out)
        if bn is not None:
            scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            weight = weight * scale.view(c_out, 1, 1, 1, 1)
            bias = (bias - bn.running_mean) * scale + bn.bias.detach()
        self.c_out = c_out
        self.conv = nn.Conv2d(c_in, 4 * c_out, 2, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(weight.reshape(4 * c_out, c_in, 2, 2))
            self.conv.bias.copy_(bias.repeat_interleave(4))

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        z = self.conv(x).unflatten(1, (self.c_out, 2, 2))  # (B, C_out, a, b, h+1, w+1)
        phases = [z[:, :, a, b, a : a + h, b : b + w] for a in (0, 1) for b in (0, 1)]
        return F.pixel_shuffle(torch.stack(phases, dim=2).flatten(1, 2), 2)


def _rewritable(m: nn.Module) -> bool:
    return (
        isinstance(m, nn.ConvTranspose2d)
        and m.kernel_size == (4, 4)
        and m.stride == (2, 2)
        and m.padding == (1, 1)
        and m.output_padding == (0, 0)
        and m.dilation == (1, 1)
        and m.groups == 1
    )


def _rewrite_sequential(seq: nn.Sequential) -> None:
    layers, i = list(seq), 0
    while i < len(layers):
        if _rewritable(layers[i]):
            bn = layers[i + 1] if i + 1 < len(layers) and isinstance(layers[i + 1], nn.BatchNorm2d) else None
            layers[i : i + (2 if bn is not None else 1)] = [SubPixelDeconv(layers[i], bn)]
        i += 1
    for j, layer in enumerate(layers):
        seq[j] = layer
    while len(seq) > len(layers):
        del seq[len(seq) - 1]


@torch.no_grad()
def with_subpixel_deconvs(model: nn.Module) -> nn.Module:
    """An eval-mode copy of `model` with every ConvTranspose2d(k=4, s=2, p=1) of an nn.Sequential (and the
    BatchNorm right after it) replaced by a `SubPixelDeconv`; `model` itself is left unchanged."""
    model = copy.deepcopy(model).eval()
    for m in list(model.modules()):
        if isinstance(m, nn.Sequential):
            _rewrite_sequential(m)
    return model
