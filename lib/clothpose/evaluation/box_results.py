"""Detection result files in the official DeepFashion2 / COCO bbox format.

``[{"image_id": int, "category_id": int, "bbox": [x, y, width, height], "score": float}]``,
0-indexed float pixel coordinates from the top-left corner; written atomically. The same file
is what the landmark test path takes as ``TEST.COCO_BBOX_FILE``, ``tools/test_categories.py``
and ``tools/infer.py --detections`` read. A result file without ``keypoints`` fields is a box
file (``is_box_results``), which is how ``tools/evaluate.py`` tells the two tasks apart.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass

import numpy as np

from ..utils.io import atomic_write
from .groundtruth import GroundTruth
from .results import ResultsError, check_entry_fields, finite_number, read_results_json

logger = logging.getLogger(__name__)


@dataclass
class BoxResults:
    """Arrays of a box result file: image_ids (N,), category_ids (N,), boxes (N, 4) x, y, w, h,
    scores (N,)."""

    image_ids: np.ndarray
    category_ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def is_box_results(entries: object) -> bool:
    """True for a list of result entries none of which carries ``keypoints`` (an empty list
    counts as boxes: it has nothing a keypoint evaluator could use)."""
    return isinstance(entries, list) and not any(isinstance(e, dict) and "keypoints" in e
                                                 for e in entries)


def write_box_results(path: str | os.PathLike, image_ids: np.ndarray, category_ids: np.ndarray,
                      boxes: np.ndarray, scores: np.ndarray) -> None:
    """Write the detections (boxes (N, 4) x, y, w, h) as a COCO bbox result file, atomically."""
    img = np.asarray(image_ids).reshape(-1)
    cats = np.asarray(category_ids).reshape(-1)
    bx = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    sc = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not (len(img) == len(cats) == len(bx) == len(sc)):
        raise ResultsError(f"{path}: expected image_ids/category_ids/scores (N,) and boxes "
                           f"(N, 4); got {img.shape}, {cats.shape}, {bx.shape}, {sc.shape}")
    bad = np.nonzero(~np.isfinite(bx).all(axis=1) | ~np.isfinite(sc))[0]
    if len(bad):
        raise ResultsError(f"{path}: entry {bad[0]} has NaN or inf in bbox or score")
    entries = [{"image_id": i, "category_id": c, "bbox": b, "score": s}
               for i, c, b, s in zip(img.tolist(), cats.tolist(), bx.tolist(), sc.tolist())]
    atomic_write(path, lambda f: json.dump(entries, f))
    logger.info("wrote %d detections to %s", len(entries), path)


def load_box_results(source: str | os.PathLike | list, gt: GroundTruth | None = None,
                     name: str | None = None) -> BoxResults:
    """Read and validate a box result file (or a parsed list).

    Every entry needs integer ``image_id`` / ``category_id``, a ``bbox`` of 4 finite numbers and
    a finite ``score``; with ``gt``, image ids must be in it (categories it lacks are left to the
    evaluator, which ignores them as COCOeval does). Errors name the file, entry and field.
    """
    name = name or ("<list>" if isinstance(source, list) else str(source))
    entries = source if isinstance(source, list) else read_results_json(source)
    if not isinstance(entries, list):
        raise ResultsError(f"{name}: expected a JSON list of detections, got "
                           f"{type(entries).__name__}")
    for i, e in enumerate(entries):
        _check_entry(name, i, e)
    img = np.asarray([e["image_id"] for e in entries], dtype=np.int64)
    cats = np.asarray([e["category_id"] for e in entries], dtype=np.int64)
    boxes = np.asarray([e["bbox"] for e in entries], dtype=np.float64).reshape(len(entries), 4)
    scores = np.asarray([e["score"] for e in entries], dtype=np.float64)
    if gt is not None:
        bad = np.nonzero(gt.image_rank(img) < 0)[0]
        if len(bad):
            raise ResultsError(f"{name}: entry {bad[0]}: field 'image_id' = {img[bad[0]]} is not "
                               f"in the ground truth {gt.source}")
    return BoxResults(img, cats, boxes, scores)


def _check_entry(name: str, i: int, e: object) -> None:
    check_entry_fields(name, i, e, "bbox")
    b = e["bbox"]
    if not isinstance(b, list) or len(b) != 4 or not all(finite_number(v) for v in b):
        raise ResultsError(f"{name}: entry {i}: field 'bbox' must be [x, y, width, height] "
                           f"(4 finite numbers), got {b!r}")
