"""Training state on disk: atomic checkpoints, exact resume (incl. RNG state), model weights.

``checkpoint.pth`` holds everything needed to continue a run exactly; ``model_best.pth`` and
``final_state.pth`` hold plain ``state_dict`` s (HRNet's convention). Every file is written
atomically and read with ``weights_only=True``, so only tensors and plain containers are stored:
numpy's RNG state is saved as a tensor, not pickled.
"""
from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError
from ..utils.io import atomic_torch_save, load_checkpoint

logger = logging.getLogger(__name__)


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside DDP / DataParallel and ``torch.compile`` wrappers (any nesting)."""
    while True:
        inner = model.__dict__.get("_modules", {})
        if "_orig_mod" in inner:           # torch.compile's OptimizedModule
            model = inner["_orig_mod"]
        elif isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        else:
            return model


def rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(keys.astype(np.int64)),
        "numpy_meta": [int(pos), int(has_gauss), float(cached)],
        "python": list(random.getstate()[1]),
        "python_version": int(random.getstate()[0]),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    pos, has_gauss, cached = state["numpy_meta"]
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), int(pos),
                         int(has_gauss), float(cached)))
    random.setstate((state["python_version"], tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_state(path: str | Path, *, epoch: int, model: nn.Module,
                        optimizer: torch.optim.Optimizer, scheduler: Any, perf: float,
                        best_perf: float, scaler: Any = None, extra: dict | None = None) -> None:
    """Write ``checkpoint.pth``; ``epoch`` is the next epoch to run."""
    state = {
        "epoch": epoch,
        "state_dict": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "perf": perf,
        "best_perf": best_perf,
        "rng": rng_state(),
    }
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
    state.update(extra or {})
    atomic_torch_save(state, path)


def load_training_state(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                        scheduler: Any, scaler: Any = None) -> dict[str, Any]:
    """Restore everything ``save_training_state`` wrote; returns the checkpoint dict.

    A checkpoint of another model or optimizer is refused with ``CheckpointError`` (naming what
    it was written for) before anything is changed."""
    from .optim import optimizer_kind

    ckpt = load_checkpoint(path)
    missing = [k for k in ("epoch", "state_dict", "optimizer", "scheduler") if k not in ckpt]
    if missing:
        raise CheckpointError(f"not a training checkpoint: missing {missing}", file=path)
    saved, current = optimizer_kind(ckpt["optimizer"]), optimizer_kind(optimizer.state_dict())
    if saved != current:
        raise CheckpointError(f"was written by a {saved} optimizer, the config builds {current}; "
                              "resume with the same TRAIN.OPTIMIZER or start a new run",
                              file=path, field="optimizer")
    try:
        unwrap(model).load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise CheckpointError(f"does not fit the model of this config ({first}); it was written "
                              f"for model {ckpt.get('model', '?')!r} scheme "
                              f"{ckpt.get('scheme', '?')!r}", file=path, field="state_dict") from e
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    if scaler is not None and "scaler" in ckpt:
        scaler.load_state_dict(ckpt["scaler"])
    if "rng" in ckpt:
        set_rng_state(ckpt["rng"])
    return ckpt


def restore_optimizer(optimizer: torch.optim.Optimizer, path: str | Path) -> float:
    """Load another run's optimizer state into ``optimizer`` (``TRAIN.INIT_OPTIMIZER``).

    This is what the DeepFashion2 winner's ``finetune_from`` did: the aggregation run's Adam
    moments, step counts and the learning rate it had reached (1e-5 after the recipe's two
    decays) are restored, so the finetune starts there and the schedule keeps decaying it
    (PyTorch >= 1.4 MultiStepLR multiplies the current rate). Returns the restored rate.
    """
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("optimizer"), dict):
        raise ValueError(f"{path}: TRAIN.INIT_OPTIMIZER needs a training checkpoint with an "
                         "'optimizer' state (the run's checkpoint.pth), not plain weights")
    try:
        optimizer.load_state_dict(ckpt["optimizer"])
    except (ValueError, KeyError) as e:
        raise ValueError(f"{path}: its optimizer state does not fit this model's parameters "
                         f"({e})") from e
    lr = float(optimizer.param_groups[0]["lr"])
    logger.info("restored the optimizer state of %s: learning rate %.2e (Adam moments kept)",
                path, lr)
    return lr


def load_model_weights(model: nn.Module, path: str | Path, strict: bool = True) -> None:
    """Load weights for testing / inference; unlike the seed (strict=False on a training
    checkpoint silently loading nothing), a file that does not fit is an error."""
    from ..models.weights import extract_state_dict

    state = extract_state_dict(load_checkpoint(path), str(path))
    try:
        result = unwrap(model).load_state_dict(state, strict=strict)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        detail = "; ".join(ln.strip() for ln in str(e).strip().splitlines()[1:3])
        raise CheckpointError(f"does not fit the model of this config ({first} {detail})",
                              file=path) from e
    if not strict and (result.missing_keys or result.unexpected_keys):
        logger.warning("%s: %d missing, %d unexpected keys", path, len(result.missing_keys),
                       len(result.unexpected_keys))
    logger.info("loaded model weights from %s (%d tensors)", path, len(state))


def save_weights(model: nn.Module, path: str | Path) -> None:
    atomic_torch_save(unwrap(model).state_dict(), path)
