"""Gaussian heatmap targets, vectorised over joints.

``gaussian_targets`` reproduces HRNet's ``JointsDataset.generate_target`` value for value
(same float32 Gaussian window, same integer truncation of the centre and window corners, same
"window entirely outside -> weight 0" rule) without a Python loop per joint: every window is
scattered into the (K, H, W) array with one fancy-indexing assignment.
``udp_targets`` is the unbiased (UDP, Huang et al. 2020) encoding: stride (in - 1) / (out - 1) and
a sub-pixel Gaussian centre.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def _window(sigma: float) -> tuple[float, int, np.ndarray]:
    """HRNet's window: tmp_size = 3 sigma, size = 2 tmp_size + 1 and the float32 grid."""
    tmp = sigma * 3
    size = 2 * tmp + 1
    grid = np.arange(0, size, 1, np.float32)
    return tmp, size, grid


def _scatter(target: np.ndarray, active: np.ndarray, ul: np.ndarray, limit: np.ndarray,
             values: np.ndarray) -> None:
    """Write per-joint windows ``values`` (K, S, S) at corners ``ul`` (K, 2) into ``target``.

    A window cell lands at (ul_y + i, ul_x + j) when that pixel is inside [0, limit) (limit =
    min(br, heatmap size) per joint and axis, HRNet's usable range).
    """
    s = values.shape[-1]
    ar = np.arange(s)
    px = ul[:, 0:1] + ar                                  # (K, S) columns
    py = ul[:, 1:2] + ar                                  # (K, S) rows
    vx = (px >= 0) & (px < limit[:, 0:1])
    vy = (py >= 0) & (py < limit[:, 1:2])
    k, i, j = np.nonzero(active[:, None, None] & vy[:, :, None] & vx[:, None, :])
    target[k, py[k, i], px[k, j]] = values[k, i, j]


def gaussian_targets(joints: np.ndarray, joints_vis: np.ndarray, image_size: Sequence[int],
                     heatmap_size: Sequence[int], sigma: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """HRNet Gaussian targets.

    Args:
        joints: (K, >=2) keypoints in input-image pixels.
        joints_vis: (K,) or (K, >=1) visibility (0/1); column 0 is used.
        image_size, heatmap_size: (w, h).
        sigma: Gaussian sigma in heatmap pixels.

    Returns:
        target (K, h, w) float32 and target_weight (K, 1) float32.
    """
    vis = np.asarray(joints_vis, dtype=np.float32).reshape(len(joints), -1)[:, 0]
    hw = np.asarray(heatmap_size, dtype=np.int64)
    stride = np.asarray(image_size, dtype=np.float64) / hw
    tmp, size, grid = _window(sigma)
    mu = (np.asarray(joints, dtype=np.float64)[:, :2] / stride + 0.5).astype(np.int64)
    ul = (mu - tmp).astype(np.int64)                     # int() truncation, as HRNet
    br = (mu + tmp + 1).astype(np.int64)
    outside = (ul[:, 0] >= hw[0]) | (ul[:, 1] >= hw[1]) | (br[:, 0] < 0) | (br[:, 1] < 0)
    weight = np.where(outside, np.float32(0), vis).astype(np.float32)[:, None]
    target = np.zeros((len(joints), int(hw[1]), int(hw[0])), dtype=np.float32)
    x0 = size // 2
    g = np.exp(-((grid[None, :] - x0) ** 2 + (grid[:, None] - x0) ** 2) / (2 * sigma ** 2))
    # a window longer than HRNet's br - ul is cut there (HRNet's usable range)
    limit = np.minimum(br, hw)
    limit = np.minimum(limit, ul + len(grid))
    active = weight[:, 0] > 0.5
    _scatter(target, active, ul, limit, np.broadcast_to(g, (len(joints),) + g.shape))
    return target, weight


def udp_targets(joints: np.ndarray, joints_vis: np.ndarray, image_size: Sequence[int],
                heatmap_size: Sequence[int], sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Unbiased (UDP) Gaussian targets: stride (in-1)/(out-1), sub-pixel centre."""
    vis = np.asarray(joints_vis, dtype=np.float32).reshape(len(joints), -1)[:, 0]
    hw = np.asarray(heatmap_size, dtype=np.int64)
    stride = (np.asarray(image_size, dtype=np.float64) - 1.0) / (hw - 1.0)
    tmp, size, grid = _window(sigma)
    mu_ac = np.asarray(joints, dtype=np.float64)[:, :2] / stride
    mu = (mu_ac + 0.5).astype(np.int64)
    ul = (mu - tmp).astype(np.int64)
    br = (mu + tmp + 1).astype(np.int64)
    outside = (ul[:, 0] >= hw[0]) | (ul[:, 1] >= hw[1]) | (br[:, 0] < 0) | (br[:, 1] < 0)
    weight = np.where(outside, np.float32(0), vis).astype(np.float32)[:, None]
    target = np.zeros((len(joints), int(hw[1]), int(hw[0])), dtype=np.float32)
    centre = (size // 2 + (mu_ac - mu)).astype(np.float32)          # (K, 2) sub-pixel x0, y0
    gx = np.exp(-(grid[None, :] - centre[:, 0:1]) ** 2 / np.float32(2 * sigma ** 2))
    gy = np.exp(-(grid[None, :] - centre[:, 1:2]) ** 2 / np.float32(2 * sigma ** 2))
    limit = np.minimum(np.minimum(br, hw), ul + len(grid))
    _scatter(target, weight[:, 0] > 0.5, ul, limit, gy[:, :, None] * gx[:, None, :])
    return target, weight
