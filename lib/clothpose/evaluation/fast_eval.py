"""In-memory DeepFashion2 / COCO keypoint AP, vectorised, with pycocotools' exact semantics.

The official DeepFashion2 landmark metric is COCO keypoint evaluation with the 294 official
sigmas: per (image, category) greedy matching of the top-20 detections (useCats=1, maxDets
[20]), OKS thresholds .50:.05:.95, area ranges all / medium / large on the GT ``area``, GT with
``num_keypoints == 0`` (or crowd) ignored, 101-point interpolated precision. pycocotools does
all of it with Python loops over images and detections; here every step runs on arrays:

* detections are sorted once by (image, category, -score, input order) — the order in which
  COCOeval visits them, including its mergesort tie-breaking;
* OKS is computed for all (detection, GT) pairs of all groups at once (``oks.pair_oks``);
* greedy matching runs over the detection rank (at most 20 steps) for all groups, IoU
  thresholds and area ranges simultaneously (groups bucketed by their number of GTs);
* accumulation reproduces ``COCOeval.accumulate`` with cumulative sums and searchsorted.

The detections are evaluated exactly as ``COCO.loadRes`` sees them in a result file. The
official rule for a detection's area (it selects the medium/large ranges of APm, APl, ARm,
ARl) is: when the results carry a ``bbox`` (decided by the first entry, as ``loadRes`` does),
area = bbox w * h; otherwise the box hull of all K predicted coordinates (``result_areas``).
Pass ``boxes`` whenever the file carries them (``tools/test.py`` writes each instance's
detection box). Without boxes and with ``as_submission=True`` (default) the detections are
first put into the form ``results.write_results`` writes (slots outside the instance's own
category hold its first own landmark), so the in-memory numbers equal those of the written
file: the hull is then that of the own landmarks, and the box-distance OKS pycocotools uses
against GT without labelled landmarks sees the same points. Use ``as_submission=False`` for
arrays loaded from an arbitrary result file.

Results whose category is not in the ground truth's category list are ignored, as the official
evaluator ignores them (its per-category loop never visits them); they are counted in
``KeypointEvalResult.num_ignored`` and reported in one warning line. An image id outside the
ground truth is an error (``loadRes`` refuses such files).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..keypoints import KeypointScheme, get_scheme
from .accumulate import accumulate, mean_defined, summarize
from .groundtruth import GroundTruth
from .matching import greedy_match
from .oks import pair_oks
from .params import AREA_RANGES, IOU_THRS, MAX_DETS
from .results import submission_keypoints

logger = logging.getLogger(__name__)


@dataclass
class KeypointEvalResult:
    """Summary and raw curves. ``precision`` is (T, R, C, A), ``recall`` (T, C, A); -1 where
    a category has no non-ignored GT in that area range (as in COCOeval)."""

    stats: dict[str, float]
    per_category: dict[str, float]
    precision: np.ndarray
    recall: np.ndarray
    num_ignored: int = 0       # results of categories the ground truth does not list


def evaluate_keypoints(gt: GroundTruth, image_ids: np.ndarray, category_ids: np.ndarray,
                       keypoints: np.ndarray, scores: np.ndarray,
                       scheme: KeypointScheme | str = "deepfashion2", as_submission: bool = True,
                       max_dets: int = MAX_DETS, boxes: np.ndarray | None = None
                       ) -> KeypointEvalResult:
    """COCO keypoint AP of detections against ``gt`` (see module docstring).

    Args:
        gt: ground truth indexed once with ``GroundTruth.load``.
        image_ids, category_ids: (N,) ints, each must exist in ``gt``.
        keypoints: (N, K, 2 or 3) image coordinates (a third column is ignored).
        scores: (N,) instance scores.
        scheme: gives the OKS sigmas and each category's slots.
        as_submission: evaluate the detections as ``write_results`` would write them
            (see module docstring); False takes all K slots as given.
        max_dets: detections kept per (image, category), highest scores first.
        boxes: (N, 4) x, y, w, h of each result when its file carries ``bbox`` (the official
            area rule then takes the area from them), else None.
    """
    scheme = get_scheme(scheme) if isinstance(scheme, str) else scheme
    image_ids, category_ids, keypoints, scores, boxes, ignored = _drop_unknown_categories(
        gt, image_ids, category_ids, keypoints, scores, boxes)
    dts = _prepare_detections(gt, image_ids, category_ids, keypoints, scores, scheme,
                              as_submission, max_dets, boxes)
    dt_match = _match(gt, dts, scheme.sigmas)
    precision, recall = _accumulate(gt, dts, dt_match)
    stats = summarize(precision, recall)
    per_category = {gt.category_names[int(c)]: mean_defined(precision[:, :, k, 0])
                    for k, c in enumerate(gt.category_ids)}
    return KeypointEvalResult(stats, per_category, precision, recall, ignored)


def _drop_unknown_categories(gt: GroundTruth, image_ids, category_ids, keypoints, scores, boxes):
    """Remove (and count, one warning) results whose category the ground truth does not list."""
    cat = np.asarray(category_ids).reshape(-1)
    known = np.isin(cat, gt.category_ids)
    if known.all():
        return image_ids, category_ids, keypoints, scores, boxes, 0
    n = int((~known).sum())
    logger.warning("%d result(s) of categories %s that %s does not list are ignored, as the "
                   "official evaluator ignores them", n, sorted(set(cat[~known].tolist())),
                   gt.source)

    def sel(a):
        return None if a is None else np.asarray(a)[known]
    return (sel(image_ids), sel(category_ids), sel(keypoints), sel(scores), sel(boxes), n)


def result_areas(keypoints: np.ndarray, boxes: np.ndarray | None) -> np.ndarray:
    """Detection areas by the official ``COCO.loadRes`` rule: bbox w * h when the results carry
    a ``bbox``, else the box hull of all K predicted coordinates."""
    if boxes is None:
        return detection_areas(keypoints)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return b[:, 2] * b[:, 3]


@dataclass
class KeypointMatching:
    """Which ground truth each detection was assigned to by the evaluation's greedy matching.

    Attributes:
        detection: (Nd,) input index of each kept detection (top ``max_dets`` per image and
            category), in the order COCOeval visits them.
        gt: (Nd, A, T) row of the matched annotation in the ``GroundTruth`` arrays, -1 if none,
            per area range (``params.AREA_LABELS``) and OKS threshold.
        thresholds: (T,) the OKS thresholds.
    """

    detection: np.ndarray
    gt: np.ndarray
    thresholds: np.ndarray


def match_keypoints(gt: GroundTruth, image_ids: np.ndarray, category_ids: np.ndarray,
                    keypoints: np.ndarray, scores: np.ndarray,
                    scheme: KeypointScheme | str = "deepfashion2", as_submission: bool = True,
                    max_dets: int = MAX_DETS, boxes: np.ndarray | None = None,
                    thresholds: np.ndarray = IOU_THRS) -> KeypointMatching:
    """The detection/GT assignment ``evaluate_keypoints`` makes, at any OKS ``thresholds``
    (error analysis matches at a looser threshold than .5); arguments as there. Results of
    categories the ground truth does not list take no part (as there)."""
    scheme = get_scheme(scheme) if isinstance(scheme, str) else scheme
    rows = np.nonzero(np.isin(np.asarray(category_ids).reshape(-1), gt.category_ids))[0]
    image_ids, category_ids, keypoints, scores, boxes, _ = _drop_unknown_categories(
        gt, image_ids, category_ids, keypoints, scores, boxes)
    dts = _prepare_detections(gt, image_ids, category_ids, keypoints, scores, scheme,
                              as_submission, max_dets, boxes)
    thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    return KeypointMatching(rows[dts.index], _match(gt, dts, scheme.sigmas, thr), thr)


def detection_areas(keypoints: np.ndarray) -> np.ndarray:
    """Box-hull area of all predicted coordinates (N, K, >=2), as ``COCO.loadRes`` computes it."""
    xy = np.asarray(keypoints, dtype=np.float64)[:, :, :2]
    if len(xy) == 0 or xy.shape[1] == 0:
        return np.zeros(len(xy))
    span = xy.max(axis=1) - xy.min(axis=1)
    return span[:, 0] * span[:, 1]


@dataclass
class _Detections:
    xy: np.ndarray          # (Nd, K, 2) kept detections, COCOeval visiting order
    scores: np.ndarray      # (Nd,)
    areas: np.ndarray       # (Nd,)
    keys: np.ndarray        # (Nd,) group key
    ranks: np.ndarray       # (Nd,) position inside the group (0 = highest score)
    category_rank: np.ndarray  # (Nd,)
    category_ids: np.ndarray   # (Nd,)
    as_submission: bool
    scheme: KeypointScheme
    index: np.ndarray          # (Nd,) input index of each kept detection


def _prepare_detections(gt: GroundTruth, image_ids, category_ids, keypoints, scores,
                        scheme: KeypointScheme, as_submission: bool, max_dets: int,
                        boxes: np.ndarray | None = None) -> _Detections:
    img = np.asarray(image_ids, dtype=np.int64).reshape(-1)
    cat = np.asarray(category_ids, dtype=np.int64).reshape(-1)
    kps = np.asarray(keypoints, dtype=np.float64)
    sc = np.asarray(scores, dtype=np.float64).reshape(-1)
    _check_inputs(gt, scheme, img, cat, kps, sc, boxes)
    crank = gt.category_rank(cat)
    n = len(img)
    keys = gt.make_group_keys(img, cat)
    order = np.lexsort((np.arange(n), -sc, keys))
    sorted_keys = keys[order]
    ranks = np.arange(n) - np.searchsorted(sorted_keys, sorted_keys, side="left")
    kept = ranks < max_dets
    keep = order[kept]
    xy = kps[keep, :, :2]
    if boxes is not None:   # the official rule when results carry a bbox
        areas = result_areas(xy, np.asarray(boxes, dtype=np.float64).reshape(n, 4)[keep])
    elif as_submission:   # the hull of the filled slots is the hull of the own landmarks
        areas = _own_category_areas(xy, cat[keep], scheme)
    else:
        areas = detection_areas(xy)
    return _Detections(xy=xy, scores=sc[keep], areas=areas, keys=sorted_keys[kept],
                       ranks=ranks[kept], category_rank=crank[keep], category_ids=cat[keep],
                       as_submission=as_submission, scheme=scheme, index=keep)


def _check_inputs(gt: GroundTruth, scheme: KeypointScheme, img: np.ndarray, cat: np.ndarray,
                  kps: np.ndarray, sc: np.ndarray, boxes: np.ndarray | None = None) -> None:
    n = len(img)
    if kps.ndim != 3 or kps.shape[0] != n or kps.shape[2] < 2 or len(cat) != n or len(sc) != n:
        raise ValueError(f"expected image_ids/category_ids/scores (N,) and keypoints (N, K, 2|3) "
                         f"with the same N; got {img.shape}, {cat.shape}, {sc.shape}, {kps.shape}")
    if boxes is not None and np.shape(boxes) != (n, 4):
        raise ValueError(f"boxes must be (N, 4) with N = {n}, got {np.shape(boxes)}")
    k = scheme.num_keypoints
    if kps.shape[1] != k or (len(gt.keypoints) and gt.num_keypoints != k):
        raise ValueError(f"keypoints have {kps.shape[1]} slots, ground truth "
                         f"{gt.num_keypoints}, scheme {scheme.name!r} {k}; they must agree")
    for name, arr in (("keypoints", kps[:, :, :2]), ("scores", sc)):
        if not np.isfinite(arr).all():
            bad = np.nonzero(~np.isfinite(arr.reshape(n, -1)).all(axis=1))[0]
            raise ValueError(f"detection {bad[0]}: {name} contain NaN or inf")
    _check_known(gt.image_rank(img), img, "image_id", gt.source)
    _check_known(gt.category_rank(cat), cat, "category_id", gt.source)


def _own_category_areas(xy: np.ndarray, cats: np.ndarray, scheme: KeypointScheme) -> np.ndarray:
    areas = np.zeros(len(xy))
    for cid in np.unique(cats):
        rows = np.nonzero(cats == cid)[0]
        own = xy[rows[:, None], np.asarray(scheme.category(int(cid)).slots)[None, :]]
        span = own.max(axis=1) - own.min(axis=1)
        areas[rows] = span[:, 0] * span[:, 1]
    return areas


def _check_known(rank: np.ndarray, ids: np.ndarray, field: str, source: str) -> None:
    bad = np.nonzero(rank < 0)[0]
    if len(bad):
        raise ValueError(f"detection {bad[0]}: {field} {ids[bad[0]]} is not in the ground truth "
                         f"{source} ({len(bad)} detection(s) affected)")


def _gt_ignore_by_area(gt: GroundTruth) -> np.ndarray:
    """(A, M): GT ignored in each area range (ignore flag or area outside the range)."""
    a = gt.areas[None, :]
    return gt.ignore[None, :] | (a < AREA_RANGES[:, :1]) | (a > AREA_RANGES[:, 1:])


def _match(gt: GroundTruth, dts: _Detections, sigmas: np.ndarray,
           thresholds: np.ndarray = IOU_THRS) -> np.ndarray:
    """Greedy COCOeval matching. Returns (Nd, A, T) index of the matched GT, -1 if none."""
    counts, cols = gt.labelled

    def similarity(dt_index: np.ndarray, gt_index: np.ndarray) -> np.ndarray:
        if dts.as_submission:
            # Pairs whose OKS reads slots outside the detection's own category (GT without
            # labelled landmarks: all K points against the GT box; GT labelled outside its
            # category's block) need the filled slots a written file would have.
            reads_other = (counts == 0) | _labelled_outside_category(gt, dts.scheme)
            rows = np.unique(dt_index[reads_other[gt_index]])
            dts.xy[rows] = submission_keypoints(dts.xy[rows], dts.category_ids[rows], dts.scheme)
        return pair_oks(dts.xy, gt.keypoints, gt.areas, gt.bboxes, sigmas, dt_index, gt_index,
                        counts, cols)

    return greedy_match(gt.group_keys, dts.keys, dts.ranks, similarity, _gt_ignore_by_area(gt),
                        gt.iscrowd, thresholds)


def _labelled_outside_category(gt: GroundTruth, scheme: KeypointScheme) -> np.ndarray:
    """(M,) GT with a labelled keypoint outside its category's slots (malformed, but legal)."""
    outside = np.zeros(len(gt.ann_ids), dtype=bool)
    labelled = gt.keypoints[:, :, 2] > 0
    for cid in np.unique(gt.ann_category_ids):
        if cid not in scheme.category_ids:
            continue
        rows = np.nonzero(gt.ann_category_ids == cid)[0]
        outside[rows] = (labelled[rows] & ~scheme.category_mask(int(cid))).any(axis=1)
    return outside


def _accumulate(gt: GroundTruth, dts: _Detections, dt_match: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    matched = dt_match >= 0
    ign = _gt_ignore_by_area(gt)
    if len(gt.ann_ids):
        safe = np.where(matched, dt_match, 0)
        matched_ignore = matched & ign[np.arange(len(AREA_RANGES))[None, :, None], safe]
        matched_id = matched & (gt.ann_ids[safe] != 0)   # pycocotools stores the id; 0 = none
    else:
        matched_ignore = matched_id = matched
    return accumulate(dts.category_rank, dts.scores, matched_id, dts.areas,
                      gt.category_rank(gt.ann_category_ids), ign, matched_ignore,
                      len(gt.category_ids))
