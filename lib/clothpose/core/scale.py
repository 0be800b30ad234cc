"""Options for training at scale: torch.compile and SyncBatchNorm (see README, "Training at
scale"). Gradient accumulation lives in ``core.function.train_one_epoch``."""
from __future__ import annotations

import logging

import torch
from torch import nn

from ..utils.dist import DistInfo

logger = logging.getLogger(__name__)


def compile_model(model: nn.Module, mode: str = "default") -> nn.Module:
    """``torch.compile`` (TRAIN.COMPILE); compiling happens on the first forward passes.

    The returned module's state_dict keys carry ``_orig_mod.``; ``core.checkpoint.unwrap``
    strips it, so checkpoints stay loadable without compiling.
    """
    if not hasattr(torch, "compile"):
        raise RuntimeError(f"TRAIN.COMPILE needs PyTorch >= 2.0 (this is {torch.__version__})")
    logger.info("torch.compile (mode %s): the first iterations compile the model", mode)
    return torch.compile(model, mode=mode)


def convert_sync_batchnorm(model: nn.Module, info: DistInfo) -> nn.Module:
    """BatchNorm -> SyncBatchNorm (TRAIN.SYNC_BN) for DDP on CUDA, where batch statistics are
    then computed over every process's batch.

    Without DDP there is nothing to synchronise; on CPU (gloo) PyTorch's SyncBatchNorm refuses
    CPU tensors in training, so the model keeps per-process BatchNorm and a warning says so.
    """
    if not info.distributed:
        logger.info("TRAIN.SYNC_BN: single process, BatchNorm already sees the whole batch")
        return model
    if info.device.type != "cuda":
        logger.warning("TRAIN.SYNC_BN: SyncBatchNorm runs on GPUs only; on %s each process "
                       "keeps its own BatchNorm statistics (over BATCH_SIZE_PER_GPU samples)",
                       info.device)
        return model
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)
