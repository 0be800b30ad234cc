"""The reference: pycocotools' COCOeval set up exactly like the official DeepFashion2 evaluation.

The official ``deepfashion2_api`` is stock COCOeval with the 294 sigmas hard-coded in
``computeOks`` (and Python-2/old-numpy code that no longer runs); stock pycocotools with
``params.kpt_oks_sigmas`` set to the same 294 values and ``maxDets = [20]`` computes the same
numbers. This path exists to check the fast evaluator against, and for ``--reference`` runs.
"""
from __future__ import annotations

import contextlib
import copy
import io
import logging
import os

import numpy as np

from ..keypoints import KeypointScheme, get_scheme
from .accumulate import mean_defined
from .box_eval import BoxEvalResult
from .fast_eval import KeypointEvalResult
from .groundtruth import GroundTruth, validate_ground_truth
from .params import BOX_STAT_NAMES, MAX_DETS, STAT_NAMES

logger = logging.getLogger(__name__)


def evaluate_with_pycocotools(gt: str | os.PathLike | dict, results: str | os.PathLike | list,
                              scheme: KeypointScheme | str = "deepfashion2") -> KeypointEvalResult:
    """Run COCOeval('keypoints') on a GT file/dict and a result file/list.

    Returns the same structure as ``evaluate_keypoints``: ``stats`` (the 10 numbers keyed by
    ``STAT_NAMES``), ``per_category`` (AP per category name: mean over the defined cells of
    that category's precision, area "all"; -1 if undefined), precision (T, R, C, A) and
    recall (T, C, A).
    """
    from pycocotools.cocoeval import COCOeval

    scheme = get_scheme(scheme) if isinstance(scheme, str) else scheme
    source = "<dict>" if isinstance(gt, dict) else str(gt)
    data = gt if isinstance(gt, dict) else GroundTruth.read_json(gt)
    validate_ground_truth(data, source)  # the same checks (and errors) as the fast evaluator
    quiet = io.StringIO()  # pycocotools prints progress; keep it out of our logs
    with contextlib.redirect_stdout(quiet):
        coco_gt = _coco_from_dict(data)
        if isinstance(results, list):
            results = [dict(r) for r in results]  # loadRes adds fields in place
        coco_dt = _load_results(coco_gt, results)
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(scheme.sigmas, dtype=np.float64)
        ev.params.maxDets = [MAX_DETS]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    known = set(coco_gt.getCatIds())
    ignored = [a["category_id"] for a in coco_dt.dataset["annotations"]
               if a["category_id"] not in known]
    if ignored:  # COCOeval never visits them; say so as the fast evaluator does
        logger.warning("%d result(s) of categories %s that %s does not list are ignored, as the "
                       "official evaluator ignores them", len(ignored), sorted(set(ignored)),
                       source)
    stats = {name: float(v) for name, v in zip(STAT_NAMES, ev.stats)}
    precision = ev.eval["precision"]
    per_category = {coco_gt.cats[c]["name"]: mean_defined(precision[:, :, k, 0, 0])
                    for k, c in enumerate(ev.params.catIds)}
    return KeypointEvalResult(stats, per_category, precision[..., 0], ev.eval["recall"][..., 0],
                              len(ignored))


def evaluate_boxes_with_pycocotools(gt: str | os.PathLike | dict,
                                    results: str | os.PathLike | list) -> BoxEvalResult:
    """Run COCOeval('bbox') as the official DeepFashion2 detection evaluation does.

    Same structure as ``evaluate_boxes``: the 12 stats keyed by ``BOX_STAT_NAMES``, AP per
    category name (area all, maxDets 100), precision (T, R, C, A, M), recall (T, C, A, M) and
    the number of results of categories the GT does not list (ignored, as COCOeval does).
    """
    from pycocotools.cocoeval import COCOeval

    source = "<dict>" if isinstance(gt, dict) else str(gt)
    data = gt if isinstance(gt, dict) else GroundTruth.read_json(gt)
    validate_ground_truth(data, source, keypoints=False)   # the fast evaluator's checks
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        coco_gt = _coco_from_dict(data)
        if isinstance(results, list):
            results = [dict(r) for r in results]
        coco_dt = _load_results(coco_gt, results)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    known = set(coco_gt.getCatIds())
    ignored = sum(a["category_id"] not in known for a in coco_dt.dataset["annotations"])
    stats = {name: float(v) for name, v in zip(BOX_STAT_NAMES, ev.stats)}
    precision = ev.eval["precision"]
    per_category = {coco_gt.cats[c]["name"]: mean_defined(precision[:, :, k, 0, -1])
                    for k, c in enumerate(ev.params.catIds)}
    return BoxEvalResult(stats, per_category, precision, ev.eval["recall"], ignored)


def _coco_from_dict(data: dict):
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = copy.copy(data)
    coco.createIndex()
    return coco


def _load_results(coco_gt, results):
    """``loadRes``, except that an empty result list gives an empty result set (loadRes fails)."""
    if isinstance(results, list) and not results:
        from pycocotools.coco import COCO

        res = COCO()
        res.dataset = {"images": list(coco_gt.dataset["images"]), "annotations": [],
                       "categories": copy.deepcopy(coco_gt.dataset["categories"])}
        res.createIndex()
        return res
    return coco_gt.loadRes(results if isinstance(results, list) else str(results))
