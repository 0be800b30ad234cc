"""Submission files: writer filler, round trip, validation errors, file == memory."""
from __future__ import annotations

import json

import numpy as np
import pytest

from clothpose.evaluation import (GroundTruth, ResultsError, detection_areas, evaluate_keypoints,
                                  evaluate_with_pycocotools, load_results, write_results)
from clothpose.evaluation.synthetic import make_synthetic_set
from clothpose.keypoints import get_scheme


@pytest.fixture(scope="module")
def synthetic():
    return make_synthetic_set(300, seed=11)


def test_round_trip_and_filler(tmp_path, synthetic):
    gt, res = synthetic
    path = tmp_path / "r.json"
    write_results(path, res.image_ids, res.category_ids, res.keypoints, res.scores)
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]   # no temp file left behind
    back = load_results(path, GroundTruth.load(gt))
    np.testing.assert_array_equal(back.image_ids, res.image_ids)
    np.testing.assert_array_equal(back.scores, res.scores)
    scheme = get_scheme("deepfashion2")
    for i in range(0, len(res), 37):
        own = np.asarray(scheme.category(int(res.category_ids[i])).slots)
        np.testing.assert_array_equal(back.keypoints[i, own], res.keypoints[i, own])
        other = np.setdiff1d(np.arange(294), own)
        np.testing.assert_array_equal(back.keypoints[i, other, :2],
                                      np.broadcast_to(res.keypoints[i, own[0], :2], (len(other), 2)))
        assert (back.keypoints[i, other, 2] == 0).all()
        # hull of all 294 written points == hull of the own landmarks
        span = res.keypoints[i, own, :2].max(0) - res.keypoints[i, own, :2].min(0)
        assert detection_areas(back.keypoints[i:i + 1])[0] == span[0] * span[1]


def test_file_evaluates_like_memory(tmp_path, synthetic):
    gt, res = synthetic
    path = tmp_path / "r.json"
    write_results(path, res.image_ids, res.category_ids, res.keypoints, res.scores)
    g = GroundTruth.load(gt)
    mem = evaluate_keypoints(g, res.image_ids, res.category_ids, res.keypoints, res.scores)
    ref = evaluate_with_pycocotools(gt, path)
    ref_stats, ref_cat = ref.stats, ref.per_category
    back = load_results(path, g)
    from_file = evaluate_keypoints(g, back.image_ids, back.category_ids, back.keypoints,
                                   back.scores, as_submission=False)
    assert mem.stats == ref_stats == from_file.stats
    assert mem.per_category == ref_cat == from_file.per_category


def _write(tmp_path, entries):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(entries))
    return p


def _entry(**kw):
    e = {"image_id": 1, "category_id": 1, "keypoints": [1.0] * 882, "score": 0.5}
    e.update(kw)
    return e


@pytest.mark.parametrize("entry, message", [
    (_entry(keypoints=[1.0] * 881), r"entry 1: field 'keypoints' must be a list of 882"),
    (_entry(score=float("nan")), r"entry 1: field 'score' must be a finite number"),
    (_entry(image_id="7"), r"entry 1: field 'image_id' must be an integer"),
    ({"image_id": 1, "category_id": 1, "keypoints": [1.0] * 882}, r"entry 1: missing field 'score'"),
    (_entry(keypoints=[1.0] * 881 + [float("inf")]), r"entry 1: field 'keypoints' contains NaN"),
    (_entry(image_id=99999), r"entry 1: field 'image_id' = 99999 is not in the ground truth"),
])
def test_load_errors_name_file_entry_and_field(tmp_path, synthetic, entry, message):
    gt, _ = synthetic
    p = _write(tmp_path, [_entry(), entry])
    with pytest.raises(ResultsError, match=message) as info:
        load_results(p, GroundTruth.load(gt))
    assert str(p) in str(info.value)


def test_writer_rejects_nan_and_unknown_category(tmp_path):
    kps = np.ones((1, 294, 3))
    kps[0, 0, 0] = np.nan
    with pytest.raises(ResultsError, match="entry 0 has NaN"):
        write_results(tmp_path / "x.json", [1], [1], kps, [0.5])
    with pytest.raises(ResultsError, match=r"category ids \[14\]"):
        write_results(tmp_path / "x.json", [1], [14], np.ones((1, 294, 3)), [0.5])
    assert not (tmp_path / "x.json").exists()
