"""DeepFashion2 landmark result files: write (atomically) and load (validated).

Format (DeepFashion2 submission): a JSON list of ``{image_id, category_id, keypoints, score}``
where ``keypoints`` has 3 x 294 floats (x, y, score per landmark, all 13 categories' blocks).

**What goes into the other 12 categories' slots.** The evaluator only compares the block of the
instance's category, but ``COCO.loadRes`` sets each detection's area to the bounding box of
*all* 294 coordinates, and that area selects the medium/large ranges (APm, APl, ARm, ARl).
Zeros would stretch every box to the image origin; the seed's ``convert_back`` copies the
aggregated channels into all blocks, which makes the box depend on unrelated channels. This
writer fills every slot outside the own block with the instance's **first own landmark**
``(x, y)`` and score 0: the box of all 294 points is then exactly the box of the own category's
landmarks (a repeated point adds nothing), so the detection's area is that of its own
landmarks, and ``evaluate_keypoints(..., as_submission=True)`` evaluates the same points from
memory. The filler is an exact copy, not a mean, so no rounding can move the box edge.
"""
from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass

import numpy as np

from ..keypoints import KeypointScheme, get_scheme
from ..utils.io import atomic_write
from .groundtruth import GroundTruth

logger = logging.getLogger(__name__)


class ResultsError(ValueError):
    """A result file or result arrays are malformed."""


@dataclass
class Results:
    """Arrays of a result file: image_ids (N,), category_ids (N,), keypoints (N, K, 3), scores
    (N,) and, when the file carries ``bbox`` (official rule: decided by its first entry), boxes
    (N, 4) x, y, w, h; None otherwise. Evaluators take the detection area from ``boxes`` when
    they exist (``fast_eval.result_areas``)."""

    image_ids: np.ndarray
    category_ids: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.scores)


def submission_keypoints(keypoints: np.ndarray, category_ids: np.ndarray,
                         scheme: KeypointScheme | str = "deepfashion2") -> np.ndarray:
    """(N, K, D) copy with every slot outside the instance's own category set to its first own
    landmark (x, y) and, for D = 3, score 0 (see module docstring for why)."""
    scheme = get_scheme(scheme) if isinstance(scheme, str) else scheme
    kps = np.asarray(keypoints, dtype=np.float64)
    cats = np.asarray(category_ids, dtype=np.int64).reshape(-1)
    out = np.empty_like(kps)
    for cid in np.unique(cats):
        rows = np.nonzero(cats == cid)[0]
        slots = np.asarray(scheme.category(int(cid)).slots)
        out[rows] = 0.0
        out[rows, :, :2] = kps[rows, slots[0], None, :2]
        out[rows[:, None], slots[None, :]] = kps[rows[:, None], slots[None, :]]
    return out


def write_results(path: str | os.PathLike, image_ids: np.ndarray, category_ids: np.ndarray,
                  keypoints294: np.ndarray, scores: np.ndarray,
                  scheme: KeypointScheme | str = "deepfashion2",
                  boxes: np.ndarray | None = None) -> None:
    """Write a submission file atomically; other categories' slots filled as documented above.

    Args:
        keypoints294: (N, K, 3) x, y, per-landmark score in the ``scheme``'s layout
            (DeepFashion2: K = 294); only the own category's block is used.
        boxes: optional (N, 4) detection boxes (x, y, w, h), written as ``bbox`` so that
            ensembling can match instances by box. The official evaluator then takes each
            result's area from its ``bbox`` instead of the keypoint hull (``COCO.loadRes``).
    """
    scheme = get_scheme(scheme) if isinstance(scheme, str) else scheme
    img = np.asarray(image_ids).reshape(-1)
    cats = np.asarray(category_ids).reshape(-1)
    sc = np.asarray(scores, dtype=np.float64).reshape(-1)
    kps = np.asarray(keypoints294, dtype=np.float64)
    k = scheme.num_keypoints
    if kps.shape != (len(img), k, 3) or len(cats) != len(img) or len(sc) != len(img):
        raise ResultsError(f"{path}: expected image_ids/category_ids/scores (N,) and keypoints "
                           f"(N, {k}, 3); got {img.shape}, {cats.shape}, {sc.shape}, {kps.shape}")
    unknown = sorted(set(cats.tolist()) - set(scheme.category_ids))
    if unknown:
        raise ResultsError(f"{path}: category ids {unknown} are not in scheme {scheme.name!r}")
    flat = submission_keypoints(kps, cats, scheme).reshape(len(img), 3 * k)
    bad = np.nonzero(~np.isfinite(flat).all(axis=1) | ~np.isfinite(sc))[0]
    if len(bad):
        raise ResultsError(f"{path}: entry {bad[0]} has NaN or inf in keypoints or score")
    entries = [{"image_id": i, "category_id": c, "keypoints": row, "score": s}
               for i, c, row, s in zip(img.tolist(), cats.tolist(), flat.tolist(), sc.tolist())]
    if boxes is not None:
        bx = np.asarray(boxes, dtype=np.float64).reshape(len(img), 4)
        for e, b in zip(entries, bx.tolist()):
            e["bbox"] = b
    atomic_write(path, lambda f: json.dump(entries, f))
    logger.info("wrote %d results to %s", len(entries), path)


def load_results(source: str | os.PathLike | list, gt: GroundTruth | None = None,
                 num_keypoints: int | None = None, name: str | None = None) -> Results:
    """Read and validate a result file (or an already parsed list).

    Checks every entry for the four fields, integer ids, a finite score, ``3 * K`` finite
    keypoint values (K from ``gt``, else ``num_keypoints``, else 294), a ``bbox`` of 4 finite
    numbers on every entry when the first one has a non-empty ``bbox`` (``COCO.loadRes`` then
    reads every entry's), and, when ``gt`` is given, image ids known to it (``loadRes``
    refuses others). Category ids the ground truth does not list are accepted: the evaluators
    ignore and count them, as the official one ignores them. Errors name the file, the entry
    index and the field.
    """
    name = name or ("<list>" if isinstance(source, list) else str(source))
    entries = source if isinstance(source, list) else read_results_json(source)
    if not isinstance(entries, list):
        raise ResultsError(f"{name}: expected a JSON list of results, got {type(entries).__name__}")
    k = num_keypoints or (gt.num_keypoints if gt is not None and len(gt.keypoints) else 294)
    for i, e in enumerate(entries):
        _check_entry(name, i, e, 3 * k)
    n = len(entries)
    img = np.asarray([e["image_id"] for e in entries], dtype=np.int64)
    cats = np.asarray([e["category_id"] for e in entries], dtype=np.int64)
    scores = np.asarray([e["score"] for e in entries], dtype=np.float64)
    try:
        kps = np.asarray([e["keypoints"] for e in entries], dtype=np.float64).reshape(n, k, 3)
    except (TypeError, ValueError) as err:
        bad_i = next(i for i, e in enumerate(entries)
                     if not all(isinstance(v, (int, float)) for v in e["keypoints"]))
        raise ResultsError(f"{name}: entry {bad_i}: field 'keypoints' must hold numbers "
                           f"({err})") from err
    bad = np.nonzero(~np.isfinite(kps.reshape(n, 3 * k)).all(axis=1))[0]
    if len(bad):
        raise ResultsError(f"{name}: entry {bad[0]}: field 'keypoints' contains NaN or inf")
    if gt is not None:
        bad = np.nonzero(~np.isin(img, gt.image_ids))[0]
        if len(bad):
            raise ResultsError(f"{name}: entry {bad[0]}: field 'image_id' = {img[bad[0]]} is "
                               f"not in the ground truth {gt.source}")
    return Results(img, cats, kps, scores, _boxes(name, entries))


def carries_bbox(entries: list) -> bool:
    """``COCO.loadRes``' test: results are boxes when the first entry has a non-empty bbox."""
    return bool(entries) and isinstance(entries[0], dict) and "bbox" in entries[0] \
        and not entries[0]["bbox"] == []


def _boxes(name: str, entries: list) -> np.ndarray | None:
    if not carries_bbox(entries):
        return None
    for i, e in enumerate(entries):
        b = e.get("bbox")
        if not isinstance(b, list) or len(b) != 4 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in b):
            raise ResultsError(f"{name}: entry {i}: field 'bbox' must be 4 finite numbers "
                               f"[x, y, w, h] (entry 0 has a bbox, so the official evaluator "
                               f"reads every entry's), got {b!r}")
    return np.asarray([e["bbox"] for e in entries], dtype=np.float64).reshape(-1, 4)


def read_results_list(path: str | os.PathLike, gt: GroundTruth | None = None) -> list[dict]:
    """The entries of a result file as dicts (extra fields such as ``bbox`` kept), validated
    like ``load_results``; for tools that merge or ensemble files."""
    entries = read_results_json(path)
    load_results(entries, gt, name=str(path))
    return entries


def read_results_json(path: "str | os.PathLike") -> object:
    """A results file's JSON; unreadable or malformed files raise ``ResultsError``."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ResultsError(f"{path}: cannot read results JSON: {e}") from e


def finite_number(v: object) -> bool:
    """A JSON number that is finite (``True``/``False`` are not numbers here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_entry_fields(name: str, i: int, e: object, payload: str) -> None:
    """The checks every results entry shares (keypoint and box files): an object with
    ``image_id``, ``category_id``, ``payload`` and ``score``; integer ids; a finite score."""
    if not isinstance(e, dict):
        raise ResultsError(f"{name}: entry {i}: expected an object, got {type(e).__name__}")
    for field in ("image_id", "category_id", payload, "score"):
        if field not in e:
            raise ResultsError(f"{name}: entry {i}: missing field {field!r}")
    for field in ("image_id", "category_id"):
        v = e[field]
        if not finite_number(v) or not float(v).is_integer():
            raise ResultsError(f"{name}: entry {i}: field {field!r} must be an integer, got {v!r}")
    if not finite_number(e["score"]):
        raise ResultsError(f"{name}: entry {i}: field 'score' must be a finite number, "
                           f"got {e['score']!r}")


def _check_entry(name: str, i: int, e: object, length: int) -> None:
    check_entry_fields(name, i, e, "keypoints")
    kp = e["keypoints"]
    if not isinstance(kp, list) or len(kp) != length:
        got = len(kp) if isinstance(kp, list) else type(kp).__name__
        raise ResultsError(f"{name}: entry {i}: field 'keypoints' must be a list of {length} "
                           f"numbers ({length // 3} keypoints x 3), got {got}")
