"""COCO box AP (the official DeepFashion2 detection metric), vectorised, pycocotools' semantics.

The DeepFashion2 detection evaluation is ``COCOeval(gt, dt, 'bbox')`` on the converter's GT
files: per (image, category) group the detections are sorted by score (mergesort, input order
on ties), the top 100 kept and greedily matched (``matching.greedy_match``) at IoU .50:.05:.95
in the area ranges all / small / medium / large (GT: its ``area`` field; detection: w * h), a
GT is ignored only when it is a crowd, and precision / recall are accumulated for maxDets
1 / 10 / 100 (``accumulate.accumulate_curves``). The twelve summary numbers are COCO's.

IoU is pycocotools' ``bbIou`` arithmetic element by element: ``w = min(dx+dw, gx+gw) -
max(dx, gx)``, the same for h, 0 when either is <= 0, ``i / (da + ga - i)``, or ``i / da``
against a crowd GT, with areas from the boxes.

Detections of a category the ground truth does not list are ignored (COCOeval only visits the
GT's categories) and counted; an image id the ground truth does not list is an error (as in
``COCO.loadRes``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .accumulate import accumulate_curves, mean_defined
from .groundtruth import GroundTruth
from .matching import greedy_match
from .params import BOX_AREA_LABELS, BOX_AREA_RANGES, BOX_MAX_DETS, BOX_STAT_NAMES, IOU_THRS

logger = logging.getLogger(__name__)


@dataclass
class BoxEvalResult:
    """Summary and raw curves: precision (T, R, C, A, M), recall (T, C, A, M), -1 where a
    category has no non-ignored GT in an area range; ``num_ignored`` detections of categories
    absent from the GT."""

    stats: dict[str, float]
    per_category: dict[str, float]
    precision: np.ndarray
    recall: np.ndarray
    num_ignored: int = 0


def box_iou(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU of paired boxes (P, 4) x, y, w, h; ``crowd`` (P,) uses the detection area as union."""
    dx, dy, dw, dh = (dt[:, i] for i in range(4))
    gx, gy, gw, gh = (gt[:, i] for i in range(4))
    da, ga = dw * dh, gw * gh
    w = np.minimum(dw + dx, gw + gx) - np.maximum(dx, gx)
    h = np.minimum(dh + dy, gh + gy) - np.maximum(dy, gy)
    inter = w * h
    union = np.where(crowd, da, da + ga - inter)
    ok = (w > 0) & (h > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, inter / np.where(ok, union, 1.0), 0.0)


def summarize_boxes(precision: np.ndarray, recall: np.ndarray) -> dict[str, float]:
    """COCOeval's twelve box numbers (``_summarizeDets``) keyed by ``BOX_STAT_NAMES``."""
    def one(ap: bool, iou_thr: float | None = None, area: str = "all", max_det: int = 100
            ) -> float:
        a = BOX_AREA_LABELS.index(area)
        m = BOX_MAX_DETS.index(max_det)
        s = precision if ap else recall
        if iou_thr is not None:
            s = s[np.where(iou_thr == IOU_THRS)[0]]
        return mean_defined(s[..., a, m])

    values = [one(True), one(True, .5), one(True, .75), one(True, area="small"),
              one(True, area="medium"), one(True, area="large"), one(False, max_det=1),
              one(False, max_det=10), one(False), one(False, area="small"),
              one(False, area="medium"), one(False, area="large")]
    return dict(zip(BOX_STAT_NAMES, values))


def evaluate_boxes(gt: GroundTruth, image_ids: np.ndarray, category_ids: np.ndarray,
                   boxes: np.ndarray, scores: np.ndarray,
                   max_dets: tuple[int, ...] = BOX_MAX_DETS) -> BoxEvalResult:
    """COCO box AP of detections (boxes (N, 4) x, y, w, h in pixels) against ``gt``.

    ``gt`` may come from ``GroundTruth.load(..., keypoints=False)`` or be a keypoint ground truth
    (the same groups; only ``iscrowd`` decides what is ignored here).
    """
    img = np.asarray(image_ids, dtype=np.int64).reshape(-1)
    cat = np.asarray(category_ids, dtype=np.int64).reshape(-1)
    bx = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) if len(img) else np.zeros((0, 4))
    sc = np.asarray(scores, dtype=np.float64).reshape(-1)
    _check_inputs(gt, img, cat, bx, sc)
    known = gt.category_rank(cat) >= 0
    num_ignored = int((~known).sum())
    if num_ignored:
        logger.warning("%d detection(s) of categories not in the ground truth %s ignored "
                       "(ids %s)", num_ignored, gt.source, sorted(set(cat[~known].tolist())))
    img, cat, bx, sc = img[known], cat[known], bx[known], sc[known]
    keys = gt.make_group_keys(img, cat)
    order = np.lexsort((np.arange(len(img)), -sc, keys))
    sorted_keys = keys[order]
    ranks = np.arange(len(img)) - np.searchsorted(sorted_keys, sorted_keys, side="left")
    kept = ranks < max(max_dets)
    keep, keys, ranks = order[kept], sorted_keys[kept], ranks[kept]
    dt_boxes, dt_scores = bx[keep], sc[keep]
    ign = gt.iscrowd[None, :] | (gt.areas[None, :] < BOX_AREA_RANGES[:, :1]) | \
        (gt.areas[None, :] > BOX_AREA_RANGES[:, 1:])

    def similarity(dt_index: np.ndarray, gt_index: np.ndarray) -> np.ndarray:
        return box_iou(dt_boxes[dt_index], gt.bboxes[gt_index], gt.iscrowd[gt_index])

    dt_match = greedy_match(gt.group_keys, keys, ranks, similarity, ign, gt.iscrowd, IOU_THRS)
    matched = dt_match >= 0
    if len(gt.ann_ids):
        safe = np.where(matched, dt_match, 0)
        matched_ignore = matched & ign[np.arange(len(BOX_AREA_RANGES))[None, :, None], safe]
        matched_id = matched & (gt.ann_ids[safe] != 0)   # pycocotools stores the id; 0 = none
    else:
        matched_ignore = matched_id = matched
    precision, recall = accumulate_curves(
        gt.category_rank(cat[keep]), dt_scores, ranks, matched_id,
        dt_boxes[:, 2] * dt_boxes[:, 3], gt.category_rank(gt.ann_category_ids), ign,
        matched_ignore, len(gt.category_ids), BOX_AREA_RANGES, tuple(max_dets))
    stats = summarize_boxes(precision, recall)
    per_category = {gt.category_names[int(c)]: mean_defined(precision[:, :, k, 0, -1])
                    for k, c in enumerate(gt.category_ids)}
    return BoxEvalResult(stats, per_category, precision, recall, num_ignored)


def _check_inputs(gt: GroundTruth, img: np.ndarray, cat: np.ndarray, bx: np.ndarray,
                  sc: np.ndarray) -> None:
    n = len(img)
    if len(cat) != n or len(sc) != n or bx.shape != (n, 4):
        raise ValueError(f"expected image_ids/category_ids/scores (N,) and boxes (N, 4) with "
                         f"the same N; got {img.shape}, {cat.shape}, {sc.shape}, {bx.shape}")
    for name, arr in (("bbox", bx), ("score", sc.reshape(-1, 1))):
        bad = np.nonzero(~np.isfinite(arr).all(axis=1))[0]
        if len(bad):
            raise ValueError(f"detection {bad[0]}: {name} contains NaN or inf")
    unknown = np.nonzero(gt.image_rank(img) < 0)[0]
    if len(unknown):
        raise ValueError(f"detection {unknown[0]}: image_id {img[unknown[0]]} is not in the "
                         f"ground truth {gt.source} ({len(unknown)} detection(s) affected)")
