"""Garment templates for synthetic DeepFashion2-style images.

One template per category: normalized landmark positions in the official local numbering
(the DeepFashion2 landmark figure, 1-based), read off the figure. Only the image-left half and
the points on the symmetry axis are typed; the right half is the mirror image through the
category's default flip pairs, so every template is a true mirror pairing of
``get_scheme('deepfashion2')`` by construction (short_sleeved_outwear is numbered lso-like:
2/6 top neckline corners, 4/26 lower inner collar points).

Frame: x in [0, 1] spans the garment width (sleeves included), y grows downwards in the same
unit, so tops are about 1 tall and dresses/trousers about 1.5. Shared landmarks (neckline 1-6,
body sides, hems, waistbands) sit at the same frame positions across categories.

Besides positions, a category says which landmarks are outline *corners* (the rest lie on smooth
curves between corners), which parts turn about a joint (``LIMBS``) and how its length varies
(``STRETCH``): the renderer draws garments from these alone, never from anything per landmark.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ...keypoints import deepfashion2 as df2

# neckline shared by tops and dresses: 1 back centre, 2/6 top corners, 3/5 collar, 4 front centre
_NECK = {1: (0.5, 0.05), 2: (0.38, 0.03), 3: (0.41, 0.10), 4: (0.5, 0.16)}
# open jackets: 4 is the lower inner collar point left of the placket
_JACKET_NECK = {1: (0.5, 0.05), 2: (0.38, 0.03), 3: (0.41, 0.08), 4: (0.455, 0.13)}
_SLING_NECK = {1: (0.5, 0.20), 2: (0.36, 0.17), 3: (0.41, 0.24), 4: (0.5, 0.29)}
# short sleeve (7..12) and body side (13..15) of a top
_SHORT_SLEEVE = [(0.24, 0.10), (0.14, 0.19), (0.04, 0.31), (0.11, 0.38), (0.18, 0.33),
                 (0.26, 0.27)]
_LONG_SLEEVE = [(0.22, 0.10), (0.12, 0.30), (0.08, 0.52), (0.05, 0.72), (0.04, 0.93),
                (0.12, 0.93), (0.14, 0.75), (0.16, 0.58), (0.18, 0.45), (0.25, 0.30)]
_TOP_SIDE = [(0.27, 0.45), (0.27, 0.68), (0.27, 0.95)]     # upper side, mid side, hem corner
_DRESS_SIDE = [(0.27, 0.33), (0.27, 0.40), (0.27, 0.50)]   # upper side, mid side, waist
_SKIRT_PART = [(0.19, 0.95), (0.05, 1.45), (0.5, 1.48)]    # skirt side, hem corner, hem centre


def _seq(start: int, points: list[tuple[float, float]]) -> dict[int, tuple[float, float]]:
    return {start + i: p for i, p in enumerate(points)}


def _left_halves() -> dict[int, dict[int, tuple[float, float]]]:
    """Image-left and on-axis landmarks of every category (local 1-based number -> (x, y))."""
    sss = {**_NECK, **_seq(7, _SHORT_SLEEVE), **_seq(13, _TOP_SIDE), 16: (0.5, 0.97)}
    lss = {**_NECK, **_seq(7, _LONG_SLEEVE), **_seq(17, _TOP_SIDE), 20: (0.5, 0.97)}
    sso = {**_JACKET_NECK, **_seq(7, _SHORT_SLEEVE), **_seq(13, _TOP_SIDE), 16: (0.46, 0.97),
           30: (0.455, 0.42), 31: (0.46, 0.70)}
    lso = {**_JACKET_NECK, **_seq(7, _LONG_SLEEVE), **_seq(17, _TOP_SIDE), 20: (0.46, 0.97),
           38: (0.455, 0.42), 39: (0.46, 0.70)}
    vest = {**_NECK, 3: (0.41, 0.12), 4: (0.5, 0.22), 7: (0.28, 0.03),
            **_seq(8, [(0.29, 0.45), (0.29, 0.68), (0.29, 0.95)]), 11: (0.5, 0.97)}
    sling = {**_SLING_NECK, 7: (0.33, 0.0),
             **_seq(8, [(0.29, 0.45), (0.29, 0.68), (0.29, 0.95)]), 11: (0.5, 0.97)}
    shorts = {1: (0.08, 0.0), 2: (0.5, 0.0), 4: (0.05, 0.35), 5: (0.0, 0.80), 6: (0.42, 0.76),
              7: (0.5, 0.40)}
    trousers = {1: (0.12, 0.0), 2: (0.5, 0.0), 4: (0.09, 0.22), 5: (0.07, 0.75), 6: (0.05, 1.45),
                7: (0.29, 1.45), 8: (0.38, 0.75), 9: (0.5, 0.30)}
    skirt = {1: (0.3, 0.0), 2: (0.5, 0.01), 4: (0.2, 0.40), 5: (0.04, 0.80), 6: (0.5, 0.84)}
    ssd = {**_NECK, **_seq(7, [(0.24, 0.08), (0.15, 0.15), (0.07, 0.24), (0.13, 0.29),
                               (0.19, 0.25), (0.26, 0.22)]),
           **_seq(13, _DRESS_SIDE), **_seq(16, _SKIRT_PART)}
    lsd = {**_NECK, **_seq(7, [(0.22, 0.08), (0.13, 0.22), (0.08, 0.36), (0.05, 0.50),
                               (0.04, 0.64), (0.12, 0.64), (0.14, 0.52), (0.16, 0.41),
                               (0.18, 0.31), (0.25, 0.22)]),
           **_seq(17, _DRESS_SIDE), **_seq(20, _SKIRT_PART)}
    vd = {**vest, **_seq(8, _DRESS_SIDE), **_seq(11, _SKIRT_PART)}
    sd = {**sling, **_seq(8, _DRESS_SIDE), **_seq(11, _SKIRT_PART)}
    return {1: sss, 2: lss, 3: sso, 4: lso, 5: vest, 6: sling, 7: shorts, 8: trousers, 9: skirt,
            10: ssd, 11: lsd, 12: vd, 13: sd}


@functools.lru_cache(maxsize=None)
def template(category_id: int) -> np.ndarray:
    """(N, 2) float64 template of a category in local order; right half mirrored x -> 1 - x."""
    n = {cid: k for cid, _c, _r, k in df2.CATEGORIES}[category_id]
    half = _left_halves()[category_id]
    pts = np.full((n, 2), np.nan)
    for j, (x, y) in half.items():
        pts[j - 1] = (x, y)
    for a, b in df2.FLIP_PAIRS[category_id]:
        src, dst = (a, b) if not np.isnan(pts[a - 1, 0]) else (b, a)
        pts[dst - 1] = (1.0 - pts[src - 1, 0], pts[src - 1, 1])
    if np.isnan(pts).any():
        missing = (np.nonzero(np.isnan(pts[:, 0]))[0] + 1).tolist()
        raise ValueError(f"template of category {category_id}: landmarks {missing} undefined")
    pts.setflags(write=False)
    return pts



def _twins(category_id: int, numbers: set[int]) -> frozenset[int]:
    """``numbers`` with the mirror twin of each (1-based)."""
    twin = {a: b for pair in df2.FLIP_PAIRS[category_id] for a, b in (pair, pair[::-1])}
    return frozenset(numbers | {twin[j] for j in numbers if j in twin})


# Corners (image-left and axis numbers; right twins added): the outline turns sharply there.
# Every other landmark is a *contour* point: it lies on a smooth curve between two corners, at
# the position the template gives it along that curve, with nothing in the image marking it
# (like the real mid-side or hem-centre annotations). Front-centre 4 of round/V necklines is a
# corner only for V necks (chosen per garment, ``V_NECK``).
_CORNERS: dict[int, set[int]] = {
    1: {2, 9, 10, 12, 15}, 2: {2, 11, 12, 16, 19},
    3: {2, 4, 9, 10, 12, 15, 16}, 4: {2, 4, 11, 12, 16, 19, 20},
    5: {2, 7, 8, 10}, 6: {2, 7, 8, 10},
    7: {1, 5, 6, 7}, 8: {1, 6, 7, 9}, 9: {1, 5},
    10: {2, 9, 10, 12, 17}, 11: {2, 11, 12, 16, 21}, 12: {2, 7, 8, 12}, 13: {2, 7, 8, 12},
}
V_NECK = frozenset({1, 2, 5, 6, 10, 11, 12, 13})     # categories whose point 4 may be a V


@functools.lru_cache(maxsize=None)
def corners(category_id: int) -> frozenset[int]:
    """1-based landmark numbers where the outline has a corner (both sides)."""
    return _twins(category_id, _CORNERS[category_id])


@dataclass(frozen=True)
class Limb:
    """A part that turns about a joint: sleeves, trouser legs, skirt panels (image-left side).

    ``joint``: landmarks whose mean is the pivot; ``moving``: landmarks turned about it;
    ``angles``: range in degrees, positive = away from the body axis; ``stretch``: whether the
    body's length change moves it (skirts and legs hang from the body, sleeves do not).
    """

    joint: tuple[int, ...]
    moving: tuple[int, ...]
    angles: tuple[float, float]
    stretch: bool = True


_SHORT_SLEEVE_LIMB = Limb((7, 12), (8, 9, 10, 11), (-12.0, 30.0), stretch=False)
_LONG_SLEEVE_LIMB = Limb((7, 16), tuple(range(8, 16)), (-6.0, 40.0), stretch=False)
LIMBS: dict[int, tuple[Limb, ...]] = {
    1: (_SHORT_SLEEVE_LIMB,), 2: (_LONG_SLEEVE_LIMB,),
    3: (_SHORT_SLEEVE_LIMB,), 4: (_LONG_SLEEVE_LIMB,), 5: (), 6: (),
    7: (Limb((4, 7), (5, 6), (-5.0, 12.0)),),
    8: (Limb((4, 9), (5, 6, 7, 8), (-4.0, 10.0)),),
    9: (Limb((1,), (4, 5), (-8.0, 14.0)),),
    10: (_SHORT_SLEEVE_LIMB, Limb((15,), (16, 17), (-8.0, 14.0))),
    11: (_LONG_SLEEVE_LIMB, Limb((19,), (20, 21), (-8.0, 14.0))),
    12: (Limb((10,), (11, 12), (-8.0, 14.0)),),
    13: (Limb((10,), (11, 12), (-8.0, 14.0)),),
}
# Body length change: points below this template height move by a factor drawn from the range.
STRETCH: dict[int, tuple[float, tuple[float, float]]] = {
    **{c: (0.3, (0.8, 1.25)) for c in (1, 2, 3, 4, 5, 6)},
    7: (0.3, (0.7, 1.2)), 8: (0.3, (0.8, 1.15)), 9: (0.0, (0.7, 1.4)),
    **{c: (0.5, (0.7, 1.2)) for c in (10, 11, 12, 13)},
}


def _ring(*parts: object) -> list[int]:
    out: list[int] = []
    for p in parts:
        out.extend(p if isinstance(p, (list, range, tuple)) else [p])  # type: ignore[arg-type]
    return out


@functools.lru_cache(maxsize=None)
def outline(category_id: int
            ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, int], ...]]:
    """Drawing recipe: (outer ring, inner ring, straps) as 1-based landmark numbers.

    The outer ring follows the outline through the landmarks (the ``SKELETON`` order of the
    keypoint tables). The inner ring is the inside seen through the openings, starting with the
    back neckline (2 -> 1 -> 6): the back of the neck and, for outwear, the open front; on a
    worn garment only a band along the back neckline of it is garment, the rest shows the body.
    """
    n = {cid: k for cid, _c, _r, k in df2.CATEGORIES}[category_id]
    neck_front = [6, 5, 4, 3]
    if category_id in (1, 2, 10, 11, 5, 12):
        return tuple(_ring(2, range(7, n + 1), neck_front)), (2, 1, 6, 5, 4, 3), ()
    if category_id in (6, 13):   # slings: body without the strap tops, straps as lines
        return tuple(_ring(2, range(8, n), neck_front)), (2, 1, 6, 5, 4, 3), ((2, 7), (6, n))
    if category_id == 3:
        inner = (2, 1, 6, 5, 26, 27, 28, 29, 16, 31, 30, 4, 3)
        return tuple(_ring(2, range(7, 26), 6, 1)), inner, ()
    if category_id == 4:
        inner = (2, 1, 6, 5, 34, 35, 36, 37, 20, 39, 38, 4, 3)
        return tuple(_ring(2, range(7, 34), 6, 1)), inner, ()
    if category_id == 7:
        return (1, 2, 3, 10, 9, 8, 7, 6, 5, 4), (), ()
    if category_id == 8:
        return tuple(_ring(1, 2, 3, range(14, 3, -1))), (), ()
    if category_id == 9:
        return (1, 2, 3, 8, 7, 6, 5, 4), (), ()
    raise KeyError(f"no template for category {category_id}")
