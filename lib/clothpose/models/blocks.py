"""Residual building blocks shared by HRNet, SimpleBaseline and CPN.

Attribute names (conv1/bn1/.../downsample.0/downsample.1) follow torchvision and HRNet so that
ImageNet and official pose checkpoints load by name.
"""
from __future__ import annotations

import torch
from torch import nn

# HRNet uses PyTorch's default BN momentum everywhere; written out because its checkpoints were
# trained with it and some layers pass it explicitly.
BN_MOMENTUM = 0.1


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv_bn(in_planes: int, out_planes: int, kernel: int, stride: int = 1,
            relu: bool = False) -> nn.Sequential:
    """Conv (no bias) + BN [+ ReLU] as one Sequential, so keys read ``<name>.0`` / ``<name>.1``."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_planes, out_planes, kernel, stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_planes, momentum=BN_MOMENTUM),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or projected) shortcut."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carries the stride, as torchvision/HRNet), 1x1 expand by 4."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        width = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, width, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {
    "BASIC": BasicBlock,
    "BOTTLENECK": Bottleneck,
}


def get_block(name: str) -> type[BasicBlock] | type[Bottleneck]:
    """Block class for a config name (``BASIC`` / ``BOTTLENECK``)."""
    try:
        return BLOCKS[str(name).upper()]
    except KeyError:
        raise ValueError(f"unknown block {name!r}; expected one of {sorted(BLOCKS)}") from None


def make_res_layer(block: type[BasicBlock] | type[Bottleneck], inplanes: int, planes: int,
                   num_blocks: int, stride: int = 1) -> tuple[nn.Sequential, int]:
    """A stage of ``num_blocks`` residual blocks; the first one projects when shapes change.

    Returns the stage and its output channel count.
    """
    out_planes = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out_planes:
        downsample = conv_bn(inplanes, out_planes, kernel=1, stride=stride)
    layers = [block(inplanes, planes, stride, downsample)]
    layers += [block(out_planes, planes) for _ in range(1, num_blocks)]
    return nn.Sequential(*layers), out_planes
