"""FashionAI (Tianchi 2018) keypoint tables: 24 keypoints in CSV column order, 5 clothing types.

"left" is image-left, as in the official sample rows. Flip pairs are the left/right name pairs.
"""
from __future__ import annotations

KEYPOINTS: tuple[str, ...] = (
    "neckline_left", "neckline_right", "center_front", "shoulder_left", "shoulder_right",
    "armpit_left", "armpit_right", "waistline_left", "waistline_right", "cuff_left_in",
    "cuff_left_out", "cuff_right_in", "cuff_right_out", "top_hem_left", "top_hem_right",
    "waistband_left", "waistband_right", "hemline_left", "hemline_right", "crotch",
    "bottom_left_in", "bottom_left_out", "bottom_right_in", "bottom_right_out",
)


def _pick(*numbers: int) -> tuple[str, ...]:
    return tuple(KEYPOINTS[n - 1] for n in numbers)


# (id, type name, keypoints of the type). Ids are this toolkit's (the challenge uses names only).
CATEGORIES: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (1, "blouse", _pick(1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15)),
    (2, "outwear", _pick(1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)),
    (3, "trousers", _pick(16, 17, 20, 21, 22, 23, 24)),
    (4, "skirt", _pick(16, 17, 18, 19)),
    (5, "dress", _pick(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 18, 19)),
)
CATEGORY_IDS: dict[str, int] = {name: cid for cid, name, _ in CATEGORIES}

# The normalizing pair of the NE metric per type: armpits for tops/dresses, waistband for bottoms.
NORMALIZER: dict[str, tuple[str, str]] = {
    "blouse": ("armpit_left", "armpit_right"),
    "outwear": ("armpit_left", "armpit_right"),
    "dress": ("armpit_left", "armpit_right"),
    "trousers": ("waistband_left", "waistband_right"),
    "skirt": ("waistband_left", "waistband_right"),
}

# FashionAI defines no OKS sigmas; this uniform value is only used by OKS-NMS.
SIGMA = 0.035

SKELETON: tuple[tuple[str, str], ...] = (
    ("neckline_left", "neckline_right"), ("neckline_left", "center_front"),
    ("neckline_right", "center_front"), ("neckline_left", "shoulder_left"),
    ("neckline_right", "shoulder_right"), ("shoulder_left", "cuff_left_out"),
    ("cuff_left_out", "cuff_left_in"), ("cuff_left_in", "armpit_left"),
    ("shoulder_right", "cuff_right_out"), ("cuff_right_out", "cuff_right_in"),
    ("cuff_right_in", "armpit_right"), ("armpit_left", "waistline_left"),
    ("armpit_right", "waistline_right"), ("waistline_left", "hemline_left"),
    ("waistline_right", "hemline_right"), ("armpit_left", "top_hem_left"),
    ("armpit_right", "top_hem_right"), ("top_hem_left", "top_hem_right"),
    ("hemline_left", "hemline_right"), ("waistband_left", "waistband_right"),
    ("waistband_left", "hemline_left"), ("waistband_right", "hemline_right"),
    ("waistband_left", "bottom_left_out"), ("bottom_left_out", "bottom_left_in"),
    ("bottom_left_in", "crotch"), ("crotch", "bottom_right_in"),
    ("bottom_right_in", "bottom_right_out"), ("bottom_right_out", "waistband_right"),
)


def flip_pairs_by_name() -> list[tuple[str, str]]:
    """Left/right pairs: every name containing ``left`` with its ``right`` twin."""
    return [(n, n.replace("left", "right")) for n in KEYPOINTS if "left" in n]
