"""Cascaded Pyramid Network as in the FashionAI reference (``MODEL.NAME cpn``).

GlobalNet is an FPN over ResNet C2..C5 whose finest level directly predicts K heatmaps at stride
4; RefineNet sends every level through bottlenecks, upsamples it to stride 4 with a transposed
conv, concatenates and predicts the refined heatmaps. The forward returns ``[global, refine]``;
consumers take ``out[-1]`` (see ``clothpose.models.final_output``).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from yacs.config import CfgNode

from .blocks import Bottleneck, make_res_layer
from .resnet import ResNetBackbone


class GlobalNet(nn.Module):
    """FPN top-down path: 1x1 laterals, bilinear upsample + add, 3x3 conv after each merge.

    Returns the pyramid [P2, P3, P4, P5]; P2 has K channels (the global heatmaps), the coarser
    levels ``width`` channels.
    """

    def __init__(self, in_channels: Sequence[int], width: int, num_keypoints: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, kernel_size=1) for c in in_channels)
        # smooth[i] follows the merge into level i (C2..C4); the finest one emits the heatmaps.
        self.smooth = nn.ModuleList(
            nn.Conv2d(width, num_keypoints if i == 0 else width, kernel_size=3, padding=1)
            for i in range(len(in_channels) - 1))

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        p = self.lateral[-1](feats[-1])
        pyramid = [p]
        for i in range(len(feats) - 2, -1, -1):
            lat = self.lateral[i](feats[i])
            up = F.interpolate(p, size=lat.shape[-2:], mode="bilinear", align_corners=False)
            p = self.smooth[i](up + lat)
            pyramid.insert(0, p)
        return pyramid


def _upsample(channels: int, factor: int) -> nn.Module:
    """Transposed conv that multiplies the size exactly by ``factor`` (kernel 2f, pad f/2)."""
    if factor == 1:
        return nn.Identity()
    return nn.ConvTranspose2d(channels, channels, kernel_size=2 * factor, stride=factor,
                              padding=factor // 2)


class RefineNet(nn.Module):
    """Per-level bottlenecks + upsampling to stride 4, concat, bottleneck, 1x1 -> K heatmaps."""

    def __init__(self, level_channels: Sequence[int], width: int, num_keypoints: int,
                 blocks_per_level: Sequence[int]) -> None:
        super().__init__()
        if len(blocks_per_level) != len(level_channels):
            raise ValueError(f"MODEL.EXTRA.REFINE_BLOCKS has {len(blocks_per_level)} entries, "
                             f"expected one per pyramid level ({len(level_channels)})")
        if width % Bottleneck.expansion:
            raise ValueError(f"MODEL.EXTRA.FPN_CHANNELS {width} must be divisible by "
                             f"{Bottleneck.expansion}")
        planes = width // Bottleneck.expansion
        levels = []
        for i, (c, n) in enumerate(zip(level_channels, blocks_per_level)):
            if n < 1:
                raise ValueError(f"MODEL.EXTRA.REFINE_BLOCKS[{i}] must be >= 1, got {n}")
            blocks, _ = make_res_layer(Bottleneck, c, planes, n)
            levels.append(nn.Sequential(*blocks, _upsample(width, 2 ** i)))
        self.levels = nn.ModuleList(levels)
        self.fuse, _ = make_res_layer(Bottleneck, width * len(levels), planes, 1)
        self.final_layer = nn.Conv2d(width, num_keypoints, kernel_size=1)

    def forward(self, pyramid: Sequence[torch.Tensor]) -> torch.Tensor:
        x = torch.cat([level(p) for level, p in zip(self.levels, pyramid)], dim=1)
        return self.final_layer(self.fuse(x))


class CPN(ResNetBackbone):
    """ResNet backbone (ImageNet key layout at the top level) + GlobalNet + RefineNet."""

    def __init__(self, depth: int, num_keypoints: int, width: int = 256,
                 refine_blocks: Sequence[int] = (1, 1, 2, 3)) -> None:
        super().__init__(depth)
        self.global_net = GlobalNet(self.stage_channels, width, num_keypoints)
        level_channels = [num_keypoints] + [width] * (len(self.stage_channels) - 1)
        self.refine_net = RefineNet(level_channels, width, num_keypoints, refine_blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        pyramid = self.global_net(self.features(x))
        return [pyramid[0], self.refine_net(pyramid)]


def build_cpn(cfg: CfgNode) -> CPN:
    """CPN from ``MODEL.EXTRA`` (NUM_LAYERS, FPN_CHANNELS, REFINE_BLOCKS, BACKBONE)."""
    extra = cfg.MODEL.EXTRA
    if str(extra.BACKBONE).lower() != "resnet":
        raise ValueError(f"MODEL.EXTRA.BACKBONE {extra.BACKBONE!r} is not available; "
                         "only 'resnet' is implemented (SENet-154 is not)")
    return CPN(int(extra.NUM_LAYERS), int(cfg.MODEL.NUM_JOINTS), int(extra.FPN_CHANNELS),
               list(extra.REFINE_BLOCKS))
