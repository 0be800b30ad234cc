"""ResNet backbone and SimpleBaseline (``MODEL.NAME pose_resnet``).

The backbone's attributes (conv1, bn1, layer1..4) sit at the top level of every model that uses
it, so both torchvision-layout ImageNet checkpoints and HRNet-repo pose_resnet checkpoints load by
key without renaming; an ImageNet ``fc`` is simply reported as unexpected.
"""
from __future__ import annotations

import torch
from torch import nn
from yacs.config import CfgNode

from .blocks import BN_MOMENTUM, BasicBlock, Bottleneck, make_res_layer
from .heads import make_deconv_layers, make_final_layer

# depth -> (block, blocks per stage), the standard ResNet table.
RESNET_SPECS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


def resnet_spec(depth: int) -> tuple[type[BasicBlock] | type[Bottleneck], tuple[int, ...]]:
    """Block type and stage sizes for ``MODEL.EXTRA.NUM_LAYERS``."""
    if depth not in RESNET_SPECS:
        raise ValueError(f"MODEL.EXTRA.NUM_LAYERS {depth} is not a ResNet depth; expected one of "
                         f"{sorted(RESNET_SPECS)}")
    return RESNET_SPECS[depth]


class ResNetBackbone(nn.Module):
    """ResNet without its classifier; ``features`` returns C2..C5 (strides 4, 8, 16, 32)."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        block, counts = resnet_spec(depth)
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        channels, self.stage_channels = 64, []
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), counts), start=1):
            layer, channels = make_res_layer(block, channels, planes, n, stride=1 if i == 1 else 2)
            setattr(self, f"layer{i}", layer)
            self.stage_channels.append(channels)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[C2, C3, C4, C5] feature maps."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        return [c2, c3, c4, self.layer4(c4)]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.features(x)


class PoseResNet(ResNetBackbone):
    """SimpleBaseline: ResNet C5 -> deconvolutions back to stride 4 -> heatmaps."""

    def __init__(self, depth: int, num_keypoints: int, deconv_filters: list[int],
                 deconv_kernels: list[int], deconv_with_bias: bool = False,
                 final_conv_kernel: int = 1) -> None:
        super().__init__(depth)
        self.deconv_layers, channels = make_deconv_layers(
            self.stage_channels[-1], deconv_filters, deconv_kernels, deconv_with_bias)
        self.final_layer = make_final_layer(channels, num_keypoints, final_conv_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.final_layer(self.deconv_layers(x))


def build_pose_resnet(cfg: CfgNode) -> PoseResNet:
    """SimpleBaseline from ``MODEL.EXTRA`` (NUM_LAYERS, NUM_DECONV_*, DECONV_WITH_BIAS, ...)."""
    extra = cfg.MODEL.EXTRA
    n = int(extra.NUM_DECONV_LAYERS)
    for key in ("NUM_DECONV_FILTERS", "NUM_DECONV_KERNELS"):
        if len(extra[key]) != n:
            raise ValueError(f"MODEL.EXTRA.{key} has {len(extra[key])} entries, expected "
                             f"NUM_DECONV_LAYERS = {n}")
    return PoseResNet(int(extra.NUM_LAYERS), int(cfg.MODEL.NUM_JOINTS),
                      list(extra.NUM_DECONV_FILTERS), list(extra.NUM_DECONV_KERNELS),
                      bool(extra.DECONV_WITH_BIAS), int(extra.FINAL_CONV_KERNEL))
