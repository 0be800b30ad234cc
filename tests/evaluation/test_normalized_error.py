"""FashionAI normalized error against hand-computed cases (challenge definition, doc section 2)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clothpose.data.fashionai_csv import FashionAICSVError, write_submission
from clothpose.evaluation.normalized_error import (normalized_error, normalized_error_from_csv,
                                                   normalizers)
from clothpose.keypoints import fashionai as fai

I = {n: i for i, n in enumerate(fai.KEYPOINTS)}


def blank(n: int) -> tuple[np.ndarray, np.ndarray]:
    gt = np.full((n, 24, 3), -1.0)
    return gt, np.full((n, 24, 3), -1.0)


def two_images() -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Image 0, blouse: armpits (0,0)-(100,0) -> s = 100.
         armpit_left   gt (0,0)   v1  pred (3,4)     d = 5   -> 0.05
         armpit_right  gt (100,0) v1  pred (100,0)   d = 0   -> 0
         neckline_left gt (50,50) v1  pred (50,60)   d = 10  -> 0.10
         shoulder_left occluded (v0), cuff_left_in absent (v-1): far predictions, not counted.
       Image 1, skirt: waistbands (10,10)-(10,50) -> s = 40 (the occluded one still defines s).
         waistband_left  gt (10,10) v1  pred (10,14)     d = 4  -> 0.10
         waistband_right gt (10,50) v0  pred (999,999)   not counted
         hemline_left    gt (0,100) v1  pred (6,108)     d = 10 -> 0.25
       Global NE = (0.05 + 0 + 0.10 + 0.10 + 0.25) / 5 = 0.10 -> 10 %.
       Per-image mean would be (0.15/3 + 0.35/2) / 2 = 0.1125 -> 11.25 %."""
    gt, pred = blank(2)
    for n, name, g, v, p in [
        (0, "armpit_left", (0, 0), 1, (3, 4)), (0, "armpit_right", (100, 0), 1, (100, 0)),
        (0, "neckline_left", (50, 50), 1, (50, 60)), (0, "shoulder_left", (70, 70), 0, (900, 0)),
        (0, "cuff_left_in", (-1, -1), -1, (500, 500)),
        (1, "waistband_left", (10, 10), 1, (10, 14)),
        (1, "waistband_right", (10, 50), 0, (999, 999)),
        (1, "hemline_left", (0, 100), 1, (6, 108)),
    ]:
        gt[n, I[name]] = (*g, v)
        pred[n, I[name]] = (*p, 1)
    return pred, gt, [1, 4]


def test_global_average_by_hand() -> None:
    pred, gt, cats = two_images()
    r = normalized_error(pred, gt, cats)
    assert r.count == 5
    assert r.ne == pytest.approx(10.0)
    per_image = np.mean([(0.05 + 0.10) / 3, (0.10 + 0.25) / 2]) * 100
    assert per_image == pytest.approx(11.25) and r.ne != pytest.approx(per_image)
    assert r.per_type["blouse"] == {"ne": pytest.approx(5.0), "count": 3, "images": 1}
    assert r.per_type["skirt"] == {"ne": pytest.approx(17.5), "count": 2, "images": 1}
    assert set(r.per_type) == {"blouse", "skirt"}
    assert r.per_keypoint[I["armpit_left"]] == pytest.approx(5.0)
    assert r.per_keypoint[I["hemline_left"]] == pytest.approx(25.0)
    assert np.isnan(r.per_keypoint[I["shoulder_left"]])  # only occluded there
    assert r.zero_normalizer_images == 0 and r.absent_normalizer_images == 0


def test_occluded_absent_and_predicted_visibility_ignored() -> None:
    pred, gt, cats = two_images()
    base = normalized_error(pred, gt, cats).ne
    moved = pred.copy()
    moved[0, I["shoulder_left"], :2] += 1e4  # v = 0: not scored
    moved[1, I["waistband_right"], :2] = np.nan  # v = 0: NaN there does not matter either
    moved[..., 2] = 0  # predicted visibility is ignored
    assert normalized_error(moved, gt, cats).ne == pytest.approx(base)
    assert normalized_error(pred, gt, ["blouse", "skirt"]).ne == pytest.approx(base)


def test_zero_and_absent_normalizer_use_256() -> None:
    """Dress with both armpits at (20,20) -> s = 0 -> 256; neckline_left off by (0,128) ->
    128/256 = 0.5. Trousers with absent waistbands (-1,-1 both) -> s = 0 -> 256; crotch off
    by 64 -> 0.25. NE = (0.5 + 0.25) / 2 = 37.5 %."""
    gt, pred = blank(2)
    gt[0, I["armpit_left"]] = gt[0, I["armpit_right"]] = (20, 20, 0)
    gt[0, I["neckline_left"]] = (40, 40, 1)
    pred[0, I["neckline_left"]] = (40, 168, 1)
    gt[1, I["crotch"]] = (100, 100, 1)
    pred[1, I["crotch"]] = (164, 100, 1)
    np.testing.assert_allclose(normalizers(gt, [5, 3]), [256, 256])
    r = normalized_error(pred, gt, [5, 3])
    assert r.ne == pytest.approx(37.5)
    assert r.zero_normalizer_images == 2 and r.absent_normalizer_images == 1


def test_normalizer_pairs_by_type() -> None:
    gt, _ = blank(5)
    gt[:, I["armpit_left"], :2] = (0, 0)
    gt[:, I["armpit_right"], :2] = (30, 40)  # 50 for tops and dresses
    gt[:, I["waistband_left"], :2] = (0, 0)
    gt[:, I["waistband_right"], :2] = (6, 8)  # 10 for bottoms
    cats = [fai.CATEGORY_IDS[t] for t in ("blouse", "outwear", "trousers", "skirt", "dress")]
    np.testing.assert_allclose(normalizers(gt, cats), [50, 50, 10, 10, 50])


def test_errors() -> None:
    pred, gt, cats = two_images()
    bad = pred.copy()
    bad[1, I["hemline_left"], 0] = np.nan
    with pytest.raises(ValueError, match="NaN.*image 1.*hemline_left"):
        normalized_error(bad, gt, cats)
    with pytest.raises(ValueError, match="unknown category"):
        normalized_error(pred, gt, [1, 9])
    with pytest.raises(ValueError, match="expected pred"):
        normalized_error(pred[:, :10], gt, cats)
    r = normalized_error(pred[:0], gt[:0], [])
    assert r.count == 0 and np.isnan(r.ne)


def test_from_csv_matches_arrays(tmp_path: Path) -> None:
    pred, gt, cats = two_images()
    ids = ["a.jpg", "b.jpg"]
    lines = [",".join(("image_id", "image_category") + fai.KEYPOINTS)]
    for n, image_id in enumerate(ids):
        cells = [f"{int(x)}_{int(y)}_{int(v)}" for x, y, v in gt[n]]
        lines.append(",".join([image_id, ("blouse", "skirt")[n]] + cells))
    (tmp_path / "gt.csv").write_text("\n".join(lines) + "\n")
    filled = np.where(np.isfinite(pred[..., :2]) & (pred[..., :2] >= 0), pred[..., :2], 0)
    write_submission(tmp_path / "pred.csv", ids[::-1], cats[::-1], filled[::-1])
    r = normalized_error_from_csv(tmp_path / "gt.csv", tmp_path / "pred.csv")
    # the submission only carries each type's keypoints: skirt keeps waistband/hemline, blouse
    # keeps armpits and neckline, so every scored keypoint survives and NE is unchanged.
    assert r.ne == pytest.approx(10.0) and r.count == 5
    write_submission(tmp_path / "short.csv", ids[:1], cats[:1], filled[:1])
    with pytest.raises(FashionAICSVError, match="no prediction for 1 images"):
        normalized_error_from_csv(tmp_path / "gt.csv", tmp_path / "short.csv")
