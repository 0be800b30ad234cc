"""CenterNet training targets: per-category centre heatmaps, sizes, offsets (pure numpy).

For each object box (x1, y1, x2, y2) in output cells (input pixels / stride): centre
p = ((x1 + x2) / 2, (y1 + y2) / 2), integer cell p~ = floor(p); a Gaussian of sigma
(2 r + 1) / 6 around p~ on the object's class channel, merged by element-wise maximum; the size
target (w, h) and offset p - p~ are stored for that cell. The radius r follows CornerNet: the
largest corner displacement for which the displaced box keeps IoU >= ``min_overlap`` (0.7) with
the true box, over CornerNet's three cases (box translated diagonally, shrunk, enlarged).

``rule="exact"`` solves those three quadratics for their correct roots (so the binding case
sits at IoU = min_overlap exactly; tests check it). ``rule="centernet"`` reproduces the released
CornerNet/CenterNet code, whose roots are taken as (b + sqrt(d)) / 2 in every case; it gives
radii about three times larger, and is what the published CenterNet numbers were trained with.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RADIUS_RULES = ("exact", "centernet")


def gaussian_radius(height: np.ndarray | float, width: np.ndarray | float,
                    min_overlap: float = 0.7, rule: str = "exact") -> np.ndarray:
    """Radius (in cells, float) per box of ``height`` x ``width`` cells (see module docstring)."""
    if rule not in RADIUS_RULES:
        raise ValueError(f"gaussian radius rule {rule!r}: expected one of {RADIUS_RULES}")
    h = np.asarray(height, dtype=np.float64)
    w = np.asarray(width, dtype=np.float64)
    t = float(min_overlap)
    # Case 1: both corners shifted by r along the diagonal (box translated):
    #   (w - r)(h - r) / (2wh - (w - r)(h - r)) = t  <=>  r^2 - (w + h) r + wh (1 - t)/(1 + t) = 0
    b1, c1 = h + w, w * h * (1 - t) / (1 + t)
    sq1 = np.sqrt(b1 ** 2 - 4 * c1)
    # Case 2: box shrunk by r on every side: (w - 2r)(h - 2r) / (wh) = t
    #   4 r^2 - 2 (w + h) r + (1 - t) wh = 0
    b2, c2 = 2 * (h + w), (1 - t) * w * h
    sq2 = np.sqrt(b2 ** 2 - 16 * c2)
    # Case 3: box enlarged by r on every side: wh / ((w + 2r)(h + 2r)) = t
    #   4t r^2 + 2t (w + h) r + (t - 1) wh = 0
    a3, b3, c3 = 4 * t, -2 * t * (h + w), (t - 1) * w * h
    sq3 = np.sqrt(b3 ** 2 - 4 * a3 * c3)
    if rule == "exact":
        r1, r2, r3 = (b1 - sq1) / 2, (b2 - sq2) / 8, (b3 + sq3) / (2 * a3)
    else:  # the released code's roots
        r1, r2, r3 = (b1 + sq1) / 2, (b2 + sq2) / 2, (b3 + sq3) / 2
    return np.minimum(np.minimum(r1, r2), r3)


def gaussian_kernel(radius: int) -> np.ndarray:
    """(2r+1, 2r+1) float32 Gaussian with sigma (2r + 1) / 6, peak 1 at the centre; values
    below float eps times the peak are set to 0 (as CenterNet's gaussian2D)."""
    d = 2 * radius + 1
    sigma = d / 6.0
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    g = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    g[g < np.finfo(g.dtype).eps * g.max()] = 0
    return g.astype(np.float32)


def draw_gaussian(heatmap: np.ndarray, center: tuple[int, int], radius: int) -> None:
    """Element-wise maximum of ``heatmap`` (H, W) and the Gaussian at integer ``center`` (x, y),
    clipped at the borders; in place."""
    g = gaussian_kernel(radius)
    x, y = int(center[0]), int(center[1])
    hgt, wid = heatmap.shape
    left, right = min(x, radius), min(wid - x, radius + 1)
    top, bottom = min(y, radius), min(hgt - y, radius + 1)
    if min(left + right, top + bottom) <= 0:
        return
    region = heatmap[y - top:y + bottom, x - left:x + right]
    patch = g[radius - top:radius + bottom, radius - left:radius + right]
    np.maximum(region, patch, out=region)


@dataclass
class DetectionTargets:
    """Targets of one image; object slots beyond the number of objects have ``mask`` 0."""

    heatmap: np.ndarray   # (C, H, W) float32
    size: np.ndarray      # (M, 2) float32: w, h in cells
    offset: np.ndarray    # (M, 2) float32: centre - floor(centre)
    index: np.ndarray     # (M,) int64: y * W + x of the centre cell
    mask: np.ndarray      # (M,) float32: 1 for a real object

    def as_dict(self) -> dict[str, np.ndarray]:
        return {"heatmap": self.heatmap, "size": self.size, "offset": self.offset,
                "index": self.index, "mask": self.mask}


def centernet_targets(boxes: np.ndarray, classes: np.ndarray, num_classes: int,
                      output_size: tuple[int, int], max_objects: int = 64,
                      min_overlap: float = 0.7, rule: str = "exact") -> DetectionTargets:
    """Targets for boxes (N, 4) x1, y1, x2, y2 in output cells and class indices (N,).

    Boxes are clipped to the extent of the output map, x in [0, W] and y in [0, H] (CenterNet
    clips to W - 1 and H - 1, which shrinks the size target of every object touching the right
    or bottom border by up to a cell); boxes left without area are dropped, as are objects
    beyond ``max_objects`` (in the given order). Centres then lie in [0, W) x [0, H).
    """
    w_out, h_out = int(output_size[0]), int(output_size[1])
    heat = np.zeros((num_classes, h_out, w_out), np.float32)
    size = np.zeros((max_objects, 2), np.float32)
    offset = np.zeros((max_objects, 2), np.float32)
    index = np.zeros(max_objects, np.int64)
    mask = np.zeros(max_objects, np.float32)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, w_out)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, h_out)
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    keep = np.nonzero((bw > 0) & (bh > 0))[0][:max_objects]
    if len(keep) == 0:
        return DetectionTargets(heat, size, offset, index, mask)
    radii = np.maximum(0, gaussian_radius(np.ceil(bh[keep]), np.ceil(bw[keep]), min_overlap,
                                          rule).astype(np.int64))
    centers = np.stack([(b[keep, 0] + b[keep, 2]) / 2, (b[keep, 1] + b[keep, 3]) / 2], axis=1)
    cells = np.minimum(np.floor(centers).astype(np.int64), [w_out - 1, h_out - 1])
    cls = np.asarray(classes, dtype=np.int64).reshape(-1)[keep]
    for c, cell, r in zip(cls, cells, radii):
        draw_gaussian(heat[c], (cell[0], cell[1]), int(r))
    n = len(keep)
    size[:n] = np.stack([bw[keep], bh[keep]], axis=1)
    offset[:n] = centers - cells
    index[:n] = cells[:, 1] * w_out + cells[:, 0]
    mask[:n] = 1
    return DetectionTargets(heat, size, offset, index, mask)
