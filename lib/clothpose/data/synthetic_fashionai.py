"""Synthetic FashionAI data in the challenge's layout, drawn with the DeepFashion2 garment renderer.

Layout under ``root`` (as a release): ``Images/<type>/<hash>.jpg``, ``Annotations/train.csv``
(and ``val.csv``), the test list ``test.csv`` (``image_id,image_category``) and its answers
``Annotations/test_answer.csv`` so NE can be computed.

Each image shows one garment of its type, worn by a person-like body or laid flat, over a varied
background, through camera effects (the DeepFashion2 renderer's ``render`` and ``scene``: no
landmark is marked in the image). The FashionAI keypoints are
DeepFashion2 landmarks that mean the same thing (blouse <- short/long sleeve top, outwear <-
short/long sleeve outwear, dress <- short/long sleeve dress, skirt, trousers), e.g. the blouse's
armpit is the sleeve/body junction, the outwear's waistline the middle of the body side. A
random occluder (a forearm, a bag, hair) makes the landmarks under it occluded (v = 0);
landmarks outside the frame are absent (``-1_-1_-1``), as in the real files.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import cv2
import numpy as np

from ..keypoints import fashionai as fai
from ..utils.io import atomic_write
from .fashionai_csv import ABSENT_CELL, HEADER, TYPE_NAMES
from .synthetic.render import background, local_flip_index, render_garment
from .synthetic.scene import body_mask, degrade, occluder, paint_skin

logger = logging.getLogger(__name__)

# type -> DeepFashion2 categories drawn for it, each with {FashionAI name: DF2 local landmark
# (1-based)} for the image-left and centre keypoints; right twins follow the DF2 flip pairs.
_TOP_SHORT = {"neckline_left": 2, "shoulder_left": 7, "armpit_left": 12, "cuff_left_in": 10,
              "cuff_left_out": 9}
_TOP_LONG = {"neckline_left": 2, "shoulder_left": 7, "armpit_left": 16, "cuff_left_in": 12,
             "cuff_left_out": 11}
SOURCES: dict[str, tuple[tuple[int, dict[str, int]], ...]] = {
    "blouse": ((1, {**_TOP_SHORT, "center_front": 4, "top_hem_left": 15}),
               (2, {**_TOP_LONG, "center_front": 4, "top_hem_left": 19})),
    "outwear": ((3, {**_TOP_SHORT, "waistline_left": 14, "top_hem_left": 15}),
                (4, {**_TOP_LONG, "waistline_left": 18, "top_hem_left": 19})),
    "trousers": ((8, {"waistband_left": 1, "crotch": 9, "bottom_left_in": 7,
                      "bottom_left_out": 6}),),
    "skirt": ((9, {"waistband_left": 1, "hemline_left": 5}),),
    "dress": ((10, {**_TOP_SHORT, "center_front": 4, "waistline_left": 15, "hemline_left": 17}),
              (11, {**_TOP_LONG, "center_front": 4, "waistline_left": 19, "hemline_left": 21})),
}
_INDEX = {name: i for i, name in enumerate(fai.KEYPOINTS)}


def landmark_map(df2_category: int, left: dict[str, int]) -> np.ndarray:
    """(24,) DF2 local landmark index (0-based) of each FashionAI keypoint, -1 where none."""
    flip = local_flip_index(df2_category)
    out = np.full(len(fai.KEYPOINTS), -1, dtype=np.int64)
    for name, number in left.items():
        out[_INDEX[name]] = number - 1
        if "left" in name:
            out[_INDEX[name.replace("left", "right")]] = flip[number - 1]
    return out


def make_fashionai_image(rng: np.random.Generator, type_name: str, size: tuple[int, int],
                         occlude_prob: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """One image of ``type_name``: BGR (h, w, 3) and (24, 3) keypoints x, y, v (challenge v)."""
    h, w = size
    cid = fai.CATEGORY_IDS[type_name]
    norm = [_INDEX[n] for n in fai.NORMALIZER[type_name]]
    df2_cat, left = SOURCES[type_name][int(rng.integers(len(SOURCES[type_name])))]
    lmap = landmark_map(df2_cat, left)
    own = np.array([k in fai.CATEGORIES[cid - 1][2] for k in fai.KEYPOINTS])
    worn = bool(rng.random() < 0.6)
    for _ in range(20):
        g = render_garment(rng, df2_cat, size, float(rng.uniform(0.45, 0.9)),
                           mirror=bool(rng.random() < 0.5), worn=worn)
        pts = np.where(own[:, None], g.points[np.maximum(lmap, 0)], np.nan)
        inside = (pts[:, 0] >= 0) & (pts[:, 1] >= 0) & (pts[:, 0] <= w - 1) & (pts[:, 1] <= h - 1)
        if inside[norm].all() and inside[own].mean() >= 0.75:
            break
    img = background(rng, h, w)
    if worn:
        paint_skin(rng, img, body_mask(rng, g, size))
    np.copyto(img, g.layer, where=g.mask[..., None])
    covered = np.zeros((h, w), bool)
    if rng.random() < occlude_prob:
        covered = occluder(rng, img, pts[int(rng.choice(np.flatnonzero(own & inside)))], g.unit)
    img = degrade(rng, img)
    xi = np.clip(np.nan_to_num(np.round(pts[:, 0])), 0, w - 1).astype(int)
    yi = np.clip(np.nan_to_num(np.round(pts[:, 1])), 0, h - 1).astype(int)
    v = np.where(inside, np.where(covered[yi, xi], 0, 1), -1)
    kps = np.where((v >= 0)[:, None], np.column_stack([np.round(pts), v]), -1.0)
    return img, kps


def annotation_lines(image_ids: list[str], category_ids: np.ndarray, keypoints: np.ndarray
                     ) -> list[str]:
    """CSV lines (header first) with ``x_y_v`` cells; v < 0 cells are written ``-1_-1_-1``."""
    lines = [",".join(HEADER)]
    for i, c, k in zip(image_ids, category_ids, keypoints.astype(np.int64)):
        cells = [f"{x}_{y}_{v}" if v >= 0 else ABSENT_CELL for x, y, v in k]
        lines.append(f"{i},{TYPE_NAMES[int(c)]},{','.join(cells)}")
    return lines


def _write_lines(path: Path, lines: list[str]) -> None:
    atomic_write(path, lambda f: f.write("\n".join(lines) + "\n"))


def write_split(root: str | os.PathLike, split: str, count: int, seed: int = 0,
                size: int = 256, types: tuple[str, ...] = tuple(fai.CATEGORY_IDS),
                quality: int = 90) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Render ``count`` images of ``split`` (types in turn, widths ``size`` or 3/4 of it) and
    return their image ids, category ids and keypoints; writes the images only."""
    root = Path(root)
    digest = int.from_bytes(hashlib.sha1(split.encode()).digest()[:4], "little")
    rng = np.random.default_rng([seed, digest])
    ids, cats, kps = [], [], []
    for n in range(count):
        name = types[n % len(types)]
        shape = (size, size if rng.random() < 0.5 else int(round(0.75 * size)))
        img, k = make_fashionai_image(rng, name, shape)
        image_id = f"Images/{name}/{hashlib.md5(f'{seed}/{split}/{n}'.encode()).hexdigest()}.jpg"
        (root / image_id).parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(root / image_id), img, [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise OSError(f"cannot write {root / image_id}")
        ids.append(image_id)
        cats.append(fai.CATEGORY_IDS[name])
        kps.append(k)
    return ids, np.array(cats, dtype=np.int64), np.array(kps).reshape(-1, len(fai.KEYPOINTS), 3)


def make_synthetic_fashionai(root: str | os.PathLike, train: int = 40, val: int = 0,
                             test: int = 10, seed: int = 0, size: int = 256,
                             types: tuple[str, ...] = tuple(fai.CATEGORY_IDS)) -> dict[str, Path]:
    """Write a synthetic release; returns the written CSVs by role (train, val, test, answer)."""
    root = Path(root)
    unknown = sorted(set(types) - set(fai.CATEGORY_IDS))
    if unknown or not types:
        raise ValueError(f"unknown clothing types {unknown or '(none)'}; "
                         f"expected some of {sorted(fai.CATEGORY_IDS)}")
    out: dict[str, Path] = {}
    for split, count in (("train", train), ("val", val)):
        if count > 0:
            out[split] = root / "Annotations" / f"{split}.csv"
            _write_lines(out[split], annotation_lines(*write_split(root, split, count, seed,
                                                                   size, types)))
    if test > 0:
        ids, cats, kps = write_split(root, "test", test, seed, size, types)
        out["test"], out["answer"] = root / "test.csv", root / "Annotations" / "test_answer.csv"
        _write_lines(out["test"], ["image_id,image_category"] +
                     [f"{i},{TYPE_NAMES[int(c)]}" for i, c in zip(ids, cats)])
        _write_lines(out["answer"], annotation_lines(ids, cats, kps))
    logger.info("synthetic FashionAI release in %s: %s", root,
                {k: str(v.name) for k, v in out.items()})
    return out
