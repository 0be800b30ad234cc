"""FashionAI Normalized Error (NE), exactly as the challenge scores it.

NE = sum_k d_k / s_k * [v_k == 1] / sum_k [v_k == 1], k over all keypoints of all images (one
global average, not a mean of per-image means), in percent. d_k is the pixel distance between
prediction and ground truth, s_k the ground-truth distance armpit_left-armpit_right (blouse,
outwear, dress) or waistband_left-waistband_right (trousers, skirt) of the keypoint's image.
Only ground-truth visible keypoints count; predicted visibility is ignored.

Edge cases follow the reference evaluator (gathierry ``src/offline_evaluation.py``, "per
Alibaba's rule"): s = 0 is replaced by 256 pixels, and s is computed from the stored coordinates
even when an endpoint is absent (v = -1, stored as -1, -1); such images are counted and logged.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np

from ..keypoints import fashionai as fai

logger = logging.getLogger(__name__)

ZERO_NORMALIZER_FALLBACK = 256.0  # the reference's replacement for s = 0 (pixels)
_TYPES = {cid: name for cid, name, _ in fai.CATEGORIES}
_INDEX = {name: i for i, name in enumerate(fai.KEYPOINTS)}
# (max id + 1, 2) keypoint indices of the normalizing pair, looked up by category id.
_PAIRS = np.zeros((max(_TYPES) + 1, 2), dtype=np.int64)
for _cid, _name in _TYPES.items():
    _PAIRS[_cid] = [_INDEX[n] for n in fai.NORMALIZER[_name]]


@dataclass
class NEResult:
    """NE summary. ``ne`` and the per-type / per-keypoint values are percentages.

    Attributes:
        ne: overall NE over all scored keypoints (NaN if none).
        count: number of scored (ground-truth visible) keypoints.
        per_type: type name -> {"ne", "count" (scored keypoints), "images"}.
        per_keypoint: (24,) NE of each keypoint column (NaN where nothing is scored).
        zero_normalizer_images: images whose s was 0 and replaced by 256.
        absent_normalizer_images: images whose s used an absent (v = -1) endpoint.
    """

    ne: float
    count: int
    per_type: dict[str, dict] = field(default_factory=dict)
    per_keypoint: np.ndarray = field(default_factory=lambda: np.full(len(fai.KEYPOINTS), np.nan))
    zero_normalizer_images: int = 0
    absent_normalizer_images: int = 0


def _category_ids(categories: np.ndarray | list, n: int) -> np.ndarray:
    cats = np.asarray(categories).reshape(-1)
    if cats.dtype.kind in "US":
        unknown = sorted(set(cats.tolist()) - set(fai.CATEGORY_IDS))
        if unknown:
            raise ValueError(f"unknown clothing types {unknown}; "
                             f"expected {sorted(fai.CATEGORY_IDS)}")
        cats = np.array([fai.CATEGORY_IDS[c] for c in cats.tolist()], dtype=np.int64)
    cats = cats.astype(np.int64)
    if len(cats) != n:
        raise ValueError(f"got {len(cats)} categories for {n} images")
    unknown = sorted(set(cats.tolist()) - set(_TYPES))
    if unknown:
        raise ValueError(f"unknown category ids {unknown}; expected {sorted(_TYPES)}")
    return cats


def _raw_normalizers(gt: np.ndarray, cats: np.ndarray) -> np.ndarray:
    pair = _PAIRS[cats]
    rows = np.arange(len(gt))
    s = np.linalg.norm(gt[rows, pair[:, 0], :2] - gt[rows, pair[:, 1], :2], axis=-1)
    if np.isnan(s).any():
        raise ValueError(f"ground truth normalizer is NaN for {int(np.isnan(s).sum())} images")
    return s


def normalizers(gt: np.ndarray, category_ids: np.ndarray | list) -> np.ndarray:
    """(N,) normalizing distance s of each image, with the reference's s = 0 -> 256 guard.

    Args:
        gt: (N, 24, >=2) ground-truth keypoints in CSV column order.
        category_ids: (N,) toolkit ids (1 blouse .. 5 dress) or type names.
    """
    gt = np.asarray(gt, dtype=np.float64)
    s = _raw_normalizers(gt, _category_ids(category_ids, len(gt)))
    return np.where(s == 0, ZERO_NORMALIZER_FALLBACK, s)


def normalized_error(pred: np.ndarray, gt: np.ndarray,
                     category_ids: np.ndarray | list) -> NEResult:
    """NE of predictions against ground truth, overall and broken down by type and keypoint.

    Args:
        pred: (N, 24, >=2) predicted x, y in CSV column order (extra columns are ignored); use
            ``scheme.convert(..., get_scheme('fashionai'))`` for per-type layouts.
        gt: (N, 24, 3) ground truth x, y, v (v: 1 visible, 0 occluded, -1 absent).
        category_ids: (N,) toolkit category ids or type names.

    Raises ValueError when a scored keypoint has a NaN prediction or ground truth.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    k = len(fai.KEYPOINTS)
    if gt.ndim != 3 or gt.shape[1:] != (k, 3) or pred.ndim != 3 or pred.shape[:2] != gt.shape[:2] \
            or pred.shape[2] < 2:
        raise ValueError(f"expected pred (N, {k}, >=2) and gt (N, {k}, 3), got {pred.shape} "
                         f"and {gt.shape}")
    cats = _category_ids(category_ids, len(gt))
    scored = gt[..., 2] == 1
    diff = np.where(scored[..., None], pred[..., :2] - gt[..., :2], 0.0)
    if np.isnan(diff).any():
        n, j = np.argwhere(np.isnan(diff).any(-1))[0]
        raise ValueError(f"NaN at a scored keypoint: image {n}, keypoint {fai.KEYPOINTS[j]!r} "
                         f"({int(np.isnan(diff).any(-1).sum())} such keypoints)")
    raw_s = _raw_normalizers(gt, cats)
    s = np.where(raw_s == 0, ZERO_NORMALIZER_FALLBACK, raw_s)
    err = np.linalg.norm(diff, axis=-1) / s[:, None]  # (N, K); zero where not scored
    rows = np.arange(len(gt))
    absent = (gt[rows[:, None], _PAIRS[cats], 2] < 0).any(axis=1)
    result = NEResult(ne=_percent(err.sum(), scored.sum()), count=int(scored.sum()),
                      zero_normalizer_images=int((raw_s == 0).sum()),
                      absent_normalizer_images=int(absent.sum()))
    with np.errstate(invalid="ignore", divide="ignore"):
        result.per_keypoint = 100.0 * err.sum(axis=0) / scored.sum(axis=0)
    for cid, name in _TYPES.items():
        sel = cats == cid
        if sel.any():
            result.per_type[name] = {"ne": _percent(err[sel].sum(), scored[sel].sum()),
                                     "count": int(scored[sel].sum()), "images": int(sel.sum())}
    if result.absent_normalizer_images:
        logger.warning("%d images have an absent (v=-1) normalizer endpoint; s uses its stored "
                       "coordinates as the reference does", result.absent_normalizer_images)
    return result


def _percent(total: float, count: int) -> float:
    return float(100.0 * total / count) if count else float("nan")


def normalized_error_from_csv(gt_csv: str | os.PathLike, pred_csv: str | os.PathLike) -> NEResult:
    """NE of a submission CSV against an answer CSV, matched by image id.

    Every ground-truth image needs a prediction (missing ones raise); extra predicted images
    are ignored with a warning, like a submission scored against a subset.
    """
    from ..data.fashionai_csv import FashionAICSVError, read_annotations

    gt, pred = read_annotations(gt_csv), read_annotations(pred_csv)
    position: dict[str, int] = {}
    for j, image_id in enumerate(pred.image_ids):
        if position.setdefault(image_id, j) != j:
            raise FashionAICSVError(f"{pred_csv}: image {image_id!r} appears twice")
    missing = [i for i in gt.image_ids if i not in position]
    if missing:
        raise FashionAICSVError(f"{pred_csv}: no prediction for {len(missing)} images of "
                                f"{gt_csv}, e.g. {missing[:3]}")
    if len(position) > len(set(gt.image_ids)):
        logger.warning("%s: %d predicted images are not in %s; ignored", pred_csv,
                       len(position) - len(set(gt.image_ids)), gt_csv)
    index = np.array([position[i] for i in gt.image_ids], dtype=np.int64)
    return normalized_error(pred.keypoints[index], gt.keypoints, gt.category_ids)
