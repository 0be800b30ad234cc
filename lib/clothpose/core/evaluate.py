"""Training-time monitoring metric: HRNet's heatmap PCK accuracy (vectorised)."""
from __future__ import annotations

import numpy as np
import torch


def heatmap_argmax(heatmaps: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, H, W) -> integer peak coordinates (N, K, 2) as (x, y) and peak values (N, K).

    A tensor is reduced on its device (first maximum, as numpy) and only the (N, K) peaks are
    copied to the host, not the heatmaps.
    """
    n, k, h, w = heatmaps.shape
    if isinstance(heatmaps, torch.Tensor):
        vals_t, idx_t = heatmaps.detach().reshape(n, k, -1).max(dim=2)
        vals, idx = vals_t.float().cpu().numpy(), idx_t.cpu().numpy()
    else:
        flat = heatmaps.reshape(n, k, -1)
        idx = flat.argmax(axis=2)
        vals = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0]
    coords = np.stack([idx % w, idx // w], axis=-1).astype(np.float32)
    coords[vals <= 0] = 0
    return coords, vals


def heatmap_accuracy(output: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor,
                     thr: float = 0.5) -> tuple[float, int]:
    """Mean PCK over keypoints that have a target peak, with HRNet's normalisation (H/10, W/10).

    Returns (accuracy, number of keypoints counted); the accuracy is 0 when nothing is counted.
    A keypoint counts when its target heatmap has a positive peak; HRNet averages per channel
    first, this averages per channel too so that numbers stay comparable.
    """
    n, k, h, w = output.shape
    pred, _ = heatmap_argmax(output)
    gt, _ = heatmap_argmax(target)
    norm = np.array([w, h], dtype=np.float32) / 10.0
    valid = (gt[..., 0] > 1) & (gt[..., 1] > 1)                    # HRNet's "target present"
    dist = np.linalg.norm((pred - gt) / norm, axis=-1)             # (N, K)
    hits = (dist < thr) & valid
    per_channel_n = valid.sum(axis=0)
    counted = per_channel_n > 0
    if not counted.any():
        return 0.0, 0
    per_channel = hits.sum(axis=0)[counted] / per_channel_n[counted]
    return float(per_channel.mean()), int(counted.sum())
