"""End to end: synthetic raw data -> prepare -> build_dataset -> DataLoader; bad inputs."""
import json
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from clothpose.config import load_config
from clothpose.data import (AnnotationFileError, BadSampleError, build_dataset,
                            parse_coco_keypoints)
from clothpose.data.coco_records import parse_detections
from clothpose.keypoints import get_scheme


def _cfg(root, *opts):
    return load_config(None, ["DATASET.ROOT", str(root), "MODEL.IMAGE_SIZE", "[96, 128]",
                              "MODEL.HEATMAP_SIZE", "[24, 32]", *opts])


def test_train_batches_from_prepared_synthetic_data(synthetic_df2):
    cfg = _cfg(synthetic_df2.root, "DATASET.SCHEME", "deepfashion2-agg81",
               "DATASET.PROB_HALF_BODY", "0.5", "DATASET.COLOR_JITTER", "0.3",
               "DATASET.COLOR_RGB", "True")
    ds = build_dataset(cfg, "train", is_train=True)
    coco = json.loads((synthetic_df2.root / "annotations/train_coco.json").read_text())
    labelled = [a for a in coco["annotations"] if a["num_keypoints"] > 0]
    assert len(ds) == len(labelled) and ds.scheme.num_keypoints == 81
    assert ds.image_ids == sorted(i["id"] for i in coco["images"])
    crops, kps, meta = next(iter(DataLoader(ds, batch_size=4, num_workers=2)))
    assert crops.shape == (4, 128, 96, 3) and crops.dtype == torch.uint8   # what workers ship
    assert kps.shape == (4, 81, 3) and kps.dtype == torch.float32
    batch = ds.batch_preparer("cpu")((crops, kps, meta))
    inp, target, weight = batch.inputs, batch.target, batch.target_weight
    assert inp.shape == (4, 3, 128, 96) and inp.dtype == torch.float32
    assert target.shape == (4, 81, 32, 24) and weight.shape == (4, 81, 1)
    assert meta["joints"].shape == (4, 81, 3) and meta["image_id"].dtype == torch.int64
    assert set(meta) >= {"image_id", "category_id", "center", "scale", "score", "rotation",
                         "joints", "joints_vis", "image", "index"}
    # targets only on the instance's own category channels
    for b in range(4):
        mask = torch.from_numpy(ds.scheme.category_mask(int(meta["category_id"][b])))
        assert not weight[b, ~mask].any() and weight[b, mask].any()


def test_81_layout_file_gives_the_same_records_as_the_294_file(synthetic_df2):
    scheme = get_scheme("deepfashion2-agg81")
    d294 = json.loads((synthetic_df2.root / "annotations/validation_coco.json").read_text())
    d81 = json.loads((synthetic_df2.root / "annotations_agg81kps/validation_coco_agg81kps.json")
                     .read_text())
    r294 = parse_coco_keypoints(d294, scheme).records
    r81 = parse_coco_keypoints(d81, scheme).records
    assert len(r294) == len(r81) > 0
    for a, b in zip(r294, r81):
        np.testing.assert_array_equal(a["keypoints"], b["keypoints"])
        assert set(np.unique(a["keypoints"][:, 2])) <= {0, 1}       # visibility clipped


def test_detection_boxes_and_gt_for_evaluation(synthetic_df2):
    """Boxes are selected by score and category only, never by ground truth: a category-k box
    on an image without a category-k item stays (a false positive the evaluation must see)."""
    det_file = synthetic_df2.detections["validation"]
    cfg = _cfg(synthetic_df2.root, "DATASET.SCHEME", "deepfashion2-agg81",
               "TEST.COCO_BBOX_FILE", str(det_file), "TEST.IMAGE_THRE", "0.4",
               "DATASET.CATEGORIES", "[1, 2, 3, 4, 5, 6, 7]")
    ds = build_dataset(cfg, "validation", is_train=False)
    dets = json.loads(det_file.read_text())
    want = [d for d in dets if d["score"] >= 0.4 and d["category_id"] <= 7]
    assert len(ds) == len(want) > 0
    _, target, weight, meta = ds.prepared(0)
    assert meta["score"] == pytest.approx(want[0]["score"]) and not weight.any()
    np.testing.assert_allclose(meta["box"], want[0]["bbox"])     # the file's box, unclipped
    gt = ds.evaluation_gt()
    assert all(len(a["keypoints"]) == 882 and a["category_id"] <= 7 for a in gt["annotations"])
    coco = json.loads((synthetic_df2.root / "annotations/validation_coco.json").read_text())
    assert [i["id"] for i in gt["images"]] == [i["id"] for i in coco["images"]]  # all images
    assert ds.image_ids == sorted(i["id"] for i in coco["images"])


def test_gt_boxes_at_test_time_and_unannotated_test_split(synthetic_df2):
    ds = build_dataset(_cfg(synthetic_df2.root, "TEST.USE_GT_BBOX", "True"), "validation", False)
    assert len(ds) > 0 and all(r["score"] == 1.0 for r in ds.records)
    assert ds.ann_file.endswith("annotations/validation_coco.json")
    with pytest.raises(AnnotationFileError, match="'test' has no annotations.*TEST.COCO_BBOX_FILE"):
        build_dataset(_cfg(synthetic_df2.root, "TEST.USE_GT_BBOX", "True"), "test", False)
    with pytest.raises(AnnotationFileError, match="TEST.COCO_BBOX_FILE is empty"):
        build_dataset(_cfg(synthetic_df2.root, "TEST.USE_GT_BBOX", "False"), "test", False)
    det_file = synthetic_df2.detections["test"]
    test = build_dataset(_cfg(synthetic_df2.root, "TEST.USE_GT_BBOX", "False",
                              "TEST.COCO_BBOX_FILE", str(det_file), "TEST.IMAGE_THRE", "0.01"),
                         "test", False)
    dets = [d for d in json.loads(det_file.read_text()) if d["score"] >= 0.01]
    assert len(test) == len(dets) > 0 and test.evaluation_gt() is None
    assert len(test.image_ids) == synthetic_df2.counts["test"]


def test_detections_of_unknown_images_are_counted_and_a_wrong_split_refused(synthetic_df2,
                                                                             tmp_path):
    dets = json.loads(synthetic_df2.detections["validation"].read_text())
    mixed = dets + [dict(dets[0], image_id=10 ** 6)]
    (tmp_path / "mixed.json").write_text(json.dumps(mixed))
    scheme = get_scheme("deepfashion2")
    data = json.loads((synthetic_df2.root / "annotations/validation_coco.json").read_text())
    res = parse_detections(mixed, data, scheme, source="mixed.json")
    assert res.num_unknown_images == 1 and len(res.records) == len(dets)
    with pytest.raises(AnnotationFileError, match="image_id: none of its 1 detections names an image"):
        parse_detections([dict(dets[0], image_id=10 ** 6)], data, scheme, source="other.json")
    with pytest.raises(AnnotationFileError, match=r"x\.json: \[0\]: needs an integer 'image_id'"):
        parse_detections([dict(dets[0], image_id="1")], data, scheme, source="x.json")


def test_degenerate_box_error_or_skip():
    scheme = get_scheme("deepfashion2")
    kps = [0.0] * 882
    kps[0:3] = [5, 5, 2]
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 50, "height": 50}],
            "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [3, 3, 1, 20],
                             "keypoints": kps}], "categories": []}
    with pytest.raises(AnnotationFileError, match=r"f\.json: annotations\[0\] \(id 7\): field 'bbox'"):
        parse_coco_keypoints(data, scheme, source="f.json")
    res = parse_coco_keypoints(data, scheme, skip_bad=True, source="f.json")
    assert res.records == [] and res.num_skipped == 1
    data["annotations"][0]["keypoints"] = kps[:30]
    data["annotations"][0]["bbox"] = [3, 3, 20, 20]
    with pytest.raises(AnnotationFileError, match="field 'keypoints' has 30 values"):
        parse_coco_keypoints(data, scheme, source="f.json")


def test_unreadable_image_error_or_skip(synthetic_df2, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(synthetic_df2.root / "annotations", root / "annotations")
    shutil.copytree(synthetic_df2.root / "images/validation", root / "images/validation")
    ds = build_dataset(_cfg(root, "TEST.USE_GT_BBOX", "True"), "validation", False)
    bad = ds.records[0]["image"]
    with open(bad, "wb") as f:
        f.write(b"not a jpeg")
    with pytest.raises(BadSampleError, match=bad):
        ds[0]
    ds = build_dataset(_cfg(root, "TEST.USE_GT_BBOX", "True", "DATASET.SKIP_BAD_SAMPLES", "True"),
                       "validation", False)
    meta = ds[0][2]
    assert meta["image"] != bad and ds.num_bad_images == 1


def test_single_category_scheme_and_per_category_file_fallback(synthetic_df2, tmp_path):
    coco = json.loads((synthetic_df2.root / "annotations/train_coco.json").read_text())
    cid = max({a["category_id"] for a in coco["annotations"] if a["num_keypoints"] > 0},
              key=lambda c: sum(a["category_id"] == c for a in coco["annotations"]))
    n = sum(a["category_id"] == cid and a["num_keypoints"] > 0 for a in coco["annotations"])
    sub = build_dataset(_cfg(synthetic_df2.root, "DATASET.SCHEME", f"deepfashion2-cat{cid}"),
                        "train", True)
    assert len(sub) == n and sub[0][1].shape[0] == get_scheme(f"deepfashion2-cat{cid}").num_keypoints
    # seed layout without annotations/<set>_coco.json: the per-category agg81 file is used
    root = tmp_path / "root"
    shutil.copytree(synthetic_df2.root / "annotations_per_category_agg81kps",
                    root / "annotations_per_category_agg81kps")
    shutil.copytree(synthetic_df2.root / "annotations_per_category",
                    root / "annotations_per_category")
    ds = build_dataset(_cfg(root, "DATASET.DATASET", "deepfashion2agg81kpspercategory",
                            "train_category_id", str(cid)), "train", True)
    assert ds.ann_file.endswith(f"annotations_per_category_agg81kps/train_coco_category_{cid}.json")
    assert len(ds) == n
    gt = ds.gt_coco()
    assert {a["category_id"] for a in gt["annotations"]} == {cid}
    assert all(len(a["keypoints"]) == 882 for a in gt["annotations"])
    ref = [a["keypoints"] for a in coco["annotations"] if a["category_id"] == cid]
    assert [a["keypoints"] for a in gt["annotations"]] == ref      # 81 -> 294 is lossless


@pytest.mark.parametrize("box, hrnet, mmpose", [
    ([10, 20, 30, 40], [10, 20, 29, 39], [10, 20, 30, 40]),       # inside: w counts pixels or not
    ([-5, 20, 30, 40], [0, 20, 29, 39], [0, 20, 25, 40]),         # HRNet keeps w after clipping x
    ([80, 90, 30, 40], [80, 90, 19, 9], [80, 90, 19, 9]),         # both clip x2, y2 to 99
])
def test_box_conventions_by_hand(box, hrnet, mmpose):
    """HRNet: x1 = max(0, x), x2 = min(W - 1, x1 + w - 1); mmpose (BaseCocoStyleDataset):
    x1 = clip(x), x2 = clip(x + w); image 100 x 100."""
    from clothpose.data.coco_records import clean_box

    np.testing.assert_array_equal(clean_box(box, 100, 100), hrnet)
    np.testing.assert_array_equal(clean_box(box, 100, 100, "mmpose"), mmpose)
    with pytest.raises(ValueError, match="box convention 'coco'"):
        clean_box(box, 100, 100, "coco")


def test_box_convention_reaches_the_records(synthetic_df2):
    h = build_dataset(_cfg(synthetic_df2.root, "TEST.USE_GT_BBOX", "True"), "validation", False)
    m = build_dataset(_cfg(synthetic_df2.root, "TEST.USE_GT_BBOX", "True",
                           "DATASET.BOX_CONVENTION", "mmpose"), "validation", False)
    widths = np.array([[r["box"][2], r["box"][3]] for r in m.records]) - \
        np.array([[r["box"][2], r["box"][3]] for r in h.records])
    assert len(h) == len(m) > 0 and ((widths == 1) | (widths == 0)).all() and (widths == 1).any()


@pytest.mark.parametrize("convention", ["hrnet", "mmpose"])
def test_detection_boxes_are_cropped_as_given_like_hrnet(synthetic_df2, tmp_path, convention):
    """HRNet's ``_load_coco_person_detection_results`` (``_box2cs``) and mmpose's
    ``_load_detection_results`` (``bbox_xywh2xyxy``, no clipping) take the detection box as
    given (only GT boxes are clipped); a box without area is refused."""
    det = [{"image_id": 1, "category_id": 3, "bbox": [-20.0, 10.0, 100.0, 50.0], "score": 0.9}]
    (tmp_path / "d.json").write_text(json.dumps(det))
    ds = build_dataset(_cfg(synthetic_df2.root, "TEST.COCO_BBOX_FILE", str(tmp_path / "d.json"),
                            "DATASET.BOX_CONVENTION", convention), "validation", is_train=False)
    meta = ds[0][2]
    # _box2cs: centre (x + w / 2, y + h / 2); w < 0.75 h? no: h = w / 0.75; x 1.25 padding
    np.testing.assert_allclose(meta["center"], [30.0, 35.0])
    np.testing.assert_allclose(meta["scale"], [100 / 200 * 1.25, 100 / 0.75 / 200 * 1.25],
                               rtol=1e-6)
    scheme = get_scheme("deepfashion2")
    data = json.loads((synthetic_df2.root / "annotations/validation_coco.json").read_text())
    with pytest.raises(AnnotationFileError, match=r"\[0\]: field 'bbox' .* no area"):
        parse_detections([dict(det[0], bbox=[5, 5, 0, 10])], data, scheme, source="z.json")
