"""Object keypoint similarity (OKS) for many (detection, ground truth) pairs at once.

Same arithmetic as pycocotools' ``COCOeval.computeOks``, element by element and in the same
order, so that matching decisions at the IoU thresholds are the same as the reference:

* ``e = (dx**2 + dy**2) / (2 sigma)**2 / (area + eps) / 2`` over the GT's labelled keypoints
  (v > 0), OKS = mean of ``exp(-e)``. Pairs are bucketed by the number of labelled keypoints,
  so each mean is a row sum over a compact contiguous array (numpy's pairwise summation, as
  ``np.sum`` does on the 1-D selection in pycocotools).
* a GT without any labelled keypoint uses the distance of each predicted keypoint to the GT box
  enlarged to three times its size (pycocotools' rule), averaged over all K keypoints.
"""
from __future__ import annotations

import numpy as np

_EPS = np.spacing(1)


def labelled_columns(gt_keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per GT: the number of labelled keypoints (M,) and their sorted indices, padded (M, Kmax)."""
    labelled = gt_keypoints[:, :, 2] > 0
    counts = labelled.sum(axis=1)
    kmax = int(counts.max()) if len(counts) else 0
    cols = np.zeros((len(counts), kmax), dtype=np.int64)
    rows, idx = np.nonzero(labelled)
    # position of each labelled keypoint inside its row (rows come out sorted, row-major)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(counts) else counts
    cols[rows, np.arange(len(rows)) - np.repeat(starts, counts)] = idx
    return counts, cols


def pair_oks(dt_xy: np.ndarray, gt_keypoints: np.ndarray, gt_areas: np.ndarray,
             gt_bboxes: np.ndarray, sigmas: np.ndarray, dt_index: np.ndarray,
             gt_index: np.ndarray, gt_counts: np.ndarray, gt_cols: np.ndarray) -> np.ndarray:
    """OKS of each pair (dt_index[p], gt_index[p]).

    Args:
        dt_xy: (N, K, 2) detection coordinates (float64).
        gt_keypoints: (M, K, 3) ground truth; gt_areas (M,); gt_bboxes (M, 4) xywh.
        sigmas: (K,) per-keypoint OKS sigmas.
        dt_index, gt_index: (P,) pair members.
        gt_counts, gt_cols: from ``labelled_columns(gt_keypoints)``.

    Returns:
        (P,) float64 OKS values.
    """
    variances = (np.asarray(sigmas, dtype=np.float64) * 2) ** 2
    out = np.empty(len(dt_index), dtype=np.float64)
    pair_counts = gt_counts[gt_index]
    for k in np.unique(pair_counts):
        sel = np.nonzero(pair_counts == k)[0]
        d, g = dt_index[sel], gt_index[sel]
        scale = (gt_areas[g] + _EPS)[:, None]
        if k > 0:
            cols = gt_cols[g, :k]
            dx = dt_xy[d[:, None], cols, 0] - gt_keypoints[g[:, None], cols, 0]
            dy = dt_xy[d[:, None], cols, 1] - gt_keypoints[g[:, None], cols, 1]
            e = (dx ** 2 + dy ** 2) / variances[cols] / scale / 2
            out[sel] = np.sum(np.exp(-e), axis=1) / k
        else:
            out[sel] = _box_distance_oks(dt_xy[d], gt_bboxes[g], scale, variances)
    return out


def _box_distance_oks(xy: np.ndarray, bb: np.ndarray, scale: np.ndarray,
                      variances: np.ndarray) -> np.ndarray:
    """pycocotools' OKS for a GT with no labelled keypoint: distance to the tripled GT box."""
    x0, x1 = (bb[:, 0] - bb[:, 2])[:, None], (bb[:, 0] + bb[:, 2] * 2)[:, None]
    y0, y1 = (bb[:, 1] - bb[:, 3])[:, None], (bb[:, 1] + bb[:, 3] * 2)[:, None]
    xd, yd = xy[:, :, 0], xy[:, :, 1]
    dx = np.maximum(0.0, x0 - xd) + np.maximum(0.0, xd - x1)
    dy = np.maximum(0.0, y0 - yd) + np.maximum(0.0, yd - y1)
    e = (dx ** 2 + dy ** 2) / variances / scale / 2
    return np.sum(np.exp(-e), axis=1) / e.shape[1]
