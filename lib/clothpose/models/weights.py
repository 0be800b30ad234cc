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

from ..errors import CheckpointError
from ..utils.io import load_checkpoint

logger = logging.getLogger(__name__)

# Keys under which training scripts nest the weights (HRNet: 'state_dict'; ours may use 'model').
_NESTED_KEYS = ("state_dict", "model", "model_state_dict")
_SHOWN_NAMES = 5  # names listed per group in the log line
WARN_BELOW_FRACTION = 0.5  # a load that fits less of the model is logged as a warning


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
    loaded_fraction: float = 0.0  # share of the model's weight values (elements) loaded

    def summary(self) -> str:
        """One line: counts per group, each followed by the first few names."""
        def group(label: str, names: list[str]) -> str:
            if not names:
                return f"{label} 0"
            shown = ", ".join(names[:_SHOWN_NAMES])
            more = f", ... (+{len(names) - _SHOWN_NAMES})" if len(names) > _SHOWN_NAMES else ""
            return f"{label} {len(names)} [{shown}{more}]"

        return "; ".join([f"{self.loaded_fraction:.1%} of the model's weights loaded",
                          f"loaded {len(self.loaded)}",
                          group("skipped (shape mismatch)", self.shape_mismatch),
                          group("skipped (not in PRETRAINED_LAYERS)", self.not_selected),
                          group("unexpected", self.unexpected),
                          group("missing", self.missing)])


def extract_state_dict(checkpoint: Any, source: str = "<checkpoint>") -> "OrderedDict[str, torch.Tensor]":
    """The tensor mapping inside a loaded checkpoint, with DataParallel ``module.`` prefixes removed.

    Accepts a plain state_dict or a dict nesting it under 'state_dict' / 'model'.
    """
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f"expected a state_dict (a mapping of tensors), got "
                              f"{type(checkpoint).__name__}", file=source)
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
        raise CheckpointError(f"no tensors found (keys: {list(checkpoint)[:10]})", file=source)
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
    counted = [n for n in model_state if not n.endswith("num_batches_tracked")]
    report.missing = [n for n in counted if n not in chosen]
    total = sum(model_state[n].numel() for n in counted)
    report.loaded_fraction = sum(chosen[n].numel() for n in counted if n in chosen) / max(total, 1)
    return chosen, report


def load_pretrained(model: nn.Module, path: str | os.PathLike, layers: Sequence[str] = ("*",),
                    key: str = "MODEL.PRETRAINED", min_fraction: float = 0.0) -> LoadReport:
    """Load the matching part of the checkpoint at ``path`` into ``model`` (weights_only load).

    Parameters that are skipped or missing keep their current (initialised) values; this is how
    the final layer is re-initialised when the keypoint count differs. ``key`` names the config
    entry in error messages. A file that fits less than ``min_fraction`` of the model's weight
    values (``MODEL.MIN_LOADED_FRACTION``) is refused: most likely the wrong file, a renamed
    layout or a wrong ``PRETRAINED_LAYERS``, and training would silently start from scratch.
    Below half of the model the load is logged as a warning with the fraction (an ImageNet
    ResNet-50 fills 48 % of a CPN-R50, 69 % of a SimpleBaseline; a COCO HRNet nearly all).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{key} = {str(path)!r} does not exist")
    weights = extract_state_dict(load_checkpoint(path), source=str(path))
    chosen, report = select_weights(model.state_dict(), weights, layers)
    if not chosen:
        raise CheckpointError(f"{key} = {str(path)!r}: no tensor fits the model "
                              f"({report.summary()})")
    if report.loaded_fraction < min_fraction:
        raise CheckpointError(
            f"fits only {report.loaded_fraction:.1%} of the model's weights, expected at least "
            f"MODEL.MIN_LOADED_FRACTION = {min_fraction:g} ({report.summary()}); check the file "
            "and MODEL.EXTRA.PRETRAINED_LAYERS, or set MODEL.MIN_LOADED_FRACTION 0 to load it "
            "anyway", file=path, field=key)
    model.load_state_dict(chosen, strict=False)
    level = logging.WARNING if report.loaded_fraction < WARN_BELOW_FRACTION else logging.INFO
    logger.log(level, "%s %s: %s", key, path, report.summary())
    return report


def init_from_checkpoint(model: nn.Module, path: str | os.PathLike,
                         min_fraction: float = 0.0) -> LoadReport:
    """Start from another run's weights (``TRAIN.INIT_FROM``, e.g. the joint model before a
    per-category finetune): every tensor whose name and shape fit is loaded, the rest reported."""
    return load_pretrained(model, path, ("*",), key="TRAIN.INIT_FROM", min_fraction=min_fraction)
