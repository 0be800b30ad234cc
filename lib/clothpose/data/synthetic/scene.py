"""Scene parts around rendered garments: a person-like body, occluders, camera degradations.

The body is drawn *under* a worn garment from the garment's own geometry (a head above the
neckline, arms out of the sleeves or armholes, legs out of the hems, a torso seen through the
openings), as on real photos; occluders (a forearm, a bag, hair) are drawn over garments and make
the landmarks under them occluded. Degradations act on the whole image: lower resolution, blur,
exposure, sensor noise and JPEG compression at a random quality.
"""
from __future__ import annotations

import cv2
import numpy as np

from .render import _ONE, _SHIFT, Garment, local_flip_index, texture

# (B, G, R) skin tones from light to dark
SKIN = np.array([[196, 214, 244], [160, 190, 232], [130, 166, 214], [100, 140, 198],
                 [76, 110, 160], [52, 76, 118], [40, 58, 88]], np.float32)

# 1-based landmark numbers (image-left side; the right one is the flip twin)
_CUFF = {1: (9, 10), 2: (11, 12), 3: (9, 10), 4: (11, 12), 10: (9, 10), 11: (11, 12)}
_ARMPIT = {1: 12, 2: 16, 3: 12, 4: 16, 5: 8, 6: 8, 10: 12, 11: 16, 12: 8, 13: 8}
_SHOULDER = {1: 7, 2: 7, 3: 7, 4: 7, 5: 7, 6: 7, 10: 7, 11: 7, 12: 7, 13: 7}
BODY_LOW = {1: 15, 2: 19, 3: 15, 4: 19, 5: 10, 6: 10, 10: 15, 11: 19, 12: 10, 13: 10}
_LEG_HEM = {7: (5, 6), 8: (6, 7)}
_SKIRT_HEM = {9: (5, 6), 10: (17, 18), 11: (21, 22), 12: (12, 13), 13: (12, 13)}
UPPER = (1, 2, 3, 4, 5, 6)
LOWER = (7, 8, 9)
DRESS = (10, 11, 12, 13)


def skin_colour(rng: np.random.Generator) -> np.ndarray:
    k = rng.uniform(0, len(SKIN) - 1)
    lo = int(k)
    return SKIN[lo] + (SKIN[min(lo + 1, len(SKIN) - 1)] - SKIN[lo]) * (k - lo) + \
        rng.normal(0, 6, 3).astype(np.float32)


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(p[0] * _ONE)), int(round(p[1] * _ONE))


def _limb(mask: np.ndarray, a: np.ndarray, b: np.ndarray, width: float) -> None:
    cv2.line(mask, _pt(a), _pt(b), 1, max(int(round(width)), 1), cv2.LINE_8, _SHIFT)


def _ellipse(mask: np.ndarray, c: np.ndarray, axes: tuple[float, float], angle: float) -> None:
    cv2.ellipse(mask, _pt(c), (max(int(axes[0] * _ONE), 1), max(int(axes[1] * _ONE), 1)),
                angle, 0, 360, 1, -1, cv2.LINE_8, _SHIFT)


def _twin(cid: int, number: int) -> int:
    return int(local_flip_index(cid)[number - 1]) + 1


def body_mask(rng: np.random.Generator, g: Garment, shape: tuple[int, int],
              head: bool = True, legs: bool = True) -> np.ndarray:
    """(h, w) bool silhouette of a body wearing ``g``, from the garment's landmarks."""
    cid, p, s = g.category_id, g.points, g.unit
    up = g.up / max(np.linalg.norm(g.up), 1e-9)
    down = -up
    m = np.zeros(shape, np.uint8)

    def at(n: int) -> np.ndarray:
        return p[n - 1]

    if cid in UPPER + DRESS:
        neck = (at(2) + at(6)) / 2
        sides = [(at(_ARMPIT[cid]), at(BODY_LOW[cid])),
                 (at(_twin(cid, _ARMPIT[cid])), at(_twin(cid, BODY_LOW[cid])))]
        torso = np.array([at(2), at(6), sides[1][0], sides[1][1], sides[0][1], sides[0][0]])
        cv2.fillPoly(m, [np.round(torso * _ONE).astype(np.int32)], 1, cv2.LINE_8, _SHIFT)
        if head:
            neck_w = 0.11 * s * rng.uniform(0.85, 1.15)
            chin = neck + up * 0.1 * s
            _limb(m, neck - up * 0.05 * s, chin, neck_w)
            head_c = chin + up * 0.11 * s
            ang = float(np.degrees(np.arctan2(up[1], up[0]))) + 90
            _ellipse(m, head_c, (0.1 * s, 0.13 * s), ang)
        for side in (0, 1):
            shoulder = at(_SHOULDER[cid] if side == 0 else _twin(cid, _SHOULDER[cid]))
            armpit = at(_ARMPIT[cid] if side == 0 else _twin(cid, _ARMPIT[cid]))
            joint = (shoulder + armpit) / 2
            if cid in _CUFF:
                a, b = (_CUFF[cid] if side == 0 else [_twin(cid, n) for n in _CUFF[cid]])
                cuff = (at(a) + at(b)) / 2
                width = 0.85 * np.linalg.norm(at(a) - at(b))
                direction = (cuff - joint) / max(np.linalg.norm(cuff - joint), 1e-9)
                short = cid in (1, 3, 10)
                end = cuff + direction * s * (rng.uniform(0.3, 0.5) if short else 0.06)
                _limb(m, joint, end, width)
                _ellipse(m, end + direction * 0.04 * s, (0.045 * s, 0.06 * s),
                         float(np.degrees(np.arctan2(direction[1], direction[0]))) + 90)
            else:
                out = (joint - neck) / max(np.linalg.norm(joint - neck), 1e-9)
                direction = down * 0.9 + out * 0.25
                direction /= np.linalg.norm(direction)
                end = joint + direction * s * rng.uniform(0.55, 0.8)
                _limb(m, joint, end, 0.1 * s)
                _ellipse(m, end + direction * 0.04 * s, (0.045 * s, 0.06 * s), 0.0)
    if cid in LOWER and head:                            # torso above the waistband
        waist = (at(1) + at(3)) / 2
        half = (at(3) - at(1)) / 2 * 0.9
        top = waist + up * 0.35 * s
        quad = np.array([waist - half, waist + half, top + half * 1.1, top - half * 1.1])
        cv2.fillPoly(m, [np.round(quad * _ONE).astype(np.int32)], 1, cv2.LINE_8, _SHIFT)
    if legs and (cid in _LEG_HEM or cid in _SKIRT_HEM):
        if cid in _LEG_HEM:
            pairs = [_LEG_HEM[cid], tuple(_twin(cid, n) for n in _LEG_HEM[cid])]
            hems = [((at(a) + at(b)) / 2, np.linalg.norm(at(a) - at(b))) for a, b in pairs]
            length = 0.08 if cid == 8 else rng.uniform(0.7, 1.1)
        else:
            corner, centre = _SKIRT_HEM[cid]
            hems = [(at(centre) + (at(n) - at(centre)) * 0.4, 0.16 * s)
                    for n in (corner, _twin(cid, corner))]
            length = rng.uniform(0.6, 1.0)
        for c, width in hems:
            end = c + down * length * s
            _limb(m, c - up * 0.1 * s, end, 0.8 * width)
            _ellipse(m, end + down * 0.03 * s, (0.07 * s, 0.035 * s),
                     float(np.degrees(np.arctan2(down[1], down[0]))) + 90)
    return m > 0


def paint_skin(rng: np.random.Generator, img: np.ndarray, mask: np.ndarray) -> None:
    """Fill ``mask`` with a shaded skin tone (in place)."""
    if not mask.any():
        return
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    h, w = y1 - y0, x1 - x0
    tone = skin_colour(rng)
    shade = cv2.GaussianBlur(mask[y0:y1, x0:x1].astype(np.float32), (0, 0),
                             max(min(h, w) / 30.0, 1.0))
    patch = tone * (0.75 + 0.3 * shade[..., None])
    patch = patch + rng.normal(0, 3, (h, w, 1)).astype(np.float32)
    sub = img[y0:y1, x0:x1]
    np.copyto(sub, np.clip(patch, 0, 255).astype(np.uint8), where=mask[y0:y1, x0:x1, None])


def occluder(rng: np.random.Generator, img: np.ndarray, target: np.ndarray, scale: float
             ) -> np.ndarray:
    """Draw a forearm, a bag or hair over ``target`` (in place); returns its (h, w) bool mask."""
    h, w = img.shape[:2]
    m = np.zeros((h, w), np.uint8)
    c = target + rng.normal(0, 0.08 * scale, 2)
    kind = rng.integers(0, 3)
    if kind == 0:                                  # forearm + hand crossing the garment
        ang = rng.uniform(0, 2 * np.pi)
        d = np.array([np.cos(ang), np.sin(ang)])
        a, b = c - d * rng.uniform(0.2, 0.5) * scale, c + d * 0.1 * scale
        _limb(m, a, b, rng.uniform(0.07, 0.12) * scale)
        _ellipse(m, b, (0.05 * scale, 0.07 * scale), float(np.degrees(ang)))
        paint_skin(rng, img, m > 0)
        return m > 0
    if kind == 1:                                  # bag: a textured box with a strap
        half = rng.uniform(0.08, 0.2, 2) * scale
        cv2.rectangle(m, _pt(c - half), _pt(c + half), 1, -1, cv2.LINE_8, _SHIFT)
        _limb(m, c - half, c - half * [0.0, 1.0] - [0.0, rng.uniform(0.2, 0.6) * scale],
              max(0.015 * scale, 1.0))
    else:                                          # hair / scarf: a soft dark blob
        _ellipse(m, c, tuple(rng.uniform(0.06, 0.16, 2) * scale), float(rng.uniform(0, 180)))
    mask = m > 0
    ys, xs = np.nonzero(mask)
    if len(xs):
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        tex = texture(rng, y1 - y0, x1 - x0) * (0.4 if kind == 2 else 1.0)
        np.copyto(img[y0:y1, x0:x1], np.clip(tex, 0, 255).astype(np.uint8),
                  where=mask[y0:y1, x0:x1, None])
    return mask


def degrade(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Camera and compression effects on a finished BGR image: lower resolution, defocus blur,
    exposure/contrast, sensor noise, JPEG at a random quality. Returns a new uint8 image."""
    h, w = img.shape[:2]
    out = img
    if rng.random() < 0.3:
        f = rng.uniform(0.45, 0.8)
        small = cv2.resize(out, (max(int(w * f), 8), max(int(h * f), 8)),
                           interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.4, 1.3)))
    else:                                          # anti-aliasing of the drawn edges
        out = cv2.GaussianBlur(out, (0, 0), 0.5)
    gain, bias = rng.uniform(0.75, 1.2), rng.uniform(-20, 20)
    noise = rng.uniform(0.0, 7.0)
    f = out.astype(np.float32) * np.float32(gain) + np.float32(bias)
    f += np.random.default_rng(int(rng.integers(1 << 31))).standard_normal(
        f.shape, dtype=np.float32) * np.float32(noise)
    out = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 96))])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out
