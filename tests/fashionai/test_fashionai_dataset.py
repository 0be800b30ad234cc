"""FashionAI through build_dataset: whole-image and box input, test lists, answers, filters."""
from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from clothpose.config import load_config
from clothpose.data import build_dataset
from clothpose.data.augment import MEAN, STD
from clothpose.data.fashionai import image_ranks, whole_image_box
from clothpose.data.fashionai_csv import FashionAICSVError, read_annotations
from clothpose.utils.transforms import PIXEL_STD, box_to_center_scale

CFG = "experiments/fashionai/tiny_cpn-r18_128x128.yaml"


def cfg_for(root, *opts):
    return load_config(CFG, ["DATASET.ROOT", str(root), "WORKERS", "0", *opts])


def test_whole_image_input_is_top_left_anchored_and_padded(fashionai_release):
    ds = build_dataset(cfg_for(fashionai_release), "train", is_train=False)
    table = read_annotations(fashionai_release / "Annotations" / "train.csv")
    assert len(ds) == 10 and ds.scheme.num_keypoints == 24
    for i, rec in enumerate(ds.records):
        img = cv2.imread(rec["image"])
        side = max(img.shape[:2])
        c, s = ds.boxes[i]
        np.testing.assert_allclose(c, [side / 2, side / 2], rtol=1e-6)
        np.testing.assert_allclose(s, [side / PIXEL_STD] * 2, rtol=1e-6)
    i = next(n for n, r in enumerate(ds.records) if cv2.imread(r["image"]).shape[1] < 96)
    img = cv2.imread(ds.records[i]["image"])
    inp, target, weight, meta = ds.prepared(i)
    pic = (inp.numpy().transpose(1, 2, 0) * STD + MEAN) * 255          # RGB, 128x128
    scale = 128 / 96
    expected = cv2.resize(img, None, fx=scale, fy=scale)[..., ::-1]
    w = expected.shape[1]
    assert np.abs(pic[:, :w - 2] - expected[:, :w - 2]).mean() < 12   # the image, top-left
    assert np.abs(pic[:, w + 1:]).max() < 1.0                          # zero padding on the right
    row = table.image_ids.index(ds.records[i]["image_id"])
    kps = table.keypoints[row]
    vis = kps[:, 2] >= 0
    np.testing.assert_array_equal(weight.numpy()[:, 0] > 0, vis)      # targets for v = 1 and 0
    peaks = target.numpy().reshape(24, -1).argmax(1)
    hm = np.stack([peaks % 32, peaks // 32], 1)
    np.testing.assert_allclose(hm[vis], np.floor(kps[vis, :2] * scale / 4 + 0.5), atol=1)


def test_non_square_input_pads_to_its_aspect_ratio():
    boxes = whole_image_box(np.array([[60.0, 100.0], [100.0, 60.0]]), aspect_ratio=0.75)
    for (w, h), box in zip([(60, 100), (100, 60)], boxes):
        c, s = box_to_center_scale(box, 0.75)
        x0, y0 = c - s * PIXEL_STD / 2
        assert (x0, y0) == pytest.approx((0, 0), abs=1e-4)             # anchored at (0, 0)
        assert s[0] * PIXEL_STD >= w - 1e-4 and s[1] * PIXEL_STD >= h - 1e-4
        assert s[0] / s[1] == pytest.approx(0.75)
        assert min(s[0] * PIXEL_STD - w, s[1] * PIXEL_STD - h) == pytest.approx(0, abs=1e-3)


def test_box_input_and_evaluation_ground_truth(fashionai_release):
    ds = build_dataset(cfg_for(fashionai_release, "DATASET.INPUT", "box"), "val", is_train=False)
    table = read_annotations(fashionai_release / "Annotations" / "val.csv")
    gt = ds.evaluation_gt()
    ranks = image_ranks(ds.records)
    assert [a["image_id"] for a in gt["annotations"]] == [ranks[i] for i in table.image_ids]
    k = np.asarray(gt["annotations"][0]["keypoints"]).reshape(24, 3)
    np.testing.assert_array_equal(k[:, 2], table.keypoints[0, :, 2] + 1)   # COCO v: 2/1/0
    assert ds[0][2]["image_id"] == ranks[ds.records[0]["image_id"]]
    kps = table.keypoints[0]
    lab = kps[:, 2] >= 0
    x, y, w, h = ds.records[0]["box"]
    assert x <= kps[lab, 0].min() and x + w >= kps[lab, 0].max()
    assert y <= kps[lab, 1].min() and y + h >= kps[lab, 1].max()


def test_test_list_with_and_without_answers(fashionai_release, tmp_path):
    ds = build_dataset(cfg_for(fashionai_release), "test", is_train=False)
    assert len(ds) == 5 and ds.evaluation_gt()["fashionai"].path.endswith("test_answer.csv")
    bare = tmp_path / "release"
    shutil.copytree(fashionai_release, bare)
    (bare / "Annotations" / "test_answer.csv").unlink()
    ds = build_dataset(cfg_for(bare), "test", is_train=False)
    assert len(ds) == 5 and ds.evaluation_gt() is None
    with pytest.raises(FashionAICSVError, match="DATASET.INPUT image"):
        build_dataset(cfg_for(bare, "DATASET.INPUT", "box"), "test", is_train=False)
    with pytest.raises(FashionAICSVError, match="no FashionAI CSV for set 'nope'"):
        build_dataset(cfg_for(bare), "nope", is_train=False)


def test_type_filter_and_per_type_scheme(fashionai_release):
    ds = build_dataset(cfg_for(fashionai_release, "DATASET.CATEGORIES", "[4]"), "train", True)
    assert len(ds) == 2 and {r["category_id"] for r in ds.records} == {4}
    assert ds.scheme.num_keypoints == 24
    skirt = build_dataset(cfg_for(fashionai_release, "DATASET.SCHEME", "fashionai-skirt",
                                  "MODEL.NUM_JOINTS", "4"), "train", True)
    assert skirt.scheme.num_keypoints == 4 and len(skirt) == 2
    assert skirt.prepared(0)[1].shape == (4, 32, 32)
    assert len(skirt.evaluation_gt()["annotations"]) == 2
