"""Batches on the training device: uint8 crops -> normalised input, keypoints -> heatmap targets.

DataLoader workers decode, draw the augmentation, warp and return what is small: the uint8 crop
(0.6 MB at 512x384) and the transformed keypoints (K x 3). What is large (the float input, 2.4 MB,
and K heatmaps, 4 MB at 81 channels and 14.5 MB at 294) is made here, batched, on the device
that trains (the GPU, or the main process on a CPU machine), so it never crosses a process
boundary. ``BatchPreparer`` is the one function that turns a loader batch into network input and
targets for training, validation, testing and the DEBUG pictures.

Targets equal ``data.targets.gaussian_targets`` / ``udp_targets`` bit for bit: both take their
per-joint windows from ``joint_windows`` (the Gaussian values come from numpy's float32 ``exp`` on
the host, a few hundred numbers per joint; a device ``exp`` could differ in the last bit), and the
device only places them (and, for UDP, multiplies the two 1-D Gaussians, an exact float32 op).
The normalisation ``(x * (1 / std)) - mean / std`` is ``data.augment.to_input``'s float32
arithmetic, op for op.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from .augment import IMAGENET_MEAN_255, IMAGENET_STD_255
from .targets import joint_windows


@dataclass(frozen=True)
class InputSpec:
    """What turns a crop into network input and keypoints into targets (the dataset's settings)."""

    image_size: tuple[int, int]                 # (w, h)
    heatmap_size: tuple[int, int]               # (w, h)
    sigma: float = 2.0
    udp: bool = False
    use_target_weight: bool = True
    color_rgb: bool = False                     # crops arrive BGR; feed RGB
    pixel_mean: tuple[float, ...] = IMAGENET_MEAN_255   # 0-255, per fed channel
    pixel_std: tuple[float, ...] = IMAGENET_STD_255


@dataclass
class Batch:
    """A batch ready for the network, on the device."""

    inputs: torch.Tensor                        # (N, 3, H, W) float32, normalised
    target: torch.Tensor | None                 # (N, K, h, w) float32
    target_weight: torch.Tensor | None          # (N, K, 1) float32
    meta: dict = field(default_factory=dict)    # as collated (CPU)
    images: torch.Tensor | None = None          # (N, H, W, 3) uint8 BGR crops, on the device


def _scale_shift(spec_mean: Sequence[float], spec_std: Sequence[float], device: torch.device
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 1 / std and mean / std per channel, computed in float64 as ``to_input`` does."""
    mean = np.asarray(spec_mean, np.float64)
    std = np.asarray(spec_std, np.float64)
    scale = torch.from_numpy((1.0 / std).astype(np.float32)).view(1, 3, 1, 1)
    shift = torch.from_numpy((mean / std).astype(np.float32)).view(1, 3, 1, 1)
    return scale.to(device), shift.to(device)


def _jitter(x: torch.Tensor, jitter: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast (around the image mean), saturation (around the per-pixel grey)
    per sample on float (N, 3, H, W) in 0-255, as ``to_input``; (1, 1, 1) leaves a sample as is."""
    j = jitter.to(x.device, torch.float32).view(-1, 3, 1, 1, 1).unbind(1)
    b, c, s = (v.view(-1, 1, 1, 1) for v in j)
    x = x * b
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    x = x * c + (1 - c) * m
    gray = x.mean(dim=1, keepdim=True)
    x = torch.where(s == 1, x, gray + (x - gray) * s)
    return x.clamp_(0, 255)


def normalize_images(images: torch.Tensor, spec: InputSpec, jitter: torch.Tensor | None = None,
                     channels_last: bool = False, out: torch.Tensor | None = None
                     ) -> torch.Tensor:
    """uint8 (N, H, W, 3) BGR crops -> float32 (N, 3, H, W) ``(pixel - mean) / std`` on their
    device (RGB first with ``spec.color_rgb``; optional per-sample colour ``jitter`` (N, 3)).
    ``out``: a float32 (N, 3, H, W) buffer to write into (reused between batches)."""
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected uint8 (N, H, W, 3) crops, got {images.dtype} "
                         f"{tuple(images.shape)}")
    n, h, w, _ = images.shape
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if out is None or out.shape != (n, 3, h, w) or out.device != images.device or \
            not out.is_contiguous(memory_format=fmt):
        out = torch.empty((n, 3, h, w), dtype=torch.float32, device=images.device,
                          memory_format=fmt)
    src = images.permute(0, 3, 1, 2)                      # NCHW view of the NHWC crops
    if spec.color_rgb:
        for c, s in enumerate((2, 1, 0)):
            out[:, c].copy_(src[:, s])
    else:
        out.copy_(src)
    x = out
    if jitter is not None and bool((jitter != 1).any()):
        x = _jitter(x, jitter)
    scale, shift = _scale_shift(spec.pixel_mean, spec.pixel_std, x.device)
    return x.mul_(scale).sub_(shift)


class TargetCanvas:
    """A reusable flat target buffer (N K h w cells + one sink) that remembers which cells the
    last batch wrote, so the next batch clears only those instead of zeroing (and, on the CPU,
    page-faulting in) up to 460 MB (294 channels, batch 32 at 512x384)."""

    def __init__(self) -> None:
        self.flat: torch.Tensor | None = None
        self.written: torch.Tensor | None = None

    def take(self, cells: int, device: torch.device) -> torch.Tensor:
        if self.flat is None or self.flat.numel() != cells + 1 or self.flat.device != device:
            self.flat = torch.zeros(cells + 1, dtype=torch.float32, device=device)
        elif self.written is not None:
            self.flat[self.written] = 0
        self.written = None
        return self.flat


def heatmap_targets(keypoints: torch.Tensor | np.ndarray, spec: InputSpec,
                    device: torch.device | str = "cpu", canvas: TargetCanvas | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets (N, K, h, w) and weights (N, K, 1) on ``device`` for keypoints (N, K, 3) given as
    x, y in input pixels and visibility (HRNet or UDP encoding per ``spec``).

    The per-joint windows are computed on the host from the keypoints (small); the dense
    (N, K, h, w) tensor is filled on the device with one indexed write (into ``canvas``'s
    buffer when given: then the result is overwritten by the next call with that canvas).
    """
    kps = keypoints.detach().cpu().numpy() if isinstance(keypoints, torch.Tensor) \
        else np.asarray(keypoints)
    n, k = kps.shape[:2]
    wh, hh = int(spec.heatmap_size[0]), int(spec.heatmap_size[1])
    cells = n * k * hh * wh
    device = torch.device(device)
    w = joint_windows(kps.reshape(n * k, -1), kps.reshape(n * k, -1)[:, 2], spec.image_size,
                      spec.heatmap_size, spec.sigma, spec.udp)
    weight = w.weight if spec.use_target_weight else np.ones_like(w.weight)
    target_weight = torch.from_numpy(weight.reshape(n, k, 1)).to(device, non_blocking=True)
    flat = canvas.take(cells, device) if canvas is not None else \
        torch.zeros(cells + 1, dtype=torch.float32, device=device)              # last: sink
    act = np.flatnonzero(w.active)
    if len(act):
        ints = np.column_stack([act, w.ul[act], w.limit[act]]).astype(np.int64)   # (A, 5)
        t = torch.from_numpy(ints).to(device, non_blocking=True)
        idx, ulx, uly, limx, limy = (t[:, i:i + 1] for i in range(5))
        if w.window is not None:
            s = w.window.shape[-1]
            values = torch.from_numpy(w.window).to(device).expand(len(act), s, s)
        else:
            g = torch.from_numpy(np.stack([w.gx[act], w.gy[act]])).to(device)   # type: ignore
            s = g.shape[-1]
            values = g[1][:, :, None] * g[0][:, None, :]
        ar = torch.arange(s, device=device)
        px, py = ulx + ar, uly + ar                                               # (A, S)
        vx = (px >= 0) & (px < limx)
        vy = (py >= 0) & (py < limy)
        pos = idx[:, :, None] * (hh * wh) + py[:, :, None] * wh + px[:, None, :]  # (A, S, S)
        pos = torch.where(vy[:, :, None] & vx[:, None, :], pos, cells).reshape(-1)
        flat[pos] = values.reshape(-1)
        if canvas is not None:
            canvas.written = pos
    return flat[:-1].view(n, k, hh, wh), target_weight


class BatchPreparer:
    """Loader batch ``(images, keypoints, meta)`` -> ``Batch`` on ``device``.

    ``images`` are moved with ``non_blocking`` (asynchronous from the pinned memory the
    DataLoader gives with ``pin_memory`` on CUDA); ``targets`` False skips the heatmaps (testing).
    ``reuse_buffers``: the input and target tensors of a call live in buffers the next call
    overwrites (no fresh 75 MB input / up to 460 MB target allocation per batch); right for
    loops that finish with a batch before preparing the next, as training and testing do.
    """

    def __init__(self, spec: InputSpec, device: torch.device | str = "cpu",
                 channels_last: bool = False, targets: bool = True,
                 reuse_buffers: bool = False):
        self.spec = spec
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.targets = targets
        self.reuse_buffers = reuse_buffers
        self._inputs: torch.Tensor | None = None
        self._canvas = TargetCanvas() if reuse_buffers else None

    def __call__(self, batch: Sequence[Any]) -> Batch:
        images, keypoints, meta = batch
        images = images.to(self.device, non_blocking=True)
        jitter = meta.get("jitter") if isinstance(meta, dict) else None
        inputs = normalize_images(images, self.spec, jitter, self.channels_last,
                                  out=self._inputs)
        if self.reuse_buffers:
            self._inputs = inputs
        target = weight = None
        if self.targets:
            target, weight = heatmap_targets(keypoints, self.spec, self.device, self._canvas)
        return Batch(inputs, target, weight, meta, images)


def batch_preparer(dataset: Any, device: torch.device | str, channels_last: bool = False,
                   targets: bool | None = None, reuse_buffers: bool = False
                   ) -> BatchPreparer | None:
    """The dataset's device-side batch function (``KeypointDataset.batch_preparer``), or None for
    a dataset whose batches already hold float inputs and targets (moved as they are)."""
    make = getattr(dataset, "batch_preparer", None)
    return None if make is None else make(device, channels_last, targets, reuse_buffers)
