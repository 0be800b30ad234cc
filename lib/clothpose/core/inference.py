"""Heatmaps -> image coordinates, and instance rescoring (HRNet semantics, vectorised).

HRNet decodes each keypoint with Python loops over the batch and the keypoints; here every
step runs on whole arrays: one argmax over (N*K, H*W), one gather of the neighbours for the
quarter-pixel shift (or the DARK Taylor step), and one batched affine back to image pixels.
The decoding rules are HRNet's (``lib/core/inference.py``):

* ``get_max_preds``: argmax per channel; coordinates are set to 0 where the maximum is <= 0;
* quarter offset: when ``1 < px < W-1`` and ``1 < py < H-1``, move 0.25 px toward the higher
  neighbour on each axis (sign of the central difference; no move on a tie);
* back-projection: the inverse of ``get_affine_transform(center, scale, 0, (W, H))``, computed
  from the same float32 anchor points, for all boxes at once; with UDP (``udp=True``, for
  models trained with ``DATASET.USE_UDP``) the inverse of the unbiased crop instead: heatmap
  pixels 0 and W - 1 are the box edges (mmpose's ``UDPHeatmap.decode`` followed by its
  input -> image step).

DARK (Zhang et al., "Distribution-Aware Coordinate Representation", CVPR 2020) is available
instead of the quarter offset: the heatmap is blurred with a Gaussian (max preserved), its log
is expanded to second order around the argmax, and the Newton step ``-H^-1 g`` is added. The
blur kernel follows the target sigma (``dark_kernel_size``: 17 for sigma 3, 11 for sigma 2).
"""
from __future__ import annotations

import logging

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..utils.transforms import PIXEL_STD

logger = logging.getLogger(__name__)


def get_max_preds(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Argmax of each (N, K, H, W) heatmap: coords (N, K, 2) float64 (x, y), 0 where the
    maximum is <= 0, and maxvals (N, K, 1)."""
    if not isinstance(heatmaps, np.ndarray) or heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be a (N, K, H, W) numpy array, got "
                         f"{getattr(heatmaps, 'shape', type(heatmaps))}")
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n * k, h * w)
    idx = np.argmax(flat, axis=1)
    maxvals = flat[np.arange(n * k), idx]
    coords = np.stack([idx % w, idx // w], axis=1).astype(np.float64)
    coords *= (maxvals > 0)[:, None]
    return coords.reshape(n, k, 2), maxvals.reshape(n, k, 1)


def quarter_offset(heatmaps: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """HRNet's refinement: +-0.25 px toward the higher neighbour, inside the border only."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n * k, h * w)
    out = coords.reshape(n * k, 2).copy()
    px = np.floor(out[:, 0] + 0.5).astype(np.int64)
    py = np.floor(out[:, 1] + 0.5).astype(np.int64)
    rows = np.nonzero((px > 1) & (px < w - 1) & (py > 1) & (py < h - 1))[0]
    at = py[rows] * w + px[rows]
    dx = flat[rows, at + 1] - flat[rows, at - 1]
    dy = flat[rows, at + w] - flat[rows, at - w]
    out[rows, 0] += np.sign(dx) * 0.25
    out[rows, 1] += np.sign(dy) * 0.25
    return out.reshape(n, k, 2)


def dark_refine(heatmaps: np.ndarray, coords: np.ndarray, kernel: int = 11) -> np.ndarray:
    """DARK: Newton step on the log of the Gaussian-blurred heatmap at each argmax.

    Only a (kernel + 4)^2 patch around each argmax is blurred (zero padding outside the map,
    like DARK's padded ``cv2.GaussianBlur``): the Taylor expansion needs the blurred map on a
    5 x 5 window only. DARK rescales each blurred map to keep its maximum; that adds a constant
    to the log and cancels in the derivatives, so it is left out. Applied where
    ``1 < px < W-2`` and ``1 < py < H-2`` and the Hessian is invertible, as in DARK.
    """
    n, k, h, w = heatmaps.shape
    out = coords.reshape(n * k, 2).copy()
    px, py = out[:, 0].astype(np.int64), out[:, 1].astype(np.int64)
    rows = np.nonzero((px > 1) & (px < w - 2) & (py > 1) & (py < h - 2))[0]
    radius = (kernel - 1) // 2
    off = np.arange(-radius - 2, radius + 3)
    ys, xs = py[rows, None] + off, px[rows, None] + off               # (R, kernel + 4)
    inside = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]
    flat = heatmaps.reshape(n * k, h * w)
    at = np.clip(ys, 0, h - 1)[:, :, None] * w + np.clip(xs, 0, w - 1)[:, None, :]
    patch = np.where(inside, flat[rows[:, None, None], at], 0.0)
    g = cv2.getGaussianKernel(kernel, 0).reshape(-1)                  # OpenCV's blur weights
    blurred = sliding_window_view(patch, kernel, axis=2) @ g            # (R, kernel + 4, 5)
    blurred = sliding_window_view(blurred, kernel, axis=1) @ g          # (R, 5, 5): [r, y, x]
    logh = np.log(np.maximum(blurred, 1e-10))

    def v(dx: int, dy: int) -> np.ndarray:
        return logh[:, 2 + dy, 2 + dx]

    gx = 0.5 * (v(1, 0) - v(-1, 0))
    gy = 0.5 * (v(0, 1) - v(0, -1))
    hxx = 0.25 * (v(2, 0) - 2 * v(0, 0) + v(-2, 0))
    hyy = 0.25 * (v(0, 2) - 2 * v(0, 0) + v(0, -2))
    hxy = 0.25 * (v(1, 1) - v(1, -1) - v(-1, 1) + v(-1, -1))
    det = hxx * hyy - hxy ** 2
    ok = det != 0
    safe = np.where(ok, det, 1.0)
    out[rows, 0] -= np.where(ok, (hyy * gx - hxy * gy) / safe, 0.0)
    out[rows, 1] -= np.where(ok, (hxx * gy - hxy * gx) / safe, 0.0)
    return out.reshape(n, k, 2)


def dark_kernel_size(sigma: float) -> int:
    """DARK's blur kernel for targets of Gaussian ``sigma`` (heatmap pixels): the largest odd
    size whose OpenCV default sigma, ``0.3 ((k - 1) / 2 - 1) + 0.8``, does not exceed ``sigma``.
    Gives mmpose's table: 17 for sigma 3, 11 for 2, 7 for 1.5, 3 for 1."""
    k = int(np.floor(2 * ((float(sigma) - 0.8) / 0.3 + 1) + 1 + 1e-6))
    k -= 1 - k % 2
    return max(k, 1)


def heatmap_to_image(coords: np.ndarray, center: np.ndarray, scale: np.ndarray,
                     heatmap_size: tuple[int, int], udp: bool = False) -> np.ndarray:
    """(N, K, 2) heatmap coordinates -> image pixels for boxes (center (N, 2), scale (N, 2)),
    the inverse of ``get_affine_transform(center, scale, 0, heatmap_size)`` for every box, or
    with ``udp`` of ``get_udp_affine_transform``: ``x = c - s / 2 + x_hm * s / (W - 1)``."""
    w, h = float(heatmap_size[0]), float(heatmap_size[1])
    c = np.asarray(center, dtype=np.float64).reshape(-1, 2)
    if udp:
        size = np.asarray(scale, dtype=np.float64).reshape(len(c), 2) * PIXEL_STD
        step = size / [w - 1.0, h - 1.0]
        return (c - size / 2)[:, None, :] + np.asarray(coords, np.float64) * step[:, None, :]
    s = np.asarray(scale, dtype=np.float64).reshape(len(c), -1)[:, 0] * PIXEL_STD
    # the three anchor points of get_affine_transform, in float32 as it computes them
    s0 = c.astype(np.float32)
    s1 = (c + np.stack([np.zeros_like(s), -0.5 * s], 1)).astype(np.float32)
    d = s0 - s1
    s2 = s1 + np.stack([-d[:, 1], d[:, 0]], 1)
    src = np.stack([s0, s1, s2], axis=2)                            # (N, 2, 3)
    dst = np.array([[w / 2, w / 2, 0.0], [h / 2, h / 2 - w / 2, h / 2 - w / 2], [1, 1, 1]],
                   dtype=np.float32).astype(np.float64)
    mats = src.astype(np.float64) @ np.linalg.inv(dst)             # (N, 2, 3): dst -> src
    return np.einsum("nij,nkj->nki", mats[:, :, :2], coords) + mats[:, None, :, 2]


def get_final_preds(heatmaps: np.ndarray, center: np.ndarray, scale: np.ndarray,
                    post_process: bool = True, dark: bool = False,
                    blur_kernel: int = 11, udp: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Decode (N, K, H, W) heatmaps of boxes (center, scale) into image keypoints.

    Args:
        post_process: HRNet's quarter-pixel shift (ignored when ``dark``).
        dark: DARK sub-pixel refinement instead of the quarter shift.
        blur_kernel: DARK's Gaussian kernel size; ``dark_kernel_size(sigma)`` of the targets
            (11 for sigma 2; the configured decoder derives it from ``MODEL.SIGMA``).
        udp: back-project the UDP way (model trained with ``DATASET.USE_UDP``).

    Returns:
        preds (N, K, 2) float64 image pixels, maxvals (N, K, 1).
    """
    coords, maxvals = get_max_preds(heatmaps)
    if dark:
        coords = dark_refine(heatmaps, coords, blur_kernel)
    elif post_process:
        coords = quarter_offset(heatmaps, coords)
    h, w = heatmaps.shape[2:]
    return heatmap_to_image(coords, center, scale, (w, h), udp), maxvals


def rescore(box_scores: np.ndarray, maxvals: np.ndarray, in_vis_thre: float,
            mask: np.ndarray | None = None) -> np.ndarray:
    """Instance score = box score x mean of the keypoint maxima above ``in_vis_thre``.

    As HRNet's COCO evaluation: the mean is 0 when no keypoint is above the threshold. With
    ``mask`` (N, K) bool only the instance's own channels count (e.g. its category's); with
    ``mask=None`` all K channels count, as the DeepFashion2 winner did.
    """
    v = np.asarray(maxvals, dtype=np.float64)
    v = v.reshape(len(box_scores), int(np.prod(v.shape[1:])))   # also for N = 0
    sel = v > in_vis_thre
    if mask is not None:
        sel &= np.asarray(mask, dtype=bool).reshape(v.shape)
    count = sel.sum(axis=1)
    mean = np.where(count > 0, np.where(sel, v, 0.0).sum(axis=1) / np.maximum(count, 1), 0.0)
    return mean * np.asarray(box_scores, dtype=np.float64)
