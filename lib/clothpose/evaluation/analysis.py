"""Why a model misses: landmark and instance error analysis of DeepFashion2 keypoint results.

AP says how good a model is, not what to fix. Following Ronchi & Perona ("Benchmarking and Error
Diagnosis in Multi-Instance Pose Estimation", ICCV 2017, the coco-analyze tool) every landmark of
every *matched* prediction is put in one class by its keypoint similarity

    ks = exp(-d**2 / (2 * (2 sigma)**2 * area))      (the term OKS averages)

to the landmarks of the ground truth in the same image and category:

* ``good``: ks >= .85 to its own GT landmark;
* ``jitter``: .5 <= ks < .85 to its own GT landmark;
* ``inversion``: ks >= .5 to the mirror landmark of its own GT item (the scheme's flip pairs,
  e.g. left sleeve predicted on the right sleeve);
* ``swap``: ks >= .5 to the same landmark of another GT item of its category in the image (or
  that item's mirror landmark);
* ``miss``: ks < .5 to all of these.

The closest of these candidates decides; ties go to the own landmark, then other items, then
the own mirror landmark, then other items' mirror landmarks (coco-analyze's order; it tests
ks > .85 for good and ks < .85 for jitter, leaving ks = .85 in no class: here it is good).
Only landmarks labelled in the GT (v > 0) are classed. A prediction counts as *matched* when the
official evaluation's greedy matching (the same code, ``fast_eval.match_keypoints``) assigns it
a non-ignored GT item at OKS >= .1 (coco-analyze's localisation threshold), area range "all".

**Oracles.** For each landmark error type in turn (alone), the landmarks of that type are
corrected and the official AP is recomputed (``ap_oracle``): a jitter is moved to ks = .85
(just good), a miss to ks = .5 (a jitter), an inversion or swap onto its own GT landmark at the
ks it had to the landmark it confused (the confusion is removed, its localisation kept), all
displaced from the GT along x, as coco-analyze does. coco-analyze computes that displacement with
a formula that lands at ks**(1/4) instead of ks; here the corrected landmark has exactly the
stated ks. Instance errors (each alone as well):

* ``wrong_category``: a prediction matched to nothing of its own category at OKS .1 that would
  match (OKS >= .5) a GT item of another category in the image, comparing landmarks of the
  same meaning (the shared channels of the aggregated 81-keypoint scheme; landmarks the other
  category lacks count as ks = 0). The oracle relabels it (landmarks carried over by meaning,
  the others at their centroid); a second prediction for an item already found is removed.
* ``false_positive``: the other predictions matched to nothing at OKS .1 (background and
  duplicates). The oracle removes them.
* ``missed``: GT items matched at OKS .1 by no prediction and not claimed by a wrong-category
  prediction. The oracle marks them ignored (as coco-analyze does with false negatives).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..keypoints import KeypointScheme, get_scheme
from .fast_eval import KeypointEvalResult, evaluate_keypoints, match_keypoints
from .groundtruth import GroundTruth
from .params import MAX_DETS, STAT_NAMES
from .results import Results, submission_keypoints

logger = logging.getLogger(__name__)

CLASSES = ("good", "jitter", "inversion", "swap", "miss")
GOOD, JITTER, INVERSION, SWAP, MISS = range(5)
KEYPOINT_ERRORS = ("jitter", "inversion", "swap", "miss")
INSTANCE_ERRORS = ("wrong_category", "false_positive", "missed")
CODES = "gjism"          # one letter per class in analysis.json; "-" = not labelled in the GT
_EPS = np.spacing(1)     # as oks.py: scale = area + eps


@dataclass(frozen=True)
class AnalysisParams:
    """Thresholds of the analysis (Ronchi & Perona's values by default)."""

    ks_good: float = 0.85       # good / jitter boundary
    ks_jitter: float = 0.5      # jitter / miss boundary (also inversion and swap)
    match_oks: float = 0.1      # a prediction is analysed when matched at this OKS
    category_oks: float = 0.5   # "would match" another category's item at this OKS
    max_dets: int = MAX_DETS


@dataclass
class ErrorAnalysis:
    """Everything the report shows; arrays index ``results`` and the GT rows.

    Attributes:
        baseline: the official evaluation of the results as given.
        pair_det, pair_gt: (P,) matched predictions (result index) and their GT row.
        pair_oks: (P,) OKS of each matched pair.
        classes: (P, K) int8 class of each landmark (``CLASSES`` index), -1 where the slot is
            not the instance's category's or the GT landmark is not labelled.
        oracle: fix name (``KEYPOINT_ERRORS`` + ``INSTANCE_ERRORS``) -> evaluation after it.
        false_positive: result indices; missed: GT rows.
        result_index: row of ``results`` -> entry of the result file (results of categories
            the ground truth does not list are left out, as the evaluator ignores them).
        wrong_det, wrong_gt, wrong_oks: wrong-category predictions, the GT row they would
            match and that OKS; wrong_relabelled: True where the oracle relabels (else removes).
    """

    scheme: KeypointScheme
    params: AnalysisParams
    gt: GroundTruth
    results: Results
    baseline: KeypointEvalResult
    pair_det: np.ndarray
    pair_gt: np.ndarray
    pair_oks: np.ndarray
    classes: np.ndarray
    oracle: dict[str, KeypointEvalResult] = field(default_factory=dict)
    false_positive: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    missed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    wrong_det: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    wrong_gt: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    wrong_oks: np.ndarray = field(default_factory=lambda: np.zeros(0))
    wrong_relabelled: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    result_index: np.ndarray | None = None   # entry of the result file of each row of results
    num_ignored: int = 0                     # results of categories the GT does not list

    @property
    def category_ids(self) -> list[int]:
        """Categories of the ground truth, in id order."""
        return [int(c) for c in self.gt.category_ids]

    def counts(self) -> np.ndarray:
        """(5,) landmarks per class over all matched instances."""
        c = self.classes[self.classes >= 0]
        return np.bincount(c, minlength=len(CLASSES))

    def counts_per_category(self) -> dict[int, np.ndarray]:
        """category id -> (5,) landmark counts of its matched instances."""
        cats = self.gt.ann_category_ids[self.pair_gt]
        out = {}
        for cid in self.category_ids:
            c = self.classes[cats == cid]
            out[cid] = np.bincount(c[c >= 0], minlength=len(CLASSES))
        return out

    def counts_per_landmark(self) -> np.ndarray:
        """(K, 5) counts per channel of the scheme."""
        k = self.classes.shape[1]
        rows, cols = np.nonzero(self.classes >= 0)
        flat = cols * len(CLASSES) + self.classes[rows, cols]
        return np.bincount(flat, minlength=k * len(CLASSES)).reshape(k, len(CLASSES))

    def ap_oracle(self, stat: str = "AP") -> dict[str, float]:
        """Fix name -> the ``stat`` (AP, AP50, ...) after the oracle fixed that error type."""
        return {name: float(r.stats[stat]) for name, r in self.oracle.items()}


def shared_scheme(scheme: KeypointScheme) -> KeypointScheme:
    """The scheme whose channels carry one meaning across categories (used to compare a
    prediction with an item of another category): DeepFashion2 -> its 81 aggregated channels;
    a scheme whose categories already share channels (FashionAI) is its own."""
    shared = {"deepfashion2": "deepfashion2-agg81", "deepfashion2-figure":
              "deepfashion2-agg81-figure", "deepfashion2-mmpose": "deepfashion2-agg81-figure"}
    return get_scheme(shared[scheme.name]) if scheme.name in shared else scheme


def transfer_index(scheme: KeypointScheme, source: int, target: int,
                   shared: KeypointScheme | None = None) -> np.ndarray:
    """For each local landmark of category ``target``, the local landmark of ``source`` with
    the same meaning (same shared channel), or -1."""
    shared = shared or shared_scheme(scheme)
    src = {ch: j for j, ch in enumerate(shared.category(source).slots)}
    return np.asarray([src.get(ch, -1) for ch in shared.category(target).slots], dtype=np.int64)


def keypoint_similarity(dt_xy: np.ndarray, gt_xy: np.ndarray, variances: np.ndarray,
                        areas: np.ndarray) -> np.ndarray:
    """ks per landmark, the term OKS averages (same arithmetic as ``oks.pair_oks``).

    dt_xy, gt_xy: (P, n, 2); variances: (n,) = (2 sigma)**2; areas: (P,) GT areas.
    """
    d2 = (dt_xy[..., 0] - gt_xy[..., 0]) ** 2 + (dt_xy[..., 1] - gt_xy[..., 1]) ** 2
    return np.exp(-(d2 / variances / (areas[:, None] + _EPS) / 2))


def distance_for_ks(ks: np.ndarray, variances: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """Distance from the GT landmark at which the similarity equals ``ks`` (inverse of
    ``keypoint_similarity``); ks (P, n), variances (n,), areas (P,)."""
    k = np.clip(ks, np.finfo(float).tiny, 1.0)
    return np.sqrt(-np.log(k) * 2 * variances * (areas[:, None] + _EPS))


def analyze_errors(gt: GroundTruth, results: Results,
                   scheme: KeypointScheme | str = "deepfashion2", as_submission: bool | None = None,
                   params: AnalysisParams = AnalysisParams()) -> ErrorAnalysis:
    """Classify landmark errors, find instance errors and evaluate every oracle fix.

    Args:
        gt: indexed ground truth (``GroundTruth.load``).
        results: result entries (``load_results``) in the scheme's full layout (294).
        as_submission: as in ``evaluate_keypoints``. None (default): True when the results
            already are in the form ``write_results`` writes (then both evaluate identically
            and True is faster), else False, which evaluates the coordinates exactly as given.
    """
    scheme = get_scheme(scheme) if isinstance(scheme, str) else scheme
    res, index = _known_categories(gt, results)
    boxes = res.boxes
    xy = np.ascontiguousarray(res.keypoints[:, :, :2], dtype=np.float64)
    if as_submission is None:
        as_submission = in_submission_form(xy, res.category_ids, scheme)

    def evaluate(img, cat, kps, sc, bx, g: GroundTruth = gt) -> KeypointEvalResult:
        return evaluate_keypoints(g, img, cat, kps, sc, scheme, as_submission, params.max_dets,
                                  bx)

    def subset(keep: np.ndarray) -> np.ndarray | None:
        return None if boxes is None else boxes[keep]

    baseline = evaluate(res.image_ids, res.category_ids, xy, res.scores, boxes)
    match = match_keypoints(gt, res.image_ids, res.category_ids, xy, res.scores, scheme,
                            as_submission, params.max_dets, boxes=boxes,
                            thresholds=[params.match_oks])
    matched_gt = match.gt[:, 0, 0]                   # area range "all"
    has = matched_gt >= 0
    ok = has & ~gt.ignore[np.where(has, matched_gt, 0)]
    pair_det, pair_gt = match.detection[ok], matched_gt[ok]
    order = np.argsort(pair_det, kind="stable")
    pair_det, pair_gt = pair_det[order], pair_gt[order]
    lm = _classify(gt, scheme, xy, pair_det, pair_gt, params)

    out = ErrorAnalysis(scheme=scheme, params=params, gt=gt, results=res, baseline=baseline,
                        pair_det=pair_det, pair_gt=pair_gt, pair_oks=lm.oks, classes=lm.classes,
                        result_index=index, num_ignored=len(results) - len(res))
    for k, name in zip((JITTER, INVERSION, SWAP, MISS), KEYPOINT_ERRORS):
        p, s = np.nonzero(lm.classes == k)
        saved = xy[pair_det[p], s].copy()           # fix in place, evaluate, restore
        xy[pair_det[p], s] = lm.corrected[p, s]
        out.oracle[name] = evaluate(res.image_ids, res.category_ids, xy, res.scores, boxes)
        xy[pair_det[p], s] = saved

    unmatched = match.detection[~has]                 # kept by max_dets, matched to nothing
    wd, wg, wo = _wrong_category(gt, scheme, xy, res.image_ids, res.category_ids, unmatched,
                                 params.category_oks)
    found = np.zeros(len(gt.ann_ids), dtype=bool)
    found[matched_gt[has]] = True
    relabel = _relabel_once(wd, wg, res.scores, found)
    out.wrong_det, out.wrong_gt, out.wrong_oks, out.wrong_relabelled = wd, wg, wo, relabel
    cat = res.category_ids.copy()
    moved = wd[relabel]
    saved = xy[moved].copy()
    for d, g in zip(moved, wg[relabel]):
        cat[d] = gt.ann_category_ids[g]
        xy[d] = _carry_over(scheme, xy[d], int(res.category_ids[d]), int(cat[d]))
    keep = np.ones(len(res), dtype=bool)
    keep[wd[~relabel]] = False
    out.oracle["wrong_category"] = evaluate(res.image_ids[keep], cat[keep], xy[keep],
                                            res.scores[keep], subset(keep))
    xy[moved] = saved

    out.false_positive = np.setdiff1d(unmatched, wd)
    keep = np.ones(len(res), dtype=bool)
    keep[out.false_positive] = False
    out.oracle["false_positive"] = evaluate(res.image_ids[keep], res.category_ids[keep],
                                            xy[keep], res.scores[keep], subset(keep))

    claimed = found.copy()
    claimed[wg] = True
    out.missed = np.nonzero(~claimed & ~gt.ignore)[0]
    ignore = gt.ignore.copy()
    ignore[out.missed] = True
    out.oracle["missed"] = evaluate(res.image_ids, res.category_ids, xy, res.scores, boxes,
                                    dataclasses.replace(gt, ignore=ignore))
    logger.info("analysed %d matched instances (%d landmarks), %d wrong-category, %d false "
                "positive, %d missed", len(pair_det), int((lm.classes >= 0).sum()), len(wd),
                len(out.false_positive), len(out.missed))
    return out


def _known_categories(gt: GroundTruth, results: Results) -> tuple[Results, np.ndarray]:
    """The results of categories the ground truth lists (the evaluator ignores the others, as
    the official one does) and their indices in ``results``."""
    known = np.isin(results.category_ids, gt.category_ids)
    index = np.nonzero(known)[0]
    if known.all():
        return results, index
    logger.warning("%d result(s) of categories the ground truth does not list are ignored",
                   int((~known).sum()))
    boxes = None if results.boxes is None else results.boxes[known]
    return Results(results.image_ids[known], results.category_ids[known],
                   results.keypoints[known], results.scores[known], boxes), index


@dataclass
class _Landmarks:
    classes: np.ndarray     # (P, K) int8
    corrected: np.ndarray   # (P, K, 2) oracle position of each erroneous landmark
    oks: np.ndarray         # (P,)


def _classify(gt: GroundTruth, scheme: KeypointScheme, xy: np.ndarray, pair_det: np.ndarray,
              pair_gt: np.ndarray, params: AnalysisParams) -> _Landmarks:
    """Per category: ks of every landmark to its own GT landmark, the mirror landmark and the
    same / mirror landmark of the other GT items of the (image, category) group."""
    n_pairs, k = len(pair_det), scheme.num_keypoints
    classes = np.full((n_pairs, k), -1, dtype=np.int8)
    corrected = np.zeros((n_pairs, k, 2))
    oks = np.zeros(n_pairs)
    variances_all = (np.asarray(scheme.sigmas, dtype=np.float64) * 2) ** 2
    group_start = np.searchsorted(gt.group_keys, gt.group_keys[pair_gt], side="left")
    group_end = np.searchsorted(gt.group_keys, gt.group_keys[pair_gt], side="right")
    pair_cat = gt.ann_category_ids[pair_gt]
    for cid in np.unique(pair_cat):
        cat = scheme.category(int(cid))
        slots = np.asarray(cat.slots)
        mirror = np.arange(len(slots))
        for a, b in cat.flip_pairs:
            mirror[a], mirror[b] = b, a
        var = variances_all[slots]
        rows = np.nonzero(pair_cat == cid)[0]
        g = pair_gt[rows]
        dxy = xy[pair_det[rows][:, None], slots[None, :]]               # (p, n, 2)
        gk = gt.keypoints[g[:, None], slots[None, :]]                    # (p, n, 3)
        area = gt.areas[g]
        own = _masked_ks(dxy, gk, var, area)
        inv = _masked_ks(dxy, gk[:, mirror], var, area)
        other, other_inv = _other_items(gt, dxy, g, group_start[rows], group_end[rows], slots,
                                        mirror, var)
        cand = np.stack([own, other, inv, other_inv])                   # coco-analyze's order
        which = np.argmax(cand, axis=0)
        best = np.max(cand, axis=0)
        labelled = gk[:, :, 2] > 0
        cls = np.where(best < params.ks_jitter, MISS,
                       np.where(which == 0, np.where(best >= params.ks_good, GOOD, JITTER),
                                np.where(which == 2, INVERSION, SWAP)))
        cls = np.where(labelled, cls, -1)
        classes[rows[:, None], slots[None, :]] = cls
        target = np.select([cls == JITTER, cls == MISS], [params.ks_good, params.ks_jitter], best)
        shift = distance_for_ks(target, var, area)
        corr = gk[:, :, :2].copy()
        corr[:, :, 0] += shift
        corrected[rows[:, None], slots[None, :]] = corr
        n_lab = labelled.sum(axis=1)
        oks[rows] = np.where(n_lab > 0, (np.where(labelled, own, 0)).sum(axis=1)
                             / np.maximum(n_lab, 1), 0.0)
    return _Landmarks(classes, corrected, oks)


def _masked_ks(dxy: np.ndarray, gk: np.ndarray, var: np.ndarray, area: np.ndarray) -> np.ndarray:
    """ks where the GT landmark is labelled, -1 elsewhere (never the closest candidate)."""
    ks = keypoint_similarity(dxy, gk[:, :, :2], var, area)
    return np.where(gk[:, :, 2] > 0, ks, -1.0)


def _other_items(gt: GroundTruth, dxy: np.ndarray, g: np.ndarray, start: np.ndarray,
                 end: np.ndarray, slots: np.ndarray, mirror: np.ndarray,
                 var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best ks of each landmark to the same landmark (and to the mirror landmark) of the other
    GT items in the prediction's (image, category) group; -1 where there is none."""
    p, n = dxy.shape[:2]
    same = np.full((p, n), -1.0)
    mirrored = np.full((p, n), -1.0)
    count = end - start
    if not (count > 1).any():
        return same, mirrored
    q = np.repeat(np.arange(p), count)
    o = np.repeat(start, count) + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count,
                                                                     count)
    q, o = q[o != g[q]], o[o != g[q]]
    ok = gt.keypoints[o[:, None], slots[None, :]]
    np.maximum.at(same, q, _masked_ks(dxy[q], ok, var, gt.areas[o]))
    np.maximum.at(mirrored, q, _masked_ks(dxy[q], ok[:, mirror], var, gt.areas[o]))
    return same, mirrored


def _wrong_category(gt: GroundTruth, scheme: KeypointScheme, xy: np.ndarray,
                    image_ids: np.ndarray, category_ids: np.ndarray, candidates: np.ndarray,
                    min_oks: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictions among ``candidates`` whose landmarks, read by meaning, match (OKS >=
    ``min_oks``) a non-ignored GT item of another category in the same image. Returns the
    prediction indices, the best such GT row of each and its OKS."""
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if len(candidates) == 0 or len(gt.ann_ids) == 0:
        return empty
    gt_rank = gt.image_rank(gt.ann_image_ids)              # GT rows are sorted by image rank
    d_rank = gt.image_rank(image_ids[candidates])
    start = np.searchsorted(gt_rank, d_rank, side="left")
    count = np.searchsorted(gt_rank, d_rank, side="right") - start
    d = np.repeat(candidates, count)
    g = np.repeat(start, count) + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count,
                                                                     count)
    keep = (gt.ann_category_ids[g] != category_ids[d]) & ~gt.ignore[g]
    d, g = d[keep], g[keep]
    if len(d) == 0:
        return empty
    shared = shared_scheme(scheme)
    variances_all = (np.asarray(scheme.sigmas, dtype=np.float64) * 2) ** 2
    oks = np.zeros(len(d))
    combos = np.unique(np.stack([category_ids[d], gt.ann_category_ids[g]], axis=1), axis=0)
    for cs, ct in combos:
        sel = np.nonzero((category_ids[d] == cs) & (gt.ann_category_ids[g] == ct))[0]
        idx = transfer_index(scheme, int(cs), int(ct), shared)
        if (idx < 0).all():
            continue
        src_slots = np.asarray(scheme.category(int(cs)).slots)
        dst_slots = np.asarray(scheme.category(int(ct)).slots)
        dxy = xy[d[sel][:, None], src_slots[np.maximum(idx, 0)][None, :]]
        gk = gt.keypoints[g[sel][:, None], dst_slots[None, :]]
        ks = keypoint_similarity(dxy, gk[:, :, :2], variances_all[dst_slots], gt.areas[g[sel]])
        labelled = gk[:, :, 2] > 0
        ks = np.where(labelled & (idx >= 0)[None, :], ks, 0.0)
        oks[sel] = ks.sum(axis=1) / np.maximum(labelled.sum(axis=1), 1)
    best = np.lexsort((-oks, d))                      # per prediction, highest OKS first
    first = best[np.r_[True, d[best][1:] != d[best][:-1]]]
    hit = first[oks[first] >= min_oks]
    return d[hit], g[hit], oks[hit]


def _relabel_once(wd: np.ndarray, wg: np.ndarray, scores: np.ndarray,
                  found: np.ndarray) -> np.ndarray:
    """True for the wrong-category predictions the oracle relabels: the highest-scored one per
    GT item that no prediction of the right category found; the rest are duplicates."""
    relabel = np.zeros(len(wd), dtype=bool)
    taken = found.copy()
    for i in np.lexsort((wd, -scores[wd])):
        if not taken[wg[i]]:
            relabel[i] = taken[wg[i]] = True
    return relabel


def _carry_over(scheme: KeypointScheme, xy: np.ndarray, source: int, target: int) -> np.ndarray:
    """(K, 2) prediction relabelled from ``source`` to ``target``: landmarks of the same
    meaning carried over, the target's other landmarks at their centroid, written in the
    submission form (other slots = first own landmark)."""
    idx = transfer_index(scheme, source, target)
    src = xy[list(scheme.category(source).slots)]
    have = idx >= 0
    local = np.empty((len(idx), 2))
    local[have] = src[idx[have]]
    local[~have] = src[idx[have]].mean(axis=0) if have.any() else src.mean(axis=0)
    row = np.zeros_like(xy)
    row[list(scheme.category(target).slots)] = local
    return submission_keypoints(row[None], [target], scheme)[0]


def in_submission_form(xy: np.ndarray, category_ids: np.ndarray,
                       scheme: KeypointScheme) -> bool:
    """True when every slot outside an instance's category holds its first own landmark (the
    form ``write_results`` writes, which ``as_submission=True`` evaluates identically)."""
    cats = np.asarray(category_ids)
    for cid in np.unique(cats):
        rows = np.nonzero(cats == cid)[0]
        slots = np.asarray(scheme.category(int(cid)).slots)
        other = ~scheme.category_mask(int(cid))
        block = xy[rows]
        if not (block[:, other] == block[:, slots[:1]]).all():
            return False
    return True


# ------------------------------------------------------------------------------ JSON summary
def _class_dict(counts: np.ndarray) -> dict[str, int]:
    out = {name: int(c) for name, c in zip(CLASSES, counts)}
    out["labelled"] = int(np.sum(counts))
    return out


def _stats(r: KeypointEvalResult) -> dict[str, float]:
    return {n: float(r.stats[n]) for n in STAT_NAMES}


def analysis_to_dict(a: ErrorAnalysis, sources: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``analysis.json`` content (see the module docstring and README for the fields)."""
    gt, res, p = a.gt, a.results, a.params
    entry = a.result_index if a.result_index is not None else np.arange(len(res))
    names = {int(c): gt.category_names[int(c)] for c in gt.category_ids}
    base_ap = float(a.baseline.stats["AP"])
    cat_of_gt = gt.ann_category_ids
    per_cat_counts = a.counts_per_category()
    per_landmark = a.counts_per_landmark()
    used = sorted({s for cid in a.category_ids if cid in a.scheme.category_ids
                   for s in a.scheme.category(cid).slots})

    def instance_cost(name: str, count: int, extra: dict | None = None) -> dict:
        ap = float(a.oracle[name].stats["AP"])
        return {"count": int(count), "ap_oracle": ap, "gain": ap - base_ap, **(extra or {})}

    per_category = {}
    for cid in a.category_ids:
        per_category[names[cid]] = {
            "category_id": cid,
            "gt_instances": int(np.count_nonzero((cat_of_gt == cid) & ~gt.ignore)),
            "matched": int(np.count_nonzero(cat_of_gt[a.pair_gt] == cid)),
            "missed": int(np.count_nonzero(cat_of_gt[a.missed] == cid)),
            "false_positive": int(np.count_nonzero(res.category_ids[a.false_positive] == cid)),
            "wrong_category": int(np.count_nonzero(cat_of_gt[a.wrong_gt] == cid)),
            "landmarks": _class_dict(per_cat_counts[cid]),
        }
    confusions: dict[str, int] = {}
    for d, g in zip(a.wrong_det, a.wrong_gt):
        predicted = int(res.category_ids[d])
        key = f"{names[int(cat_of_gt[g])]} -> {names.get(predicted, str(predicted))}"
        confusions[key] = confusions.get(key, 0) + 1
    instances = []
    for i, (d, g) in enumerate(zip(a.pair_det.tolist(), a.pair_gt.tolist())):
        slots = a.scheme.category(int(cat_of_gt[g])).slots
        code = "".join("-" if c < 0 else CODES[c] for c in a.classes[i, list(slots)].tolist())
        instances.append({"result_index": int(entry[d]), "image_id": int(res.image_ids[d]),
                          "category_id": int(res.category_ids[d]), "gt_id": int(gt.ann_ids[g]),
                          "score": float(res.scores[d]), "oks": round(float(a.pair_oks[i]), 6),
                          "landmarks": code})
    return {
        "version": 1,
        "inputs": {**(sources or {}), "scheme": a.scheme.name,
                   "results": len(res) + a.num_ignored, "ignored_results": a.num_ignored,
                   "gt_instances": int(np.count_nonzero(~gt.ignore)),
                   "images": int(len(gt.image_ids))},
        "definitions": {
            "ks": "exp(-d^2 / (2 (2 sigma)^2 area)): one landmark's term of OKS",
            "ks_good": p.ks_good, "ks_jitter": p.ks_jitter, "match_oks": p.match_oks,
            "category_oks": p.category_oks, "max_dets": p.max_dets,
            "landmark_codes": {CODES[i]: CLASSES[i] for i in range(len(CLASSES))}
            | {"-": "not labelled in the ground truth"},
        },
        "ap": _stats(a.baseline),
        "ap_per_category": {k: float(v) for k, v in a.baseline.per_category.items()},
        "ap_oracle": {name: float(a.oracle[name].stats["AP"]) for name in KEYPOINT_ERRORS},
        "ap_oracle_stats": {name: _stats(r) for name, r in a.oracle.items()},
        "ap_oracle_per_category": {name: {k: float(v) for k, v in r.per_category.items()}
                                   for name, r in a.oracle.items()},
        "instance_costs": {
            "wrong_category": instance_cost(
                "wrong_category", len(a.wrong_det),
                {"relabelled": int(a.wrong_relabelled.sum()),
                 "duplicates": int((~a.wrong_relabelled).sum())}),
            "false_positive": instance_cost("false_positive", len(a.false_positive)),
            "missed": instance_cost("missed", len(a.missed)),
        },
        "counts": {
            "overall": _class_dict(a.counts()),
            "per_category": {names[c]: _class_dict(per_cat_counts[c]) for c in a.category_ids},
            "per_landmark": {a.scheme.keypoint_names[s]: _class_dict(per_landmark[s])
                             for s in used},
        },
        "per_category": per_category,
        "category_confusions": dict(sorted(confusions.items(), key=lambda kv: -kv[1])),
        "instances": instances,
        "false_positives": entry[a.false_positive].tolist(),
        "missed_gt_ids": gt.ann_ids[a.missed].tolist(),
        "wrong_category": [
            {"result_index": int(entry[d]), "category_id": int(res.category_ids[d]),
             "gt_id": int(gt.ann_ids[g]), "gt_category_id": int(cat_of_gt[g]),
             "oks": round(float(o), 6), "relabelled": bool(r)}
            for d, g, o, r in zip(a.wrong_det, a.wrong_gt, a.wrong_oks, a.wrong_relabelled)],
    }
