"""Rendering of synthetic garments and cluttered scenes (numpy + OpenCV, deterministic per RNG).

A garment is drawn on its own full-size layer (texture inside the outline polygon, a darker inside
region, outline edges, small markers at landmarks). Mirroring flips the finished layer and relabels
the landmarks through the category's flip pairs, so a mirrored garment is exactly the image mirror
of the unmirrored one with the left/right labels swapped.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ...keypoints import deepfashion2 as df2
from ...utils.transforms import flip_index_from_pairs
from .templates import outline, template

_SHIFT = 4                      # sub-pixel bits for cv2 drawing
_ONE = float(1 << _SHIFT)


@dataclass
class Garment:
    """One rendered garment in image pixels (float coordinates, before JSON rounding)."""

    category_id: int
    points: np.ndarray          # (N, 2) landmark positions, local order
    polygon: np.ndarray         # (P, 2) outer outline
    layer: np.ndarray           # (H, W, 3) uint8 BGR
    mask: np.ndarray            # (H, W) bool: pixels the garment covers
    mirrored: bool


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


def texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Stripes, checks, blotchy noise or a plain colour: (h, w, 3) float32."""
    kind = rng.integers(0, 4)
    a, b = random_color(rng), random_color(rng)
    if kind == 3:
        base = np.broadcast_to(a, (h, w, 3))
    else:
        if kind == 2:
            small = rng.random((max(h // 24, 2), max(w // 24, 2)), dtype=np.float32)
            t = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
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


def background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Gradient + noise + random shapes, (h, w, 3) uint8."""
    c0, c1 = random_color(rng), random_color(rng)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = c0 * (1 - t) + c1 * t + _noise(rng, h, w, 8.0)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(3, 12)):
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = (int(v) for v in rng.integers(0, (w, h)))
        r = int(rng.integers(4, max(h, w) // 5))
        shape = rng.integers(0, 3)
        if shape == 0:
            cv2.circle(img, (x, y), r, col, -1)
        elif shape == 1:
            cv2.rectangle(img, (x, y), (x + r, y + int(rng.integers(4, r + 5))), col, -1)
        else:
            x2, y2 = (int(v) for v in rng.integers(0, (w, h)))
            cv2.line(img, (x, y), (x2, y2), col, int(rng.integers(1, 5)))
    return img


def garment_points(rng: np.random.Generator, category_id: int, size: tuple[int, int],
                   height_frac: float) -> np.ndarray:
    """Template -> image pixels: non-rigid jitter, anisotropic scale, shear, rotation, shift."""
    h, w = size
    pts = template(category_id).copy()
    pts += rng.normal(0, 0.008, pts.shape)
    amp, freq, ph = rng.uniform(0, 0.02), rng.uniform(1, 3), rng.uniform(0, 2 * np.pi)
    pts[:, 0] += amp * np.sin(2 * np.pi * freq * pts[:, 1] + ph)
    span = max(np.ptp(pts[:, 1]), 0.5)
    s = height_frac * h / span
    sx, sy = s * rng.uniform(0.8, 1.2), s
    rot = np.deg2rad(rng.normal(0, 10))
    shear = rng.uniform(-0.12, 0.12)
    lin = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]]) @ \
        np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([sx, sy])
    centred = pts - pts.mean(axis=0)
    centre = rng.uniform([0.15 * w, 0.15 * h], [0.85 * w, 0.85 * h])
    return centred @ lin.T + centre


def _poly(points: np.ndarray, ids: tuple[int, ...]) -> np.ndarray:
    return np.round(points[np.asarray(ids) - 1] * _ONE).astype(np.int32)


def render_garment(rng: np.random.Generator, category_id: int, size: tuple[int, int],
                   height_frac: float = 0.6, mirror: bool = False) -> Garment:
    """Draw one garment on an empty layer of ``size`` (h, w)."""
    h, w = size
    pts = garment_points(rng, category_id, size, height_frac)
    outer, inner, straps = outline(category_id)
    # texture only the garment's bounding rectangle (the expensive part)
    x0, y0 = np.clip(np.floor(pts.min(axis=0)).astype(int) - 4, 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(pts.max(axis=0)).astype(int) + 5, [x0 + 1, y0 + 1], [w, h])
    tex = texture(rng, y1 - y0, x1 - x0)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [_poly(pts, outer)], 1, cv2.LINE_8, _SHIFT)
    inner_mask = np.zeros_like(mask)
    if inner:
        cv2.fillPoly(inner_mask, [_poly(pts, inner)], 1, cv2.LINE_8, _SHIFT)
        tex *= np.where(inner_mask[y0:y1, x0:x1, None] > 0, np.float32(0.35), np.float32(1.0))
    layer = np.zeros((h, w, 3), np.uint8)
    layer[y0:y1, x0:x1] = np.clip(tex, 0, 255)
    edge = tuple(int(v) for v in rng.integers(0, 60, 3))
    thick = int(rng.integers(1, 3))
    for ids in [outer] + ([inner] if inner else []):
        for img, col in ((layer, edge), (mask, 1)):
            cv2.polylines(img, [_poly(pts, ids)], True, col, thick, cv2.LINE_AA if img is layer
                          else cv2.LINE_8, _SHIFT)
    for a, b in straps:
        for img, col in ((layer, edge), (mask, 1)):
            cv2.line(img, tuple(_poly(pts, (a,))[0]), tuple(_poly(pts, (b,))[0]), col,
                     max(2, h // 100), cv2.LINE_8, _SHIFT)
    mask = (mask | inner_mask) > 0
    mark = tuple(int(v) for v in (255 - np.asarray(edge)))
    for p in _poly(pts, tuple(range(1, len(pts) + 1))):
        cv2.circle(layer, tuple(p), 2 << _SHIFT, mark, -1, cv2.LINE_8, _SHIFT)
    polygon = pts[np.asarray(outer) - 1]
    if mirror:
        layer, mask = np.ascontiguousarray(layer[:, ::-1]), np.ascontiguousarray(mask[:, ::-1])
        pts = pts[local_flip_index(category_id)].copy()
        pts[:, 0] = w - 1 - pts[:, 0]
        polygon = polygon.copy()
        polygon[:, 0] = w - 1 - polygon[:, 0]
    return Garment(category_id, pts, polygon, layer, mask, mirror)
