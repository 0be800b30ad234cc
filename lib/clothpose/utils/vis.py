"""Debug drawing with OpenCV only: keypoint skeletons, prediction/ground-truth panels, grids.

Shared by tools/test.py, the demo and the inference tool, so every picture of the toolkit looks
the same: one colour per category (fixed palette), left/right members of flip pairs tinted
lighter/darker, skeleton edges from the scheme. Images are BGR uint8 (OpenCV's convention); every
function returns a new image and leaves its input untouched.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import cv2
import numpy as np

from ..keypoints import KeypointScheme
from .io import atomic_write

# 16 well-separated BGR colours; category id c uses PALETTE[(c - 1) % 16].
PALETTE: tuple[tuple[int, int, int], ...] = (
    (75, 25, 230), (75, 180, 60), (25, 225, 255), (200, 130, 0), (48, 130, 245),
    (180, 30, 145), (240, 240, 70), (230, 50, 240), (60, 245, 210), (212, 190, 250),
    (128, 128, 0), (255, 190, 220), (40, 110, 170), (0, 0, 128), (195, 255, 170),
    (128, 0, 0),
)
_SHIFT = 4  # sub-pixel drawing: coordinates are passed to OpenCV times 2**_SHIFT
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def category_color(category_id: int) -> tuple[int, int, int]:
    """The fixed BGR colour of a category."""
    return PALETTE[(int(category_id) - 1) % len(PALETTE)]


def _as_bgr(image: np.ndarray) -> np.ndarray:
    """A uint8 3-channel copy of a gray, BGR or BGRA image."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.ndim == 3 and img.shape[2] == 3:
        return img.copy()
    raise ValueError(f"expected a (H, W), (H, W, 3) or (H, W, 4) image, got shape {img.shape}")


def _local_points(keypoints: Any, scheme: KeypointScheme, category_id: int) -> np.ndarray:
    """(n_c, 3) x, y, score of the category's landmarks in local order."""
    cat = scheme.category(category_id)
    kps = np.asarray(keypoints, dtype=np.float64)
    if kps.ndim == 1:  # flat [x1, y1, s1, ...] as in COCO-style result files
        kps = kps.reshape(-1, 3)
    if kps.ndim != 2 or kps.shape[1] not in (2, 3):
        raise ValueError(f"keypoints must be (K, 2) or (K, 3), got shape {kps.shape}")
    if kps.shape[1] == 2:
        kps = np.concatenate([kps, np.ones((len(kps), 1))], axis=1)
    if len(kps) == scheme.num_keypoints:
        return kps[list(cat.slots)]
    if len(kps) == cat.num_keypoints:
        return kps
    raise ValueError(f"{len(kps)} keypoints fit neither scheme {scheme.name!r} "
                     f"({scheme.num_keypoints}) nor its category {category_id} "
                     f"({cat.num_keypoints})")


def _point_colors(n: int, flip_pairs: Sequence[tuple[int, int]],
                  base: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    """Base colour on the symmetry axis, lighter for the first and darker for the second member
    of each flip pair, so a left/right swap is visible at a glance."""
    b = np.asarray(base, dtype=np.float64)
    light = tuple(int(v) for v in b + 0.5 * (255 - b))
    dark = tuple(int(v) for v in 0.55 * b)
    colors = [tuple(int(v) for v in b)] * n
    for first, second in flip_pairs:
        colors[first], colors[second] = light, dark
    return colors


def draw_instance(image_bgr: np.ndarray, keypoints: Any, scheme: KeypointScheme,
                  category_id: int, score_thr: float = 0.3,
                  color: tuple[int, int, int] | None = None, radius: int | None = None,
                  thickness: int | None = None) -> np.ndarray:
    """Draw one garment's skeleton and points on a copy of the image.

    Args:
        keypoints: (K, 2|3) in the scheme's layout, (n_c, 2|3) in the category's local order, or
            a flat [x, y, s, ...] list; the third column is the score/visibility.
        score_thr: points with score < score_thr (or non-finite coordinates) are not drawn, nor
            the edges touching them.
        color: BGR override of the category colour.
    """
    out = _as_bgr(image_bgr)
    cat = scheme.category(category_id)
    pts = _local_points(keypoints, scheme, category_id)
    shown = np.isfinite(pts[:, :2]).all(axis=1) & (pts[:, 2] >= score_thr)
    base = color if color is not None else category_color(category_id)
    size = max(out.shape[:2])
    radius = radius or max(2, round(size / 160))
    thickness = thickness or max(1, round(size / 320))
    fixed = np.round(np.where(shown[:, None], pts[:, :2], 0) * (1 << _SHIFT)).astype(np.int32)
    edges = [fixed[[a, b]] for a, b in cat.skeleton if shown[a] and shown[b]]
    if edges:
        cv2.polylines(out, edges, False, base, thickness, cv2.LINE_AA, _SHIFT)
    for j, c in enumerate(_point_colors(len(pts), cat.flip_pairs, base)):
        if shown[j]:
            cv2.circle(out, tuple(int(v) for v in fixed[j]), radius << _SHIFT, c, -1, cv2.LINE_AA,
                       _SHIFT)
    return out


def _instance(inst: Any) -> tuple[Any, int]:
    if isinstance(inst, Mapping):
        return inst["keypoints"], int(inst["category_id"])
    keypoints, category_id = inst
    return keypoints, int(category_id)


def _label(image: np.ndarray, text: str, height: int) -> None:
    """Write ``text`` white-on-black into the top ``height`` rows of ``image`` (in place)."""
    image[:height] = 0
    if not text:
        return
    scale = height / 40.0
    (w, h), _ = cv2.getTextSize(text, _FONT, scale, 1)
    if w > image.shape[1] - 4:
        scale *= (image.shape[1] - 4) / w
        (w, h), _ = cv2.getTextSize(text, _FONT, scale, 1)
    cv2.putText(image, text, (2, (height + h) // 2), _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def side_by_side(image: np.ndarray, pred_instances: Sequence[Any], gt_instances: Sequence[Any],
                 scheme: KeypointScheme, score_thr: float = 0.3,
                 labels: tuple[str, str] = ("prediction", "ground truth")) -> np.ndarray:
    """Prediction (left) next to ground truth (right), each under a label band.

    Instances are mappings with ``keypoints`` and ``category_id`` (records, result entries) or
    ``(keypoints, category_id)`` pairs. Returns (H + band, 2 W, 3).
    """
    base = _as_bgr(image)
    band = max(16, base.shape[0] // 12)
    panels = []
    for instances, text in zip((pred_instances, gt_instances), labels):
        panel = base
        for inst in instances:
            kps, cid = _instance(inst)
            panel = draw_instance(panel, kps, scheme, cid, score_thr)
        framed = np.zeros((band + base.shape[0], base.shape[1], 3), np.uint8)
        framed[band:] = panel
        _label(framed, text, band)
        panels.append(framed)
    return np.concatenate(panels, axis=1)


def crop_around(image: np.ndarray, points: np.ndarray,
                pad: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Crop around the points whose third column is > 0, padded by ``pad`` of their extent
    plus 8 px; returns the crop (a view) and its (x, y) offset in the image."""
    h, w = image.shape[:2]
    pts = np.asarray(points, dtype=np.float64)
    ok = pts[:, 2] > 0
    if not ok.any():
        return image, np.zeros(2)
    x0, y0 = pts[ok, :2].min(axis=0)
    x1, y1 = pts[ok, :2].max(axis=0)
    px, py = (x1 - x0) * pad + 8, (y1 - y0) * pad + 8
    x0, y0 = int(np.clip(x0 - px, 0, w - 1)), int(np.clip(y0 - py, 0, h - 1))
    x1, y1 = int(np.clip(x1 + px, x0 + 2, w)), int(np.clip(y1 + py, y0 + 2, h))
    return image[y0:y1, x0:x1], np.array([x0, y0], dtype=np.float64)


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize keeping the aspect ratio and centre on a black (height, width) canvas."""
    img = _as_bgr(image)
    f = min(width / img.shape[1], height / img.shape[0])
    w, h = max(1, round(img.shape[1] * f)), max(1, round(img.shape[0] * f))
    canvas = np.zeros((height, width, 3), np.uint8)
    y, x = (height - h) // 2, (width - w) // 2
    canvas[y:y + h, x:x + w] = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    return canvas


def make_grid(images: Sequence[np.ndarray], ncols: int, cell_size: tuple[int, int] = (192, 192),
              titles: Sequence[str] | None = None) -> np.ndarray:
    """Tile images row by row into cells of ``cell_size`` (w, h), letterboxed; a title band at
    the top of each cell when ``titles`` is given. Returns (ceil(n / ncols) h, ncols w, 3)."""
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(titles)} titles for {len(images)} images")
    cw, ch = int(cell_size[0]), int(cell_size[1])
    band = max(12, ch // 10) if titles is not None else 0
    rows = max(1, math.ceil(len(images) / ncols))
    grid = np.zeros((rows * ch, ncols * cw, 3), np.uint8)
    for i, img in enumerate(images):
        cell = grid[(i // ncols) * ch:(i // ncols + 1) * ch, (i % ncols) * cw:(i % ncols + 1) * cw]
        cell[band:] = _fit(img, cw, ch - band)
        if titles is not None:
            _label(cell, str(titles[i]), band)
    return grid


def category_grid(examples_by_category: Mapping[int, Sequence[np.ndarray]],
                  names: KeypointScheme | Mapping[int, str] | None = None, ncols: int = 4,
                  cell_size: tuple[int, int] = (192, 192), label_width: int = 160) -> np.ndarray:
    """One block of rows per category (sorted by id): a name strip on the left, then its
    examples ``ncols`` per row. Returns (sum of block heights, label_width + ncols w, 3)."""
    if isinstance(names, KeypointScheme):
        names = {c.id: c.name for c in names.categories}
    blocks = []
    for cid in sorted(examples_by_category):
        cells = make_grid(list(examples_by_category[cid]), ncols, cell_size)
        strip = np.zeros((cells.shape[0], label_width, 3), np.uint8)
        strip[:, :, :] = category_color(cid)
        title = f"{cid} {names[cid]}" if names and cid in names else str(cid)
        _label(strip, title, min(cells.shape[0], max(16, int(cell_size[1]) // 6)))
        blocks.append(np.concatenate([strip, cells], axis=1))
    if not blocks:
        raise ValueError("category_grid needs at least one category")
    return np.concatenate(blocks, axis=0)


def save_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Encode as PNG and write atomically, creating parent folders."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"{path}: save_png writes PNG files; use a .png name")
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image))
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode an image of shape {np.shape(image)}")
    atomic_write(path, lambda f: f.write(buf.tobytes()), mode="wb")
