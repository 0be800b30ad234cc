"""Weight initialisation and selective, shape-checked loading of pretrained checkpoints.

One loader serves every model: ImageNet classification checkpoints (torchvision ResNet, HRNet
classification), official COCO pose checkpoints and our own training checkpoints. Whatever does
not fit (other heads, classifiers, a final layer for another keypoint count) is skipped and
reported in one log line instead of failing the run.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ..utils.io import load_checkpoint

logger = logging.getLogger(__name__)

# Keys under which training scripts nest the weights (HRNet: 'state_dict'; ours may use 'model').
_NESTED_KEYS = ("state_dict", "model", "model_state_dict")
_SHOWN_NAMES = 5  # names listed per group in the log line


def init_weights(model: nn.Module) -> None:
    """HRNet's init: convs / deconvs ~ N(0, 0.001) with zero bias, BatchNorm weight 1, bias 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, std=0.001)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


@dataclass
class LoadReport:
    """What ``load_pretrained`` did, by parameter / buffer name."""

    loaded: list[str] = field(default_factory=list)
    shape_mismatch: list[str] = field(default_factory=list)
    not_selected: list[str] = field(default_factory=list)   # filtered by PRETRAINED_LAYERS
    unexpected: list[str] = field(default_factory=list)     # in the file, not in the model
    missing: list[str] = field(default_factory=list)        # in the model, left as initialised

    def summary(self) -> str:
        """One line: counts per group, each followed by the first few names."""
        def group(label: str, names: list[str]) -> str:
            if not names:
                return f"{label} 0"
            shown = ", ".join(names[:_SHOWN_NAMES])
            more = f", ... (+{len(names) - _SHOWN_NAMES})" if len(names) > _SHOWN_NAMES else ""
            return f"{label} {len(names)} [{shown}{more}]"

        return "; ".join([f"loaded {len(self.loaded)}",
                          group("skipped (shape mismatch)", self.shape_mismatch),
                          group("skipped (not in PRETRAINED_LAYERS)", self.not_selected),
                          group("unexpected", self.unexpected),
                          group("missing", self.missing)])


def extract_state_dict(checkpoint: Any, source: str = "<checkpoint>") -> "OrderedDict[str, torch.Tensor]":
    """The tensor mapping inside a loaded checkpoint, with DataParallel ``module.`` prefixes removed.

    Accepts a plain state_dict or a dict nesting it under 'state_dict' / 'model'.
    """
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"{source}: expected a state_dict (a mapping of tensors), got "
                         f"{type(checkpoint).__name__}")
    for key in _NESTED_KEYS:
        if isinstance(checkpoint.get(key), Mapping):
            checkpoint = checkpoint[key]
            break
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for name, value in checkpoint.items():
        if not isinstance(value, torch.Tensor):
            continue  # metadata such as epoch counters next to the weights
        while name.startswith("module."):
            name = name[len("module."):]
        out[name] = value
    if not out:
        raise ValueError(f"{source}: no tensors found (keys: {list(checkpoint)[:10]})")
    return out


def select_weights(model_state: Mapping[str, torch.Tensor], weights: Mapping[str, torch.Tensor],
                   layers: Sequence[str] = ("*",)) -> tuple[dict[str, torch.Tensor], LoadReport]:
    """Split ``weights`` into what can be loaded into ``model_state`` and what is skipped.

    ``layers``: top-level module names to take (``'*'`` = all), HRNet's PRETRAINED_LAYERS.
    """
    take_all = "*" in layers
    wanted = set(layers)
    report, chosen = LoadReport(), {}
    for name, value in weights.items():
        if name not in model_state:
            report.unexpected.append(name)
        elif not take_all and name.split(".", 1)[0] not in wanted:
            report.not_selected.append(name)
        elif tuple(value.shape) != tuple(model_state[name].shape):
            report.shape_mismatch.append(
                f"{name} {tuple(value.shape)}->{tuple(model_state[name].shape)}")
        else:
            chosen[name] = value
            report.loaded.append(name)
    # BN step counters are absent from old checkpoints and irrelevant to the weights.
    report.missing = [n for n in model_state
                      if n not in chosen and not n.endswith("num_batches_tracked")]
    return chosen, report


def load_pretrained(model: nn.Module, path: str | os.PathLike, layers: Sequence[str] = ("*",),
                    key: str = "MODEL.PRETRAINED") -> LoadReport:
    """Load the matching part of the checkpoint at ``path`` into ``model`` (weights_only load).

    Parameters that are skipped or missing keep their current (initialised) values; this is how
    the final layer is re-initialised when the keypoint count differs. ``key`` names the config
    entry in error messages. A file of which nothing fits is an error (wrong file or layers).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{key} = {str(path)!r} does not exist")
    weights = extract_state_dict(load_checkpoint(path), source=str(path))
    chosen, report = select_weights(model.state_dict(), weights, layers)
    if not chosen:
        raise ValueError(f"{key} = {str(path)!r}: no tensor fits the model ({report.summary()})")
    model.load_state_dict(chosen, strict=False)
    logger.info("%s %s: %s", key, path, report.summary())
    return report


def init_from_checkpoint(model: nn.Module, path: str | os.PathLike) -> LoadReport:
    """Start from another run's weights (``TRAIN.INIT_FROM``, e.g. the joint model before a
    per-category finetune): every tensor whose name and shape fit is loaded, the rest reported."""
    return load_pretrained(model, path, ("*",), key="TRAIN.INIT_FROM")
