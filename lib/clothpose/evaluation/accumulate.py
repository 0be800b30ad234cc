"""Precision/recall accumulation and the summary numbers, as COCOeval computes them.

Kept apart from the matching so each piece can be checked alone; every floating-point step
(cumulative sums, ``tp / (tp + fp + eps)``, right-to-left precision envelope, ``searchsorted``
at the 101 recall thresholds, mean over the defined cells) follows ``COCOeval.accumulate`` /
``summarize`` so the numbers are identical, not merely close.
"""
from __future__ import annotations

import numpy as np

from .params import AREA_LABELS, AREA_RANGES, IOU_THRS, REC_THRS, STAT_NAMES


def accumulate(dt_category: np.ndarray, dt_scores: np.ndarray, dt_matched_id: np.ndarray,
               dt_areas: np.ndarray, gt_category: np.ndarray,
               gt_ignore_area: np.ndarray, gt_matched_ignore: np.ndarray,
               num_categories: int) -> tuple[np.ndarray, np.ndarray]:
    """Precision (T, R, C, A) and recall (T, C, A) from matched detections (keypoint setup:
    ``AREA_RANGES``, one maxDets value already applied by the caller).

    Args:
        dt_category: (Nd,) category rank of each kept detection, in COCOeval visiting order
            (image, then score rank inside the image).
        dt_scores: (Nd,).
        dt_matched_id: (Nd, A, T) bool, matched to a GT whose annotation id is non-zero
            (pycocotools stores the id, and tests ``dtm == 0``).
        dt_areas: (Nd,) detection areas.
        gt_category: (M,) category rank of each GT.
        gt_ignore_area: (A, M) GT ignored per area range.
        gt_matched_ignore: (Nd, A, T) bool, ignore flag of the matched GT (False if unmatched).
        num_categories: C.
    """
    precision, recall = accumulate_curves(
        dt_category, dt_scores, np.zeros(len(dt_scores), np.int64), dt_matched_id, dt_areas,
        gt_category, gt_ignore_area, gt_matched_ignore, num_categories, AREA_RANGES, (1,))
    return precision[..., 0], recall[..., 0]


def accumulate_curves(dt_category: np.ndarray, dt_scores: np.ndarray, dt_ranks: np.ndarray,
                      dt_matched_id: np.ndarray, dt_areas: np.ndarray, gt_category: np.ndarray,
                      gt_ignore_area: np.ndarray, gt_matched_ignore: np.ndarray,
                      num_categories: int, area_ranges: np.ndarray, max_dets: tuple[int, ...]
                      ) -> tuple[np.ndarray, np.ndarray]:
    """``COCOeval.accumulate`` with its maxDets axis: precision (T, R, C, A, M), recall
    (T, C, A, M). For maxDets m only the detections ranked < m inside their (image, category)
    group count (``dt_ranks``); other arguments as ``accumulate``, areas per ``area_ranges``."""
    t_n, r_n, a_n, m_n = len(IOU_THRS), len(REC_THRS), len(area_ranges), len(max_dets)
    precision = -np.ones((t_n, r_n, num_categories, a_n, m_n))
    recall = -np.ones((t_n, num_categories, a_n, m_n))
    out_of_range = (dt_areas[None, :] < area_ranges[:, :1]) | (dt_areas[None, :] > area_ranges[:, 1:])
    for k in range(num_categories):
        in_k = dt_category == k
        npig = [np.count_nonzero(~gt_ignore_area[a][gt_category == k]) for a in range(a_n)]
        for m, max_det in enumerate(max_dets):
            sel = np.nonzero(in_k & (dt_ranks < max_det))[0]
            order = sel[np.argsort(-dt_scores[sel], kind="mergesort")]
            for a in range(a_n):
                if npig[a] == 0:
                    continue
                dtm = dt_matched_id[order, a].T                      # (T, nd)
                dt_ig = gt_matched_ignore[order, a].T | (~dtm & out_of_range[a, order][None, :])
                tps = dtm & ~dt_ig
                fps = ~dtm & ~dt_ig
                precision[:, :, k, a, m], recall[:, k, a, m] = _curves(tps, fps, npig[a])
    return precision, recall


def _curves(tps: np.ndarray, fps: np.ndarray, npig: int) -> tuple[np.ndarray, np.ndarray]:
    """Interpolated precision at the recall thresholds (T, R) and final recall (T,)."""
    tp_sum = np.cumsum(tps, axis=1).astype(dtype=float)
    fp_sum = np.cumsum(fps, axis=1).astype(dtype=float)
    nd = tp_sum.shape[1]
    q = np.zeros((len(tp_sum), len(REC_THRS)))
    if nd == 0:
        return q, np.zeros(len(tp_sum))
    rc = tp_sum / npig
    pr = tp_sum / (fp_sum + tp_sum + np.spacing(1))
    envelope = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
    for t in range(len(tp_sum)):
        inds = np.searchsorted(rc[t], REC_THRS, side="left")
        valid = inds < nd
        q[t, valid] = envelope[t, inds[valid]]
    return q, rc[:, -1]


def mean_defined(values: np.ndarray) -> float:
    """Mean over cells > -1, or -1 when there is none (COCOeval ``_summarize``)."""
    if len(values[values > -1]) == 0:
        return -1.0
    return float(np.mean(values[values > -1]))


def summarize(precision: np.ndarray, recall: np.ndarray) -> dict[str, float]:
    """The 10 keypoint numbers (AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl)."""
    p5 = precision[..., None]                 # COCOeval arrays carry a maxDets axis
    r5 = recall[..., None]

    def one(ap: bool, iou_thr: float | None = None, area: str = "all") -> float:
        aind = [i for i, label in enumerate(AREA_LABELS) if label == area]
        s = p5 if ap else r5
        if iou_thr is not None:
            s = s[np.where(iou_thr == IOU_THRS)[0]]
        s = s[:, :, :, aind, [0]] if ap else s[:, :, aind, [0]]
        return mean_defined(s)

    values = [one(True), one(True, .5), one(True, .75), one(True, area="medium"),
              one(True, area="large"), one(False), one(False, .5), one(False, .75),
              one(False, area="medium"), one(False, area="large")]
    return dict(zip(STAT_NAMES, values))
