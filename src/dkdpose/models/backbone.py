"""SimpleBaseline backbone (paper Fig. 2b): a torchvision ResNet trunk plus a deconv head, total stride 8.

`PoseBackbone` is the frame encoder F of section 3.2 (C feature maps at stride 8); `SimpleBaseline` adds the
1x1 classifier to K heatmaps and is the pose initializer P and the single-frame Baseline. ImageNet weights
come from a local file, a folder holding torchvision's file names, or torchvision's own download cache
("torchvision"); this module never downloads anything.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn

from dkdpose.errors import InputError

log = logging.getLogger(__name__)

_RESNETS = {
    18: (torchvision.models.resnet18, torchvision.models.ResNet18_Weights.IMAGENET1K_V1),
    34: (torchvision.models.resnet34, torchvision.models.ResNet34_Weights.IMAGENET1K_V1),
    50: (torchvision.models.resnet50, torchvision.models.ResNet50_Weights.IMAGENET1K_V1),
    101: (torchvision.models.resnet101, torchvision.models.ResNet101_Weights.IMAGENET1K_V1),
}
DEPTHS = tuple(_RESNETS)
DECONV_CHANNELS = 256


def parse_depth(backbone: str | int) -> int:
    """`"resnet18"`, `"r18"` or `18` -> 18; anything else is an InputError."""
    text = str(backbone).lower().removeprefix("resnet").removeprefix("r")
    if not text.isdigit() or int(text) not in _RESNETS:
        raise InputError(
            f"unknown backbone {backbone!r}: choose one of resnet{', resnet'.join(map(str, DEPTHS))}"
        )
    return int(text)


def imagenet_weights_file(depth: int, pretrained: str | Path) -> Path:
    """Resolve `pretrained` to a local ImageNet weights file for ResNet-`depth` (see `weights_file`)."""
    return weights_file(_RESNETS[depth][1].url, pretrained, f"resnet{depth}")


def weights_file(url: str, pretrained: str | Path, label: str) -> Path:
    """Resolve `pretrained` to the local copy of torchvision's weights file `url` for network `label`.

    `pretrained` is a `.pth` file, a folder holding torchvision's file name (e.g. `resnet18-f37072fd.pth`), or
    `"torchvision"` for torchvision's download cache (`$TORCH_HOME/hub/checkpoints`). Raises InputError saying
    how to provide the weights when the file is not there.
    """
    file_name = Path(url).name
    if str(pretrained) == "torchvision":
        path = Path(torch.hub.get_dir()) / "checkpoints" / file_name
        where = "torchvision's cache"
    else:
        path = Path(pretrained)
        path = path / file_name if path.is_dir() else path
        where = str(pretrained)
    if not path.is_file():
        raise InputError(
            f"ImageNet weights for {label} not found in {where} (looked for {path}); this machine "
            f"does not download: copy {url} there, or pass pretrained=<file or folder>, "
            "or train without ImageNet weights (pretrained empty)"
        )
    return path


def load_weights_file(url: str, pretrained: str | Path, label: str) -> dict[str, Tensor]:
    """The state dict of `weights_file(url, pretrained, label)`; InputError for an unreadable file."""
    path = weights_file(url, pretrained, label)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any unreadable file: torch raises several unrelated types
        raise InputError(f"{path}: not a readable ImageNet weights file ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict):
        raise InputError(f"{path}: not a state dict of {label}")
    log.info("loaded ImageNet weights for %s from %s", label, path)
    return state


class ResNetTrunk(nn.Module):
    """torchvision ResNet without avgpool/fc: (B, in_channels, H, W) -> (B, out_channels, H/32, W/32).

    Submodule names equal torchvision's, so ImageNet state dicts load unchanged (minus `fc.*`).
    """

    def __init__(self, depth: int = 18, in_channels: int = 3):
        super().__init__()
        net = _RESNETS[depth][0](weights=None)
        if in_channels != 3:  # discriminators see images and heatmaps stacked along channels
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.depth = depth
        self.out_channels = net.fc.in_features

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def load_imagenet(self, pretrained: str | Path) -> None:
        """Copy ImageNet weights (see `imagenet_weights_file`) into the trunk; a mismatch is an InputError."""
        path = imagenet_weights_file(self.depth, pretrained)
        state = load_weights_file(_RESNETS[self.depth][1].url, pretrained, f"resnet{self.depth}")
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        try:
            self.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise InputError(f"{path}: does not fit resnet{self.depth}: {_first_line(e)}") from e


def _first_line(e: Exception) -> str:
    return " ".join(str(e).split())[:300]


class DeconvHead(nn.Module):
    """`num_deconv` 4x4 stride-2 deconvolutions with BN+ReLU (two: (B, in_channels, h, w) -> (B, channels,
    4h, 4w))."""

    def __init__(self, in_channels: int, channels: int = DECONV_CHANNELS, num_deconv: int = 2):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(num_deconv):
            layers += [
                nn.ConvTranspose2d(
                    in_channels if i == 0 else channels, channels, 4, stride=2, padding=1, bias=False
                ),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            ]
        self.layers = nn.Sequential(*layers)
        for m in self.modules():  # SimpleBaseline's initialization of the head
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, std=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class PoseBackbone(nn.Module):
    """Frame encoder F: ResNet trunk + deconv head, (B, in_channels, H, W) -> (B, channels, H/8, W/8)."""

    def __init__(
        self,
        depth: int = 18,
        channels: int = DECONV_CHANNELS,
        in_channels: int = 3,
        pretrained: str | Path | None = None,
    ):
        super().__init__()
        self.trunk = ResNetTrunk(depth, in_channels)
        self.head = DeconvHead(self.trunk.out_channels, channels)
        self.out_channels = channels
        if pretrained:
            if in_channels != 3:
                raise InputError(f"ImageNet weights need 3 input channels, this backbone has {in_channels}")
            self.trunk.load_imagenet(pretrained)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.trunk(x))


class SimpleBaseline(nn.Module):
    """Single-frame pose network (P, Baseline): (B, in_channels, H, W) -> heatmaps (B, K, H/8, W/8)."""

    def __init__(
        self,
        num_joints: int,
        depth: int = 101,
        channels: int = DECONV_CHANNELS,
        in_channels: int = 3,
        pretrained: str | Path | None = None,
        features: nn.Module | None = None,
    ):
        """`features`: a frame encoder with `channels` outputs at stride 8 to use instead of PoseBackbone."""
        super().__init__()
        self.features = features or PoseBackbone(depth, channels, in_channels, pretrained)
        self.classifier = nn.Conv2d(channels, num_joints, kernel_size=1)
        nn.init.normal_(self.classifier.weight, std=0.001)
        nn.init.zeros_(self.classifier.bias)
        self.num_joints = num_joints

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
