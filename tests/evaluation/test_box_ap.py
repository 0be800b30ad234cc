"""COCO box AP against pycocotools' COCOeval(iouType='bbox') (the official DeepFashion2
detection evaluation) on generated cases, and against hand-computed values."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from clothpose.evaluation import (BOX_STAT_NAMES, GroundTruth, evaluate_boxes,
                                  evaluate_boxes_with_pycocotools, load_box_results)
from clothpose.evaluation.box_eval import box_iou
from clothpose.evaluation.synthetic import make_synthetic_box_set


def _assert_same(gt_dict, entries):
    res = load_box_results(entries)
    fast = evaluate_boxes(GroundTruth.load(gt_dict, keypoints=False), res.image_ids,
                          res.category_ids, res.boxes, res.scores)
    ref = evaluate_boxes_with_pycocotools(gt_dict, entries)
    for name in BOX_STAT_NAMES:
        assert fast.stats[name] == pytest.approx(ref.stats[name], abs=1e-12), name
    assert fast.per_category == pytest.approx(ref.per_category, abs=1e-12)
    np.testing.assert_allclose(fast.precision, ref.precision, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast.recall, ref.recall, rtol=0, atol=1e-12)
    return fast


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_pycocotools_crowd_free(seed):
    gt, entries = make_synthetic_box_set(900, seed=seed)
    fast = _assert_same(gt, entries)
    assert 0.05 < fast.stats["AP"] < 0.95                  # not a degenerate set
    assert len({round(fast.stats[k], 6) for k in ("APs", "APm", "APl")}) == 3
    assert fast.stats["AR1"] < fast.stats["AR10"] <= fast.stats["AR100"]
    assert fast.per_category[f"cat{13}"] == -1.0           # a category without GT
    assert fast.num_ignored > 0                            # ... whose detections are ignored


def test_matches_pycocotools_with_crowds_and_many_ties():
    gt, entries = make_synthetic_box_set(600, seed=4, num_categories=4, crowd_fraction=0.05)
    for e in entries:
        e["score"] = round(e["score"], 1)                   # far more ties
    gt = copy.deepcopy(gt)
    gt["annotations"][0]["id"] = 0                          # pycocotools: a match to id 0 is none
    _assert_same(gt, entries)


def test_empty_results_and_gt_less_images():
    gt, _ = make_synthetic_box_set(100, seed=3, num_categories=3)
    fast = _assert_same(gt, [])
    assert all(fast.stats[k] == 0.0 for k in ("AP", "AR100"))
    only_empty = copy.deepcopy(gt)
    only_empty["annotations"] = []
    dets = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}]
    fast = _assert_same(only_empty, dets)
    assert all(v == -1.0 for v in fast.stats.values())     # nothing to score anywhere


def _gt(boxes, cats=None, crowd=None):
    cats = cats or [1] * len(boxes)
    crowd = crowd or [0] * len(boxes)
    return {"images": [{"id": 1, "width": 100, "height": 100}],
            "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
            "annotations": [{"id": i + 1, "image_id": 1, "category_id": c, "bbox": b,
                             "area": b[2] * b[3], "iscrowd": k}
                            for i, (b, c, k) in enumerate(zip(boxes, cats, crowd))]}


def test_hand_computed_single_box():
    # GT 10x10 (small), detection covering its top half: IoU 0.5 -> a hit at .50 only.
    gt = _gt([[0, 0, 10, 10]])
    dets = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 5], "score": 0.9}]
    fast = _assert_same(gt, dets)
    assert fast.stats["AP50"] == pytest.approx(1.0) and fast.stats["AP75"] == 0.0
    assert fast.stats["AP"] == pytest.approx(0.1)          # 1 of 10 IoU thresholds
    assert fast.stats["APs"] == pytest.approx(0.1) and fast.stats["APm"] == -1.0
    assert fast.per_category == {"a": pytest.approx(0.1), "b": -1.0}


def test_hand_computed_duplicate_and_ranking():
    # Two GT of category 1; detections: a perfect one (0.9), its duplicate (0.8), the other GT
    # found at 0.7. At every threshold: TP, FP, TP -> precision 1, 2/3 at recall 0.5, 1.
    gt = _gt([[0, 0, 40, 40], [50, 50, 40, 40]])
    dets = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "score": 0.9},
            {"image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "score": 0.8},
            {"image_id": 1, "category_id": 1, "bbox": [50, 50, 40, 40], "score": 0.7}]
    fast = _assert_same(gt, dets)
    # interpolated precision: 1 for recall <= 0.5 (51 thresholds), 2/3 above (50 thresholds)
    assert fast.stats["AP"] == pytest.approx((51 * 1 + 50 * 2 / 3) / 101)
    assert fast.stats["AR1"] == pytest.approx(0.5) and fast.stats["AR10"] == pytest.approx(1.0)


def test_box_iou_values():
    dt = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 5, 5], [0, 0, 10, 10]], float)
    gt = np.array([[5, 0, 10, 10], [0, 0, 10, 10], [0, 0, 5, 5], [0, 0, 20, 20]], float)
    crowd = np.array([False, False, False, True])
    np.testing.assert_allclose(box_iou(dt, gt, crowd), [50 / 150, 1.0, 0.0, 1.0])
