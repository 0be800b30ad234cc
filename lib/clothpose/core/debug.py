"""DEBUG.* pictures during training: batch crops with target / predicted keypoints, and
heatmaps, as PNG files in the run folder and as TensorBoard images.

The crops are the uint8 ones the workers made and the targets those ``data.batch.BatchPreparer``
drew on the device for the loss: the pictures show exactly what the model was trained on.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ..data.augment import MEAN, STD
from ..data.batch import Batch
from ..utils.vis import make_grid, save_png
from .evaluate import heatmap_argmax


def denormalize(inputs: torch.Tensor, rgb: bool) -> list[np.ndarray]:
    """Network inputs (N, 3, H, W) normalised with ImageNet's statistics back to uint8 BGR
    images (for batches that carry no uint8 crops)."""
    x = inputs.detach().float().cpu().numpy().transpose(0, 2, 3, 1)
    x = np.clip((x * STD + MEAN) * 255.0, 0, 255).astype(np.uint8)
    return [np.ascontiguousarray(im[..., ::-1] if rgb else im) for im in x]


def _draw_points(image: np.ndarray, heatmaps: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    out = image.copy()
    coords, vals = heatmap_argmax(heatmaps[None])
    stride = np.array([image.shape[1] / heatmaps.shape[2], image.shape[0] / heatmaps.shape[1]])
    for (x, y), v in zip(coords[0] * stride + stride / 2, vals[0]):
        if v > 0.1:
            cv2.circle(out, (int(x), int(y)), 2, color, -1, cv2.LINE_AA)
    return out


def heatmap_strip(heatmaps: np.ndarray, max_channels: int = 16) -> np.ndarray:
    """The strongest channels side by side as a colour map (for one sample)."""
    order = np.argsort(-heatmaps.reshape(len(heatmaps), -1).max(axis=1))[:max_channels]
    tiles = [cv2.applyColorMap(np.clip(heatmaps[c] * 255, 0, 255).astype(np.uint8),
                               cv2.COLORMAP_JET) for c in order]
    return np.concatenate(tiles, axis=1)


def debug_images(batch: Batch, output: torch.Tensor, rgb: bool, max_images: int = 8
                 ) -> dict[str, np.ndarray]:
    """Grids: crops with target keypoints (green) and predicted ones (red); heatmaps."""
    if batch.images is not None:   # BGR uint8 crops (before colour jitter)
        imgs = [np.ascontiguousarray(im) for im in batch.images[:max_images].cpu().numpy()]
    else:
        imgs = denormalize(batch.inputs[:max_images], rgb)
    tgt = batch.target[:max_images].detach().float().cpu().numpy()
    pred = output[:max_images].detach().float().cpu().numpy()
    gt_pts = [_draw_points(im, t, (0, 255, 0)) for im, t in zip(imgs, tgt)]
    pr_pts = [_draw_points(im, p, (0, 0, 255)) for im, p in zip(imgs, pred)]
    cell = (imgs[0].shape[1] * 2, imgs[0].shape[0] * 2)
    return {
        "batch_gt": make_grid(gt_pts, 4, cell),
        "batch_pred": make_grid(pr_pts, 4, cell),
        "heatmaps_gt": make_grid([heatmap_strip(t) for t in tgt[:4]], 1, (cell[0] * 4, cell[1] // 2)),
        "heatmaps_pred": make_grid([heatmap_strip(p) for p in pred[:4]], 1, (cell[0] * 4, cell[1] // 2)),
    }


def save_debug_images(cfg: Any, images: dict[str, np.ndarray], out_dir: Path, tag: str,
                      writer: Any = None, step: int = 0) -> None:
    """Write the grids the DEBUG.SAVE_* switches ask for."""
    wanted = {"batch_gt": cfg.DEBUG.SAVE_BATCH_IMAGES_GT,
              "batch_pred": cfg.DEBUG.SAVE_BATCH_IMAGES_PRED,
              "heatmaps_gt": cfg.DEBUG.SAVE_HEATMAPS_GT,
              "heatmaps_pred": cfg.DEBUG.SAVE_HEATMAPS_PRED}
    for name, image in images.items():
        if not wanted[name]:
            continue
        save_png(Path(out_dir) / f"{tag}_{name}.png", image)
        if writer is not None:
            writer.add_image(f"debug/{name}", image[..., ::-1].copy(), step, dataformats="HWC")
