"""Geometry shared by data loading and decoding (HRNet conventions, vectorised).

Boxes are described HRNet-style by ``center`` (x, y) in pixels and ``scale`` (w, h) in units of
``PIXEL_STD`` = 200 pixels; the crop covers ``scale * 200`` pixels around ``center``.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

PIXEL_STD = 200.0


def flip_index_from_pairs(num_keypoints: int, flip_pairs: Sequence[Sequence[int]]) -> np.ndarray:
    """Permutation (K,) that swaps each (a, b) of ``flip_pairs`` and fixes everything else."""
    index = np.arange(num_keypoints)
    pairs = np.asarray(flip_pairs, dtype=np.int64).reshape(-1, 2)
    index[pairs[:, 0]], index[pairs[:, 1]] = pairs[:, 1], pairs[:, 0]
    return index


def flip_back(heatmaps: np.ndarray, flip_pairs: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    """Undo a horizontal input flip on predicted heatmaps: mirror width, swap left/right channels.

    Args:
        heatmaps: (N, K, H, W) output for horizontally flipped inputs.
        flip_pairs: (P, 2) channel pairs, or a (K,) flip permutation.

    Returns a new (N, K, H, W) array; the input is not modified.
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (N, K, H, W), got shape {heatmaps.shape}")
    k = heatmaps.shape[1]
    fp = np.asarray(flip_pairs)
    index = fp if (fp.ndim == 1 and fp.shape[0] == k) else flip_index_from_pairs(k, fp)
    if heatmaps.dtype not in (np.float32, np.float64) or heatmaps.size == 0:
        return np.ascontiguousarray(heatmaps[:, index, :, ::-1])
    # Channel gather (contiguous block copies), then OpenCV's SIMD row mirror in place: about
    # 4x faster than one numpy gather with a reversed inner axis (bench/postprocess.py).
    out = np.take(heatmaps, index, axis=1)
    rows = out.reshape(-1, out.shape[-1])
    cv2.flip(rows, 1, dst=rows)
    return out


def fliplr_keypoints(keypoints: np.ndarray, width: float, flip_index: np.ndarray) -> np.ndarray:
    """Mirror (K, D) keypoints in an image of ``width`` pixels and swap left/right rows.

    x' = width - 1 - x, matching ``image[:, ::-1]``. Columns beyond x are carried along
    (visibility); rows with visibility 0 stay zero. Returns a new array.
    """
    out = keypoints[flip_index].copy()
    labelled = out[:, 2] > 0 if out.shape[1] > 2 else np.ones(len(out), bool)
    out[labelled, 0] = width - 1 - out[labelled, 0]
    return out


def get_affine_transform(center: np.ndarray, scale: np.ndarray, rot: float,
                         output_size: Sequence[int], shift: Sequence[float] = (0.0, 0.0),
                         inv: bool = False) -> np.ndarray:
    """2x3 matrix mapping the box (center, scale*200, rotated by ``rot`` degrees) onto
    ``output_size`` (w, h); ``inv`` gives the reverse map. Same definition as HRNet's."""
    scale = np.asarray(scale, dtype=np.float64).reshape(-1)
    if scale.size == 1:
        scale = np.array([scale[0], scale[0]])
    src_w = scale[0] * PIXEL_STD
    dst_w, dst_h = float(output_size[0]), float(output_size[1])
    rad = np.pi * rot / 180.0
    sn, cs = np.sin(rad), np.cos(rad)
    src_dir = np.array([0.5 * src_w * sn, -0.5 * src_w * cs])  # (0, -w/2) rotated by rot
    dst_dir = np.array([0.0, -0.5 * dst_w])
    center = np.asarray(center, dtype=np.float64)
    shift = np.asarray(shift, dtype=np.float64)
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center + scale * PIXEL_STD * shift
    src[1] = center + src_dir + scale * PIXEL_STD * shift
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = dst[0] + dst_dir
    src[2] = _third_point(src[0], src[1])
    dst[2] = _third_point(dst[0], dst[1])
    if inv:
        return cv2.getAffineTransform(dst, src)
    return cv2.getAffineTransform(src, dst)


def get_udp_affine_transform(center: np.ndarray, scale: np.ndarray, rot: float,
                             output_size: Sequence[int]) -> np.ndarray:
    """2x3 matrix of the unbiased (UDP, Huang et al. 2020) crop: the box edges
    ``center -+ scale * 200 / 2`` map onto the first and last pixel centres (0 and w - 1 /
    h - 1), each axis scaled on its own: ``x' = (w - 1) / (scale_w * 200) * R(p - center) +
    (w - 1) / 2``. At ``rot`` 0 this is mmpose's ``get_udp_warp_matrix``; the rotation turns the
    same way as ``get_affine_transform`` (mmpose's UDP matrix turns the other way, which random
    rotation augmentation cannot tell apart). Heatmaps of a UDP crop are this matrix with
    ``output_size`` = heatmap size, i.e. the input scaled by (out - 1) / (in - 1)."""
    s = np.asarray(scale, dtype=np.float64).reshape(-1) * PIXEL_STD
    if s.size == 1:
        s = np.array([s[0], s[0]])
    sx = (float(output_size[0]) - 1.0) / s[0]
    sy = (float(output_size[1]) - 1.0) / s[1]
    rad = np.pi * rot / 180.0
    cs, sn = np.cos(rad), np.sin(rad)
    lin = np.array([[sx * cs, sx * sn], [-sy * sn, sy * cs]])
    c = np.asarray(center, dtype=np.float64).reshape(2)
    half = np.array([(float(output_size[0]) - 1.0) / 2, (float(output_size[1]) - 1.0) / 2])
    return np.column_stack([lin, half - lin @ c])


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a - b
    return b + np.array([-d[1], d[0]], dtype=np.float32)


def affine_transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (..., 2) points; returns a new array."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def transform_preds(coords: np.ndarray, center: np.ndarray, scale: np.ndarray,
                    output_size: Sequence[int]) -> np.ndarray:
    """Heatmap coordinates (K, 2) of one box back to image pixels."""
    trans = get_affine_transform(center, scale, 0, output_size, inv=True)
    return affine_transform_points(coords[:, :2], trans)


def box_to_center_scale(box: Sequence[float], aspect_ratio: float,
                        padding: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
    """COCO box (x, y, w, h) -> HRNet center and scale, widened to ``aspect_ratio`` (w/h)
    and padded by ``padding``."""
    x, y, w, h = (float(v) for v in box[:4])
    center = np.array([x + w * 0.5, y + h * 0.5], dtype=np.float32)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w / PIXEL_STD, h / PIXEL_STD], dtype=np.float32)
    if center[0] != -1:
        scale = scale * padding
    return center, scale
