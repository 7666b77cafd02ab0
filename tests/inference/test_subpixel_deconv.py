"""The export-time rewrite of the deconvolution head: sub-pixel convolutions equal to ConvTranspose + BN."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dkdpose.inference.subpixel_deconv import SubPixelDeconv, with_subpixel_deconvs


def _random_bn(channels: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels).eval()
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 2), bn.bias.uniform_(-1, 1)
    return bn


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("with_bn", [False, True])
def test_subpixel_deconv_equals_the_deconvolution(bias, with_bn):
    torch.manual_seed(0)
    deconv, bn = nn.ConvTranspose2d(6, 5, 4, stride=2, padding=1, bias=bias), _random_bn(5)
    x = torch.randn(3, 6, 7, 9)  # odd, non-square
    want = bn(deconv(x)) if with_bn else deconv(x)
    got = SubPixelDeconv(deconv, bn if with_bn else None)(x)
    assert got.shape == (3, 5, 14, 18)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_rewrite_replaces_deconv_bn_pairs_and_leaves_the_model_unchanged():
    torch.manual_seed(0)
    head = nn.Sequential(
        nn.ConvTranspose2d(6, 5, 4, stride=2, padding=1, bias=False), _random_bn(5), nn.ReLU(),
        nn.ConvTranspose2d(5, 5, 4, stride=2, padding=1, bias=False), _random_bn(5), nn.ReLU(),
        nn.ConvTranspose2d(5, 5, 3, stride=1, padding=1),  # not k=4/s=2/p=1: kept as it is
    ).eval()  # fmt: skip
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), head).eval()
    rewritten = with_subpixel_deconvs(model)
    kinds = [type(m).__name__ for m in rewritten[1]]
    assert kinds == ["SubPixelDeconv", "ReLU", "SubPixelDeconv", "ReLU", "ConvTranspose2d"]
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in model.modules()) == 3  # the original is untouched
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(rewritten(x), model(x), rtol=1e-5, atol=1e-5)
