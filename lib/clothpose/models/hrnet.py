"""HRNet for heatmap pose estimation (``MODEL.NAME pose_hrnet``).

Module names and nesting reproduce the official ``pose_hrnet`` exactly (conv1, bn1, conv2, bn2,
layer1, transition1..3, stage2..4 with ``branches.i.j`` and ``fuse_layers.i.j.k``, final_layer), so
official COCO / ImageNet checkpoints load by key. Places where the official code keeps ``None``
hold a parameter-free ``nn.Identity`` instead, which leaves every key index unchanged.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from yacs.config import CfgNode

from .blocks import BN_MOMENTUM, Bottleneck, conv_bn, get_block, make_res_layer
from .heads import make_final_layer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageSpec:
    """One HRNet stage: ``num_modules`` exchange units over ``len(num_channels)`` branches."""

    num_modules: int
    block: str
    num_blocks: tuple[int, ...]
    num_channels: tuple[int, ...]
    fuse_method: str = "SUM"

    @classmethod
    def from_cfg(cls, node: CfgNode, key: str) -> "StageSpec":
        """Read ``MODEL.EXTRA.<key>``, checking the per-branch lists against NUM_BRANCHES."""
        n = int(node.NUM_BRANCHES)
        for field in ("NUM_BLOCKS", "NUM_CHANNELS"):
            if len(node[field]) != n:
                raise ValueError(f"MODEL.EXTRA.{key}.{field} has {len(node[field])} entries, "
                                 f"expected NUM_BRANCHES = {n}")
        if str(node.FUSE_METHOD).upper() != "SUM":
            raise ValueError(f"MODEL.EXTRA.{key}.FUSE_METHOD {node.FUSE_METHOD!r}: only SUM exists")
        get_block(node.BLOCK)  # fail early on a bad name
        return cls(int(node.NUM_MODULES), str(node.BLOCK), tuple(node.NUM_BLOCKS),
                   tuple(node.NUM_CHANNELS), "SUM")


def _fuse_path(c_from: int, c_to: int, steps: int) -> nn.Module:
    """Branch j -> branch i. steps < 0: 1x1 conv + BN + nearest upsample by 2**-steps;
    steps > 0: ``steps`` stride-2 3x3 convs (ReLU on all but the last); 0: identity."""
    if steps == 0:
        return nn.Identity()
    if steps < 0:
        return nn.Sequential(nn.Conv2d(c_from, c_to, 1, 1, 0, bias=False),
                             nn.BatchNorm2d(c_to, momentum=BN_MOMENTUM),
                             nn.Upsample(scale_factor=float(2 ** -steps), mode="nearest"))
    convs = [conv_bn(c_from, c_from, 3, stride=2, relu=True) for _ in range(steps - 1)]
    return nn.Sequential(*convs, conv_bn(c_from, c_to, 3, stride=2))


class HighResolutionModule(nn.Module):
    """Parallel residual branches followed by all-to-all fusion (summed, then ReLU)."""

    def __init__(self, in_channels: Sequence[int], spec: StageSpec,
                 multi_scale_output: bool = True) -> None:
        super().__init__()
        block = get_block(spec.block)
        if len(in_channels) != len(spec.num_channels):
            raise ValueError(f"{len(in_channels)} input branches for a {len(spec.num_channels)}"
                             "-branch module")
        branches, self.out_channels = [], []
        for c_in, n, c in zip(in_channels, spec.num_blocks, spec.num_channels):
            branch, c_out = make_res_layer(block, c_in, c, n)
            branches.append(branch)
            self.out_channels.append(c_out)
        self.branches = nn.ModuleList(branches)
        nb = len(branches)
        self.fuse_layers: nn.ModuleList | None = None
        if nb > 1:
            rows = range(nb if multi_scale_output else 1)
            chans = self.out_channels
            self.fuse_layers = nn.ModuleList(
                nn.ModuleList(_fuse_path(chans[j], chans[i], i - j) for j in range(nb))
                for i in rows)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if self.fuse_layers is None:
            return xs
        out = []
        for row in self.fuse_layers:
            y = row[0](xs[0])
            for j in range(1, len(xs)):
                y = y + row[j](xs[j])
            out.append(self.relu(y))
        return out


def _transition(pre: Sequence[int], cur: Sequence[int]) -> nn.ModuleList:
    """Adapt the previous stage's branches to the next: 3x3 conv where widths differ, and new
    lower-resolution branches by stride-2 convs from the last (lowest-resolution) branch."""
    layers: list[nn.Module] = []
    for i, c in enumerate(cur):
        if i < len(pre):
            layers.append(conv_bn(pre[i], c, 3, relu=True) if c != pre[i] else nn.Identity())
            continue
        n_down = i + 1 - len(pre)
        steps = [conv_bn(pre[-1], c if k == n_down - 1 else pre[-1], 3, stride=2, relu=True)
                 for k in range(n_down)]
        layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


class HighResolutionBackbone(nn.Module):
    """HRNet trunk: stride-4 stem + Bottleneck layer1, then stages 2..4 (official key names).

    ``multi_scale_output`` keeps all four branches after the last module (HRNetV2, as the
    classification checkpoints and detectors use it); the pose model fuses into branch 0 only.
    """

    def __init__(self, stages: Sequence[StageSpec], stem_width: int = 64,
                 layer1_planes: int = 64, layer1_blocks: int = 4,
                 multi_scale_output: bool = False) -> None:
        super().__init__()
        if len(stages) != 3:
            raise ValueError(f"HRNet needs STAGE2..STAGE4 specs, got {len(stages)}")
        self.conv1 = nn.Conv2d(3, stem_width, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_width, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(stem_width, stem_width, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(stem_width, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.layer1, pre = make_res_layer(Bottleneck, stem_width, layer1_planes, layer1_blocks)
        pre_channels = [pre]
        for idx, spec in enumerate(stages, start=2):
            expansion = get_block(spec.block).expansion
            cur = [c * expansion for c in spec.num_channels]
            setattr(self, f"transition{idx - 1}", _transition(pre_channels, cur))
            modules, in_ch = [], cur
            for m in range(spec.num_modules):
                last = idx == 4 and m == spec.num_modules - 1
                modules.append(HighResolutionModule(in_ch, spec,
                                                    multi_scale_output=multi_scale_output or not last))
                in_ch = modules[-1].out_channels
            setattr(self, f"stage{idx}", nn.Sequential(*modules))
            pre_channels = in_ch
        self.out_channels: list[int] = list(pre_channels)  # per branch, stride 4, 8, 16, 32

    @staticmethod
    def _apply_transition(transition: nn.ModuleList, ys: list[torch.Tensor]) -> list[torch.Tensor]:
        return [t(ys[i] if i < len(ys) else ys[-1]) for i, t in enumerate(transition)]

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Branch outputs of the last stage, highest resolution (stride 4) first."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        for transition, stage in ((self.transition1, self.stage2), (self.transition2, self.stage3),
                                  (self.transition3, self.stage4)):
            ys = stage(self._apply_transition(transition, ys))
        return ys


class PoseHighResolutionNet(HighResolutionBackbone):
    """HRNet: stride-4 stem + Bottleneck layer1, then stages 2..4; heatmaps from branch 0."""

    def __init__(self, stages: Sequence[StageSpec], num_keypoints: int,
                 final_conv_kernel: int = 1, stem_width: int = 64,
                 layer1_planes: int = 64, layer1_blocks: int = 4) -> None:
        super().__init__(stages, stem_width, layer1_planes, layer1_blocks)
        self.final_layer = make_final_layer(self.out_channels[0], num_keypoints, final_conv_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.features(x)[0])


def hrnet_stages(cfg: CfgNode) -> list[StageSpec]:
    """STAGE2..STAGE4 of ``MODEL.EXTRA``."""
    return [StageSpec.from_cfg(cfg.MODEL.EXTRA[k], k) for k in ("STAGE2", "STAGE3", "STAGE4")]


def build_pose_hrnet(cfg: CfgNode) -> PoseHighResolutionNet:
    """HRNet from ``MODEL.EXTRA`` (STAGE1 (layer1; W18-small style), STAGE2..4,
    FINAL_CONV_KERNEL, STEM_INPLANES)."""
    extra = cfg.MODEL.EXTRA
    return PoseHighResolutionNet(hrnet_stages(cfg), int(cfg.MODEL.NUM_JOINTS),
                                 int(extra.FINAL_CONV_KERNEL), int(extra.STEM_INPLANES),
                                 int(extra.STAGE1.NUM_CHANNELS[0]),
                                 int(extra.STAGE1.NUM_BLOCKS[0]))
