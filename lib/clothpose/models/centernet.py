"""CenterNet garment detector ("Objects as Points", Zhou et al. 2019): ``MODEL.NAME centernet``.

A backbone gives one stride-4 feature map; three heads (3x3 conv + ReLU + 1x1 conv each) predict
per-category centre heatmaps (logits; the decoder applies the sigmoid), the box size (w, h) and
the sub-cell centre offset, both in output cells (input pixels / 4), as the paper does.

Backbones (``MODEL.EXTRA.BACKBONE``):

* ``hrnet``: the HRNet trunk with all four branches kept; branches 2..4 are bilinearly upsampled
  to the stride-4 branch and concatenated (HRNetV2 / HigherHRNet style), e.g. 15 x 32 = 480
  channels for W32. Trunk keys are the official ones at the top level (conv1 ... stage4), so
  COCO pose and ImageNet HRNet checkpoints load through ``MODEL.PRETRAINED``.
* ``resnet``: ResNet C5 followed by SimpleBaseline's deconvolutions back to stride 4 (the
  paper's ResNet variant without DCN); keys as torchvision / HRNet's pose_resnet.

Head keys are CenterNet's own (``hm``, ``wh``, ``reg``), so its ResNet checkpoints load by key
apart from the class count.
"""
from __future__ import annotations

import logging
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from yacs.config import CfgNode

from .heads import make_deconv_layers
from .hrnet import HighResolutionBackbone, hrnet_stages
from .resnet import ResNetBackbone
from .weights import init_weights

logger = logging.getLogger(__name__)

OUTPUT_STRIDE = 4
# sigmoid(-2.19) = 0.1: the paper's prior so the focal loss starts stable.
HEATMAP_PRIOR_BIAS = -2.19
OUTPUT_NAMES = ("heatmap", "size", "offset")


class CenterNetOutput(NamedTuple):
    """Network outputs at stride 4: heatmap logits (N, C, h, w), size and offset (N, 2, h, w)."""

    heatmap: torch.Tensor
    size: torch.Tensor
    offset: torch.Tensor


def make_head(in_channels: int, head_conv: int, out_channels: int) -> nn.Sequential:
    """3x3 conv (bias) + ReLU + 1x1 conv, CenterNet's head; ``head_conv <= 0``: the 1x1 only."""
    if head_conv <= 0:
        return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1))
    return nn.Sequential(nn.Conv2d(in_channels, head_conv, 3, padding=1, bias=True),
                         nn.ReLU(inplace=True),
                         nn.Conv2d(head_conv, out_channels, 1))


class _CenterNetHeads:
    """Head construction and initialisation shared by both backbones (a mixin)."""

    onnx_output_names = OUTPUT_NAMES

    hm: nn.Sequential
    wh: nn.Sequential
    reg: nn.Sequential

    def _make_heads(self, channels: int, num_classes: int, head_conv: int,
                    heatmap_bias: float) -> None:
        if num_classes <= 0:
            raise ValueError(f"CenterNet needs at least one class, got {num_classes}")
        self.num_classes = num_classes
        self.heatmap_bias = float(heatmap_bias)
        self.hm = make_head(channels, head_conv, num_classes)
        self.wh = make_head(channels, head_conv, 2)
        self.reg = make_head(channels, head_conv, 2)

    def init_weights(self) -> None:
        """HRNet's init everywhere, then the heatmap's last bias at the focal-loss prior."""
        init_weights(self)  # type: ignore[arg-type]
        nn.init.constant_(self.hm[-1].bias, self.heatmap_bias)

    def _heads(self, x: torch.Tensor) -> CenterNetOutput:
        return CenterNetOutput(self.hm(x), self.wh(x), self.reg(x))


class CenterNetHRNet(HighResolutionBackbone, _CenterNetHeads):
    """HRNet trunk, all branches upsampled to stride 4 and concatenated, CenterNet heads."""

    def __init__(self, stages: Sequence, num_classes: int, head_conv: int = 256,
                 heatmap_bias: float = HEATMAP_PRIOR_BIAS, stem_width: int = 64,
                 layer1_planes: int = 64, layer1_blocks: int = 4) -> None:
        super().__init__(stages, stem_width, layer1_planes, layer1_blocks, multi_scale_output=True)
        self._make_heads(sum(self.out_channels), num_classes, head_conv, heatmap_bias)

    def forward(self, x: torch.Tensor) -> CenterNetOutput:
        ys = self.features(x)
        size = ys[0].shape[-2:]
        up = [ys[0]] + [F.interpolate(y, size=size, mode="bilinear", align_corners=False)
                        for y in ys[1:]]
        return self._heads(torch.cat(up, dim=1))


class CenterNetResNet(ResNetBackbone, _CenterNetHeads):
    """ResNet C5 + SimpleBaseline deconvolutions to stride 4 + CenterNet heads."""

    def __init__(self, depth: int, num_classes: int, deconv_filters: Sequence[int],
                 deconv_kernels: Sequence[int], deconv_with_bias: bool = False,
                 head_conv: int = 64, heatmap_bias: float = HEATMAP_PRIOR_BIAS) -> None:
        super().__init__(depth)
        if len(deconv_filters) != 3:
            raise ValueError(f"MODEL.EXTRA.NUM_DECONV_LAYERS must be 3 for CenterNet (stride 32 "
                             f"-> 4), got {len(deconv_filters)}")
        self.deconv_layers, channels = make_deconv_layers(
            self.stage_channels[-1], deconv_filters, deconv_kernels, deconv_with_bias)
        self._make_heads(channels, num_classes, head_conv, heatmap_bias)

    def forward(self, x: torch.Tensor) -> CenterNetOutput:
        return self._heads(self.deconv_layers(self.features(x)[-1]))


def num_detector_classes(cfg: CfgNode) -> int:
    """Classes of the detector: the categories of ``DATASET.SCHEME`` (DeepFashion2: 13)."""
    from ..keypoints import get_scheme

    return len(get_scheme(cfg.DATASET.SCHEME).category_ids)


def build_centernet(cfg: CfgNode) -> nn.Module:
    """CenterNet from ``MODEL.EXTRA`` (BACKBONE hrnet | resnet, HEAD_CONV, HEATMAP_BIAS, and the
    backbone's own keys: STAGE1..4 / STEM_INPLANES, or NUM_LAYERS and the deconv keys)."""
    extra = cfg.MODEL.EXTRA
    classes = num_detector_classes(cfg)
    backbone = str(extra.BACKBONE).lower()
    if backbone == "hrnet":
        return CenterNetHRNet(hrnet_stages(cfg), classes, int(extra.HEAD_CONV),
                              float(extra.HEATMAP_BIAS), int(extra.STEM_INPLANES),
                              int(extra.STAGE1.NUM_CHANNELS[0]), int(extra.STAGE1.NUM_BLOCKS[0]))
    if backbone == "resnet":
        n = int(extra.NUM_DECONV_LAYERS)
        for key in ("NUM_DECONV_FILTERS", "NUM_DECONV_KERNELS"):
            if len(extra[key]) != n:
                raise ValueError(f"MODEL.EXTRA.{key} has {len(extra[key])} entries, expected "
                                 f"NUM_DECONV_LAYERS = {n}")
        return CenterNetResNet(int(extra.NUM_LAYERS), classes, list(extra.NUM_DECONV_FILTERS),
                               list(extra.NUM_DECONV_KERNELS), bool(extra.DECONV_WITH_BIAS),
                               int(extra.HEAD_CONV), float(extra.HEATMAP_BIAS))
    raise ValueError(f"MODEL.EXTRA.BACKBONE {extra.BACKBONE!r} is not a CenterNet backbone; "
                     "expected 'hrnet' or 'resnet'")
