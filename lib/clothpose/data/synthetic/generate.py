"""Synthetic DeepFashion2 data in the RAW layout (``<root>/<split>/image|annos``).

Each image holds 1-3 garments over a cluttered background; landmarks covered by a garment drawn
later are labelled occluded (v=1), landmarks outside the frame get v=0 and x=y=0, exactly as the
real files. A detection-results file (jittered true boxes + low-score false positives, standing
in for a detector's output) is written for every split, the unannotated test split included,
so the detection-box test path and a test-split submission can be exercised.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import cv2
import numpy as np

from ...keypoints import deepfashion2 as df2
from ...utils.io import atomic_write_json
from .render import Garment, background, render_garment

logger = logging.getLogger(__name__)

RAW_NAMES = {cid: raw for cid, _n, raw, _k in df2.CATEGORIES}
SPLITS = ("train", "validation", "test")


def _visibility(g: Garment, later: list[Garment], h: int, w: int) -> np.ndarray:
    """(N, 3) landmarks x, y, v: 0 outside the frame, 1 covered by a later garment, else 2."""
    x, y = g.points[:, 0], g.points[:, 1]
    inside = (x >= 0) & (y >= 0) & (x <= w - 1) & (y <= h - 1)
    xi = np.clip(np.round(x).astype(int), 0, w - 1)
    yi = np.clip(np.round(y).astype(int), 0, h - 1)
    covered = np.zeros(len(x), bool)
    for o in later:
        covered |= o.mask[yi, xi]
    v = np.where(inside, np.where(covered, 1, 2), 0)
    return np.stack([np.where(inside, x, 0), np.where(inside, y, 0), v], axis=1)


def _level(value: float, cuts: tuple[float, float]) -> int:
    return 1 + int(value >= cuts[0]) + int(value >= cuts[1])


def _item(g: Garment, kps: np.ndarray, later: list[Garment], rng: np.random.Generator,
          h: int, w: int) -> dict:
    ys, xs = np.nonzero(g.mask)
    area = max(len(xs), 1)
    covered = np.zeros_like(g.mask)
    for o in later:
        covered |= o.mask
    occ = float((covered & g.mask).sum()) / area
    outside = float((kps[:, 2] == 0).mean())
    poly = g.polygon.copy()
    poly[:, 0] = np.clip(poly[:, 0], 0, w - 1)
    poly[:, 1] = np.clip(poly[:, 1], 0, h - 1)
    return {
        "segmentation": [np.round(poly, 1).reshape(-1).tolist()],
        "scale": _level(area / (h * w), (0.1, 0.35)),
        "viewpoint": int(rng.choice([2, 2, 2, 2, 1, 3])),
        "zoom_in": _level(outside, (0.01, 0.3)),
        "landmarks": [int(round(v)) for v in kps.reshape(-1)],
        "style": int(rng.integers(0, 4)),
        "bounding_box": [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())],
        "category_id": g.category_id,
        "occlusion": _level(occ, (0.1, 0.4)),
        "category_name": RAW_NAMES[g.category_id],
    }


def _place(rng: np.random.Generator, cid: int, size: tuple[int, int]) -> Garment:
    """Render until the garment is mostly inside the frame (bounded retries)."""
    h, w = size
    for _ in range(20):
        frac = rng.uniform(0.35, 0.85) * (1.0 if cid not in (7, 9) else 0.7)
        g = render_garment(rng, cid, size, frac, mirror=bool(rng.random() < 0.5))
        x, y = g.points[:, 0], g.points[:, 1]
        inside = (x >= 0) & (y >= 0) & (x <= w - 1) & (y <= h - 1)
        if inside.mean() >= 0.7 and g.mask.sum() > 0.01 * h * w:
            return g
    return g


def make_image(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, list[dict]]:
    """One synthetic scene: BGR image and its raw ``item`` dicts (drawing order)."""
    h, w = size
    img = background(rng, h, w)
    cats = rng.integers(1, 14, size=int(rng.integers(1, 4)))
    garments = [_place(rng, int(c), size) for c in cats]
    for g in garments:
        np.copyto(img, g.layer, where=g.mask[..., None])
    items = []
    for i, g in enumerate(garments):
        later = garments[i + 1:]
        items.append(_item(g, _visibility(g, later, h, w), later, rng, h, w))
    return img, items


def _detections(rng: np.random.Generator, image_id: int, items: list[dict], size: tuple[int, int]
                ) -> list[dict]:
    h, w = size
    out = []
    for it in items:
        x1, y1, x2, y2 = it["bounding_box"]
        bw, bh = x2 - x1, y2 - y1
        jit = rng.normal(0, 0.04, 4) * [bw, bh, bw, bh]
        box = [x1 + jit[0], y1 + jit[1], max(bw + jit[2], 2.0), max(bh + jit[3], 2.0)]
        out.append({"image_id": image_id, "category_id": it["category_id"],
                    "bbox": [round(float(v), 2) for v in box],
                    "score": round(float(rng.uniform(0.5, 1.0)), 4)})
    for _ in range(int(rng.integers(0, 3))):
        bw, bh = rng.uniform(0.1, 0.5) * w, rng.uniform(0.1, 0.5) * h
        x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        out.append({"image_id": image_id, "category_id": int(rng.integers(1, 14)),
                    "bbox": [round(float(v), 2) for v in (x, y, bw, bh)],
                    "score": round(float(rng.uniform(0.01, 0.3)), 4)})
    return out


def write_split(root: str | os.PathLike, split: str, count: int, seed: int,
                size: tuple[int, int] = (384, 384), quality: int = 90) -> list[dict]:
    """Write ``count`` images (+ annos unless ``split == 'test'``) and the split's detection
    file; returns the detections."""
    root = Path(root)
    (root / split / "image").mkdir(parents=True, exist_ok=True)
    with_annos = split != "test"
    if with_annos:
        (root / split / "annos").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, SPLITS.index(split) if split in SPLITS else 99])
    dets: list[dict] = []
    n_pairs = max(count // 3, 1)
    for num in range(1, count + 1):
        img, items = make_image(rng, size)
        name = f"{num:06d}"
        if not cv2.imwrite(str(root / split / "image" / f"{name}.jpg"), img,
                           [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise OSError(f"cannot write {root / split / 'image' / name}.jpg")
        if with_annos:
            anno = {"source": str(rng.choice(["shop", "user"])),
                    "pair_id": int(rng.integers(1, n_pairs + 1))}
            anno.update({f"item{i + 1}": it for i, it in enumerate(items)})
            with open(root / split / "annos" / f"{name}.json", "w") as f:
                json.dump(anno, f)
        dets += _detections(rng, num, items, size)
    atomic_write_json(root / "detections" / f"{split}_detections.json", dets)
    logger.info("wrote %d synthetic %s images to %s", count, split, root / split)
    return dets


def make_synthetic(root: str | os.PathLike, counts: dict[str, int], seed: int = 0,
                   size: tuple[int, int] = (384, 384)) -> dict[str, Path]:
    """Generate every split of ``counts`` (e.g. ``{'train': 12, 'validation': 6}``).

    Returns the detection-file path of each split.
    """
    out = {}
    for split, n in counts.items():
        if n <= 0:
            continue
        write_split(root, split, n, seed, size)
        out[split] = Path(root) / "detections" / f"{split}_detections.json"
    return out
