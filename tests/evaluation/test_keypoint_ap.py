"""The fast evaluator against pycocotools (the official semantics) and hand-computed cases."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from clothpose.evaluation import (STAT_NAMES, GroundTruth, evaluate_keypoints,
                                  evaluate_with_pycocotools, submission_keypoints)
from clothpose.evaluation.synthetic import make_synthetic_set
from clothpose.keypoints import get_scheme

SCHEME = get_scheme("deepfashion2")


def _as_list(image_ids, category_ids, keypoints, scores):
    """Result entries exactly as ``write_results`` would write them."""
    flat = submission_keypoints(keypoints, category_ids).reshape(len(scores), 3 * 294)
    return [{"image_id": int(i), "category_id": int(c), "keypoints": row.tolist(),
             "score": float(s)} for i, c, row, s in zip(image_ids, category_ids, flat, scores)]


def _assert_same(gt_dict, res, **kw):
    fast = evaluate_keypoints(GroundTruth.load(gt_dict), res.image_ids, res.category_ids,
                              res.keypoints, res.scores, **kw)
    ref = evaluate_with_pycocotools(
        gt_dict, _as_list(res.image_ids, res.category_ids, res.keypoints, res.scores))
    ref_stats, ref_cat = ref.stats, ref.per_category
    for name in STAT_NAMES:
        assert fast.stats[name] == pytest.approx(ref_stats[name], abs=1e-9), name
    assert fast.per_category.keys() == ref_cat.keys()
    for name, ap in ref_cat.items():
        assert fast.per_category[name] == pytest.approx(ap, abs=1e-9), name
    np.testing.assert_allclose(fast.precision, ref.precision, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast.recall, ref.recall, rtol=0, atol=1e-12)
    return fast


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_pycocotools_on_synthetic_sets(seed):
    gt, res = make_synthetic_set(700, seed=seed)
    fast = _assert_same(gt, res)
    # the set is not degenerate: some numbers are strictly between 0 and 1
    assert 0.05 < fast.stats["AP"] < 0.95
    assert fast.stats["APm"] != fast.stats["APl"]


def test_edge_cases_match_pycocotools():
    gt, res = make_synthetic_set(400, seed=5)
    gt = copy.deepcopy(gt)
    gt["annotations"][0]["id"] = 0          # pycocotools treats a match to id 0 as no match
    ann = gt["annotations"][1]
    ann["num_keypoints"] = 0                # ignored GT that still has landmarks
    for a in gt["annotations"][2:80]:       # labelled slot outside the category's block,
        first = SCHEME.category(a["category_id"]).slots[0]    # where a file has the filler
        other = next(c for c in SCHEME.categories if c.id != a["category_id"]).slots[0]
        a["keypoints"][3 * other:3 * other + 3] = a["keypoints"][3 * first:3 * first + 2] + [2]
    gt["images"].append({"id": 10 ** 6, "file_name": "x.jpg", "width": 1, "height": 1})
    res.scores[:] = np.round(res.scores, 1)  # many more ties
    _assert_same(gt, res)


def test_no_detections_and_category_without_gt():
    gt, res = make_synthetic_set(200, seed=7)
    gt = copy.deepcopy(gt)
    gt["annotations"] = [a for a in gt["annotations"] if a["category_id"] != 9]
    empty = type(res)(res.image_ids[:0], res.category_ids[:0], res.keypoints[:0], res.scores[:0])
    fast = _assert_same(gt, empty)
    assert fast.stats["AP"] == 0.0
    assert fast.per_category["skirt"] == -1.0


def _one_instance_gt(cat=1, area=10000.0):
    slots = list(SCHEME.category(cat).slots)
    kps = np.zeros((294, 3))
    kps[slots, 0] = np.linspace(100, 180, len(slots))
    kps[slots, 1] = np.linspace(50, 150, len(slots))
    kps[slots, 2] = 2
    gt = {"images": [{"id": 1}, {"id": 2}], "categories": [{"id": c.id, "name": c.name}
                                                          for c in SCHEME.categories],
          "annotations": [{"id": 1, "image_id": 1, "category_id": cat, "bbox": [100, 50, 80, 100],
                           "area": area, "num_keypoints": len(slots), "iscrowd": 0,
                           "keypoints": kps.reshape(-1).tolist()}]}
    return gt, kps


def test_perfect_prediction_gives_ap_one_and_area_from_own_landmarks():
    gt, kps = _one_instance_gt()
    pred = kps[None].copy()
    r = evaluate_keypoints(GroundTruth.load(gt), [1], [1], pred, [0.9])
    one = pytest.approx(1.0, abs=1e-12)      # COCO's precision is tp / (tp + fp + eps)
    assert r.stats["AP"] == one and r.stats["AR"] == 1.0
    # GT area 10000 is "large" (> 96^2); APm undefined (no GT there) -> -1 like COCO
    assert r.stats["APl"] == one and r.stats["APm"] == -1.0
    assert r.per_category["short_sleeved_shirt"] == one
    assert r.per_category["trousers"] == -1.0


def test_hand_computed_oks_threshold():
    """All landmarks shifted by d: OKS = mean_k exp(-d^2 / (2 * area * (2 sigma_k)^2)); the
    detection is a TP exactly at the thresholds <= OKS."""
    gt, kps = _one_instance_gt(cat=7, area=4000.0)
    slots = list(SCHEME.category(7).slots)
    d = 3.0
    pred = kps[None].copy()
    pred[0, slots, 0] += d
    oks = np.mean(np.exp(-d ** 2 / (2 * (4000.0 + np.spacing(1)) * (2 * SCHEME.sigmas[slots]) ** 2)))
    r = evaluate_keypoints(GroundTruth.load(gt), [1], [7], pred, [0.5])
    thresholds = np.linspace(.5, .95, 10)
    expected_ap = np.mean(thresholds <= oks)   # precision 1 at every threshold it matches
    assert 0 < expected_ap < 1
    assert r.stats["AP"] == pytest.approx(expected_ap, abs=1e-12)
    assert r.stats["AR"] == pytest.approx(expected_ap, abs=1e-12)


def test_wrong_category_never_matches_and_unknown_ids_raise():
    gt, kps = _one_instance_gt()
    g = GroundTruth.load(gt)
    r = evaluate_keypoints(g, [1], [2], kps[None], [0.9])
    assert r.stats["AP"] == 0.0
    with pytest.raises(ValueError, match="image_id 5 is not in the ground truth"):
        evaluate_keypoints(g, [5], [1], kps[None], [0.9])
    bad = kps[None].copy()
    bad[0, 3, 0] = np.nan
    with pytest.raises(ValueError, match="detection 0: keypoints contain NaN"):
        evaluate_keypoints(g, [1], [1], bad, [0.9])


def test_max_dets_keeps_top_20_per_group():
    """One perfect detection given last with the highest score, 20 bad ones before it."""
    gt, kps = _one_instance_gt()
    preds = np.repeat(kps[None], 21, axis=0)
    preds[:-1, :, 0] += 500.0
    scores = np.linspace(0.1, 0.3, 21)
    r = evaluate_keypoints(GroundTruth.load(gt), [1] * 21, [1] * 21, preds, scores)
    # first (highest score) detection matches -> precision 1 at recall 1
    assert r.stats["AP"] == pytest.approx(1.0, abs=1e-12)
    # the best one is last in input order; with a limit of 1 it must still be the one kept
    r1 = evaluate_keypoints(GroundTruth.load(gt), [1] * 21, [1] * 21, preds, scores, max_dets=1)
    assert r1.stats["AR"] == 1.0


def test_equal_oks_goes_to_the_later_gt_like_pycocotools():
    """Two identical GTs; pycocotools' ``<`` test picks the later one. Giving that one id 0
    makes the choice visible: a match to id 0 counts as no match (dtm == 0)."""
    gt, kps = _one_instance_gt()
    twin = dict(gt["annotations"][0], id=0)
    gt["annotations"] = [dict(gt["annotations"][0], id=7), twin]
    res = type(make_synthetic_set(1)[1])(np.array([1]), np.array([1]), kps[None], np.array([0.9]))
    fast = _assert_same(gt, res)
    assert fast.stats["AR"] == 0.0
