"""Heatmap heads: the final 1x1 (or 3x3) conv and SimpleBaseline's deconvolution stack."""
from __future__ import annotations

from typing import Sequence

from torch import nn

from .blocks import BN_MOMENTUM

# SimpleBaseline's (kernel -> padding, output_padding) so each deconv exactly doubles the size.
_DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}


def make_final_layer(in_channels: int, num_keypoints: int, kernel: int = 1) -> nn.Conv2d:
    """Conv producing one heatmap per keypoint (with bias, as HRNet's ``final_layer``)."""
    if kernel not in (1, 3):
        raise ValueError(f"MODEL.EXTRA.FINAL_CONV_KERNEL must be 1 or 3, got {kernel}")
    if num_keypoints <= 0:
        raise ValueError(f"MODEL.NUM_JOINTS must be positive, got {num_keypoints}")
    return nn.Conv2d(in_channels, num_keypoints, kernel_size=kernel, stride=1,
                     padding=kernel // 2)


def make_deconv_layers(in_channels: int, filters: Sequence[int], kernels: Sequence[int],
                       with_bias: bool = False) -> tuple[nn.Sequential, int]:
    """Stack of (ConvTranspose2d stride 2, BN, ReLU) triples, each doubling the resolution.

    Flat Sequential so the keys are ``deconv_layers.{3i}.weight`` / ``{3i+1}.*`` as in HRNet's
    pose_resnet. Returns the stack and its output channels.
    """
    if len(filters) != len(kernels):
        raise ValueError(f"MODEL.EXTRA.NUM_DECONV_FILTERS ({len(filters)}) and NUM_DECONV_KERNELS "
                         f"({len(kernels)}) must have the same length")
    layers: list[nn.Module] = []
    for planes, kernel in zip(filters, kernels):
        if kernel not in _DECONV_PADDING:
            raise ValueError(f"MODEL.EXTRA.NUM_DECONV_KERNELS: kernel {kernel} not supported; "
                             f"expected one of {sorted(_DECONV_PADDING)}")
        padding, output_padding = _DECONV_PADDING[kernel]
        layers += [
            nn.ConvTranspose2d(in_channels, planes, kernel_size=kernel, stride=2, padding=padding,
                               output_padding=output_padding, bias=with_bias),
            nn.BatchNorm2d(planes, momentum=BN_MOMENTUM),
            nn.ReLU(inplace=True),
        ]
        in_channels = planes
    return nn.Sequential(*layers), in_channels
