"""Checks of a test / validation set before any work, so that a problem the test path would
only meet at its end (after a training epoch, or after hours of inference) stops the run at
its start, with one line naming the file and field.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from yacs.config import CfgNode

from ..errors import InputError

logger = logging.getLogger(__name__)


def _read(path: str | Path) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def why_empty(cfg: CfgNode, dataset: Any) -> str:
    """Why ``dataset`` has no box (every detection below ``TEST.IMAGE_THRE`` or of another
    category, or no instance of the categories asked for). A detection file that names no image
    of the set never gets here: ``parse_detections`` refuses it as the wrong file.
    """
    cats = list(cfg.DATASET.CATEGORIES) or "all"
    where = f"set {cfg.DATASET.TEST_SET!r}, categories {cats}"
    if cfg.TEST.USE_GT_BBOX or dataset.scheme.family == "fashionai":
        return f"{dataset.ann_file} has no labelled instance for {where}"
    det_file = cfg.TEST.COCO_BBOX_FILE
    dets = _read(det_file)
    if not isinstance(dets, list) or not dets:
        return f"{det_file}: holds no detection (an empty list)"
    above = sum(isinstance(d, dict) and isinstance(d.get("score"), (int, float))
                and d["score"] >= cfg.TEST.IMAGE_THRE for d in dets)
    return (f"{det_file}: no detection left for {where} ({len(dets)} detections, {above} at "
            f"score >= TEST.IMAGE_THRE {cfg.TEST.IMAGE_THRE:g}, none of them of the categories "
            "asked for on an image of the set)")


def check_evaluation_gt(dataset: Any, purpose: str) -> None:
    """The ground truth the evaluator will get: present, loadable, with its categories."""
    gt = dataset.evaluation_gt()
    if gt is None:
        raise InputError(f"has no annotations, and {purpose} needs ground truth; pick an "
                         "annotated DATASET.TEST_SET (or TRAIN.VAL_FREQ 0: no validation)",
                         file=dataset.ann_file)
    if dataset.scheme.family == "fashionai":
        return  # answers CSV: checked when it was read
    from ..data.detection_dataset import DetectionDataset
    from ..evaluation import GroundTruth

    boxes_only = isinstance(dataset, DetectionDataset)   # box AP needs no keypoint fields
    loaded = GroundTruth.load(gt, keypoints=not boxes_only)
    listed = {int(c) for c in loaded.category_ids}
    present = {int(c) for r in dataset.records
               for c in (r["category_ids"] if boxes_only else [r["category_id"]])}
    if not listed:
        raise InputError("lists no categories; expected the categories of the instances "
                         "(the evaluator ignores annotations of unlisted categories)",
                         file=dataset.ann_file, field="categories")
    unlisted = sorted(present - listed)
    if unlisted:
        raise InputError(f"does not list categories {unlisted} that the {purpose} set holds; "
                         "the evaluator would ignore them", file=dataset.ann_file,
                         field="categories")


def check_validation_set(cfg: CfgNode, dataset: Any) -> None:
    """Everything validation during training needs, before the first epoch."""
    if len(dataset) == 0:
        reason = why_empty(cfg, dataset)
        raise InputError(f"validation set is empty: {reason}", file=dataset.ann_file,
                         field="DATASET.TEST_SET")
    check_evaluation_gt(dataset, "validation")
