"""Files written by tools/infer.py: per-image JSON and PNG, one submission file for all images.

Per-image ``<stem>.json`` is a list of DeepFashion2 result entries (``image_id``,
``category_id``, ``keypoints`` in the official layout, ``score``; slots outside the instance's
category filled as ``evaluation.results`` documents) extended with a compact form of the same
landmarks: ``category_name``, ``landmarks`` = ``[[x, y, score], ...]`` in the category's local
order, plus ``bbox``, ``box_score`` and ``file_name``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..evaluation.results import submission_keypoints, write_results
from ..keypoints import KeypointScheme, get_scheme
from ..utils.io import atomic_write_json
from ..utils.vis import category_color, draw_instance, save_png
from .predictor import Instance

logger = logging.getLogger(__name__)


def _rounded(a: np.ndarray, decimals: int = 3) -> list:
    return np.round(np.asarray(a, np.float64), decimals).tolist()


def instance_entries(instances: Sequence[Instance], image_id: int, file_name: str) -> list[dict]:
    """Result entries (official layout + compact per-category landmarks) for one image."""
    if not instances:
        return []
    official = get_scheme(instances[0].scheme.family)
    cats = np.array([i.category_id for i in instances])
    full = submission_keypoints(np.stack([i.keypoints_official() for i in instances]), cats,
                                official).reshape(len(instances), -1)
    return [{"image_id": int(image_id), "category_id": inst.category_id,
             "keypoints": _rounded(full[n]), "score": float(inst.score),
             "category_name": inst.category_name, "landmarks": _rounded(inst.keypoints_local()),
             "bbox": _rounded(inst.box, 2), "box_score": float(inst.box_score),
             "file_name": file_name}
            for n, inst in enumerate(instances)]


def render(image: np.ndarray, instances: Sequence[Instance], scheme: KeypointScheme,
           score_thr: float) -> np.ndarray:
    """The image with each instance's box, category name and box score, and skeleton, in its
    category colour."""
    out = image
    for inst in instances:
        out = draw_instance(out, inst.keypoints, scheme, inst.category_id, score_thr)
        x, y, w, h = inst.box
        thick = max(1, round(max(out.shape[:2]) / 400))
        color = category_color(inst.category_id)
        cv2.rectangle(out, (round(x), round(y)), (round(x + w), round(y + h)), color, thick)
        label = f"{inst.category_name} {inst.box_score:.2f}"
        font = max(0.35, max(out.shape[:2]) / 1200)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font, thick)
        x0, y0 = int(round(x)), max(int(round(y)), th + base)
        cv2.rectangle(out, (x0, y0 - th - base), (x0 + tw, y0), color, -1)
        cv2.putText(out, label, (x0, y0 - base), cv2.FONT_HERSHEY_SIMPLEX, font,
                    (255, 255, 255), thick, cv2.LINE_AA)
    return out


def write_image_outputs(out_dir: Path, name: str, image: np.ndarray | None,
                        entries: list[dict], instances: Sequence[Instance],
                        scheme: KeypointScheme, score_thr: float) -> None:
    """``<name>.json`` (atomic) and, when the image is given, ``<name>.png``; ``name`` may hold
    sub-folders (inputs of several folders that share a file stem)."""
    atomic_write_json(out_dir / f"{name}.json", entries)
    if image is not None:
        save_png(out_dir / f"{name}.png", render(image, instances, scheme, score_thr))


def write_submission(path: Path, entries: list[dict], scheme: KeypointScheme) -> None:
    """All images' entries as one submission file (``write_results`` format, atomic)."""
    official = get_scheme(scheme.family)
    k = official.num_keypoints
    n = len(entries)
    write_results(path, np.array([e["image_id"] for e in entries], np.int64),
                  np.array([e["category_id"] for e in entries], np.int64),
                  np.array([e["keypoints"] for e in entries], np.float64).reshape(n, k, 3),
                  np.array([e["score"] for e in entries], np.float64), official)
