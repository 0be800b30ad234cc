"""Landmark error analysis on constructed results whose errors are known by construction.

The scenario (``_scenario``): ten skirts (8 landmarks, mirror pairs 1-3, 4-8, 5-7; 2 and 6 on
the axis), each predicted exactly except

* J: landmarks 1, 2, 4, 5 displaced to ks = .62 (jitter)            -> OKS (4 + 4 * .62) / 8 = .81
* I: every mirror pair exchanged (6 inversions, 2 and 6 exact)      -> OKS 2 / 8
* Sa: landmarks 1-5 taken from Sb, another skirt of the image (swap) -> OKS 3 / 8
* M: landmarks 4-8 far away (miss)                                    -> OKS 3 / 8
* D: not predicted (a missed instance);
* A4 has landmark 6 unlabelled in the GT (it is not classed);

plus a skirt prediction on an image without skirts (false positive, highest score) and a
short-sleeved dress W predicted twice as a short-sleeved shirt with the dress's landmarks of
the same meaning (wrong category; the second is a duplicate). Scores: FP .96 > A1..A4 > Sb > J
> I > Sa > M; wrong-category predictions .8 and .5.

Expected APs follow from these OKS values with COCO's definition of AP (``_coco_ap``, written
from the definition); the baseline is also checked against pycocotools.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from clothpose.evaluation import (GroundTruth, Results, evaluate_with_pycocotools,
                                  submission_keypoints)
from clothpose.evaluation.analysis import (CLASSES, analysis_to_dict, analyze_errors,
                                           distance_for_ks, keypoint_similarity,
                                           transfer_index)
from clothpose.evaluation.fast_eval import match_keypoints
from clothpose.evaluation.oks import pair_oks
from clothpose.evaluation.synthetic import make_synthetic_set
from clothpose.keypoints import get_scheme

SCHEME = get_scheme("deepfashion2")
SKIRT, SSD, SSS = 9, 10, 1
SKIRT_SIGMAS = np.array([0.0253, 0.0195, 0.0253, 0.0513, 0.0543, 0.0415, 0.0543, 0.0513])
SKIRT_MIRROR = [3, 2, 1, 8, 7, 6, 5, 4]          # 1-based partner of each skirt landmark
OKS_THRS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
REC_THRS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)


def _skirt(x0: float, y0: float) -> np.ndarray:
    """(8, 2): waistband 1-3, hem 4-8; at least 60 px between any two landmarks."""
    return np.array([[40, 0], [100, 0], [160, 0], [0, 100], [20, 200], [100, 200], [180, 200],
                     [200, 100]], dtype=float) + [x0, y0]


def _jitter_distance(ks: float, sigma: float, area: float) -> float:
    """Distance at which exp(-d^2 / (2 sigma)^2 / area / 2) = ks (pycocotools' OKS term)."""
    return math.sqrt(-math.log(ks) * 2 * (2 * sigma) ** 2 * area)


def _ann(ann_id, image_id, cid, local, vis, bbox):
    k = np.zeros((294, 3))
    slots = list(SCHEME.category(cid).slots)
    k[slots, :2] = np.where(np.asarray(vis)[:, None] > 0, local, 0)
    k[slots, 2] = vis
    return {"id": ann_id, "image_id": image_id, "category_id": cid, "bbox": bbox,
            "area": float(bbox[2] * bbox[3]), "num_keypoints": int(np.count_nonzero(vis)),
            "iscrowd": 0, "keypoints": k.reshape(-1).tolist()}


def _scenario():
    gts, preds = {}, []          # name -> (ann dict); preds: (name, image, category, local, score)
    skirts = {"A1": (1, 100, 100), "A2": (2, 100, 100), "A3": (3, 100, 100), "A4": (4, 100, 100),
              "J": (5, 100, 100), "I": (6, 100, 100), "Sa": (7, 100, 100), "Sb": (7, 600, 100),
              "M": (8, 100, 100), "D": (9, 100, 100)}
    for n, (name, (img, x, y)) in enumerate(skirts.items(), start=1):
        vis = [2] * 8
        if name == "A4":
            vis[5] = 0
        gts[name] = _ann(n, img, SKIRT, _skirt(x, y), vis, [x, y, 200, 200])
    w_local = np.array([[100 + 20 * (j % 6), 100 + 45 * (j // 6)] for j in range(29)], float)
    w_vis = [2] * 15 + [0] * 5 + [2] * 9                        # dress landmarks 16-20 unlabelled
    gts["W"] = _ann(11, 10, SSD, w_local, w_vis, [100, 100, 200, 300])

    scores = {"A1": .95, "A2": .94, "A3": .93, "A4": .92, "Sb": .91, "J": .90, "I": .89,
              "Sa": .88, "M": .87}
    for name, score in scores.items():
        img, x, y = skirts[name]
        local = _skirt(x, y)
        if name == "J":
            for j in (0, 1, 3, 4):                              # landmarks 1, 2, 4, 5
                local[j, 0] += _jitter_distance(0.62, SKIRT_SIGMAS[j], 40000)
        elif name == "I":
            local = local[np.array(SKIRT_MIRROR) - 1]
        elif name == "Sa":
            local[:5] = _skirt(*skirts["Sb"][1:])[:5]
        elif name == "M":
            local[3:] += 2000
        preds.append((name, img, SKIRT, local, score))
    preds.append(("FP", 10, SKIRT, _skirt(600, 600), .96))
    # the shirt's landmarks carry the dress's of the same meaning: shirt 1-15 = dress 1-15,
    # shirt 17-25 = dress 21-29 (shared aggregated ids); shirt 16 has no dress counterpart
    shirt = np.zeros((25, 2))
    shirt[:15] = w_local[:15]
    shirt[16:] = w_local[20:]
    shirt[15] = w_local[0]
    preds.append(("W1", 10, SSS, shirt, .8))
    preds.append(("W2", 10, SSS, shirt, .5))
    gt = {"images": [{"id": i, "file_name": f"{i:06d}.jpg", "width": 1000, "height": 1000}
                     for i in range(1, 11)],
          "annotations": list(gts.values()),
          "categories": [{"id": c.id, "name": c.name, "supercategory": "clothes",
                          "keypoints": [str(j) for j in range(1, 295)], "skeleton": []}
                         for c in SCHEME.categories]}
    kps = np.zeros((len(preds), 294, 3))
    for i, (_, _, cid, local, _) in enumerate(preds):
        slots = list(SCHEME.category(cid).slots)
        kps[i, slots, :2] = local
        kps[i, slots, 2] = 1.0
    cats = np.array([p[2] for p in preds])
    res = Results(np.array([p[1] for p in preds]), cats, submission_keypoints(kps, cats),
                  np.array([p[4] for p in preds]))
    return gt, res, [p[0] for p in preds]


def _coco_ap(tp: list[bool], n_gt: int) -> float:
    """101-point interpolated AP of a score-sorted list of TP / FP (COCO's definition)."""
    tp = np.asarray(tp, dtype=bool)
    tps, fps = np.cumsum(tp), np.cumsum(~tp)
    recall, precision = tps / n_gt, tps / (tps + fps)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, REC_THRS, side="left")
    return float(np.mean([envelope[i] if i < len(tp) else 0.0 for i in idx]))


BASE_SKIRT_OKS = {"FP": 0.0, "A1": 1, "A2": 1, "A3": 1, "A4": 1, "Sb": 1, "J": .81, "I": .25,
                  "Sa": .375, "M": .375}        # in score order


def _expected_ap(skirt_oks: dict, n_skirts: int = 10, dress_ap: float = 0.0) -> float:
    """Mean over OKS thresholds and the two categories with GT (skirt, short-sleeved dress)."""
    skirt = np.mean([_coco_ap([o >= t for o in skirt_oks.values()], n_skirts) for t in OKS_THRS])
    return (skirt + dress_ap) / 2


@pytest.fixture(scope="module")
def scenario():
    gt_dict, res, names = _scenario()
    gt = GroundTruth.load(gt_dict)
    return gt_dict, gt, res, names, analyze_errors(gt, res)


def test_baseline_is_the_official_ap(scenario):
    gt_dict, _, res, _, a = scenario
    entries = [{"image_id": int(i), "category_id": int(c), "keypoints": k.reshape(-1).tolist(),
                "score": float(s)} for i, c, k, s in zip(res.image_ids, res.category_ids,
                                                         res.keypoints, res.scores)]
    ref = evaluate_with_pycocotools(gt_dict, entries)
    assert a.baseline.stats["AP"] == pytest.approx(ref.stats["AP"], abs=1e-12)
    assert a.baseline.stats["AP"] == pytest.approx(_expected_ap(BASE_SKIRT_OKS), abs=1e-9)


def test_landmark_classes_come_out_as_constructed(scenario):
    _, gt, res, names, a = scenario
    data = analysis_to_dict(a)
    assert data["counts"]["overall"] == {"good": 51, "jitter": 4, "inversion": 6, "swap": 5,
                                         "miss": 5, "labelled": 71}
    assert data["counts"]["per_category"]["skirt"]["labelled"] == 71
    assert data["counts"]["per_category"]["short_sleeved_dress"]["labelled"] == 0
    lm = data["counts"]["per_landmark"]
    assert lm["skirt_1"] == {"good": 6, "jitter": 1, "inversion": 1, "swap": 1, "miss": 0,
                             "labelled": 9}
    # skirt_6 (on the axis): 9 matched skirts but unlabelled in A4; M's is the only error
    assert lm["skirt_6"] == {"good": 7, "jitter": 0, "inversion": 0, "swap": 0, "miss": 1,
                             "labelled": 8}
    codes = {names[i["result_index"]]: i["landmarks"] for i in data["instances"]}
    assert codes == {"A1": "gggggggg", "A2": "gggggggg", "A3": "gggggggg", "A4": "ggggg-gg",
                     "Sb": "gggggggg", "J": "jjgjjggg", "I": "igiiigii", "Sa": "sssssggg",
                     "M": "gggmmmmm"}
    oks = {names[i["result_index"]]: i["oks"] for i in data["instances"]}
    for name, value in BASE_SKIRT_OKS.items():
        if name != "FP":
            assert oks[name] == pytest.approx(value, abs=1e-6), name


def test_instance_errors_come_out_as_constructed(scenario):
    _, gt, res, names, a = scenario
    data = analysis_to_dict(a)
    assert [names[i] for i in data["false_positives"]] == ["FP"]
    assert data["missed_gt_ids"] == [10]                        # D
    wrong = {names[w["result_index"]]: w for w in data["wrong_category"]}
    assert set(wrong) == {"W1", "W2"}
    assert wrong["W1"]["relabelled"] and not wrong["W2"]["relabelled"]
    assert wrong["W1"]["gt_id"] == 11 and wrong["W1"]["oks"] == pytest.approx(1.0)
    assert data["category_confusions"] == {"short_sleeved_dress -> short_sleeved_shirt": 2}
    costs = data["instance_costs"]
    assert (costs["wrong_category"]["count"], costs["wrong_category"]["relabelled"],
            costs["wrong_category"]["duplicates"]) == (2, 1, 1)
    assert costs["false_positive"]["count"] == 1 and costs["missed"]["count"] == 1
    per_cat = data["per_category"]["skirt"]
    assert (per_cat["gt_instances"], per_cat["matched"], per_cat["missed"],
            per_cat["false_positive"]) == (10, 9, 1, 1)
    assert data["per_category"]["short_sleeved_dress"]["wrong_category"] == 2


FIXED = {
    "jitter": dict(skirt_oks=BASE_SKIRT_OKS | {"J": (4 + 4 * .85) / 8}),
    "inversion": dict(skirt_oks=BASE_SKIRT_OKS | {"I": 1.0}),
    "swap": dict(skirt_oks=BASE_SKIRT_OKS | {"Sa": 1.0}),
    "miss": dict(skirt_oks=BASE_SKIRT_OKS | {"M": (3 + 5 * .5) / 8}),
    "wrong_category": dict(skirt_oks=BASE_SKIRT_OKS, dress_ap=1.0),
    "false_positive": dict(skirt_oks={k: v for k, v in BASE_SKIRT_OKS.items() if k != "FP"}),
    "missed": dict(skirt_oks=BASE_SKIRT_OKS, n_skirts=9),
}


@pytest.mark.parametrize("fix", list(FIXED))
def test_oracle_aps_come_out_as_constructed(scenario, fix):
    a = scenario[-1]
    expected = _expected_ap(**FIXED[fix])
    assert a.oracle[fix].stats["AP"] == pytest.approx(expected, abs=1e-9)
    assert expected > a.baseline.stats["AP"] + 0.005              # every fix is visible


def test_ap_oracle_of_the_json_holds_the_four_landmark_errors(scenario):
    data = analysis_to_dict(scenario[-1])
    assert set(data["ap_oracle"]) == {"jitter", "inversion", "swap", "miss"}
    for k, v in data["ap_oracle"].items():
        assert v == pytest.approx(_expected_ap(**FIXED[k]), abs=1e-9)
        assert data["ap_oracle_stats"][k]["AP"] == v


def test_perfect_predictions_are_all_good_and_no_oracle_helps():
    gt_dict, res = make_synthetic_set(300, seed=3)
    gt = GroundTruth.load(gt_dict)
    keep = ~gt.ignore
    copy = Results(gt.ann_image_ids[keep], gt.ann_category_ids[keep],
                   submission_keypoints(gt.keypoints[keep], gt.ann_category_ids[keep]),
                   np.linspace(1, 0.5, int(keep.sum())))
    a = analyze_errors(gt, copy)
    counts = a.counts()
    assert counts[0] == counts.sum() > 1000                     # all good
    assert len(a.false_positive) == len(a.missed) == len(a.wrong_det) == 0
    for name, r in a.oracle.items():
        assert r.stats["AP"] == pytest.approx(a.baseline.stats["AP"], abs=1e-12), name


def test_inversion_follows_the_schemes_flip_pairs():
    """short_sleeved_outwear: exchanging landmarks 2 and 6 is an inversion with the default
    pairing (2-6) and not with the landmark figure's (2-26, 4-6)."""
    cid = 3
    local = np.array([[100 + 37 * (j % 6), 100 + 41 * (j // 6)] for j in range(31)], float)
    gt_dict = {"images": [{"id": 1, "file_name": "a.jpg", "width": 600, "height": 600}],
               "annotations": [_ann(1, 1, cid, local, [2] * 31, [100, 100, 200, 250])],
               "categories": [{"id": 3, "name": "short_sleeved_outwear"}]}
    pred = local.copy()
    pred[[1, 5]] = local[[5, 1]]                                 # landmarks 2 <-> 6
    kps = np.zeros((1, 294, 3))
    kps[0, list(SCHEME.category(cid).slots), :2] = pred
    res = Results(np.array([1]), np.array([cid]), kps, np.array([0.9]))
    gt = GroundTruth.load(gt_dict)
    default = analyze_errors(gt, res, "deepfashion2").counts()
    figure = analyze_errors(gt, res, "deepfashion2-figure").counts()
    assert dict(zip(CLASSES, default)) == {"good": 29, "jitter": 0, "inversion": 2, "swap": 0,
                                           "miss": 0}
    assert dict(zip(CLASSES, figure)) == {"good": 29, "jitter": 0, "inversion": 0, "swap": 0,
                                          "miss": 2}


def test_similarity_and_its_inverse_round_trip():
    ks = np.array([[0.85, 0.5, 0.62, 1.0, 1e-3]])
    var = (2 * SKIRT_SIGMAS[:5]) ** 2
    areas = np.array([12345.0])
    d = distance_for_ks(ks, var, areas)
    gt = np.zeros((1, 5, 2))
    back = keypoint_similarity(np.stack([d, np.zeros_like(d)], axis=-1), gt, var, areas)
    np.testing.assert_allclose(back, ks, rtol=1e-12)
    assert d[0, 0] == pytest.approx(_jitter_distance(0.85, SKIRT_SIGMAS[0], 12345.0), rel=1e-9)


def test_transfer_by_meaning_short_sleeved_shirt_to_dress():
    idx = transfer_index(SCHEME, SSS, SSD)                        # dress landmark -> shirt
    expected = list(range(15)) + [-1] * 5 + list(range(16, 25))
    assert idx.tolist() == expected
    assert (transfer_index(SCHEME, SKIRT, SSD) == -1).all()        # nothing in common


def test_matched_pairs_and_oks_are_the_official_evaluations():
    """The analysed pairs are pycocotools' own assignment at OKS .1, and their OKS is the
    evaluator's (``oks.pair_oks``)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    import contextlib
    import io

    gt_dict, res = make_synthetic_set(600, seed=4)
    gt = GroundTruth.load(gt_dict)
    a = analyze_errors(gt, res, as_submission=True)
    entries = [{"image_id": int(i), "category_id": int(c), "keypoints": k.reshape(-1).tolist(),
                "score": float(s)} for i, c, k, s in
               zip(res.image_ids, res.category_ids, submission_keypoints(res.keypoints,
                                                                         res.category_ids),
                   res.scores)]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = dict(gt_dict)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(entries), "keypoints")
        ev.params.kpt_oks_sigmas = SCHEME.sigmas
        ev.params.maxDets = [20]
        ev.params.iouThrs = np.array([0.1])
        ev.evaluate()
    ref = {}
    for e in ev.evalImgs:
        if e is None or e["aRng"] != ev.params.areaRng[0]:
            continue
        for did, gid in zip(e["dtIds"], e["dtMatches"][0]):
            if gid and not coco.anns[int(gid)]["num_keypoints"] == 0 \
                    and not coco.anns[int(gid)].get("iscrowd", 0):
                ref[did - 1] = int(gid)                           # loadRes ids are 1-based
    ours = dict(zip(a.pair_det.tolist(), gt.ann_ids[a.pair_gt].tolist()))
    assert len(ours) > 300 and ours == ref
    counts, cols = gt.labelled
    xy = submission_keypoints(res.keypoints, res.category_ids)[:, :, :2]
    official = pair_oks(xy, gt.keypoints, gt.areas, gt.bboxes, SCHEME.sigmas, a.pair_det,
                        a.pair_gt, counts, cols)
    np.testing.assert_allclose(a.pair_oks, official, rtol=0, atol=1e-12)


def test_match_keypoints_at_the_official_thresholds_gives_the_official_tp_count():
    gt_dict, res = make_synthetic_set(500, seed=6)
    gt = GroundTruth.load(gt_dict)
    m = match_keypoints(gt, res.image_ids, res.category_ids, res.keypoints, res.scores)
    assert m.gt.shape == (len(m.detection), 3, 10)
    assert np.array_equal(np.sort(m.detection), np.unique(m.detection))
    matched = m.gt[:, 0, :] >= 0
    recall50 = np.unique(m.gt[:, 0, 0][matched[:, 0] & ~gt.ignore[m.gt[:, 0, 0]]]).size
    from clothpose.evaluation import evaluate_keypoints
    r = evaluate_keypoints(gt, res.image_ids, res.category_ids, res.keypoints, res.scores)
    n_gt = np.count_nonzero(~gt.ignore)
    per_cat = [np.count_nonzero((gt.ann_category_ids == c) & ~gt.ignore) for c in gt.category_ids]
    # recall at OKS .5 (area all) weighted by the GT count of each category = matched / total
    weighted = sum(r.recall[0, k, 0] * n for k, n in enumerate(per_cat) if n) / n_gt
    assert weighted == pytest.approx(recall50 / n_gt, abs=1e-12)


def test_results_are_evaluated_exactly_as_the_file_holds_them():
    """In submission form (what write_results writes) the analysis evaluates with
    as_submission=True, which is faster; the numbers equal the file's evaluation either way."""
    from clothpose.evaluation import evaluate_keypoints
    from clothpose.evaluation.analysis import in_submission_form

    gt_dict, res = make_synthetic_set(400, seed=8)
    gt = GroundTruth.load(gt_dict)
    written = Results(res.image_ids, res.category_ids,
                      submission_keypoints(res.keypoints, res.category_ids), res.scores)
    assert in_submission_form(written.keypoints[:, :, :2], written.category_ids, SCHEME)
    assert not in_submission_form(res.keypoints[:, :, :2], res.category_ids, SCHEME)
    for r in (res, written):
        ref = evaluate_keypoints(gt, r.image_ids, r.category_ids, r.keypoints, r.scores,
                                 as_submission=False)
        a = analyze_errors(gt, r)
        assert a.baseline.stats == ref.stats
        np.testing.assert_array_equal(a.baseline.precision, ref.precision)


def test_scheme_variants_compare_categories_through_their_aggregated_channels():
    from clothpose.evaluation.analysis import shared_scheme
    from clothpose.workflow.analysis import official_scheme_name

    assert shared_scheme(SCHEME).name == "deepfashion2-agg81"
    for name in ("deepfashion2-figure", "deepfashion2-mmpose"):
        assert shared_scheme(get_scheme(name)).name == "deepfashion2-agg81-figure"
    assert shared_scheme(get_scheme("fashionai")).name == "fashionai"   # shares channels itself
    assert official_scheme_name("deepfashion2-agg81") == "deepfashion2"
    assert official_scheme_name("deepfashion2-agg81-figure-cat3") == "deepfashion2-figure"
    assert official_scheme_name("deepfashion2-mmpose") == "deepfashion2-figure"


def test_result_boxes_and_unlisted_categories_follow_the_official_rules():
    """Areas from the results' bbox, results of categories the GT does not list ignored and
    counted, and every index in analysis.json still names the entry of the result file."""
    from clothpose.evaluation import evaluate_keypoints

    gt_dict, res = make_synthetic_set(400, seed=9)
    gt_dict = dict(gt_dict, categories=[c for c in gt_dict["categories"] if c["id"] != 13],
                   annotations=[a for a in gt_dict["annotations"] if a["category_id"] != 13])
    gt = GroundTruth.load(gt_dict)
    boxes = np.random.default_rng(0).uniform(10, 300, (len(res), 4))
    res = Results(res.image_ids, res.category_ids, res.keypoints, res.scores, boxes)
    a = analyze_errors(gt, res)
    ref = evaluate_keypoints(gt, res.image_ids, res.category_ids, res.keypoints, res.scores,
                             as_submission=False, boxes=boxes)
    assert a.baseline.stats == ref.stats
    hull = evaluate_keypoints(gt, res.image_ids, res.category_ids, res.keypoints, res.scores,
                              as_submission=False)
    assert hull.stats["APm"] != ref.stats["APm"]                  # the boxes were used
    assert a.num_ignored == int((res.category_ids == 13).sum()) > 0
    data = analysis_to_dict(a)
    assert data["inputs"]["ignored_results"] == a.num_ignored
    assert data["inputs"]["results"] == len(res)
    for inst in data["instances"]:
        i = inst["result_index"]
        assert (res.image_ids[i], res.category_ids[i]) == (inst["image_id"], inst["category_id"])
    assert all(res.category_ids[i] != 13 for i in data["false_positives"])
    assert len(data["false_positives"]) > 0
