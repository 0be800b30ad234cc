"""DeepFashion2 landmark tables: categories, official OKS sigmas, mirror pairs, 294 -> 81 map.

Everything here is data typed once. Indices are 1-based *local* landmark numbers, exactly as in
the official landmark figure (DeepFashion2 ``images/cls.jpg``), so each row can be reviewed against
the figure. ``scheme.py`` turns these rows into 0-based channel layouts.

short_sleeved_outwear (sso) pairing: the figure pairs 2-26 / 4-6, but the official sigma table
(estimated from real annotator spread) is symmetric for 2-6 / 4-26, and the winning solution's
aggregation groups sso4 with lso4 (the inner collar point). The default therefore pairs sso
2-6, 3-5, 4-26 in every space; the figure's pairing stays available as the ``figure`` variant
(schemes ``deepfashion2-figure`` / ``deepfashion2-agg81-figure``), and
``tools/check_flip_pairs.py`` settles the question on real annotations.
"""
from __future__ import annotations

# (id, COCO name, raw dataset name, number of landmarks); ids are the official category ids.
CATEGORIES: tuple[tuple[int, str, str, int], ...] = (
    (1, "short_sleeved_shirt", "short sleeve top", 25),
    (2, "long_sleeved_shirt", "long sleeve top", 33),
    (3, "short_sleeved_outwear", "short sleeve outwear", 31),
    (4, "long_sleeved_outwear", "long sleeve outwear", 39),
    (5, "vest", "vest", 15),
    (6, "sling", "sling", 15),
    (7, "shorts", "shorts", 10),
    (8, "trousers", "trousers", 14),
    (9, "skirt", "skirt", 8),
    (10, "short_sleeved_dress", "short sleeve dress", 29),
    (11, "long_sleeved_dress", "long sleeve dress", 37),
    (12, "vest_dress", "vest dress", 19),
    (13, "sling_dress", "sling dress", 19),
)

# Official per-landmark OKS sigmas of the DeepFashion2 evaluation, per category in local order.
SIGMAS: dict[int, tuple[float, ...]] = {
    1: (0.012, 0.0158, 0.0169, 0.0165, 0.0169, 0.0158, 0.0298, 0.0329, 0.0321, 0.0323, 0.034,
        0.0388, 0.0452, 0.0574, 0.0492, 0.0352, 0.0492, 0.0574, 0.0452, 0.0388, 0.034, 0.0323,
        0.0321, 0.0329, 0.0298),
    2: (0.0194, 0.017, 0.0185, 0.0193, 0.0185, 0.017, 0.0286, 0.0471, 0.0547, 0.0526, 0.043,
        0.0392, 0.0513, 0.0566, 0.0509, 0.0564, 0.0542, 0.0604, 0.0599, 0.052, 0.0599, 0.0604,
        0.0542, 0.0564, 0.0509, 0.0566, 0.0513, 0.0392, 0.043, 0.0526, 0.0547, 0.0471, 0.0286),
    3: (0.0074, 0.0085, 0.0165, 0.0248, 0.0165, 0.0085, 0.0156, 0.0231, 0.0296, 0.0137, 0.0195,
        0.025, 0.0347, 0.038, 0.0257, 0.037, 0.0257, 0.038, 0.0347, 0.025, 0.0195, 0.0137, 0.0296,
        0.0231, 0.0156, 0.0248, 0.0469, 0.0632, 0.037, 0.0469, 0.0632),
    4: (0.0137, 0.0153, 0.0243, 0.0377, 0.0243, 0.0153, 0.0203, 0.0366, 0.0467, 0.0433, 0.0393,
        0.0329, 0.0418, 0.0477, 0.0399, 0.0331, 0.042, 0.0492, 0.0436, 0.0478, 0.0436, 0.0492,
        0.042, 0.0331, 0.0399, 0.0477, 0.0418, 0.0329, 0.0393, 0.0433, 0.0467, 0.0366, 0.0203,
        0.0377, 0.0645, 0.0573, 0.0478, 0.0645, 0.0573),
    5: (0.0352, 0.0158, 0.021, 0.0214, 0.021, 0.0158, 0.0196, 0.05, 0.0489, 0.0404, 0.0401,
        0.0404, 0.0489, 0.05, 0.0196),
    6: (0.0276, 0.0548, 0.0283, 0.0204, 0.0283, 0.0548, 0.0369, 0.0726, 0.0677, 0.064, 0.0251,
        0.064, 0.0677, 0.0726, 0.0369),
    7: (0.0308, 0.0216, 0.0308, 0.0506, 0.0494, 0.0463, 0.0477, 0.0463, 0.0494, 0.0506),
    8: (0.0275, 0.0202, 0.0275, 0.0651, 0.0451, 0.035, 0.028, 0.0392, 0.0362, 0.0392, 0.028,
        0.035, 0.0451, 0.0651),
    9: (0.0253, 0.0195, 0.0253, 0.0513, 0.0543, 0.0415, 0.0543, 0.0513),
    10: (0.0153, 0.023, 0.0167, 0.0145, 0.0167, 0.023, 0.0332, 0.0391, 0.0391, 0.0396, 0.044,
         0.0452, 0.0498, 0.0514, 0.0585, 0.0655, 0.0635, 0.0602, 0.0635, 0.0655, 0.0585, 0.0514,
         0.0498, 0.0452, 0.044, 0.0396, 0.0391, 0.0391, 0.0332),
    11: (0.0121, 0.0134, 0.0158, 0.0162, 0.0158, 0.0134, 0.0246, 0.0406, 0.047, 0.0404, 0.0463,
         0.0466, 0.0435, 0.0499, 0.0455, 0.044, 0.0411, 0.049, 0.0576, 0.0685, 0.0618, 0.0483,
         0.0618, 0.0685, 0.0576, 0.049, 0.0411, 0.044, 0.0486, 0.0499, 0.0435, 0.0466, 0.0463,
         0.0404, 0.047, 0.0406, 0.0246),
    12: (0.0116, 0.0167, 0.016, 0.018, 0.016, 0.0167, 0.0196, 0.0385, 0.0421, 0.0497, 0.0562,
         0.0528, 0.0428, 0.0528, 0.0562, 0.0497, 0.0421, 0.0385, 0.0196),
    13: (0.0244, 0.0297, 0.0244, 0.0208, 0.0244, 0.0297, 0.0173, 0.0616, 0.0659, 0.0712, 0.0707,
         0.0685, 0.0339, 0.0685, 0.0707, 0.0712, 0.0659, 0.0616, 0.0173),
}


def _mirror(first: int, last: int) -> list[tuple[int, int]]:
    """Pairs (first, last), (first+1, last-1), ... for an outline numbered around the garment."""
    return [(a, first + last - a) for a in range(first, (first + last + 1) // 2)]


# Mirror pairs per category (local, 1-based), the image-left member first (on a frontal item);
# tools/check_flip_pairs.py relies on that order. Outlines are numbered left side down, then
# right side up, so most of each list is one symmetric range; the rest are collars and plackets
# (outwear plackets are numbered from the right one, hence (30, 27) etc.).
FLIP_PAIRS: dict[int, list[tuple[int, int]]] = {
    1: [(2, 6), (3, 5)] + _mirror(7, 25),
    2: [(2, 6), (3, 5)] + _mirror(7, 33),
    3: [(2, 6), (3, 5), (4, 26)] + _mirror(7, 25) + [(16, 29), (30, 27), (31, 28)],
    4: [(2, 6), (3, 5), (4, 34)] + _mirror(7, 33) + [(20, 37), (38, 35), (39, 36)],
    5: [(2, 6), (3, 5)] + _mirror(7, 15),
    6: [(2, 6), (3, 5)] + _mirror(7, 15),
    7: [(1, 3)] + _mirror(4, 10),  # 7 (crotch) is on the axis
    8: [(1, 3)] + _mirror(4, 14),  # 9 (crotch) is on the axis
    9: [(1, 3)] + _mirror(4, 8),
    10: [(2, 6), (3, 5)] + _mirror(7, 29),
    11: [(2, 6), (3, 5)] + _mirror(7, 37),
    12: [(2, 6), (3, 5)] + _mirror(7, 19),  # includes 9-17, missing in the seed's tables
    13: [(2, 6), (3, 5)] + _mirror(7, 19),
}

# The figure's pairing for short_sleeved_outwear (2-26 inner collar, 4-6 top corners).
FIGURE_SSO_PAIRS: list[tuple[int, int]] = (
    [(2, 26), (3, 5), (4, 6)] + _mirror(7, 25) + [(16, 29), (30, 27), (31, 28)])

# mmpose's DeepFashion2 metadata (configs/_base_/datasets/deepfashion2.py, the ``swap`` fields),
# which its 13 trained SimpleBaseline models learned (flip augmentation) and use in flip test.
# Against FLIP_PAIRS it differs in two categories only: short_sleeved_outwear takes the figure's
# pairing (FIGURE_SSO_PAIRS), and vest declares 9 -> 13 in one direction only (13 names no
# partner), so mmpose's flip index gives channel vest 9 the mirrored vest 13 and keeps vest 13 on
# itself. Rows: (landmark, landmark whose mirror it takes), 1-based; the reverse is not a swap.
MMPOSE_ONE_WAY: dict[int, tuple[tuple[int, int], ...]] = {5: ((9, 13),)}

# Winning solution's 294 -> 81 aggregation: for each category, the 1-based aggregated id of
# local landmarks 1..N (one reviewable row per category). Ids are shared where landmarks have the
# same meaning across categories (neckline 1-6, sleeves, body sides, waistband, hems).
AGG81: dict[int, tuple[int, ...]] = {
    1: (1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 41, 42, 43, 47, 44, 45, 46, 15, 16, 17, 18, 19,
        20),
    2: (1, 2, 3, 4, 5, 6, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 41, 42, 43, 47, 44, 45, 46, 31,
        32, 33, 34, 35, 36, 37, 38, 39, 40),
    3: (1, 2, 3, 7, 5, 6, 9, 10, 11, 12, 13, 14, 41, 42, 43, 53, 44, 45, 46, 15, 16, 17, 18, 19,
        20, 8, 48, 49, 50, 51, 52),
    4: (1, 2, 3, 7, 5, 6, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 41, 42, 43, 53, 44, 45, 46, 31,
        32, 33, 34, 35, 36, 37, 38, 39, 40, 8, 48, 49, 50, 51, 52),
    5: (1, 2, 3, 4, 5, 6, 54, 41, 42, 43, 47, 44, 45, 46, 55),
    6: (1, 2, 3, 4, 5, 6, 56, 41, 42, 43, 47, 44, 45, 46, 57),
    7: (63, 64, 65, 71, 66, 67, 70, 68, 69, 72),
    8: (63, 64, 65, 71, 73, 66, 67, 74, 70, 75, 68, 69, 76, 72),
    9: (63, 64, 65, 77, 78, 79, 80, 81),
    10: (1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 41, 42, 43, 58, 59, 60, 61, 62, 44, 45, 46, 15,
         16, 17, 18, 19, 20),
    11: (1, 2, 3, 4, 5, 6, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 41, 42, 43, 58, 59, 60, 61, 62,
         44, 45, 46, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40),
    12: (1, 2, 3, 4, 5, 6, 54, 41, 42, 43, 58, 59, 60, 61, 62, 44, 45, 46, 55),
    13: (1, 2, 3, 4, 5, 6, 56, 41, 42, 43, 58, 59, 60, 61, 62, 44, 45, 46, 57),
}

# With the figure's sso pairing, sso's top corners (2 by the figure is the inner collar point,
# 4 the top-left corner) must swap aggregated ids, otherwise no single involution on 81 channels
# fits both sso and lso.
FIGURE_SSO_AGG81: tuple[int, ...] = (1, 7, 3, 2) + AGG81[3][4:]


def _outline_top(n: int) -> list[list[int]]:
    # neckline front, collar, and the garment outline from the left shoulder around to the right.
    return [[2, 1, 6], [2, 3, 4, 5, 6], [2, *range(7, n + 1), 6]]


# Drawing skeleton per category: polylines of local 1-based landmark numbers, following the
# outlines of the official figure.
SKELETON: dict[int, list[list[int]]] = {
    1: _outline_top(25),
    2: _outline_top(33),
    3: [[4, 1, 6], [4, 3, 2], [6, 5, 26], [4, *range(7, 17)], [16, 31, 30, 2],
        [6, *range(25, 16, -1)], [17, 29, 28, 27, 26]],
    4: [[2, 1, 6], [2, 3, 4], [6, 5, 34], [2, *range(7, 21)], [20, 39, 38, 4],
        [6, *range(33, 20, -1)], [21, 37, 36, 35, 34]],
    5: _outline_top(15),
    6: [[2, 1, 6], [2, 3, 4, 5, 6], [2, 7], [6, 15], [2, *range(8, 15), 6]],
    7: [[1, 2, 3, 10, 9, 8, 7, 6, 5, 4, 1]],
    8: [[1, 2, 3, *range(14, 3, -1), 1]],
    9: [[1, 2, 3, 8, 7, 6, 5, 4, 1]],
    10: _outline_top(29),
    11: _outline_top(37),
    12: _outline_top(19),
    13: [[2, 1, 6], [2, 3, 4, 5, 6], [2, 7], [6, 19], [2, *range(8, 19), 6]],
}
