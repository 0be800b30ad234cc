"""OKS-NMS of the test path (issue 12, item 8) on hand-built cases.

HRNet (``lib/dataset/coco.py`` evaluate): instances grouped per image only, ``oks_nms`` called
without ``in_vis_thre`` (every keypoint counts), areas (scale * 200)^2. The ``mmpose`` option
groups per (image, category) and counts only keypoints scored above ``TEST.IN_VIS_THRE`` in
both instances (mmpose's ``oks_iou(vis_thr=...)``).
"""
from __future__ import annotations

import numpy as np
import pytest

from clothpose.config import load_config
from clothpose.core.function import RawPredictions
from clothpose.core.testing import nms_groups, postprocess
from clothpose.keypoints import get_scheme

SCHEME = get_scheme("deepfashion2-agg81")
K = SCHEME.num_keypoints


def _raw(image_ids, category_ids, keypoints, box_scores, scale=1.0):
    n = len(image_ids)
    return RawPredictions(np.arange(n), np.asarray(image_ids), np.asarray(category_ids),
                          np.asarray(keypoints, dtype=np.float64), np.asarray(box_scores, float),
                          np.full((n, 2), 100.0, np.float32), np.full((n, 2), scale, np.float32),
                          np.tile([50.0, 50, 100, 100], (n, 1)))


def _cfg(mode: str, thre: float = 0.5, soft: bool = False):
    return load_config(None, ["DATASET.SCHEME", "deepfashion2-agg81", "TEST.USE_NMS", "True",
                              "TEST.NMS_MODE", mode, "TEST.OKS_THRE", str(thre),
                              "TEST.IN_VIS_THRE", "0.2", "TEST.SOFT_NMS", str(soft),
                              "TEST.RESCORE_ALL_CHANNELS", "True"])


def _instance(xy0: float, score: float = 0.9) -> np.ndarray:
    k = np.zeros((K, 3))
    k[:, 0] = xy0 + np.arange(K)
    k[:, 1] = xy0 + 2 * np.arange(K)
    k[:, 2] = score
    return k


def test_groups():
    img, cat = np.array([3, 1, 3, 1, 3]), np.array([2, 1, 2, 5, 1])
    hr = sorted(g.tolist() for g in nms_groups("hrnet", img, cat))
    mm = sorted(g.tolist() for g in nms_groups("mmpose", img, cat))
    assert hr == [[0, 2, 4], [1, 3]]
    assert mm == [[0, 2], [1], [3], [4]]
    with pytest.raises(ValueError, match="NMS_MODE"):
        nms_groups("other", img, cat)


def test_same_garment_two_categories_hrnet_keeps_one_mmpose_keeps_both():
    """Two boxes on one image, categories 1 and 2, identical keypoints (OKS 1): HRNet groups the
    image as a whole and keeps only the higher-scored one; per-category grouping keeps both."""
    kps = np.stack([_instance(10), _instance(10)])
    raw = _raw([1, 1], [1, 2], kps, [0.6, 0.8])
    hr = postprocess(_cfg("hrnet"), raw, SCHEME)
    assert hr.category_ids.tolist() == [2]
    mm = postprocess(_cfg("mmpose"), raw, SCHEME)
    assert sorted(mm.category_ids.tolist()) == [1, 2]


def test_visibility_threshold_only_in_the_mmpose_variant():
    """B repeats A's first 10 keypoints (both scored 0.9) and puts the other 71 far away with
    score 0.1. HRNet's OKS over all 81: (10 + 71 exp(-huge)) / 81 = 0.1235 <= 0.5 -> keep both.
    mmpose's OKS over keypoints above 0.2 in both: 10 / 10 = 1 > 0.5 -> B is suppressed."""
    a = _instance(10)
    b = _instance(10)
    b[10:, :2] += 5000.0
    b[10:, 2] = 0.1
    raw = _raw([1, 1], [1, 1], np.stack([a, b]), [0.9, 0.5])
    assert len(postprocess(_cfg("hrnet"), raw, SCHEME).scores) == 2
    assert len(postprocess(_cfg("mmpose"), raw, SCHEME).scores) == 1
    # the hand value sits between the two thresholds: just above it HRNet still keeps both,
    # just below it it suppresses
    assert len(postprocess(_cfg("hrnet", thre=10 / 81 + 1e-6), raw, SCHEME).scores) == 2
    assert len(postprocess(_cfg("hrnet", thre=10 / 81 - 1e-6), raw, SCHEME).scores) == 1


def test_hand_computed_oks_with_hrnet_area():
    """Every keypoint of B shifted by d along x. HRNet: e_k = d^2 / (2 s_k)^2 / area / 2 with
    area = (a_A + a_B) / 2 = (scale * 200)^2, OKS = mean_k exp(-e_k)."""
    d, scale = 3.0, 0.5
    a, b = _instance(20), _instance(20)
    b[:, 0] += d
    area = (scale * 200) ** 2
    oks = np.mean(np.exp(-d ** 2 / (2 * SCHEME.sigmas) ** 2 / area / 2))
    raw = _raw([4, 4], [3, 3], np.stack([a, b]), [0.9, 0.5], scale=scale)
    for mode in ("hrnet", "mmpose"):   # all keypoints visible: both variants see this OKS
        assert len(postprocess(_cfg(mode, thre=oks + 1e-6), raw, SCHEME).scores) == 2
        assert len(postprocess(_cfg(mode, thre=oks - 1e-6), raw, SCHEME).scores) == 1


def test_soft_nms_per_image_keeps_at_most_20_in_hrnet_mode():
    """HRNet's soft_oks_nms keeps up to 20 instances per image (over all categories)."""
    n = 30
    kps = np.stack([_instance(10 + 300 * i) for i in range(n)])
    raw = _raw([1] * n, [1 + i % 3 for i in range(n)], kps, np.linspace(0.5, 0.9, n))
    assert len(postprocess(_cfg("hrnet", soft=True), raw, SCHEME).scores) == 20
    assert len(postprocess(_cfg("mmpose", soft=True), raw, SCHEME).scores) == n  # 10 per group


def test_default_mode_is_hrnet():
    assert load_config(None, []).TEST.NMS_MODE == "hrnet"
