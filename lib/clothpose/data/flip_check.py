"""Do a scheme's flip pairs behave as mirror pairs in real annotations?

For every category and flip pair (a, b) (a = the member the pairing puts on the image left),
on frontal items (``viewpoint == 2`` where annotations carry it, else all) with both points
visible (v = 2): the fraction of items where a is left of b, and the median |y_a - y_b| / box
height. A true mirror pair has a fraction near 1 and a small height difference; a wrong pairing
(e.g. short_sleeved_outwear 2-26 vs 2-6) shows up as a low fraction or a large dy.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..keypoints import KeypointScheme, get_scheme
from .coco_records import keypoints_to_scheme


@dataclass(frozen=True)
class PairCheck:
    category_id: int
    category: str
    a: int                  # 1-based local landmark numbers, a = the claimed image-left member
    b: int
    count: int              # frontal items with both points visible
    left_fraction: float    # NaN when count == 0
    median_dy: float        # median |y_a - y_b| / box height, NaN when count == 0
    median_dy_tilt: float   # same after removing each item's tilt (see ``check_flip_pairs``)
    flagged: bool


def _category_arrays(data: dict, scheme: KeypointScheme) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    anns = [a for a in data.get("annotations", []) if a.get("category_id") in scheme.category_ids
            and a.get("viewpoint", 2) == 2]
    if not anns:
        return np.zeros(0, int), np.zeros((0, scheme.num_keypoints, 3)), np.zeros(0)
    cats = np.array([a["category_id"] for a in anns])
    flat = np.asarray([a["keypoints"] for a in anns], dtype=np.float64)
    kps = keypoints_to_scheme(flat, cats, scheme)
    heights = np.array([max(float(a["bbox"][3]), 1e-6) for a in anns])
    return cats, kps, heights


def _median_masked(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Column medians over rows where ``mask`` (NaN for empty columns)."""
    v = np.where(mask, values, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.array([np.nanmedian(col) if m.any() else np.nan for col, m in zip(v.T, mask.T)])


def pair_statistics(local: np.ndarray, heights: np.ndarray, pa: np.ndarray, pb: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """count, left fraction, median dy/h and tilt-corrected median dy/h of each pair.

    The tilt of an item is the median angle of its visible pair vectors (a -> b) when it has at
    least 3; the corrected dy is the pair vector's component across that direction, so a
    rotated photo does not make true mirror pairs look uneven.
    """
    both = (local[:, pa, 2] == 2) & (local[:, pb, 2] == 2)
    vx = local[:, pb, 0] - local[:, pa, 0]
    vy = local[:, pb, 1] - local[:, pa, 1]
    count = both.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)       # all-NaN rows: no visible pair
        frac = ((vx > 0) & both).sum(axis=0) / count
        ang = np.where(both, np.arctan2(vy, vx), np.nan)
        tilt = np.where(both.sum(axis=1) >= 3, np.nanmedian(ang, axis=1), 0.0)
    tilt = np.nan_to_num(tilt)[:, None]
    h = heights[:, None]
    dy = np.abs(vy) / h
    dy_tilt = np.abs(vy * np.cos(tilt) - vx * np.sin(tilt)) / h
    return count, frac, _median_masked(dy, both), _median_masked(dy_tilt, both)


def check_flip_pairs(data: dict, scheme: KeypointScheme | str = "deepfashion2", min_count: int = 1,
                     min_left_fraction: float = 0.8, max_dy: float = 0.05) -> list[PairCheck]:
    """Statistics of every (category, flip pair), vectorised per category.

    A pair seen at least ``min_count`` times is flagged when its left fraction is below
    ``min_left_fraction`` or its tilt-corrected median dy / box height is above ``max_dy``.
    """
    scheme = get_scheme(scheme) if isinstance(scheme, str) else scheme
    cats, kps, heights = _category_arrays(data, scheme)
    out = []
    for c in scheme.categories:
        if not c.flip_pairs:
            continue
        rows = cats == c.id
        # The keypoint tables list the image-left member of each pair first.
        pa, pb = (np.array(m) for m in zip(*c.flip_pairs))
        local = kps[rows][:, list(c.slots)]
        count, frac, med, med_tilt = pair_statistics(local, heights[rows], pa, pb)
        for j in range(len(pa)):
            bad = count[j] >= min_count and (frac[j] < min_left_fraction
                                             or med_tilt[j] > max_dy)
            out.append(PairCheck(c.id, c.name, int(pa[j]) + 1, int(pb[j]) + 1, int(count[j]),
                                 float(frac[j]), float(med[j]), float(med_tilt[j]), bool(bad)))
    return out


def format_table(checks: list[PairCheck]) -> str:
    """Plain-text table, one row per pair; flagged rows end with '<-- check'."""
    lines = [f"{'cat':>3} {'category':<22} {'pair':>7} {'n':>6} {'left%':>6} {'dy/h':>6} "
             f"{'tilt-corr':>9}"]
    for r in checks:
        none = r.count == 0
        frac = "-" if none else f"{100 * r.left_fraction:.0f}"
        dy = "-" if none else f"{r.median_dy:.3f}"
        dyt = "-" if none else f"{r.median_dy_tilt:.3f}"
        flag = "  <-- check" if r.flagged else ""
        lines.append(f"{r.category_id:>3} {r.category:<22} {f'{r.a}-{r.b}':>7} {r.count:>6} "
                     f"{frac:>6} {dy:>6} {dyt:>9}{flag}")
    return "\n".join(lines)
