"""Model zoo: HRNet (``pose_hrnet``), SimpleBaseline (``pose_resnet``), CPN (``cpn``) and the
CenterNet garment detector (``centernet``).

Output convention: hrnet / pose_resnet return a Tensor (N, K, H/4, W/4); cpn returns a list
``[global, refine]`` of such Tensors. Consumers call ``final_output(out)`` for the heatmaps to decode.
centernet returns a ``CenterNetOutput`` (heatmap logits, size, offset), decoded into boxes.
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import torch
from torch import nn
from yacs.config import CfgNode

from .centernet import CenterNetOutput, build_centernet
from .cpn import CPN, build_cpn
from .hrnet import PoseHighResolutionNet, build_pose_hrnet
from .resnet import PoseResNet, ResNetBackbone, build_pose_resnet
from .weights import (LoadReport, extract_state_dict, init_from_checkpoint, init_weights,
                      load_pretrained)

logger = logging.getLogger(__name__)

# Heatmaps come out at stride 4 and every model goes down to stride 32; the upsampling paths
# only line up when the input is a multiple of this.
INPUT_MULTIPLE = 32

MODEL_BUILDERS: dict[str, Callable[[CfgNode], nn.Module]] = {
    "pose_hrnet": build_pose_hrnet,
    "pose_resnet": build_pose_resnet,
    "cpn": build_cpn,
    "centernet": build_centernet,
}

# Models whose output is boxes rather than keypoint heatmaps.
DETECTORS = frozenset({"centernet"})


def _check_input_size(cfg: CfgNode) -> None:
    size = list(cfg.MODEL.IMAGE_SIZE)
    if any(int(s) % INPUT_MULTIPLE for s in size):
        raise ValueError(f"MODEL.IMAGE_SIZE {size}: width and height must be multiples of "
                         f"{INPUT_MULTIPLE} for {cfg.MODEL.NAME!r} (stride-32 features are "
                         "upsampled back to stride 4)")


def build_model(cfg: CfgNode, is_train: bool = True) -> nn.Module:
    """Build ``cfg.MODEL.NAME`` with ``cfg.MODEL.NUM_JOINTS`` output channels.

    Weights get HRNet's init; when training with ``MODEL.INIT_WEIGHTS`` and ``MODEL.PRETRAINED``
    set, the checkpoint is then loaded per ``MODEL.EXTRA.PRETRAINED_LAYERS``.
    """
    from ..config import ConfigError

    name = cfg.MODEL.NAME
    try:
        if name not in MODEL_BUILDERS:
            raise ValueError(f"MODEL.NAME {name!r} is unknown; valid names: "
                             f"{sorted(MODEL_BUILDERS)}")
        _check_input_size(cfg)
        model = MODEL_BUILDERS[name](cfg)
    except ValueError as e:  # the builders name the MODEL.* key that is wrong
        raise ConfigError(str(e), file=cfg.CFG_NAME or None) from e
    if callable(getattr(model, "init_weights", None)):
        model.init_weights()  # e.g. CenterNet: HRNet's init plus the heatmap prior bias
    else:
        init_weights(model)
    if is_train and cfg.MODEL.INIT_WEIGHTS and cfg.MODEL.PRETRAINED:
        load_pretrained(model, cfg.MODEL.PRETRAINED, list(cfg.MODEL.EXTRA.PRETRAINED_LAYERS),
                        min_fraction=cfg.MODEL.MIN_LOADED_FRACTION)
    n_params = sum(p.numel() for p in model.parameters())
    outputs = f"{model.num_classes} classes" if name in DETECTORS else \
        f"{cfg.MODEL.NUM_JOINTS} keypoints"
    logger.info("built %s with %s, %.2fM parameters", name, outputs, n_params / 1e6)
    return model


def final_output(out: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """The heatmaps to decode: the Tensor itself, or the last stage of a multi-output model."""
    if isinstance(out, torch.Tensor):
        return out
    if not out:
        raise ValueError("empty model output list")
    return out[-1]


__all__ = [
    "MODEL_BUILDERS", "build_model", "final_output", "init_weights", "load_pretrained",
    "init_from_checkpoint",
    "extract_state_dict", "LoadReport", "PoseHighResolutionNet", "PoseResNet", "ResNetBackbone",
    "CPN", "INPUT_MULTIPLE", "CenterNetOutput", "DETECTORS",
]
