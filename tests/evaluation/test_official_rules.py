"""The official evaluator's rules on every kind of file this toolkit writes (issue 12, items 2-4).

Independent facts used here: ``COCO.loadRes`` (identical in the DeepFashion2 fork and in
pycocotools) takes a result's area from its ``bbox`` when the first entry carries one, else
from the hull of all keypoints; ``COCOeval`` only visits the ground truth's category ids; and
hand-computed AP values for a two-detection case.
"""
from __future__ import annotations

import copy
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clothpose.core.testing import Submission, evaluate_submission
from clothpose.evaluation import (STAT_NAMES, GroundTruth, GroundTruthError, ResultsError,
                                  evaluate_keypoints, evaluate_with_pycocotools, load_results,
                                  result_areas, write_results)
from clothpose.evaluation.synthetic import make_synthetic_set
from clothpose.keypoints import get_scheme

SCHEME = get_scheme("deepfashion2")
TOOL = Path(__file__).resolve().parents[2] / "tools" / "evaluate.py"


def _gt_one_medium():
    """One short_sleeved_shirt, GT area 60 x 60 = 3600 (the 'medium' range 32^2..96^2)."""
    slots = list(SCHEME.category(1).slots)
    kps = np.zeros((294, 3))
    kps[slots, 0] = np.linspace(100, 150, len(slots))
    kps[slots, 1] = np.linspace(100, 150, len(slots))
    kps[slots, 2] = 2
    gt = {"images": [{"id": 1}, {"id": 2}],
          "categories": [{"id": c.id, "name": c.name} for c in SCHEME.categories],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [95, 95, 60, 60],
                           "area": 3600.0, "num_keypoints": len(slots), "iscrowd": 0,
                           "keypoints": kps.reshape(-1).tolist()}]}
    return gt, kps


def _two_detections(kps):
    """A perfect match (score 0.9) and a false positive ranked above it (score 0.95) whose
    landmarks span 5 x 5 px (hull area 25: outside 'medium') but whose box is 60 x 60."""
    fp = kps.copy()
    slots = list(SCHEME.category(1).slots)
    fp[slots, 0] = 300 + np.linspace(0, 5, len(slots))
    fp[slots, 1] = 300 + np.linspace(0, 5, len(slots))
    return (np.array([1, 1]), np.array([1, 1]), np.stack([kps, fp]), np.array([0.9, 0.95]),
            np.array([[95.0, 95, 60, 60], [290.0, 290, 60, 60]]))


def test_area_rule_hand_computed_with_and_without_bbox(tmp_path):
    """Hull rule: the FP is out of the medium range, so APm = 1. Bbox rule: the FP (area 3600)
    counts in 'medium' and ranks first, so precision at full recall is 1/2: APm = 0.5. Overall
    AP is 0.5 either way. The fast evaluator and pycocotools agree with both hand values."""
    gt, kps = _gt_one_medium()
    img, cat, pts, sc, boxes = _two_detections(kps)
    g = GroundTruth.load(gt)
    expected = {None: 1.0, "bbox": 0.5}
    for mode, apm in expected.items():
        b = boxes if mode else None
        path = tmp_path / f"res_{mode}.json"
        write_results(path, img, cat, pts, sc, boxes=b)
        fast = evaluate_keypoints(g, img, cat, pts, sc, boxes=b)
        ref = evaluate_with_pycocotools(gt, str(path))
        loaded = load_results(path, g)
        from_file = evaluate_keypoints(g, loaded.image_ids, loaded.category_ids,
                                       loaded.keypoints, loaded.scores, as_submission=False,
                                       boxes=loaded.boxes)
        for r in (fast, ref, from_file):
            assert r.stats["APm"] == pytest.approx(apm, abs=1e-9), mode
            assert r.stats["AP"] == pytest.approx(0.5, abs=1e-9), mode
    np.testing.assert_array_equal(result_areas(pts, boxes), [3600.0, 3600.0])


@pytest.mark.parametrize("with_bbox", [False, True])
def test_in_memory_path_equals_official_on_the_written_file(tmp_path, with_bbox):
    """``evaluate_submission`` (the test path) gives exactly pycocotools' numbers on the file
    it writes; with boxes whose areas differ from the landmark hulls APm/APl would differ."""
    gt, res = make_synthetic_set(500, seed=11)
    rng = np.random.default_rng(0)
    n = len(res.scores)
    boxes = np.column_stack([rng.uniform(0, 300, (n, 2)), rng.uniform(20, 200, (n, 2))])
    sub = Submission(res.image_ids, res.category_ids, res.keypoints, res.scores,
                     boxes if with_bbox else None)
    path = tmp_path / "sub.json"
    if with_bbox:
        stats = evaluate_submission(sub, gt, path)
    else:  # the writer without boxes, the same evaluator call
        write_results(path, sub.image_ids, sub.category_ids, sub.keypoints, sub.scores)
        r = evaluate_keypoints(GroundTruth.load(gt), sub.image_ids, sub.category_ids,
                               sub.keypoints, sub.scores)
        stats = dict(r.stats)
    ref = evaluate_with_pycocotools(gt, str(path))
    for name in STAT_NAMES:
        assert stats[name] == pytest.approx(ref.stats[name], abs=1e-12), name
    if with_bbox:  # the rule matters on this set: the hull rule gives other numbers
        hull = evaluate_keypoints(GroundTruth.load(gt), sub.image_ids, sub.category_ids,
                                  sub.keypoints, sub.scores)
        assert abs(hull.stats["APm"] - stats["APm"]) > 1e-3


@pytest.mark.parametrize("with_bbox", [False, True])
def test_evaluate_tool_fast_equals_reference_with_and_without_bbox(tmp_path, with_bbox):
    gt, res = make_synthetic_set(300, seed=3)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    n = len(res.scores)
    boxes = np.column_stack([np.full((n, 2), 10.0), np.linspace(5, 150, n),
                             np.linspace(150, 5, n)]) if with_bbox else None
    write_results(tmp_path / "r.json", res.image_ids, res.category_ids, res.keypoints,
                  res.scores, boxes=boxes)
    out = {}
    for mode in ("--fast", "--reference"):
        subprocess.run([sys.executable, str(TOOL), "--gt", str(tmp_path / "gt.json"),
                        "--results", str(tmp_path / "r.json"), "--out",
                        str(tmp_path / f"s{mode}.json"), mode], check=True, capture_output=True)
        out[mode] = json.loads((tmp_path / f"s{mode}.json").read_text())
    assert out["--fast"] == out["--reference"]


def test_bbox_decided_by_the_first_entry_like_loadres(tmp_path):
    gt, kps = _gt_one_medium()
    img, cat, pts, sc, boxes = _two_detections(kps)
    path = tmp_path / "r.json"
    write_results(path, img, cat, pts, sc, boxes=boxes)
    entries = json.loads(path.read_text())
    # first entry without bbox: loadRes uses the hull for every entry (later bboxes unused)
    del entries[0]["bbox"]
    path.write_text(json.dumps(entries))
    loaded = load_results(path, GroundTruth.load(gt))
    assert loaded.boxes is None
    ref = evaluate_with_pycocotools(gt, str(path))
    assert ref.stats["APm"] == pytest.approx(1.0, abs=1e-9)
    # first entry with bbox, a later one without: loadRes would fail; so do we, precisely
    entries = json.loads(path.read_text())[::-1]
    path.write_text(json.dumps(entries))
    with pytest.raises(ResultsError, match=r"r\.json: entry 1: field 'bbox'"):
        load_results(path, GroundTruth.load(gt))


def test_results_of_categories_not_in_gt_are_ignored_and_counted(tmp_path, caplog):
    gt, res = make_synthetic_set(300, seed=9)
    sub_gt = copy.deepcopy(gt)  # a ground truth that lists categories 1..9 only
    sub_gt["categories"] = [c for c in sub_gt["categories"] if c["id"] <= 9]
    sub_gt["annotations"] = [a for a in sub_gt["annotations"] if a["category_id"] <= 9]
    path = tmp_path / "all.json"
    write_results(path, res.image_ids, res.category_ids, res.keypoints, res.scores)
    keep = res.category_ids <= 9
    path_kept = tmp_path / "kept.json"
    write_results(path_kept, res.image_ids[keep], res.category_ids[keep], res.keypoints[keep],
                  res.scores[keep])
    g = GroundTruth.load(sub_gt)
    loaded = load_results(path, g)                          # accepted, not refused
    with caplog.at_level(logging.WARNING, logger="clothpose.evaluation"):
        fast = evaluate_keypoints(g, loaded.image_ids, loaded.category_ids, loaded.keypoints,
                                  loaded.scores, as_submission=False)
    warnings = [r for r in caplog.records if "ignored" in r.getMessage()]
    assert len(warnings) == 1 and f"{int((~keep).sum())} result(s)" in warnings[0].getMessage()
    assert fast.num_ignored == int((~keep).sum()) > 0
    ref = evaluate_with_pycocotools(sub_gt, str(path))     # the official semantics
    ref_kept = evaluate_with_pycocotools(sub_gt, str(path_kept))
    assert ref.num_ignored == fast.num_ignored
    for name in STAT_NAMES:
        assert fast.stats[name] == pytest.approx(ref.stats[name], abs=1e-12), name
        assert ref.stats[name] == ref_kept.stats[name], name
    proc = subprocess.run([sys.executable, str(TOOL), "--gt", _dump(tmp_path, sub_gt),
                           "--results", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"ignored {fast.num_ignored} results" in proc.stdout


def _dump(tmp_path: Path, gt: dict, name: str = "gt.json") -> str:
    (tmp_path / name).write_text(json.dumps(gt))
    return str(tmp_path / name)


def _malformed(kind: str) -> tuple[dict, str, str]:
    gt, _ = make_synthetic_set(60, seed=1)
    gt = copy.deepcopy(gt)
    anns = gt["annotations"]
    if kind == "nan":
        anns[5]["keypoints"][anns[5]["keypoints"].index(next(v for v in anns[5]["keypoints"]
                                                             if v > 0))] = float("nan")
        return gt, r"annotations\[5\] \(id 6\): field 'keypoints'", "NaN"
    if kind == "duplicate_id":
        anns[7]["id"] = anns[2]["id"]
        return gt, r"annotations\[7\] \(id 3\): field 'id'", r"duplicate.*annotations\[2\]"
    if kind == "float_image_id":
        anns[4]["image_id"] = anns[4]["image_id"] + 0.5
        return gt, r"annotations\[4\] \(id 5\): field 'image_id'", "integer"
    if kind == "string_image_id":
        gt["images"][3]["id"] = str(gt["images"][3]["id"])
        return gt, r"images\[3\]: field 'id'", "integer"
    if kind == "string_category_id":
        anns[9]["category_id"] = str(anns[9]["category_id"])
        return gt, r"annotations\[9\] \(id 10\): field 'category_id'", "integer"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["nan", "duplicate_id", "float_image_id", "string_image_id",
                                  "string_category_id"])
def test_malformed_ground_truth_refused_by_every_path(tmp_path, kind):
    gt, where, what = _malformed(kind)
    path = _dump(tmp_path, gt)
    for load in (GroundTruth.load, lambda p: evaluate_with_pycocotools(p, [])):
        with pytest.raises(GroundTruthError, match=where) as info:
            load(path)
        assert str(info.value).startswith(path)                       # file first
        assert info.value.file == path and f"field {info.value.field!r}" in str(info.value)
        assert re.search(what, str(info.value))
    for mode in ("--fast", "--reference"):
        _, res = make_synthetic_set(60, seed=1)
        write_results(tmp_path / "r.json", res.image_ids[:3], res.category_ids[:3],
                      res.keypoints[:3], res.scores[:3])
        proc = subprocess.run([sys.executable, str(TOOL), "--gt", path, "--results",
                               str(tmp_path / "r.json"), mode], capture_output=True, text=True)
        assert proc.returncode == 2 and "field" in proc.stderr and path in proc.stderr


def test_integral_float_ids_are_accepted_like_pycocotools(tmp_path):
    gt, res = make_synthetic_set(80, seed=2)
    gt = copy.deepcopy(gt)
    for a in gt["annotations"]:
        a["image_id"] = float(a["image_id"])      # 3.0 is the key 3 for pycocotools too
    g = GroundTruth.load(gt)
    fast = evaluate_keypoints(g, res.image_ids, res.category_ids, res.keypoints, res.scores)
    path = tmp_path / "r.json"
    write_results(path, res.image_ids, res.category_ids, res.keypoints, res.scores)
    ref = evaluate_with_pycocotools(gt, str(path))
    for name in STAT_NAMES:
        assert fast.stats[name] == pytest.approx(ref.stats[name], abs=1e-12), name
