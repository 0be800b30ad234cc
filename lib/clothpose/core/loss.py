"""Heatmap losses: HRNet's JointsMSELoss / OHKM variant and the FashionAI CPN weighted L1.

Every loss takes ``output`` as a Tensor (N, K, H, W) or a list of them (multi-stage models),
``target`` (N, K, H, W) (or a list matching the outputs) and ``target_weight`` (N, K) or
(N, K, 1). Computation is vectorised over keypoints and samples.
"""
from __future__ import annotations

import logging
import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from yacs.config import CfgNode

logger = logging.getLogger(__name__)

Outputs = torch.Tensor | Sequence[torch.Tensor]


def _as_list(x: Outputs) -> list[torch.Tensor]:
    return [x] if isinstance(x, torch.Tensor) else list(x)


def _pair_targets(output: Outputs, target: Outputs) -> list[tuple[torch.Tensor, torch.Tensor]]:
    outs, targets = _as_list(output), _as_list(target)
    if not outs:
        raise ValueError("loss got an empty list of outputs")
    if len(targets) == 1:
        targets = targets * len(outs)
    if len(targets) != len(outs):
        raise ValueError(f"{len(outs)} outputs but {len(targets)} targets")
    for o, t in zip(outs, targets):
        if o.shape != t.shape:
            raise ValueError(f"output shape {tuple(o.shape)} != target shape {tuple(t.shape)}")
    return list(zip(outs, targets))


def _weights(target_weight: torch.Tensor, n: int, k: int) -> torch.Tensor:
    """target_weight as (N, K, 1) for broadcasting over flattened heatmaps."""
    if target_weight.numel() != n * k:
        raise ValueError(f"target_weight has shape {tuple(target_weight.shape)}, expected "
                         f"({n}, {k}) or ({n}, {k}, 1)")
    return target_weight.reshape(n, k, 1)


def per_joint_mse(output: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor | None
                  ) -> torch.Tensor:
    """0.5 * mean over pixels of the squared error of weighted heatmaps, as (N, K).

    HRNet multiplies prediction and target by the weight before the MSE, so a weight w scales the
    loss by w**2 and a zero weight removes the keypoint's contribution (not its share of the mean).
    """
    n, k = output.shape[:2]
    pred = output.reshape(n, k, -1).float()
    gt = target.reshape(n, k, -1).float()
    if target_weight is not None:
        w = _weights(target_weight, n, k).float()
        pred, gt = pred * w, gt * w
    return 0.5 * (pred - gt).pow(2).mean(dim=2)


class JointsMSELoss(nn.Module):
    """HRNet's loss: mean over keypoints of 0.5 * MSE(pred * w, gt * w); summed over outputs."""

    def __init__(self, use_target_weight: bool = True) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight

    def forward(self, output: Outputs, target: Outputs, target_weight: torch.Tensor
                ) -> torch.Tensor:
        w = target_weight if self.use_target_weight else None
        return sum(per_joint_mse(o, t, w).mean() for o, t in _pair_targets(output, target))


class JointsOHKMMSELoss(nn.Module):
    """Online hard keypoint mining: per sample, mean of its ``topk`` largest per-keypoint losses,
    then mean over the batch (HRNet semantics); summed over outputs."""

    def __init__(self, use_target_weight: bool = True, topk: int = 8) -> None:
        super().__init__()
        if topk < 1:
            raise ValueError(f"LOSS.TOPK must be >= 1, got {topk}")
        self.use_target_weight = use_target_weight
        self.topk = topk

    def forward(self, output: Outputs, target: Outputs, target_weight: torch.Tensor
                ) -> torch.Tensor:
        w = target_weight if self.use_target_weight else None
        total = 0
        for o, t in _pair_targets(output, target):
            losses = per_joint_mse(o, t, w)
            if self.topk > losses.shape[1]:
                raise ValueError(f"LOSS.TOPK {self.topk} exceeds the {losses.shape[1]} keypoints")
            total = total + losses.topk(self.topk, dim=1).values.mean()
        return total


class CPNLoss(nn.Module):
    """FashionAI reference loss (weighted L1 with positive/negative balancing).

    Per channel, pooled over the batch: 0.5 * mean |relu(pred) - gt| over positive pixels
    (gt > max(gt) / 10) + 0.5 * the same over negative pixels, counting only instances whose
    weight is > 0. Channels without any such instance are left out of the averages (the reference
    counts them as zero). Every output but the last gets the mean over channels (GlobalNet);
    the last gets the mean of its ``topk`` largest channel losses (RefineNet's mining), where
    ``topk`` is given or ``floor(K * ohkm_ratio)`` (at least 1; ratio 1 = no mining).

    ``relu`` (the reference) compares ReLU'd predictions; a channel whose output drifts below
    zero everywhere then gets no gradient and stays dead (seen training from scratch on
    synthetic data: whole channels decoded at the image corner). The default compares the raw
    output, which equals the reference wherever it is >= 0 and pulls negative pixels back.
    """

    def __init__(self, ohkm_ratio: float = 0.5, topk: int | None = None,
                 eps: float = 1e-4, relu: bool = False) -> None:
        super().__init__()
        if not 0 < ohkm_ratio <= 1:
            raise ValueError(f"CPN OHKM ratio must be in (0, 1], got {ohkm_ratio}")
        if topk is not None and topk < 1:
            raise ValueError(f"LOSS.TOPK must be >= 1, got {topk}")
        self.ohkm_ratio = ohkm_ratio
        self.topk = topk
        self.eps = eps
        self.relu = relu

    def num_kept(self, num_channels: int) -> int:
        """How many channel losses RefineNet's mining keeps out of ``num_channels``."""
        if self.topk is not None:
            return min(self.topk, num_channels)
        return max(1, math.floor(num_channels * self.ohkm_ratio))

    def channel_losses(self, output: torch.Tensor, target: torch.Tensor,
                       target_weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(K,) balanced L1 per channel and the (K,) mask of channels with a weighted instance."""
        n, k = output.shape[:2]
        pred = output.reshape(n, k, -1).float()
        pred = F.relu(pred) if self.relu else pred
        gt = target.reshape(n, k, -1).float()
        valid = (_weights(target_weight, n, k) > 0).to(gt.dtype)          # (N, K, 1)
        positive = (gt > gt.max() / 10).to(gt.dtype) * valid
        negative = (1 - positive) * valid
        diff = (pred - gt).abs()
        pos = (diff * positive).sum(dim=(0, 2)) / (positive.sum(dim=(0, 2)) + self.eps)
        neg = (diff * negative).sum(dim=(0, 2)) / (negative.sum(dim=(0, 2)) + self.eps)
        return 0.5 * pos + 0.5 * neg, valid.sum(dim=(0, 2)) > 0

    def forward(self, output: Outputs, target: Outputs, target_weight: torch.Tensor
                ) -> torch.Tensor:
        pairs = _pair_targets(output, target)
        total = pairs[-1][0].sum() * 0  # keeps the graph (and the device) when nothing is valid
        for i, (o, t) in enumerate(pairs):
            losses, valid = self.channel_losses(o, t, target_weight)
            n_valid = int(valid.sum())
            if n_valid == 0:
                continue
            if i < len(pairs) - 1:
                total = total + losses[valid].mean()
            else:
                keep = min(self.num_kept(o.shape[1]), n_valid)
                total = total + losses[valid].topk(keep).values.mean()
        return total


def build_loss(cfg: CfgNode) -> nn.Module:
    """Loss from ``LOSS.NAME``: 'mse' (with LOSS.USE_OHKM / TOPK), 'cpn_l1' (LOSS.OHKM_RATIO,
    or TOPK / K when only USE_OHKM is set; no mining otherwise) or 'centernet' (detector;
    LOSS.HEATMAP_WEIGHT / SIZE_WEIGHT / OFFSET_WEIGHT)."""
    name = cfg.LOSS.NAME
    if name == "centernet":
        from .detection_loss import CenterNetLoss
        return CenterNetLoss(cfg.LOSS.HEATMAP_WEIGHT, cfg.LOSS.SIZE_WEIGHT, cfg.LOSS.OFFSET_WEIGHT)
    if name == "mse":
        if cfg.LOSS.USE_OHKM:
            return JointsOHKMMSELoss(cfg.LOSS.USE_TARGET_WEIGHT, int(cfg.LOSS.TOPK))
        return JointsMSELoss(cfg.LOSS.USE_TARGET_WEIGHT)
    if name == "cpn_l1":
        if cfg.LOSS.OHKM_RATIO > 0:
            loss = CPNLoss(float(cfg.LOSS.OHKM_RATIO))
        elif cfg.LOSS.USE_OHKM:
            loss = CPNLoss(1.0, topk=int(cfg.LOSS.TOPK))
        else:
            loss = CPNLoss(1.0)
        k = int(cfg.MODEL.NUM_JOINTS)
        logger.info("CPN loss: RefineNet keeps the top %d of %d keypoint channels",
                    loss.num_kept(k), k)
        return loss
    raise ValueError(f"LOSS.NAME {name!r} is unknown; valid names: ['centernet', 'cpn_l1', 'mse']")
