"""CenterNet's losses: penalty-reduced pixel-wise focal loss + L1 on size and offset.

Definitions follow the paper (and its released code, including the sigmoid clamp):

* ``p = clamp(sigmoid(logit), 1e-4, 1 - 1e-4)``; with Y the Gaussian target,
  L_k = -1/N sum( (1-p)^a log p        where Y == 1
                + (1-Y)^b p^a log(1-p) elsewhere ), a = 2, b = 4, N = number of objects
  (when an image batch holds no object: the negative term alone, not divided).
* size / offset: L1 between the prediction read at each object's centre cell and its target,
  summed and divided by the number of masked values (2 per object; + 1e-4).
* total = w_hm L_k + w_size L_size + w_off L_off (paper: 1, 0.1, 1).
"""
from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

CLAMP = 1e-4


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0,
               beta: float = 4.0) -> torch.Tensor:
    """Penalty-reduced focal loss of heatmap logits (N, C, H, W) against Gaussian targets."""
    pred = torch.sigmoid(logits.float()).clamp(CLAMP, 1 - CLAMP)
    gt = target.float()
    pos = gt.eq(1).float()
    neg = 1.0 - pos
    pos_loss = (torch.log(pred) * (1 - pred).pow(alpha) * pos).sum()
    neg_loss = (torch.log(1 - pred) * pred.pow(alpha) * (1 - gt).pow(beta) * neg).sum()
    num_pos = pos.sum()
    if num_pos == 0:
        return -neg_loss
    return -(pos_loss + neg_loss) / num_pos


def gather_at(maps: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Values of ``maps`` (N, D, H, W) at flat cell indices (N, M) -> (N, M, D)."""
    n, d = maps.shape[:2]
    flat = maps.reshape(n, d, -1)
    return flat.gather(2, index.unsqueeze(1).expand(n, d, index.shape[1])).transpose(1, 2)


def masked_l1(pred_maps: torch.Tensor, index: torch.Tensor, mask: torch.Tensor,
              target: torch.Tensor) -> torch.Tensor:
    """L1 at the object cells: sum |pred - target| over masked values / (count + 1e-4)."""
    pred = gather_at(pred_maps.float(), index)
    m = mask.float().unsqueeze(2).expand_as(pred)
    loss = F.l1_loss(pred * m, target.float() * m, reduction="sum")
    return loss / (m.sum() + 1e-4)


class CenterNetLoss(nn.Module):
    """Weighted sum of the three CenterNet losses.

    ``forward(output, target, target_weight=None)`` matches the trainer's loss call: ``output``
    is a ``CenterNetOutput`` (or a (heatmap, size, offset) tuple), ``target`` the dict of
    ``DetectionTargets`` tensors batched; ``target_weight`` is unused (the mask is in ``target``).
    """

    def __init__(self, heatmap_weight: float = 1.0, size_weight: float = 0.1,
                 offset_weight: float = 1.0) -> None:
        super().__init__()
        self.weights = (float(heatmap_weight), float(size_weight), float(offset_weight))

    def components(self, output, target: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        heat, size, offset = output
        index, mask = target["index"], target["mask"]
        return {"heatmap": focal_loss(heat, target["heatmap"]),
                "size": masked_l1(size, index, mask, target["size"]),
                "offset": masked_l1(offset, index, mask, target["offset"])}

    def forward(self, output, target: Mapping[str, torch.Tensor],
                target_weight: torch.Tensor | None = None) -> torch.Tensor:
        parts = self.components(output, target)
        w_hm, w_size, w_off = self.weights
        return w_hm * parts["heatmap"] + w_size * parts["size"] + w_off * parts["offset"]
