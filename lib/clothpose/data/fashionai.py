"""FashionAI records for ``build_dataset`` (keypoint family ``fashionai``).

Files under ``DATASET.ROOT`` (one challenge release): images ``Images/<type>/<hash>.jpg``,
annotations ``Annotations/<set>.csv`` (26 columns), test lists ``<set>.csv`` or
``Annotations/<set>.csv`` (``image_id,image_category``). A set name ending in ``.csv`` is a path
(relative to the root, or absolute). A test list is evaluated when an answer file
``<set>_answer.csv`` (in ``Annotations/`` or next to the list) is present.

``DATASET.INPUT``:

* ``image`` (the reference): the whole image, anchored at the top-left corner and zero-padded
  on the right/bottom to the input's aspect ratio, then resized to ``MODEL.IMAGE_SIZE``;
* ``box`` (HRNet): a crop around the labelled keypoints (grown by 10 % of the longer side, then
  HRNet's 1.25 padding). On a test list this needs the answer file: the boxes then come from
  the ground truth, like ``TEST.USE_GT_BBOX`` for DeepFashion2.

Visibility follows the challenge: v = 1 visible, 0 occluded, -1 absent. Targets are drawn for
v >= 0 (as the reference trains); the NE metric scores v = 1 only.
The evaluation ground truth (``dataset.evaluation_gt()``) is a COCO-like dict whose keypoints
are (24, 3) x, y, v + 1 (2 visible, 1 occluded, 0 absent, COCO's convention), whose
``image_id`` is the same integer ``meta['image_id']`` carries, and whose images carry
``file_name`` = the CSV image id.
"""
from __future__ import annotations

import csv
import inspect
import logging
from pathlib import Path
from typing import Callable

import numpy as np
from yacs.config import CfgNode

from ..keypoints import KeypointScheme
from .build import register_record_builder
from .coco_records import ParseResult
from .fashionai_csv import (HEADER, FashionAICSVError, FashionAITable, read_annotations,
                            read_test_list, rows_for, rows_to_records)
from .keypoint_dataset import KeypointDataset

logger = logging.getLogger(__name__)

# The padding KeypointDataset applies to every record box (build_dataset uses the default).
DATASET_PADDING: float = inspect.signature(KeypointDataset.__init__).parameters["padding"].default


def set_file(root: Path, image_set: str) -> Path:
    """The CSV of ``image_set``: a ``.csv`` path, or ``Annotations/<set>.csv``, ``<set>.csv``."""
    if image_set.endswith(".csv"):
        p = Path(image_set)
        cands = [p] if p.is_absolute() else [root / p]
    else:
        cands = [root / "Annotations" / f"{image_set}.csv", root / f"{image_set}.csv"]
    for p in cands:
        if p.is_file():
            return p
    raise FashionAICSVError(f"no FashionAI CSV for set {image_set!r}; looked for: "
                            + ", ".join(str(p) for p in cands))


def answer_file(root: Path, list_file: Path) -> Path | None:
    """``<stem>_answer.csv`` in ``Annotations/`` or next to the test list, if present."""
    name = f"{list_file.stem}_answer.csv"
    for p in (root / "Annotations" / name, list_file.parent / name):
        if p.is_file():
            return p
    return None


def has_keypoints(path: Path) -> bool:
    """True when the CSV header has the 24 keypoint columns (an annotation/answer file)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), [])
    return len(header) == len(HEADER)


def load_set(root: Path, image_set: str, strict: bool = True
             ) -> tuple[FashionAITable, FashionAITable | None, Path]:
    """(rows to predict, ground truth or None, file read) of a set.

    For a test list with an answer file, the ground truth is the answer rows in the list's order;
    the list and the answers must hold the same images with the same types.
    """
    path = set_file(root, image_set)
    if has_keypoints(path):
        table = read_annotations(path, strict=strict)
        return table, table, path
    listing = read_test_list(path, strict=strict)
    ans_path = answer_file(root, path)
    if ans_path is None:
        return listing, None, path
    answers = read_annotations(ans_path, strict=strict)
    idx = rows_for(answers.image_ids, listing.image_ids, str(ans_path), "answer", str(path))
    if not np.array_equal(answers.category_ids[idx], listing.category_ids):
        raise FashionAICSVError(f"{ans_path}: image types disagree with {path}")
    gt = FashionAITable(str(ans_path), list(listing.image_ids), listing.category_ids.copy(),
                        answers.keypoints[idx])
    return gt, gt, path


def whole_image_box(sizes: np.ndarray, aspect_ratio: float,
                    padding: float = DATASET_PADDING) -> np.ndarray:
    """(N, 4) record boxes that make ``KeypointDataset`` show the whole image top-left anchored.

    The crop is the smallest rectangle of the input's aspect ratio that holds the image
    (W, H) = ``sizes`` with its corner at (0, 0), so the padding is on the right or bottom as in
    the reference; the box is that rectangle shrunk about its centre by the dataset's padding,
    which the dataset re-applies.
    """
    w, h = sizes[:, 0].astype(np.float64), sizes[:, 1].astype(np.float64)
    cw = np.maximum(w, h * aspect_ratio)
    ch = cw / aspect_ratio
    bw, bh = cw / padding, ch / padding
    return np.stack([cw / 2 - bw / 2, ch / 2 - bh / 2, bw, bh], axis=1)


def evaluation_dict(table: FashionAITable, ranks: dict[str, int]) -> dict:
    """COCO-like ground truth of ``table`` (keypoints x, y, v + 1; integer image ids)."""
    kps = table.keypoints.copy()
    kps[..., 2] += 1
    images = [{"id": ranks[i], "file_name": i} for i in table.image_ids]
    anns = [{"id": n + 1, "image_id": ranks[i], "category_id": int(c),
             "keypoints": k.reshape(-1).tolist()}
            for n, (i, c, k) in enumerate(zip(table.image_ids, table.category_ids, kps))]
    return {"images": images, "annotations": anns, "categories": [], "fashionai": table}


def image_ranks(records: list[dict]) -> dict[str, int]:
    """CSV image id -> the integer id ``KeypointDataset`` puts in ``meta['image_id']``."""
    return {i: n for n, i in enumerate(sorted({str(r["image_id"]) for r in records}))}


def _subset(table: FashionAITable, image_ids: set) -> FashionAITable:
    rows = [n for n, i in enumerate(table.image_ids) if i in image_ids]
    return FashionAITable(table.path, [table.image_ids[n] for n in rows], table.category_ids[rows],
                          None if table.keypoints is None else table.keypoints[rows],
                          list(table.skipped))


def fashionai_records(cfg: CfgNode, image_set: str, is_train: bool, scheme: KeypointScheme,
                      categories: list[int]) -> tuple[ParseResult, Path, Callable[[], dict | None]]:
    """Record builder of the ``fashionai`` family (see ``register_record_builder``)."""
    root = Path(cfg.DATASET.ROOT)
    skip = bool(cfg.DATASET.SKIP_BAD_SAMPLES)
    table, gt, path = load_set(root, image_set, strict=not skip)
    limit = int(cfg.TEST.MAX_IMAGES) if not is_train else 0
    if limit > 0:  # the first N images (by id) of the set, and only their answers
        keep = set(sorted(set(table.image_ids))[:limit])
        table = _subset(table, keep)
        gt = None if gt is None else _subset(gt, keep)
    mode = cfg.DATASET.INPUT
    if table.keypoints is None and (is_train or mode == "box"):
        raise FashionAICSVError(
            f"{path}: a test list without an answer file has no keypoints; "
            + ("training needs an annotation CSV" if is_train else
               "set DATASET.INPUT image (whole images) to predict it"))
    if mode == "box" and gt is not None and Path(gt.path) != path:
        logger.warning("%s: box input on a test list uses boxes from the answers in %s",
                       path, gt.path)
    records = rows_to_records(table, scheme, mode, image_root=root, categories=categories,
                              skip_bad=skip)
    if mode == "image" and records:
        sizes = np.array([r["box"][2:] for r in records], dtype=np.float64)
        aspect = cfg.MODEL.IMAGE_SIZE[0] / cfg.MODEL.IMAGE_SIZE[1]
        for r, box in zip(records, whole_image_box(sizes, aspect)):
            r["box"] = box
    wanted = np.isin(table.category_ids, scheme.category_ids)
    if categories:
        wanted &= np.isin(table.category_ids, categories)
    res = ParseResult(records, [r["image_id"] for r in records],
                      num_skipped=int(wanted.sum()) - len(records),
                      num_filtered=int((~wanted).sum()))
    kept = {r["image_id"] for r in records}

    def gt_loader() -> dict | None:
        if gt is None:
            return None
        rows = [n for n, i in enumerate(gt.image_ids) if i in kept]
        sub = FashionAITable(gt.path, [gt.image_ids[n] for n in rows], gt.category_ids[rows],
                             gt.keypoints[rows])
        return evaluation_dict(sub, image_ranks(records))

    return res, path, gt_loader


register_record_builder("fashionai", fashionai_records)
