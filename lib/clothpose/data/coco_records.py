"""Pure parsers: COCO keypoint JSON / COCO detection results -> dataset records.

A record is a plain dict (the same shape FashionAI's record builder produces):
``image`` (path), ``image_id``, ``category_id``, ``keypoints`` (K, 3) float32 in the scheme's
layout with visibility clipped to {0, 1}, ``box`` (4,) x, y, w, h the crop is taken from
(ground truth: clipped to the image by ``clean_box``; detections: as given, as HRNet and
mmpose),
``source_box`` (4,) the box as the file gives it (written back to result files), ``score``.
Annotation keypoints may be in the family's full layout (DeepFashion2: 294 x 3 values) or
already in the scheme's (e.g. the winning solution's 81-layout files): detected by length.
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..keypoints import BUILTIN, KeypointScheme, get_scheme

logger = logging.getLogger(__name__)


class AnnotationFileError(InputError):
    """An annotation or detection file is malformed; the message names file, entry and field."""


@dataclass
class ParseResult:
    records: list[dict]
    image_ids: list                          # images the records may come from
    num_skipped: int = 0                     # degenerate boxes skipped (skip_bad)
    num_unlabelled: int = 0                  # instances without any labelled keypoint
    num_filtered: int = 0                    # instances of other categories / low-score boxes
    num_unknown_images: int = 0              # detection boxes for images not in the split
    problems: list[str] = field(default_factory=list)


def layout_of(length: int, scheme: KeypointScheme) -> KeypointScheme:
    """The scheme a flat keypoint vector of ``length`` values is written in.

    Candidates: the scheme itself, the built-in it is a subset of, the family's full layout and
    the family's other built-ins of the same variant (e.g. 81-layout files for a 294 scheme).
    """
    base = re.sub(r"-cat\d+$", "", scheme.name)
    variant = "-figure" if base.endswith("-figure") else ""
    names = [base, scheme.family] + [n for n in BUILTIN if n.startswith(scheme.family)
                                     and n.endswith(variant) and (variant or "figure" not in n)]
    cands = [scheme] + [get_scheme(n) for n in names if n in BUILTIN]
    for c in cands:
        if c.family == scheme.family and 3 * c.num_keypoints == length:
            return c
    expected = sorted({3 * c.num_keypoints for c in cands if c.family == scheme.family})
    raise AnnotationFileError(f"field 'keypoints' has {length} values; expected one of "
                              f"{expected} for scheme {scheme.name!r}")


def keypoints_to_scheme(flat: np.ndarray, category_ids: np.ndarray, scheme: KeypointScheme,
                        source: str = "<annotations>") -> np.ndarray:
    """(N, L) flat keypoint vectors in any layout of the scheme's family -> (N, K, 3)."""
    n, length = flat.shape
    try:
        src = layout_of(length, scheme)
    except AnnotationFileError as e:
        raise AnnotationFileError(f"{source}: {e}") from None
    kps = flat.reshape(n, src.num_keypoints, 3)
    return kps if src is scheme else src.convert(kps, category_ids, scheme)


BOX_CONVENTIONS = ("hrnet", "mmpose")


def clean_box(box: Sequence[float], width: float, height: float,
              convention: str = "hrnet") -> np.ndarray | None:
    """Clip x, y, w, h to the image; None if nothing is left.

    ``hrnet`` (HRNet and the seeds): x2 = x1 + w - 1 with x1 the clipped x, i.e. w counts
    pixels; ``mmpose`` (its COCO-style datasets): x2 = x + w. Both clip x2 to width - 1.
    """
    x, y, w, h = (float(v) for v in box)
    x1, y1 = max(0.0, x), max(0.0, y)
    if convention == "mmpose":
        x2, y2 = min(width - 1.0, max(0.0, x + w)), min(height - 1.0, max(0.0, y + h))
    elif convention == "hrnet":
        x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
        y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
    else:
        raise ValueError(f"box convention {convention!r} is not one of {BOX_CONVENTIONS}")
    if x2 < x1 or y2 < y1:
        return None
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float32)


def _box_ok(box: Any) -> bool:
    return isinstance(box, (list, tuple)) and len(box) == 4 and \
        all(isinstance(v, (int, float)) and math.isfinite(v) for v in box)


def _images(data: dict, source: str) -> dict:
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise AnnotationFileError(f"{source}: expected a COCO object with an 'images' list")
    out: dict = {}
    for i, im in enumerate(data["images"]):
        try:
            entry = (str(im["file_name"]), float(im["width"]), float(im["height"]))
        except (KeyError, TypeError, ValueError) as e:
            raise AnnotationFileError(f"{source}: images[{i}]: needs id, file_name, width, "
                                      f"height ({e!r})") from e
        if im["id"] in out:  # annotations of that id would be paired with one of two pictures
            raise AnnotationFileError(f"id {im['id']!r} is already used by {out[im['id']][0]!r} "
                                      f"(this one is {entry[0]!r}); expected unique image ids",
                                      file=source, field=f"images[{i}].id")
        out[im["id"]] = entry
    return out


def _wanted(cid: Any, scheme: KeypointScheme, categories: Sequence[int]) -> bool:
    return cid in scheme.category_ids and (not categories or cid in categories)


def parse_coco_keypoints(data: dict, scheme: KeypointScheme, image_root: str | Path = "",
                         categories: Sequence[int] = (), skip_bad: bool = False,
                         source: str = "<annotations>", box_convention: str = "hrnet"
                         ) -> ParseResult:
    """Ground-truth records of every instance with a labelled keypoint (HRNet's rule).

    Boxes are sanitised by ``clean_box`` (``box_convention``); a box with w or h <= 1 raises
    ``AnnotationFileError`` unless ``skip_bad`` (then it is counted in ``num_skipped``).
    """
    images = _images(data, source)
    anns = data.get("annotations", [])
    res = ParseResult([], [])
    keep, boxes = [], []
    for i, a in enumerate(anns):
        where = f"{source}: annotations[{i}] (id {a.get('id')})"
        if not _wanted(a.get("category_id"), scheme, categories):
            res.num_filtered += 1
            continue
        if a.get("image_id") not in images:
            raise AnnotationFileError(f"{where}: field 'image_id' {a.get('image_id')!r} is not "
                                      "in 'images'")
        if not _box_ok(a.get("bbox")):
            raise AnnotationFileError(f"{where}: field 'bbox': expected 4 numbers [x, y, w, h]")
        _name, w, h = images[a["image_id"]]
        box = _usable_box(a["bbox"], w, h, where, skip_bad, res, box_convention)
        if box is None:
            continue
        keep.append(a)
        boxes.append(box)
    if keep:
        lengths = {len(a.get("keypoints") or ()) for a in keep}
        if len(lengths) != 1:
            raise AnnotationFileError(f"{source}: field 'keypoints' has mixed lengths {lengths}")
        cats = np.array([a["category_id"] for a in keep])
        flat = np.asarray([a["keypoints"] for a in keep], dtype=np.float32)
        kps = keypoints_to_scheme(flat, cats, scheme, source)
        negative = int((kps[..., 2] < 0).sum())
        if negative:  # e.g. FashionAI's -1 = absent written into COCO: not labelled here
            logger.warning("%s: %d keypoints have a negative visibility; treated as not "
                           "labelled (COCO visibility is 0, 1 or 2)", source, negative)
        kps[..., 2] = np.clip(kps[..., 2], 0, 1)
        labelled = kps[..., 2].max(axis=1) > 0
        res.num_unlabelled = int((~labelled).sum())
        root = Path(image_root)
        for j in np.nonzero(labelled)[0]:
            a = keep[j]
            res.records.append({"image": str(root / images[a["image_id"]][0]),
                                "image_id": a["image_id"], "category_id": int(cats[j]),
                                "keypoints": kps[j], "box": boxes[j],
                                "source_box": np.asarray(a["bbox"], np.float64), "score": 1.0})
    res.image_ids = _covered(images, anns, scheme, categories)
    return res


def _usable_box(bbox: Sequence[float], w: float, h: float, where: str, skip_bad: bool,
                res: "ParseResult", convention: str = "hrnet") -> np.ndarray | None:
    """The box clipped to the image, or None (counted) when degenerate and skipping is allowed."""
    box = clean_box(bbox, w, h, convention)
    if box is not None and box[2] > 1 and box[3] > 1:
        return box
    msg = f"{where}: field 'bbox' {list(bbox)} is degenerate (w or h <= 1 in the image)"
    if not skip_bad:
        raise AnnotationFileError(msg + "; set DATASET.SKIP_BAD_SAMPLES True to skip")
    res.num_skipped += 1
    res.problems.append(msg)
    return None


def _covered(images: dict, anns: list, scheme: KeypointScheme, categories: Sequence[int]) -> list:
    """All images, or with a category filter those holding a wanted instance."""
    if not categories:
        return sorted(images)
    return sorted({a["image_id"] for a in anns if a.get("image_id") in images
                   and _wanted(a.get("category_id"), scheme, categories)})


def parse_detections(dets: Any, data: dict, scheme: KeypointScheme, image_root: str | Path = "",
                     categories: Sequence[int] = (), score_thre: float = 0.0,
                     skip_bad: bool = False, source: str = "<detections>",
                     images_source: str = "<annotations>",
                     box_convention: str = "hrnet") -> ParseResult:
    """Records from COCO bbox results; each box's category becomes the instance's.

    A box is kept when its score is >= ``score_thre``, its category is one of the run's
    (``categories``, or every category of the scheme) and its image is in the split's image
    list (``data['images']``). Ground truth never selects boxes: false positives stay in, and a
    split without annotations (the official test release: an image list only) works the same.
    Boxes for images outside the list are counted (``num_unknown_images``); a file where no box
    belongs to the split is an error (most likely the detections of another split). A detection
    box is cropped as given, not clipped to the image as ground-truth boxes are: both HRNet
    (``_load_coco_person_detection_results``) and mmpose (``_load_detection_results``) take
    detection boxes unchanged, so ``box_convention`` (accepted for symmetry with
    ``parse_coco_keypoints``) does not apply here; only a box without area is refused.
    """
    images = _images(data, images_source)
    if not isinstance(dets, list):
        raise AnnotationFileError(f"{source}: expected a list of {{image_id, category_id, bbox, "
                                  "score}")
    res = ParseResult([], sorted(images))
    root = Path(image_root)
    k = scheme.num_keypoints
    for i, d in enumerate(dets):
        where = f"{source}: [{i}]"
        if not isinstance(d, dict) or not _box_ok(d.get("bbox")) or \
                not _number(d.get("score")) or not _integer(d.get("image_id")) or \
                not _integer(d.get("category_id")):
            raise AnnotationFileError(f"{where}: needs an integer 'image_id' and 'category_id', "
                                      "'bbox' (4 numbers) and a numeric 'score'")
        if d["image_id"] not in images:
            res.num_unknown_images += 1
            continue
        if d["score"] < score_thre or not _wanted(d["category_id"], scheme, categories):
            res.num_filtered += 1
            continue
        name = images[d["image_id"]][0]
        if not (d["bbox"][2] > 0 and d["bbox"][3] > 0):
            msg = f"{where}: field 'bbox' {list(d['bbox'])} has no area (w or h <= 0)"
            if not skip_bad:
                raise AnnotationFileError(msg + "; set DATASET.SKIP_BAD_SAMPLES True to skip")
            res.num_skipped += 1
            res.problems.append(msg)
            continue
        res.records.append({"image": str(root / name), "image_id": d["image_id"],
                            "category_id": int(d["category_id"]),
                            "keypoints": np.zeros((k, 3), np.float32),
                            "box": np.asarray(d["bbox"], np.float32),
                            "source_box": np.asarray(d["bbox"], np.float64),
                            "score": float(d["score"])})
    if dets and res.num_unknown_images == len(dets):
        raise AnnotationFileError(f"{source}: image_id: none of its {len(dets)} detections names "
                                  f"an image of {images_source} (detections of another split?)")
    return res


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _integer(v: Any) -> bool:
    return _number(v) and float(v).is_integer()
