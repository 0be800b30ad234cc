"""Training and inference loops (plain PyTorch; CPU, one GPU, or DDP under torchrun)."""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..data.batch import Batch
from ..errors import TrainingError
from ..utils.transforms import PIXEL_STD, flip_back
from .evaluate import heatmap_accuracy

logger = logging.getLogger(__name__)


def final_output(out: Any) -> torch.Tensor:
    """Models return a tensor, or a list of tensors (multi-stage); the last one is the prediction."""
    return out[-1] if isinstance(out, (list, tuple)) else out


def _autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def _to_device(x: torch.Tensor, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


def heatmap_batch_accuracy(outputs: Any, target: torch.Tensor) -> tuple[float, int]:
    """HRNet's heatmap accuracy of a batch (the landmark models' training metric), computed
    where the batch is (no copy of the heatmaps to the host)."""
    return heatmap_accuracy(final_output(outputs).detach(), target)


def _finite_everywhere(loss: torch.Tensor) -> bool:
    """Whether the loss is finite on every process (one tiny all-reduce under DDP), so that all
    ranks stop together instead of one waiting forever in the gradient all-reduce."""
    import torch.distributed as dist

    bad = (~torch.isfinite(loss.detach())).float().reshape(1)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(bad)
    return not bool(bad.item())


def tensors_to_device(batch: Any, device: torch.device, channels_last: bool = False) -> Batch:
    """A loader batch that already holds float inputs and targets, ``(inputs, target,
    target_weight, meta)``, moved as it is (datasets without a device-side ``BatchPreparer``)."""
    inputs, target, target_weight, meta = batch
    if isinstance(target, dict):     # several target tensors (e.g. a detector's)
        target = {k: v.to(device, non_blocking=True) for k, v in target.items()}
    else:
        target = target.to(device, non_blocking=True)
    return Batch(_to_device(inputs, device, channels_last), target,
                 target_weight.to(device, non_blocking=True), meta)


def accumulation_group(it: int, n_iters: int, accum_steps: int) -> tuple[int, bool]:
    """(size of the accumulation group of 1-based iteration ``it``, whether it ends the group).
    The last group of an epoch may be short; its loss is divided by its own size."""
    start = (it - 1) // accum_steps * accum_steps
    size = min(accum_steps, n_iters - start)
    return size, it - start == size


@dataclass
class EpochStats:
    loss: float
    accuracy: float
    samples: int
    seconds: float
    iterations: int
    extra: dict = field(default_factory=dict)

    @property
    def samples_per_second(self) -> float:
        return self.samples / max(self.seconds, 1e-9)


def train_one_epoch(model: nn.Module, loader: Iterable, criterion: nn.Module,
                    optimizer: torch.optim.Optimizer, device: torch.device, epoch: int, *,
                    prepare: Callable[[Any], Batch] | None = None, accum_steps: int = 1,
                    scaler: torch.amp.GradScaler | None = None, amp: bool = False,
                    channels_last: bool = False, max_iters: int = 0, print_freq: int = 20,
                    writer: Any = None, global_step: int = 0, show_progress: bool = True,
                    debug_hook: Any = None, accuracy: Any = heatmap_batch_accuracy) -> EpochStats:
    """One pass over ``loader``; returns mean loss / heatmap accuracy (this process's share).

    ``prepare(batch) -> Batch`` puts a loader batch on ``device`` as network input and targets
    (a ``data.batch.BatchPreparer`` for uint8 crops; default: ``tensors_to_device``).
    ``accum_steps`` > 1 sums the gradients of that many batches (each loss divided by the
    group size, so a step sees the mean over the group, as one batch of the summed size
    would) before one optimizer step; under DDP the gradient all-reduce runs only on the
    group's last batch. ``debug_hook(batch, output, step)``, when given, is called on the first
    batch (DEBUG pictures). ``accuracy(outputs, target) -> (value, count)`` is the monitored
    metric (heatmap accuracy; None for models without one, e.g. detectors: reported as 0)."""
    model.train()
    prepare = prepare or (lambda b: tensors_to_device(b, device, channels_last))
    accum_steps = max(1, int(accum_steps))
    total_loss, total_acc, n_acc, samples, it = 0.0, 0.0, 0, 0, 0
    start = time.perf_counter()
    n_iters = len(loader) if max_iters <= 0 else min(max_iters, len(loader))
    bar = tqdm(total=n_iters, desc=f"epoch {epoch}", disable=not show_progress, leave=False,
               dynamic_ncols=True)
    optimizer.zero_grad(set_to_none=True)
    try:
        for it, raw in enumerate(loader, start=1):
            batch = prepare(raw)
            inputs, target, target_weight = batch.inputs, batch.target, batch.target_weight
            group, step_now = accumulation_group(it, n_iters, accum_steps)
            no_sync = getattr(model, "no_sync", None)
            sync = contextlib.nullcontext() if step_now or no_sync is None else no_sync()
            with sync:
                with _autocast(device, amp):
                    outputs = model(inputs)
                outputs = [o.float() for o in outputs] if isinstance(outputs, (list, tuple)) \
                    else outputs.float()
                loss = criterion(outputs, target, target_weight)
                if not _finite_everywhere(loss):  # before backward: the weights stay the good ones
                    raise TrainingError(f"training diverged: the loss is {loss.item()} at epoch "
                                        f"{epoch}, iteration {it} (on this or another process)")
                scaled = loss / group if group > 1 else loss
                (scaler.scale(scaled) if scaler is not None else scaled).backward()
            if step_now:
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            bs = inputs.shape[0]
            acc, cnt = accuracy(outputs, target) if accuracy is not None else (0.0, 0)
            total_loss += loss.item() * bs
            samples += bs
            total_acc, n_acc = total_acc + acc * cnt, n_acc + cnt
            bar.update(1)
            shown = {"acc": f"{total_acc / max(n_acc, 1):.3f}"} if accuracy is not None else {}
            bar.set_postfix(loss=f"{total_loss / samples:.6f}", **shown)
            if debug_hook is not None and it == 1:
                debug_hook(batch, final_output(outputs), global_step + it)
            if writer is not None:
                writer.add_scalar("train/loss", loss.item(), global_step + it)
                if accuracy is not None:
                    writer.add_scalar("train/accuracy", acc, global_step + it)
            if print_freq and it % print_freq == 0:
                logger.info("epoch %d [%d/%d] loss %.6f acc %.3f", epoch, it, n_iters,
                            total_loss / samples, total_acc / max(n_acc, 1))
            if it >= n_iters:
                break
    finally:  # an exception (e.g. a NaN loss) must not leave the bar on the error line
        bar.close()
    mean_acc = total_acc / max(n_acc, 1) if accuracy is not None else float("nan")
    return EpochStats(total_loss / max(samples, 1), mean_acc, samples,
                      time.perf_counter() - start, it)


@dataclass
class RawPredictions:
    """Decoded network outputs for a list of boxes, in the model's keypoint scheme."""

    indices: np.ndarray        # (N,) dataset index of each box
    image_ids: np.ndarray      # (N,)
    category_ids: np.ndarray   # (N,)
    keypoints: np.ndarray      # (N, K, 3): x, y in image pixels, heatmap maximum
    box_scores: np.ndarray     # (N,)
    centers: np.ndarray        # (N, 2)
    scales: np.ndarray         # (N, 2)
    source_boxes: np.ndarray   # (N, 4) x, y, w, h: the box as the detection / GT file gives it

    @property
    def areas(self) -> np.ndarray:
        """Box area in pixels (HRNet uses scale * 200 squared for OKS-NMS)."""
        return np.prod(self.scales * PIXEL_STD, axis=1)

    @property
    def boxes(self) -> np.ndarray:
        """The padded input boxes as (x, y, w, h) in image pixels."""
        wh = self.scales * PIXEL_STD
        return np.concatenate([self.centers - wh / 2, wh], axis=1)

    @staticmethod
    def empty(num_keypoints: int) -> "RawPredictions":
        """No boxes (e.g. no detection of a category above the score threshold)."""
        z = np.zeros
        return RawPredictions(z(0, np.int64), z(0, np.int64), z(0, np.int64),
                              z((0, num_keypoints, 3)), z(0), z((0, 2), np.float32),
                              z((0, 2), np.float32), z((0, 4)))

    @staticmethod
    def concatenate(parts: list["RawPredictions | None"],
                    num_keypoints: int | None = None) -> "RawPredictions":
        """Merge shards (e.g. from several ranks) and order them by dataset index. With no
        boxes at all: ``empty(num_keypoints)`` when that is given, else an error."""
        parts = [p for p in parts if p is not None]
        if not parts:
            if num_keypoints is not None:
                return RawPredictions.empty(num_keypoints)
            raise RuntimeError("inference produced no boxes: the dataset is empty")
        merged = RawPredictions(*(np.concatenate([getattr(p, f) for p in parts])
                                  for f in RawPredictions.__dataclass_fields__))
        order = np.argsort(merged.indices, kind="stable")
        return RawPredictions(*(getattr(merged, f)[order] for f in RawPredictions.__dataclass_fields__))


@torch.inference_mode()
def predict_heatmaps(model: nn.Module, inputs: torch.Tensor, *, flip_index: np.ndarray | None,
                     shift_heatmap: bool, amp: bool = False,
                     channels_last: bool = False) -> np.ndarray:
    """Heatmaps (N, K, h, w) for a batch, averaged with the flipped input when ``flip_index``."""
    device = next(model.parameters()).device
    x = _to_device(inputs, device, channels_last)
    with _autocast(device, amp):
        out = final_output(model(x)).float()
        if flip_index is not None:
            out_f = final_output(model(torch.flip(x, dims=[3]))).float()
    heat = out.cpu().numpy()
    if flip_index is None:
        return heat
    back = flip_back(out_f.cpu().numpy(), flip_index)
    if shift_heatmap:  # HRNet: the flipped map is one pixel off after mirroring; shift right
        back[..., 1:] = back[..., :-1].copy()
    return (heat + back) * 0.5
