"""Synthetic DeepFashion2 data in the RAW layout (``<root>/<split>/image|annos``).

Each image shows a person (a body under a top and/or a bottom, or a dress) or 1-3 garments laid
anywhere, over a varied background, through camera effects (``render`` and ``scene``); landmarks
covered by anything drawn later (a garment, a body part, an occluder) are labelled occluded
(v=1), landmarks outside the frame get v=0 and x=y=0, exactly as the real files.
A detection-results file (jittered true boxes + low-score false positives, standing in for a
detector's output) is written for every split, the unannotated test split included, so the
detection-box test path and a test-split submission can be exercised.
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
from .render import Garment, background, local_flip_index, render_garment
from .scene import DRESS, LOWER, UPPER, BODY_LOW, body_mask, degrade, occluder, paint_skin
from .templates import template

logger = logging.getLogger(__name__)

RAW_NAMES = {cid: raw for cid, _n, raw, _k in df2.CATEGORIES}
SPLITS = ("train", "validation", "test")


def _masks(later: list) -> list[np.ndarray]:
    return [o.mask if isinstance(o, Garment) else o for o in later]


def _visibility(g: Garment, later: list, h: int, w: int) -> np.ndarray:
    """(N, 3) landmarks x, y, v: 0 outside the frame, 1 covered by something drawn later (a
    garment or its mask, a body part, an occluder), else 2."""
    x, y = g.points[:, 0], g.points[:, 1]
    inside = (x >= 0) & (y >= 0) & (x <= w - 1) & (y <= h - 1)
    xi = np.clip(np.round(x).astype(int), 0, w - 1)
    yi = np.clip(np.round(y).astype(int), 0, h - 1)
    covered = np.zeros(len(x), bool)
    for m in _masks(later):
        covered |= m[yi, xi]
    v = np.where(inside, np.where(covered, 1, 2), 0)
    return np.stack([np.where(inside, x, 0), np.where(inside, y, 0), v], axis=1)


def _level(value: float, cuts: tuple[float, float]) -> int:
    return 1 + int(value >= cuts[0]) + int(value >= cuts[1])


def _item(g: Garment, kps: np.ndarray, later: list, rng: np.random.Generator,
          h: int, w: int) -> dict:
    ys, xs = np.nonzero(g.mask)
    area = max(len(xs), 1)
    covered = np.zeros_like(g.mask)
    for m in _masks(later):
        covered |= m
    occ = float((covered & g.mask).sum()) / area
    outside = float((kps[:, 2] == 0).mean())
    polys = [np.clip(p, 0, [w - 1, h - 1]) for p in g.polygons]
    return {
        "segmentation": [np.round(p, 1).reshape(-1).tolist() for p in polys],
        "scale": _level(area / (h * w), (0.1, 0.35)),
        "viewpoint": int(rng.choice([2, 2, 3] if g.worn else [2, 2, 2, 2, 1, 3])),
        "zoom_in": _level(outside, (0.01, 0.3)),
        "landmarks": [int(round(v)) for v in kps.reshape(-1)],
        "style": int(rng.integers(0, 4)),
        "bounding_box": [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())],
        "category_id": g.category_id,
        "occlusion": _level(occ, (0.1, 0.4)),
        "category_name": RAW_NAMES[g.category_id],
    }


def _inside(g: Garment, h: int, w: int) -> float:
    x, y = g.points[:, 0], g.points[:, 1]
    return float(((x >= 0) & (y >= 0) & (x <= w - 1) & (y <= h - 1)).mean())


def _place(rng: np.random.Generator, cid: int, size: tuple[int, int], worn: bool = False,
           frac: tuple[float, float] = (0.3, 0.9)) -> Garment:
    """Render until the garment is mostly inside the frame (bounded retries)."""
    h, w = size
    for _ in range(20):
        f = rng.uniform(*frac) * (1.0 if cid not in (7, 9) else 0.7)
        g = render_garment(rng, cid, size, f, mirror=bool(rng.random() < 0.5), worn=worn)
        if _inside(g, h, w) >= 0.7 and g.mask.sum() > 0.01 * h * w:
            return g
    return g


def _hem_centre(g: Garment) -> np.ndarray:
    n = BODY_LOW[g.category_id]
    return (g.points[n - 1] + g.points[local_flip_index(g.category_id)[n - 1]]) / 2


def _outfit(rng: np.random.Generator, size: tuple[int, int]) -> tuple[list[Garment], list[bool]]:
    """A person's clothes: one garment, or a top with shorts/trousers/a skirt (the top over the
    waistband, or tucked in). Returns the garments in drawing order and which need head/legs."""
    h, w = size
    main = int(rng.integers(1, 14))
    pair = rng.random() < 0.6 and main not in DRESS
    upper = main if main not in LOWER else int(rng.choice(UPPER)) if pair else None
    lower = main if main in LOWER else int(rng.choice(LOWER)) if pair else None
    if upper is None:
        return [_place(rng, lower, size, worn=True)], [True]
    top = _place(rng, upper, size, worn=True, frac=(0.3, 0.6) if lower else (0.35, 0.9))
    if lower is None:
        return [top], [True]
    tucked = rng.random() < 0.25
    up = top.up / np.linalg.norm(top.up)
    hem = _hem_centre(top) + up * top.unit * (rng.uniform(0.15, 0.3) if tucked
                                              else -rng.uniform(0.03, 0.15))
    low = BODY_LOW[upper] - 1
    a, b = top.points[low], top.points[local_flip_index(upper)[low]]
    t = template(lower)
    unit = float(np.linalg.norm(a - b)) / (t[2, 0] - t[0, 0]) * rng.uniform(0.85, 1.05)
    angle = float(np.degrees(np.arctan2(up[0], -up[1])))
    mirror = bool(rng.random() < 0.5)
    target = (w - 1 - hem[0], hem[1]) if mirror else (hem[0], hem[1])
    bottom = render_garment(rng, lower, size, mirror=mirror, worn=True, unit=unit,
                            angle=-angle if mirror else angle, anchor=((1,), target))
    if _inside(bottom, h, w) < 0.3 or not bottom.mask.any():
        return [top], [True]
    return ([top, bottom] if tucked else [bottom, top]), [True, True]


def make_image(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, list[dict]]:
    """One synthetic scene: BGR image and its raw ``item`` dicts (drawing order).

    Half the scenes are a person (skin-toned body under the clothes, a top over or under the
    waistband of shorts/trousers/a skirt), the rest 1-3 garments laid anywhere (some on a body);
    an occluder may cover part of a garment; camera effects finish the image.
    """
    h, w = size
    img = background(rng, h, w)
    if rng.random() < 0.5:
        garments, _ = _outfit(rng, size)
        person = True
    else:
        cats = rng.integers(1, 14, size=int(rng.integers(1, 4)))
        garments = [_place(rng, int(c), size, worn=bool(rng.random() < 0.3)) for c in cats]
        person = False
    # (i, mask) of everything drawn over garment i - 1 and later ones: it covers garments < i
    layers: list[tuple[int, np.ndarray]] = []
    if person:
        body = np.zeros((h, w), bool)
        for g in garments:
            body |= body_mask(rng, g, size, head=g.category_id not in LOWER or len(garments) == 1)
        paint_skin(rng, img, body)
    for i, g in enumerate(garments):
        if not person and g.worn:
            body = body_mask(rng, g, size) & ~g.mask
            paint_skin(rng, img, body)
            layers.append((i, body))
        np.copyto(img, g.layer, where=g.mask[..., None])
        layers.append((i, g.mask))
    if rng.random() < 0.25:
        k = int(rng.integers(len(garments)))
        g = garments[k]
        layers.append((len(garments), occluder(rng, img, g.points[int(rng.integers(len(g.points)))],
                                               g.unit)))
    img = degrade(rng, img)
    items = []
    for i, g in enumerate(garments):
        later = [m for j, m in layers if j > i]
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


def frame_size(rng: np.random.Generator, size: tuple[int, int]) -> tuple[int, int]:
    """Image size of one picture: ``size``, or portrait / landscape with one side cut to 3/4."""
    h, w = size
    k = int(rng.integers(0, 3))
    return (h, w) if k == 0 else (h, max(int(round(0.75 * w)), 32)) if k == 1 else \
        (max(int(round(0.75 * h)), 32), w)


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
        img, items = make_image(rng, frame_size(rng, size))
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
        dets += _detections(rng, num, items, img.shape[:2])
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
