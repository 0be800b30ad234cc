"""Rendering of synthetic garments (numpy + OpenCV, deterministic per RNG).

Nothing is drawn *at* a landmark. A garment is built from its template only: the template is
posed (sleeves, legs and skirt panels turn about their joints, the body and neckline change
length, necklines are round or V), its outline is traced as smooth curves between the corner
landmarks through the contour landmarks, the whole shape is bent by a smooth random warp and
placed by a random similarity + shear. The image then shows only what the outline implies: a
textured region with soft folds and shading, a darker inside seen through the neck (and the open
front of outwear), optionally a seam-like stroke along the *whole* outline. Landmarks are the
posed template points, which lie exactly on those curves; a contour landmark sits where the
template puts it along a smooth stretch of outline, as real mid-side or hem-centre annotations do.

Mirroring flips the finished layer and relabels the landmarks through the category's flip pairs,
so a mirrored garment is exactly the image mirror of the unmirrored one with left/right swapped.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ...keypoints import deepfashion2 as df2
from ...utils.transforms import flip_index_from_pairs
from .templates import LIMBS, STRETCH, V_NECK, corners, outline, template

_SHIFT = 4                      # sub-pixel bits for cv2 drawing
_ONE = float(1 << _SHIFT)
_SAMPLES_PER_UNIT = 240         # outline samples per template unit (~2 px at 384 px images)


@dataclass
class Garment:
    """One rendered garment in image pixels (float coordinates, before JSON rounding)."""

    category_id: int
    points: np.ndarray          # (N, 2) landmark positions, local order
    polygons: list[np.ndarray]  # (P, 2) outer and inner outline, evenly spaced from a random
                                # start: annotation polygons whose vertices mark no landmark
    layer: np.ndarray           # (H, W, 3) uint8 BGR
    mask: np.ndarray            # (H, W) bool: pixels the garment covers
    mirrored: bool
    contours: list[np.ndarray] = field(default_factory=list)   # drawn curves (dense polylines)
    unit: float = 1.0           # pixels per template unit (garment height scale)
    up: np.ndarray = field(default_factory=lambda: np.array([0.0, -1.0]))  # garment's "up"
    worn: bool = False


def local_flip_index(category_id: int) -> np.ndarray:
    """(N,) permutation of a category's local landmarks under a horizontal flip."""
    n = len(template(category_id))
    pairs = [(a - 1, b - 1) for a, b in df2.FLIP_PAIRS[category_id]]
    return flip_index_from_pairs(n, pairs)


def random_color(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(20, 236, size=3).astype(np.float32)


def _noise(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    """(h, w, 1) float32 noise: a window at a random offset into a fixed tile (fast)."""
    th, tw = _NOISE_TILE.shape
    if h > th // 2 or w > tw // 2:
        return (rng.standard_normal((h, w, 1), dtype=np.float32) * sigma)
    oy, ox = int(rng.integers(0, th - h)), int(rng.integers(0, tw - w))
    return _NOISE_TILE[oy:oy + h, ox:ox + w, None] * np.float32(sigma)


_NOISE_TILE = np.random.default_rng(12345).standard_normal((1024, 1024), dtype=np.float32)


def smooth_field(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """(h, w) float32 in [0, 1]: random values on a grid of ``cell`` px, bilinearly upsampled."""
    small = rng.random((max(int(h / cell), 2), max(int(w / cell), 2)), dtype=np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Stripes, checks, blotchy noise or a plain colour: (h, w, 3) float32."""
    kind = rng.integers(0, 4)
    a, b = random_color(rng), random_color(rng)
    if kind == 3:
        base = np.broadcast_to(a, (h, w, 3))
    else:
        if kind == 2:
            t = smooth_field(rng, h, w, 24)[..., None]
        else:
            ys = np.arange(h, dtype=np.float32)[:, None]
            xs = np.arange(w, dtype=np.float32)[None, :]
            th = rng.uniform(0, np.pi)
            c, s = np.float32(np.cos(th)), np.float32(np.sin(th))
            period = np.float32(rng.uniform(6, 24))
            t = ((xs * c + ys * s) / period) % 1.0 < 0.5
            if kind == 1:
                t = t ^ (((ys * c - xs * s) / period) % 1.0 < 0.5)
            t = t[..., None]
        base = np.where(t > 0.5, a, b) if kind != 2 else b + (a - b) * t
    return base + _noise(rng, h, w, 6.0)  # new array: callers may modify it


def shading(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """(h, w, 1) float32 multiplier: soft light falloff and folds (blurred dark/light creases)
    at random places and angles; ``scale`` is the garment size in pixels."""
    light = 0.8 + 0.35 * smooth_field(rng, h, w, max(scale / 2.5, 4.0))
    folds = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(0, 7))):
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        ang = rng.uniform(0, np.pi)
        half = rng.uniform(0.15, 0.5) * scale
        dx, dy = np.cos(ang) * half, np.sin(ang) * half
        p0 = (int((x0 - dx) * _ONE), int((y0 - dy) * _ONE))
        p1 = (int((x0 + dx) * _ONE), int((y0 + dy) * _ONE))
        cv2.line(folds, p0, p1, float(rng.uniform(-0.6, 1.0)),
                 max(int(rng.uniform(0.01, 0.03) * scale), 1), cv2.LINE_AA, _SHIFT)
    sigma = max(0.012 * scale, 1.0)
    folds = cv2.GaussianBlur(folds, (0, 0), sigma)
    return (light * (1.0 - 0.45 * folds)).clip(0.3, 1.4)[..., None]


def background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A plain gradient, a blurred pattern or a room (wall + floor) with clutter; (h, w, 3) uint8."""
    kind = rng.integers(0, 3)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    if kind == 0:
        c0, c1 = random_color(rng), random_color(rng)
        img = c0 * (1 - t) + c1 * t + _noise(rng, h, w, 8.0)
    elif kind == 1:
        img = cv2.GaussianBlur(texture(rng, h, w), (0, 0), float(rng.uniform(0.5, 4.0)))
    else:
        wall, floor = random_color(rng), random_color(rng)
        horizon = rng.uniform(0.45, 0.9)
        img = np.where(t < horizon, wall * (0.85 + 0.3 * t), floor) + _noise(rng, h, w, 5.0)
        img = img * (0.85 + 0.3 * smooth_field(rng, h, w, max(h, w) / 3))[..., None]
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(2, 10)):
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = (int(v) for v in rng.integers(0, (w, h)))
        r = int(rng.integers(4, max(h, w) // 5))
        shape = rng.integers(0, 3)
        if shape == 0:
            cv2.circle(img, (x, y), r, col, -1, cv2.LINE_AA)
        elif shape == 1:
            cv2.rectangle(img, (x, y), (x + r, y + int(rng.integers(4, r + 5))), col, -1)
        else:
            x2, y2 = (int(v) for v in rng.integers(0, (w, h)))
            cv2.line(img, (x, y), (x2, y2), col, int(rng.integers(1, 5)), cv2.LINE_AA)
    return img


# ----------------------------------------------------------------------------------------------
# geometry

def _rotate(p: np.ndarray, pivot: np.ndarray, deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (p - pivot) @ rot.T + pivot


def pose_template(rng: np.random.Generator, category_id: int) -> np.ndarray:
    """(N, 2) template in its own frame with this garment's proportions and pose.

    Length change below the body's stretch line, neckline depth and width, then each limb and
    its mirror twin turned about their joints (a shared angle plus a small one of each side's
    own, as people hold both arms alike) and scaled in length.
    """
    pts = template(category_id).copy()
    flip = local_flip_index(category_id)
    limbs = LIMBS[category_id]
    fixed = {j - 1 for limb in limbs if not limb.stretch for j in limb.moving}
    fixed |= {int(flip[j]) for j in fixed}
    y0, (lo, hi) = STRETCH[category_id]
    factor = rng.uniform(lo, hi)
    body = np.array([i not in fixed for i in range(len(pts))]) & (pts[:, 1] > y0)
    pts[body, 1] = y0 + (pts[body, 1] - y0) * factor
    if category_id not in (7, 8, 9):                    # neckline: depth and width
        neck = np.arange(6)
        if category_id in (3, 4):
            neck = np.r_[neck, flip[3]]
        top = pts[1, 1]
        pts[neck, 1] = top + (pts[neck, 1] - top) * rng.uniform(0.7, 1.5)
        pts[neck, 0] = 0.5 + (pts[neck, 0] - 0.5) * rng.uniform(0.85, 1.2)
    for limb in limbs:
        lo, hi = limb.angles
        angle, length = rng.uniform(lo, hi), rng.uniform(0.88, 1.12)
        for side in (1.0, -1.0):            # both sides alike, each a little its own way
            joint = np.array(limb.joint) - 1
            moving = np.array(limb.moving) - 1
            if side < 0:
                joint, moving = flip[joint], flip[moving]
            pivot = pts[joint].mean(axis=0)
            own = np.clip(angle + rng.normal(0, 0.1 * (hi - lo)), lo, hi)
            pts[moving] = pivot + (pts[moving] - pivot) * (length * rng.uniform(0.97, 1.03))
            pts[moving] = _rotate(pts[moving], pivot, side * own)
    return pts


def _hermite(p0: np.ndarray, p1: np.ndarray, t0: np.ndarray, t1: np.ndarray, n: int
             ) -> np.ndarray:
    """``n`` samples (end excluded) of the cubic from p0 to p1 with end tangents t0, t1."""
    s = np.linspace(0.0, 1.0, n, endpoint=False)[:, None]
    h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
    h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
    return h00 * p0 + h10 * t0 + h01 * p1 + h11 * t1


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def trace(pts: np.ndarray, ring: tuple[int, ...], corner: frozenset[int], closed: bool = True
          ) -> np.ndarray:
    """Dense polyline through the landmarks of ``ring`` (1-based): straight-ish smooth curves
    (tangent-continuous Hermite splines) between consecutive corners, passing through the contour
    landmarks between them; sharp turns only at corners. Every landmark is one of the samples."""
    ids = list(ring)
    if closed:
        first = next((k for k, j in enumerate(ids) if j in corner), None)
        if first is None:
            raise ValueError(f"ring {ring} has no corner")
        ids = ids[first:] + ids[:first] + [ids[first]]
    out = []
    start = 0
    for end in range(1, len(ids)):
        if ids[end] not in corner and end < len(ids) - 1:
            continue
        knots = pts[np.asarray(ids[start:end + 1]) - 1]
        m = len(knots) - 1
        tang = [_unit(knots[1] - knots[0])]
        tang += [_unit(knots[i + 1] - knots[i - 1]) for i in range(1, m)]
        tang += [_unit(knots[m] - knots[m - 1])]
        for i in range(m):
            length = float(np.linalg.norm(knots[i + 1] - knots[i]))
            n = max(int(np.ceil(length * _SAMPLES_PER_UNIT)), 1)
            out.append(_hermite(knots[i], knots[i + 1], tang[i] * length, tang[i + 1] * length, n))
        start = end
    out.append(pts[ids[-1] - 1][None])
    return np.concatenate(out)


def _warp(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth displacement field: 3 low-frequency sine waves (template units), as
    (displacement vectors (3, 2), spatial frequencies (3, 2), phases (3,))."""
    k = 3
    amp = rng.uniform(0.0, 0.025, k)
    direction = rng.normal(size=(k, 2))
    freq = rng.normal(size=(k, 2)) * 0.9
    phase = rng.uniform(0, 2 * np.pi, k)
    return amp[:, None] * direction / np.linalg.norm(direction, axis=1, keepdims=True), freq, phase


def _apply_warp(p: np.ndarray, warp: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    vec, freq, phase = warp
    return p + np.sin(2 * np.pi * p @ freq.T + phase) @ vec


def garment_geometry(rng: np.random.Generator, category_id: int, size: tuple[int, int],
                     height_frac: float, unit: float | None = None, angle: float | None = None,
                     anchor: tuple[tuple[int, ...], tuple[float, float]] | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list[np.ndarray], float,
                                np.ndarray]:
    """Posed, traced, warped and placed garment: landmarks (N, 2), outer ring, inner ring, straps
    (dense, pixels), pixels per template unit and the garment's up vector."""
    h, w = size
    pts = pose_template(rng, category_id)
    outer_ids, inner_ids, strap_ids = outline(category_id)
    corner = corners(category_id)
    if category_id in V_NECK and rng.random() < 0.4:
        corner = corner | {4}
    outer = trace(pts, outer_ids, corner)
    inner = trace(pts, inner_ids, corner) if inner_ids else None
    straps = [trace(pts, s, corner, closed=False) for s in strap_ids]
    warp = _warp(rng)
    pts, outer = _apply_warp(pts, warp), _apply_warp(outer, warp)
    inner = _apply_warp(inner, warp) if inner is not None else None
    straps = [_apply_warp(s, warp) for s in straps]
    span = max(np.ptp(pts[:, 1]), 0.5)
    s = unit if unit is not None else height_frac * h / span
    sx, sy = s * rng.uniform(0.8, 1.25), s
    rot = np.deg2rad(angle if angle is not None else rng.normal(0, 8))
    shear = rng.uniform(-0.1, 0.1)
    rmat = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]])
    lin = rmat @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([sx, sy])
    mean = pts.mean(axis=0)
    centre = rng.uniform([0.15 * w, 0.15 * h], [0.85 * w, 0.85 * h])
    if anchor is not None:
        idx, target = anchor
        centre = np.asarray(target, float) - (pts[np.asarray(idx)].mean(axis=0) - mean) @ lin.T

    def place(p):
        return None if p is None else (p - mean) @ lin.T + centre

    return (place(pts), place(outer), place(inner), [place(q) for q in straps], float(s),
            rmat @ np.array([0.0, -1.0]))


def resample(poly: np.ndarray, step: float, phase: float) -> np.ndarray:
    """Points every ``step`` along a closed polyline, starting ``phase`` (0..1) steps in."""
    closed = np.vstack([poly, poly[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    cum = np.r_[0.0, np.cumsum(seg)]
    if cum[-1] <= step:
        return poly.astype(np.float64)
    at = np.arange(phase * step, cum[-1], step)
    return np.column_stack([np.interp(at, cum, closed[:, 0]), np.interp(at, cum, closed[:, 1])])


def _fixed(p: np.ndarray) -> np.ndarray:
    return np.round(p * _ONE).astype(np.int32)


def _fill(shape: tuple[int, int], ring: np.ndarray) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [_fixed(ring)], 1, cv2.LINE_8, _SHIFT)
    return m > 0


def _stroke(img: np.ndarray, line: np.ndarray, colour, thick: int, closed: bool) -> None:
    cv2.polylines(img, [_fixed(line)], closed, colour, thick,
                  cv2.LINE_AA if img.ndim == 3 else cv2.LINE_8, _SHIFT)


def render_garment(rng: np.random.Generator, category_id: int, size: tuple[int, int],
                   height_frac: float = 0.6, mirror: bool = False, *, worn: bool = False,
                   unit: float | None = None, angle: float | None = None,
                   anchor: tuple[tuple[int, ...], tuple[float, float]] | None = None) -> Garment:
    """Draw one garment on an empty layer of ``size`` (h, w).

    ``worn``: the inside seen through the neck (and outwear's open front) is not garment except a
    band along the back neckline, so what is drawn under it (a body) shows there. ``unit`` (pixels
    per template unit), ``angle`` (degrees) and ``anchor`` ((0-based landmarks, (x, y)): where
    their mean goes, in the unmirrored frame) place it relative to another garment.
    """
    h, w = size
    pts, outer, inner, straps, s, up = garment_geometry(rng, category_id, size, height_frac,
                                                        unit, angle, anchor)
    strap_w = max(int(round(0.025 * s)), 2)
    mask = _fill((h, w), outer)
    if inner is not None:
        inner_mask = _fill((h, w), inner)
        if worn:
            back = inner[:np.argmin(np.linalg.norm(inner - pts[5], axis=1)) + 1]  # 2 -> 1 -> 6
            band = np.zeros((h, w), np.uint8)
            _stroke(band, back, 1, max(int(round(rng.uniform(0.02, 0.04) * s)), 2), False)
            inner_mask &= band > 0
            mask &= ~_fill((h, w), inner)
        mask |= inner_mask
    else:
        inner_mask = np.zeros((h, w), bool)
    edge = np.zeros((h, w), np.uint8)               # the outline's own pixels are garment
    for q in straps:
        _stroke(edge, q, 1, strap_w, False)
    _stroke(edge, outer, 1, 2, True)
    if inner is not None and not worn:
        _stroke(edge, inner, 1, 2, True)
    mask |= edge > 0
    # appearance over the garment's bounding rectangle (the expensive part)
    ys, xs = np.nonzero(mask)
    x0, x1 = (xs.min(), xs.max() + 1) if len(xs) else (0, 1)
    y0, y1 = (ys.min(), ys.max() + 1) if len(ys) else (0, 1)
    tex = texture(rng, y1 - y0, x1 - x0) * shading(rng, y1 - y0, x1 - x0, s)
    inside = np.float32(rng.uniform(0.3, 0.65))
    tex *= np.where(inner_mask[y0:y1, x0:x1, None], inside, np.float32(1.0))
    layer = np.zeros((h, w, 3), np.uint8)
    layer[y0:y1, x0:x1] = np.clip(tex, 0, 255)
    if rng.random() < 0.6:                       # seam-like stroke along every drawn curve
        colour = tuple(float(v) for v in np.clip(tex.reshape(-1, 3).mean(0)
                                                 * rng.uniform(0.2, 0.7), 0, 255))
        thick = int(rng.integers(1, 3))
        for line, closed in [(outer, True)] + ([(inner, True)] if inner is not None else []):
            _stroke(layer, line, colour, thick, closed)
        layer[~mask] = 0
    contours = [outer] + ([inner] if inner is not None else []) + straps
    step, phase = max(3.0, 0.04 * s), float(rng.uniform(0, 1))
    polygons = [resample(c[:-1], step, phase) for c in contours[:1 + (inner is not None)]]
    if mirror:
        layer, mask = np.ascontiguousarray(layer[:, ::-1]), np.ascontiguousarray(mask[:, ::-1])
        pts = pts[local_flip_index(category_id)].copy()
        pts[:, 0] = w - 1 - pts[:, 0]
        polygons = [_mirror_x(c, w) for c in polygons]
        contours = [_mirror_x(c, w) for c in contours]
        up = up * np.array([-1.0, 1.0])
    return Garment(category_id, pts, polygons, layer, mask, mirror, contours, s, up, worn)


def _mirror_x(p: np.ndarray, w: int) -> np.ndarray:
    q = p.copy()
    q[:, 0] = w - 1 - q[:, 0]
    return q
