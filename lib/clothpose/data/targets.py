"""Gaussian heatmap targets, vectorised over joints.

``gaussian_targets`` reproduces HRNet's ``JointsDataset.generate_target`` value for value
(same float32 Gaussian window, same integer truncation of the centre and window corners, same
"window entirely outside -> weight 0" rule) without a Python loop per joint: every window is
scattered into the (K, H, W) array with one fancy-indexing assignment.
``udp_targets`` is the unbiased (UDP, Huang et al. 2020) encoding: stride (in - 1) / (out - 1) and
a sub-pixel Gaussian centre.

Both are defined by ``joint_windows`` (where each joint's window goes, its weight and its values),
which ``data.batch.heatmap_targets`` shares to draw the same targets batched on the training
device; these per-sample functions stay as the reference the batched ones are tested against.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


def _window(sigma: float) -> tuple[float, int, np.ndarray]:
    """HRNet's window: tmp_size = 3 sigma, size = 2 tmp_size + 1 and the float32 grid."""
    tmp = sigma * 3
    size = 2 * tmp + 1
    grid = np.arange(0, size, 1, np.float32)
    return tmp, size, grid


def hrnet_window(sigma: float) -> np.ndarray:
    """The (S, S) float32 Gaussian every HRNet target copies (peak 1 at the centre cell)."""
    _, size, grid = _window(sigma)
    x0 = size // 2
    return np.exp(-((grid[None, :] - x0) ** 2 + (grid[:, None] - x0) ** 2) / (2 * sigma ** 2))


@dataclass(frozen=True)
class JointWindows:
    """Where and what each joint's Gaussian window writes (M joints, windows S x S).

    ``ul`` (M, 2) integer top-left corner (x, y) in heatmap pixels; a window cell (i, j) lands on
    (ul_y + i, ul_x + j) when that pixel is inside [0, ``limit``) (M, 2). ``weight`` (M,) float32
    is the target weight; only joints with ``weight > 0.5`` are drawn. Values: ``window``
    (S, S) for every joint (HRNet), or ``gy[:, :, None] * gx[:, None, :]`` from the (M, S)
    one-dimensional Gaussians (UDP, sub-pixel centre).
    """

    ul: np.ndarray
    limit: np.ndarray
    weight: np.ndarray
    window: np.ndarray | None = None
    gx: np.ndarray | None = None
    gy: np.ndarray | None = None

    @property
    def active(self) -> np.ndarray:
        return self.weight > 0.5

    def values(self) -> np.ndarray:
        """(M, S, S) window values (a broadcast view for HRNet)."""
        if self.window is not None:
            return np.broadcast_to(self.window, (len(self.ul),) + self.window.shape)
        return self.gy[:, :, None] * self.gx[:, None, :]  # type: ignore[index]


def joint_windows(joints: np.ndarray, joints_vis: np.ndarray, image_size: Sequence[int],
                  heatmap_size: Sequence[int], sigma: float, udp: bool = False) -> JointWindows:
    """The windows of (M, >=2) ``joints`` in input pixels with visibility ``joints_vis`` (M,)
    or (M, >=1) (column 0), for the HRNet (``udp`` False) or the UDP encoding."""
    joints = np.asarray(joints, dtype=np.float64).reshape(len(joints), -1)
    vis = np.asarray(joints_vis, dtype=np.float32).reshape(len(joints), -1)[:, 0]
    hw = np.asarray(heatmap_size, dtype=np.int64)
    size_in = np.asarray(image_size, dtype=np.float64)
    stride = (size_in - 1.0) / (hw - 1.0) if udp else size_in / hw
    tmp, size, grid = _window(sigma)
    mu_ac = joints[:, :2] / stride
    mu = (mu_ac + 0.5).astype(np.int64)
    ul = (mu - tmp).astype(np.int64)                     # int() truncation, as HRNet
    br = (mu + tmp + 1).astype(np.int64)
    outside = (ul[:, 0] >= hw[0]) | (ul[:, 1] >= hw[1]) | (br[:, 0] < 0) | (br[:, 1] < 0)
    weight = np.where(outside, np.float32(0), vis).astype(np.float32)
    # a window longer than HRNet's br - ul is cut there (HRNet's usable range)
    limit = np.minimum(np.minimum(br, hw), ul + len(grid))
    if not udp:
        return JointWindows(ul, limit, weight, window=hrnet_window(sigma))
    centre = (size // 2 + (mu_ac - mu)).astype(np.float32)          # (M, 2) sub-pixel x0, y0
    gx = np.exp(-(grid[None, :] - centre[:, 0:1]) ** 2 / np.float32(2 * sigma ** 2))
    gy = np.exp(-(grid[None, :] - centre[:, 1:2]) ** 2 / np.float32(2 * sigma ** 2))
    return JointWindows(ul, limit, weight, gx=gx, gy=gy)


def _scatter(target: np.ndarray, w: JointWindows) -> None:
    """Write every active joint's window into ``target`` (M, H, W)."""
    values = w.values()
    s = values.shape[-1]
    ar = np.arange(s)
    px = w.ul[:, 0:1] + ar                                  # (M, S) columns
    py = w.ul[:, 1:2] + ar                                  # (M, S) rows
    vx = (px >= 0) & (px < w.limit[:, 0:1])
    vy = (py >= 0) & (py < w.limit[:, 1:2])
    k, i, j = np.nonzero(w.active[:, None, None] & vy[:, :, None] & vx[:, None, :])
    target[k, py[k, i], px[k, j]] = values[k, i, j]


def _encode(joints: np.ndarray, joints_vis: np.ndarray, image_size: Sequence[int],
            heatmap_size: Sequence[int], sigma: float, udp: bool
            ) -> tuple[np.ndarray, np.ndarray]:
    w = joint_windows(joints, joints_vis, image_size, heatmap_size, sigma, udp)
    target = np.zeros((len(w.ul), int(heatmap_size[1]), int(heatmap_size[0])), dtype=np.float32)
    _scatter(target, w)
    return target, w.weight[:, None]


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
    return _encode(joints, joints_vis, image_size, heatmap_size, sigma, udp=False)


def udp_targets(joints: np.ndarray, joints_vis: np.ndarray, image_size: Sequence[int],
                heatmap_size: Sequence[int], sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Unbiased (UDP) Gaussian targets: stride (in-1)/(out-1), sub-pixel centre."""
    return _encode(joints, joints_vis, image_size, heatmap_size, sigma, udp=True)
