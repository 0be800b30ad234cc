"""Optimizer, LR schedule and seeding from the config (HRNet semantics)."""
from __future__ import annotations

import bisect
import math
import os
import random
from collections import Counter

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


def _optimizer_hparams(cfg: CfgNode) -> dict:
    """Hyper-parameters of the param groups the config decides (besides the LR)."""
    if cfg.TRAIN.OPTIMIZER == "sgd":
        return {"momentum": cfg.TRAIN.MOMENTUM, "weight_decay": cfg.TRAIN.WD,
                "nesterov": cfg.TRAIN.NESTEROV}
    return {}


def apply_schedule(cfg: CfgNode, optimizer: torch.optim.Optimizer,
                   scheduler: torch.optim.lr_scheduler.MultiStepLR) -> list[str]:
    """After a resume, make the restored optimizer and scheduler follow the config.

    ``load_state_dict`` brings back the checkpoint's LR, steps and factor; a run resumed with a
    changed ``TRAIN.LR`` / ``LR_STEP`` / ``LR_FACTOR`` (or SGD momentum / weight decay) would
    silently keep the old schedule while ``train_config.yaml`` records the new one. The new values
    are applied from the resumed epoch on, with the LR the new schedule gives at that epoch.
    Returns one line per changed key (empty when nothing changed: the resume stays bit-exact).
    """
    changes = []
    old_steps = sorted(scheduler.milestones.elements())
    new_steps = [int(v) for v in cfg.TRAIN.LR_STEP]
    if old_steps != new_steps:
        changes.append(f"TRAIN.LR_STEP {old_steps} -> {new_steps}")
    if not math.isclose(scheduler.gamma, cfg.TRAIN.LR_FACTOR, rel_tol=1e-12):
        changes.append(f"TRAIN.LR_FACTOR {scheduler.gamma:g} -> {cfg.TRAIN.LR_FACTOR:g}")
    if any(not math.isclose(b, cfg.TRAIN.LR, rel_tol=1e-12) for b in scheduler.base_lrs):
        changes.append(f"TRAIN.LR {scheduler.base_lrs[0]:g} -> {cfg.TRAIN.LR:g}")
    for key, value in _optimizer_hparams(cfg).items():
        old = optimizer.param_groups[0].get(key)
        if old != value:
            name = "WD" if key == "weight_decay" else key.upper()
            changes.append(f"TRAIN.{name} {old} -> {value}")
        for group in optimizer.param_groups:
            group[key] = value
    if changes:
        scheduler.milestones = Counter(new_steps)
        scheduler.gamma = cfg.TRAIN.LR_FACTOR
        scheduler.base_lrs = [cfg.TRAIN.LR] * len(optimizer.param_groups)
        lr = cfg.TRAIN.LR * cfg.TRAIN.LR_FACTOR ** bisect.bisect_right(new_steps,
                                                                       scheduler.last_epoch)
        for group in optimizer.param_groups:
            group["initial_lr"] = cfg.TRAIN.LR
            group["lr"] = lr
        scheduler._last_lr = [lr] * len(optimizer.param_groups)
    return changes


def optimizer_kind(state: dict) -> str:
    """'adam' or 'sgd' from a saved optimizer state (its param-group keys)."""
    group = (state.get("param_groups") or [{}])[0]
    return "adam" if "betas" in group else "sgd" if "momentum" in group else "unknown"


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
