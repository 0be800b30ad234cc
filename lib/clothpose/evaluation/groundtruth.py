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
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

_REQUIRED = ("id", "image_id", "category_id", "keypoints", "area", "bbox", "num_keypoints")
_REQUIRED_BOXES = ("id", "image_id", "category_id", "area", "bbox")   # box evaluation


class GroundTruthError(ValueError):
    """The ground-truth file is not a usable COCO keypoint annotation file.

    ``file``, ``entry`` (e.g. ``annotations[12] (id 40)``) and ``field`` say where; the message
    is ``<file>: <entry>: field '<field>': <what was expected>``.
    """

    def __init__(self, message: str, file: str = "", entry: str = "", field: str = ""):
        super().__init__(message)
        self.file, self.entry, self.field = file, entry, field


def _fail(source: str, entry: str, field: str, what: str) -> GroundTruthError:
    where = ": ".join(p for p in (source, entry) if p)
    return GroundTruthError(f"{where}: field {field!r}: {what}", source, entry, field)


def _is_int(v: Any) -> bool:
    """An integer id as JSON gives it: an int, or a float with an integral value (pycocotools
    treats 1.0 and 1 as the same key); never a bool, a string or 1.5."""
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    return isinstance(v, float) and math.isfinite(v) and v.is_integer()


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def validate_ground_truth(data: Any, source: str = "<dict>", keypoints: bool = True
                          ) -> np.ndarray:
    """Check a COCO keypoint ground truth once, before any evaluator reads it.

    pycocotools and the fast evaluator would otherwise read malformed files differently and
    silently (a category id ``"1"`` is dropped by one and cast by the other; a duplicate
    annotation id makes pycocotools evaluate one annotation twice; NaN coordinates make OKS NaN).
    Raises ``GroundTruthError`` naming the file, the entry and the field. Returns the keypoints
    of every annotation as a float64 (M, 3K) array (parsed once, reused by ``GroundTruth``).
    ``keypoints=False`` (box evaluation) needs only the box fields and returns (M, 0).
    """
    if not isinstance(data, dict):
        raise GroundTruthError(f"{source}: expected a COCO object (images, annotations, "
                               f"categories), got {type(data).__name__}", source)
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise _fail(source, "", key, "top-level field must be a list")
    for section in ("images", "categories"):
        for i, item in enumerate(data[section]):
            if not isinstance(item, dict) or "id" not in item:
                raise _fail(source, f"{section}[{i}]", "id", "missing")
            if not _is_int(item["id"]):
                raise _fail(source, f"{section}[{i}]", "id",
                            f"expected an integer, got {item['id']!r}")
    seen: dict[int, int] = {}
    length = None
    for i, a in enumerate(data["annotations"]):
        entry = f"annotations[{i}]"
        if not isinstance(a, dict):
            raise GroundTruthError(f"{source}: {entry}: expected an object", source, entry)
        required = _REQUIRED if keypoints else _REQUIRED_BOXES
        missing = [k for k in required if k not in a]
        if missing:
            raise _fail(source, entry, missing[0], f"missing (required: {list(required)})")
        entry = f"annotations[{i}] (id {a['id']!r})"
        for key in ("id", "image_id", "category_id", "num_keypoints"):
            if key in required and not _is_int(a[key]):
                raise _fail(source, entry, key, f"expected an integer, got {a[key]!r}")
        first = seen.setdefault(int(a["id"]), i)
        if first != i:
            raise _fail(source, entry, "id", f"duplicate annotation id (also annotations[{first}])"
                        "; pycocotools would evaluate one of them twice")
        if not _is_number(a["area"]):
            raise _fail(source, entry, "area", f"expected a finite number, got {a['area']!r}")
        b = a["bbox"]
        if not isinstance(b, list) or len(b) != 4 or not all(_is_number(v) for v in b):
            raise _fail(source, entry, "bbox", f"expected 4 finite numbers [x, y, w, h], got {b!r}")
        if "iscrowd" in a and a["iscrowd"] not in (0, 1):
            raise _fail(source, entry, "iscrowd", f"expected 0 or 1, got {a['iscrowd']!r}")
        if not keypoints:
            continue
        kp = a["keypoints"]
        if not isinstance(kp, list) or len(kp) % 3 or (length is not None and len(kp) != length):
            got = len(kp) if isinstance(kp, list) else type(kp).__name__
            raise _fail(source, entry, "keypoints", f"expected a list of {length or '3 x K'} "
                        f"numbers (the same K for every annotation), got {got}")
        length = len(kp)
    if not keypoints:
        return np.zeros((len(data["annotations"]), 0))
    return _keypoint_values(source, data["annotations"])


def _keypoint_values(source: str, anns: list[dict]) -> np.ndarray:
    """(M, 3K) float64 keypoints, all finite numbers (one vectorised pass; the first bad entry
    is named on failure)."""
    if not anns:
        return np.zeros((0, 0))
    arr = np.asarray([a["keypoints"] for a in anns])
    if arr.dtype.kind in "iub":
        return arr.astype(np.float64)
    bad = None
    if arr.dtype.kind == "f":
        rows = np.nonzero(~np.isfinite(arr).all(axis=1))[0]
        bad = int(rows[0]) if len(rows) else None
        what = "contains NaN or inf"
    else:
        bad = next(i for i, a in enumerate(anns) if not all(_is_number(v) for v in a["keypoints"]))
        what = "must hold numbers only"
    if bad is not None:
        raise _fail(source, f"annotations[{bad}] (id {anns[bad]['id']!r})", "keypoints", what)
    return arr


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
    def load(cls, source: "str | os.PathLike | dict | GroundTruth",
             keypoints: bool = True) -> "GroundTruth":
        """From a JSON path, an already parsed dict, or pass a ``GroundTruth`` through.

        ``keypoints=False`` (box evaluation) does not require the keypoint fields; the
        ``keypoints`` array is then (M, 0, 3) and ``ignore`` only the crowd flag."""
        if isinstance(source, GroundTruth):
            return source
        if isinstance(source, dict):
            return cls.from_dict(source, "<dict>", keypoints)
        return cls.from_dict(cls.read_json(source), str(source), keypoints)

    @staticmethod
    def read_json(path: "str | os.PathLike") -> Any:
        """The parsed JSON of a ground-truth file (``GroundTruthError`` if unreadable)."""
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise GroundTruthError(f"{path}: cannot read ground truth JSON: {e}", str(path)) from e

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>",
                  keypoints: bool = True) -> "GroundTruth":
        """Validate (``validate_ground_truth``) and index a parsed COCO keypoint dict (box
        fields only: ``keypoints=False``)."""
        all_kps = validate_ground_truth(data, source, keypoints)
        image_ids = np.unique(np.asarray([_int_field(source, "images", i, im, "id")
                                          for i, im in enumerate(data["images"])], dtype=np.int64))
        names = {_int_field(source, "categories", i, c, "id"): str(c.get("name", c["id"]))
                 for i, c in enumerate(data["categories"])}
        cat_ids = np.asarray(sorted(names), dtype=np.int64)
        anns = data["annotations"]
        img = np.asarray([a["image_id"] for a in anns], dtype=np.int64)
        cat = np.asarray([a["category_id"] for a in anns], dtype=np.int64)
        keep = np.isin(img, image_ids) & np.isin(cat, cat_ids)
        anns = [a for a, k in zip(anns, keep) if k]
        kps = all_kps[keep].reshape(len(anns), all_kps.shape[1] // 3 if len(all_kps) else 0, 3)
        order = np.lexsort((np.arange(len(anns)), cat[keep], _rank(image_ids, img[keep])))
        anns = [anns[i] for i in order]
        iscrowd = np.asarray([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool)
        num_kps = np.asarray([a["num_keypoints"] if keypoints else 1 for a in anns], np.int64)
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
