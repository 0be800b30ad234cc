"""Heatmap post-processing of the FashionAI reference (gathierry CPN), switchable in ``TEST.*``.

* ``TEST.BLUR_KERNEL k`` (odd, > 0): every heatmap channel is smoothed with a k x k Gaussian
  before decoding (reference: ``cv2.GaussianBlur(hm, (5, 5), 1)``, README: -0.5 % NE). Sigma is
  ``(k - 1) / 4``, so k = 5 is exactly the reference's sigma 1. Borders reflect as OpenCV's
  default (``BORDER_REFLECT_101``).
* ``TEST.SECOND_MAX_OFFSET True``: the keypoint is the highest pixel moved a quarter of the way
  toward the second-highest pixel of the channel, ``x = (3 x1 + x2) / 4`` (README: -0.2 % NE).
  It replaces HRNet's quarter shift (``TEST.POST_PROCESS``) and DARK: all three are sub-pixel
  refinements of the same argmax. Ties go to the first pixel in raster order.

Both run on whole (N, K, H, W) arrays: the blur is two separable 1-D convolutions done as
strided-window matrix products, the second maximum one masked argmax.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .inference import get_final_preds, heatmap_to_image


def blur_sigma(kernel: int) -> float:
    """Sigma used for a ``kernel``-pixel blur: (k - 1) / 4 (k = 5 -> 1.0, the reference)."""
    return 0.25 * (int(kernel) - 1)


def gaussian_kernel_1d(kernel: int, sigma: float | None = None) -> np.ndarray:
    """Normalised 1-D Gaussian weights of odd length ``kernel`` (OpenCV's formula)."""
    if int(kernel) != kernel or kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"TEST.BLUR_KERNEL must be a positive odd integer, got {kernel!r}")
    s = blur_sigma(kernel) if sigma is None else float(sigma)
    x = np.arange(kernel, dtype=np.float64) - (kernel - 1) / 2
    g = np.exp(-x ** 2 / (2 * s ** 2)) if s > 0 else (x == 0).astype(np.float64)
    return g / g.sum()


def blur_heatmaps(heatmaps: np.ndarray, kernel: int, sigma: float | None = None) -> np.ndarray:
    """Gaussian blur of every (H, W) channel of ``heatmaps`` (..., H, W); same shape and dtype.

    Equal to ``cv2.GaussianBlur(channel, (kernel, kernel), sigma)`` per channel (reflect-101
    borders), computed for all channels at once.
    """
    h = np.asarray(heatmaps)
    if h.ndim < 2:
        raise ValueError(f"heatmaps must have at least 2 dimensions (H, W), got shape {h.shape}")
    g = gaussian_kernel_1d(kernel, sigma)
    if kernel == 1:
        return h.copy()
    r = (kernel - 1) // 2
    pad = [(0, 0)] * (h.ndim - 2) + [(r, r), (r, r)]
    x = np.pad(h.astype(np.float64, copy=False), pad, mode="reflect")   # reflect = REFLECT_101
    x = sliding_window_view(x, kernel, axis=-1) @ g                     # along W
    x = sliding_window_view(x, kernel, axis=-2) @ g                     # along H
    return x.astype(h.dtype if h.dtype.kind == "f" else np.float32, copy=False)


def second_max_coords(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference decoding: (3 * argmax + second argmax) / 4 per channel of (N, K, H, W) maps.

    Returns coords (N, K, 2) float64 (x, y) in heatmap pixels and maxvals (N, K, 1). As
    ``get_max_preds``, coordinates are 0 where the channel maximum is <= 0.
    """
    if not isinstance(heatmaps, np.ndarray) or heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be a (N, K, H, W) numpy array, got "
                         f"{getattr(heatmaps, 'shape', type(heatmaps))}")
    n, k, h, w = heatmaps.shape
    if h * w < 2:
        raise ValueError(f"a second maximum needs at least 2 pixels, heatmaps are {h}x{w}")
    flat = heatmaps.reshape(n * k, h * w)
    rows = np.arange(n * k)
    first = np.argmax(flat, axis=1)
    maxvals = flat[rows, first]
    rest = flat.astype(np.float64, copy=True)
    rest[rows, first] = -np.inf
    second = np.argmax(rest, axis=1)
    p1 = np.stack([first % w, first // w], axis=1).astype(np.float64)
    p2 = np.stack([second % w, second // w], axis=1).astype(np.float64)
    coords = (3.0 * p1 + p2) / 4.0
    coords *= (maxvals > 0)[:, None]
    return coords.reshape(n, k, 2), maxvals.reshape(n, k, 1)


def decode_heatmaps(heatmaps: np.ndarray, centers: np.ndarray, scales: np.ndarray, *,
                    blur_kernel: int = 0, second_max: bool = False, post_process: bool = False,
                    dark: bool = False, dark_kernel: int = 11,
                    udp: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Blur (if ``blur_kernel`` > 0), then decode with the second-maximum offset or, without
    it, with ``get_final_preds`` (quarter shift / DARK with ``dark_kernel``); returns image
    pixels (N, K, 2) (UDP back-projection with ``udp``) and maxvals (N, K, 1) of the (blurred)
    maps."""
    if blur_kernel and blur_kernel > 0:
        heatmaps = blur_heatmaps(heatmaps, int(blur_kernel))
    if not second_max:
        return get_final_preds(heatmaps, centers, scales, post_process=post_process, dark=dark,
                               blur_kernel=dark_kernel, udp=udp)
    coords, maxvals = second_max_coords(heatmaps)
    h, w = heatmaps.shape[2:]
    return heatmap_to_image(coords, centers, scales, (w, h), udp), maxvals
