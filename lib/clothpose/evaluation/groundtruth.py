"""COCO-style keypoint ground truth parsed once into arrays for the fast evaluator.

Parsing a 20k-instance DeepFashion2 JSON takes seconds; doing it once and keeping flat arrays
lets every later evaluation (each validation epoch) run from memory. Selection rules follow
pycocotools: only annotations whose ``image_id`` is listed in ``images`` and whose
``category_id`` is listed in ``categories`` take part; the order of annotations inside one
(image, category) group is the file order (it decides ties in matching).
"""
from __future__ import annotations

import functools
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

_REQUIRED = ("id", "image_id", "category_id", "keypoints", "area", "bbox", "num_keypoints")


class GroundTruthError(ValueError):
    """The ground-truth file is not a usable COCO keypoint annotation file."""


@dataclass(eq=False)
class GroundTruth:
    """Flat, sorted arrays of a COCO keypoint ground truth.

    Annotations are sorted by (image rank, category id, file order). ``group_keys`` holds one
    int64 key per annotation, ``image_rank * (num_categories + 1) + category_rank``, the same
    key the evaluator computes for detections.

    Attributes:
        source: file name (or ``"<dict>"``), used in error messages.
        image_ids: (I,) sorted unique image ids (COCOeval's ``params.imgIds``).
        category_ids: (C,) sorted category ids; ``category_names`` maps id -> name.
        ann_ids, ann_image_ids, ann_category_ids: (M,) per annotation.
        keypoints: (M, K, 3) float64 (x, y, v).
        areas: (M,) the ``area`` field (DeepFashion2: bbox area; the OKS scale).
        bboxes: (M, 4) xywh, used by OKS when a GT has no labelled keypoint.
        iscrowd, ignore: (M,) bool; ``ignore`` = iscrowd or ``num_keypoints == 0``.
    """

    source: str
    image_ids: np.ndarray
    category_ids: np.ndarray
    category_names: dict[int, str]
    ann_ids: np.ndarray
    ann_image_ids: np.ndarray
    ann_category_ids: np.ndarray
    keypoints: np.ndarray
    areas: np.ndarray
    bboxes: np.ndarray
    iscrowd: np.ndarray
    ignore: np.ndarray
    group_keys: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.group_keys = self.make_group_keys(self.ann_image_ids, self.ann_category_ids)

    @functools.cached_property
    def labelled(self) -> tuple[np.ndarray, np.ndarray]:
        """Per GT: number of labelled (v > 0) keypoints and their sorted indices (padded)."""
        from .oks import labelled_columns
        return labelled_columns(self.keypoints)

    @property
    def num_keypoints(self) -> int:
        return int(self.keypoints.shape[1])

    def image_rank(self, image_ids: np.ndarray) -> np.ndarray:
        """Position of each id in ``image_ids``; -1 where the id is unknown."""
        return _rank(self.image_ids, image_ids)

    def category_rank(self, category_ids: np.ndarray) -> np.ndarray:
        """Position of each id in ``category_ids``; -1 where the id is unknown."""
        return _rank(self.category_ids, category_ids)

    def make_group_keys(self, image_ids: np.ndarray, category_ids: np.ndarray) -> np.ndarray:
        """int64 key of the (image, category) group, ordered like COCOeval's image loop."""
        c = len(self.category_ids) + 1
        return self.image_rank(image_ids).astype(np.int64) * c + self.category_rank(category_ids)

    @classmethod
    def load(cls, source: "str | os.PathLike | dict | GroundTruth") -> "GroundTruth":
        """From a JSON path, an already parsed dict, or pass a ``GroundTruth`` through."""
        if isinstance(source, GroundTruth):
            return source
        if isinstance(source, dict):
            return cls.from_dict(source, "<dict>")
        path = Path(source)
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise GroundTruthError(f"{path}: cannot read ground truth JSON: {e}") from e
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> "GroundTruth":
        """Validate and index a parsed COCO keypoint dict."""
        for key in ("images", "annotations", "categories"):
            if not isinstance(data.get(key), list):
                raise GroundTruthError(f"{source}: top-level field {key!r} must be a list")
        image_ids = np.unique(np.asarray([_int_field(source, "images", i, im, "id")
                                          for i, im in enumerate(data["images"])], dtype=np.int64))
        names = {_int_field(source, "categories", i, c, "id"): str(c.get("name", c["id"]))
                 for i, c in enumerate(data["categories"])}
        cat_ids = np.asarray(sorted(names), dtype=np.int64)
        anns = data["annotations"]
        for i, a in enumerate(anns):
            missing = [k for k in _REQUIRED if k not in a]
            if missing:
                raise GroundTruthError(f"{source}: annotations[{i}] misses field(s) {missing}")
        img = np.asarray([a["image_id"] for a in anns], dtype=np.int64)
        cat = np.asarray([a["category_id"] for a in anns], dtype=np.int64)
        keep = np.isin(img, image_ids) & np.isin(cat, cat_ids)
        anns = [a for a, k in zip(anns, keep) if k]
        kps = _keypoint_array(source, anns)
        order = np.lexsort((np.arange(len(anns)), cat[keep], _rank(image_ids, img[keep])))
        anns = [anns[i] for i in order]
        iscrowd = np.asarray([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool)
        num_kps = np.asarray([a["num_keypoints"] for a in anns], dtype=np.int64)
        bboxes = np.asarray([a["bbox"] for a in anns], dtype=np.float64).reshape(len(anns), 4)
        logger.debug("%s: %d images, %d categories, %d annotations", source, len(image_ids),
                     len(cat_ids), len(anns))
        return cls(source=source, image_ids=image_ids, category_ids=cat_ids, category_names=names,
                   ann_ids=np.asarray([a["id"] for a in anns], dtype=np.int64),
                   ann_image_ids=img[keep][order], ann_category_ids=cat[keep][order],
                   keypoints=kps[order], areas=np.asarray([a["area"] for a in anns], np.float64),
                   bboxes=bboxes, iscrowd=iscrowd, ignore=iscrowd | (num_kps == 0))


def _rank(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    pos = np.searchsorted(sorted_ids, ids)
    pos_c = np.minimum(pos, max(len(sorted_ids) - 1, 0))
    found = (pos < len(sorted_ids)) & (sorted_ids[pos_c] == ids) if len(sorted_ids) else \
        np.zeros(ids.shape, bool)
    return np.where(found, pos, -1)


def _int_field(source: str, section: str, index: int, item: Any, key: str) -> int:
    if not isinstance(item, dict) or key not in item:
        raise GroundTruthError(f"{source}: {section}[{index}] misses field {key!r}")
    return int(item[key])


def _keypoint_array(source: str, anns: list[dict]) -> np.ndarray:
    lengths = {len(a["keypoints"]) for a in anns}
    if len(lengths) > 1 or any(n % 3 for n in lengths):
        bad = next(i for i, a in enumerate(anns)
                   if len(a["keypoints"]) != len(anns[0]["keypoints"]) or len(a["keypoints"]) % 3)
        raise GroundTruthError(
            f"{source}: annotation id {anns[bad]['id']}: field 'keypoints' has "
            f"{len(anns[bad]['keypoints'])} values; all annotations need the same multiple of 3")
    k = lengths.pop() // 3 if lengths else 0
    return np.asarray([a["keypoints"] for a in anns], dtype=np.float64).reshape(len(anns), k, 3)
