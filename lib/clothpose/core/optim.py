"""Optimizer, LR schedule and seeding from the config (HRNet semantics)."""
from __future__ import annotations

import os
import random

import numpy as np
import torch
from torch import nn
from yacs.config import CfgNode


def build_optimizer(cfg: CfgNode, model: nn.Module) -> torch.optim.Optimizer:
    """Adam (HRNet passes no weight decay to Adam; kept for comparability) or SGD."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.TRAIN.OPTIMIZER == "sgd":
        return torch.optim.SGD(params, lr=cfg.TRAIN.LR, momentum=cfg.TRAIN.MOMENTUM,
                               weight_decay=cfg.TRAIN.WD, nesterov=cfg.TRAIN.NESTEROV)
    return torch.optim.Adam(params, lr=cfg.TRAIN.LR)


def build_scheduler(cfg: CfgNode, optimizer: torch.optim.Optimizer
                    ) -> torch.optim.lr_scheduler.MultiStepLR:
    """MultiStepLR over epochs; stepping once per epoch from BEGIN_EPOCH."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(cfg.TRAIN.LR_STEP),
                                                cfg.TRAIN.LR_FACTOR)


def seed_everything(seed: int, rank: int = 0) -> None:
    """Seed python, numpy and torch (per rank), for deterministic CPU runs."""
    if seed < 0:
        return
    s = seed + rank
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)
    os.environ["PYTHONHASHSEED"] = str(s)


def configure_cudnn(cfg: CfgNode) -> None:
    torch.backends.cudnn.benchmark = bool(cfg.CUDNN.BENCHMARK)
    torch.backends.cudnn.deterministic = bool(cfg.CUDNN.DETERMINISTIC)
    torch.backends.cudnn.enabled = bool(cfg.CUDNN.ENABLED)
