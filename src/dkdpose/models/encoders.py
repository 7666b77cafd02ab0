"""Frame encoders F beyond the ResNet backbones: (B, 3, H, W) -> C feature maps (B, C, H/8, W/8).

- `SmallCPM` (paper section 4.4, Table 3, "DKD(SmallCPM)"): the network of Convolutional Pose Machines' first
  stage (the image part of LSTM PM, `lstm_pm.py`) with every kernel larger than 3 replaced by a 3x3 kernel:
  three 3x3 conv-128 + ReLU each followed by a 3x3/2 max-pool (Caffe's ceil rounding), a 3x3 conv-32 (5x5 in
  CPM), a 3x3 conv-512 (9x9 in CPM) and a 1x1 conv-512 (+ ReLU each); the last 1x1 conv, which gives CPM's
  belief maps, gives the C features here.
- `MobileNetV3Encoder`: torchvision's MobileNetV3-Large trunk cut at stride 16 (its first 13 blocks, 112
  channels) plus one 4x4 stride-2 deconvolution (the SimpleBaseline head, `backbone.DeconvHead`) to stride 8.

`build_encoder(kind, channels, pretrained)` makes F for a kind: a ResNet depth (18, 34, ...), "smallcpm" or
"mobilenetv3".
"""

from __future__ import annotations

from pathlib import Path

import torchvision
from torch import Tensor, nn

from dkdpose.errors import InputError
from dkdpose.models.backbone import DECONV_CHANNELS, DeconvHead, PoseBackbone, load_weights_file

ENCODER_KINDS = ("smallcpm", "mobilenetv3")
BN_MOMENTUM = 0.1  # every BatchNorm of the project (PyTorch's default), the MobileNetV3 trunk's too
MOBILENET_CUT = 13  # features[:13] of MobileNetV3-Large end at stride 16 with 112 channels
_MOBILENET_WEIGHTS = torchvision.models.MobileNet_V3_Large_Weights.IMAGENET1K_V1


def _conv_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> list[nn.Module]:
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
    return [conv, nn.ReLU(inplace=True)]


class SmallCPM(nn.Module):
    """CPM stage 1 with 3x3 kernels (module doc): (B, 3, H, W) -> (B, channels, H/8, W/8); H, W multiples
    of 8."""

    def __init__(self, channels: int = DECONV_CHANNELS):
        super().__init__()
        pool = dict(kernel_size=3, stride=2, ceil_mode=True)  # Caffe rounds up: 256 -> 128 -> 64 -> 32
        self.layers = nn.Sequential(
            *_conv_relu(3, 128), nn.MaxPool2d(**pool),
            *_conv_relu(128, 128), nn.MaxPool2d(**pool),
            *_conv_relu(128, 128), nn.MaxPool2d(**pool),
            *_conv_relu(128, 32), *_conv_relu(32, 512), *_conv_relu(512, 512, kernel_size=1),
            *_conv_relu(512, channels, kernel_size=1),
        )  # fmt: skip
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        self.out_channels = channels

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class MobileNetV3Encoder(nn.Module):
    """MobileNetV3-Large to stride 16 + one deconvolution: (B, 3, H, W) -> (B, channels, H/8, W/8).

    `pretrained`: ImageNet weights of torchvision's MobileNetV3-Large (a file, a folder holding torchvision's
    file name, or "torchvision" for its download cache); the classifier's weights are dropped.
    """

    def __init__(self, channels: int = DECONV_CHANNELS, pretrained: str | Path | None = None):
        super().__init__()
        net = torchvision.models.mobilenet_v3_large(weights=None)
        if pretrained:
            state = load_weights_file(_MOBILENET_WEIGHTS.url, pretrained, "mobilenet_v3_large")
            try:
                net.load_state_dict(state, strict=True)
            except RuntimeError as e:
                raise InputError(f"{pretrained}: does not fit mobilenet_v3_large: {str(e)[:300]}") from e
        self.trunk = net.features[:MOBILENET_CUT]
        for m in self.trunk.modules():  # torchvision's 0.01 suits long ImageNet runs; after a few hundred
            if isinstance(m, nn.BatchNorm2d):  # steps its running statistics lag far behind the batches'
                m.momentum = BN_MOMENTUM
        trunk_channels = net.features[MOBILENET_CUT - 1].out_channels
        self.head = DeconvHead(trunk_channels, channels, num_deconv=1)
        self.out_channels = channels

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.trunk(x))


def build_encoder(
    kind: int | str, channels: int = DECONV_CHANNELS, pretrained: str | Path | None = None
) -> nn.Module:
    """F for `kind`: a ResNet depth -> PoseBackbone, "smallcpm" -> SmallCPM, "mobilenetv3" -> MobileNetV3."""
    if kind == "smallcpm":
        if pretrained:
            raise InputError("SmallCPM has no ImageNet weights: train it without `pretrained`")
        return SmallCPM(channels)
    if kind == "mobilenetv3":
        return MobileNetV3Encoder(channels, pretrained)
    if isinstance(kind, int):
        return PoseBackbone(kind, channels, pretrained=pretrained)
    raise InputError(f"unknown frame encoder {kind!r}: a ResNet depth or one of {', '.join(ENCODER_KINDS)}")
