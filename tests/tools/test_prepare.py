"""tools/prepare_deepfashion2.py on hand-made raw files: official converter format, field by field."""
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from clothpose.data.prepare import PrepareError, prepare_deepfashion2

TOOL = Path(__file__).resolve().parents[2] / "tools" / "prepare_deepfashion2.py"


def _tool():
    spec = importlib.util.spec_from_file_location("prepare_tool", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _skirt(v6=2):
    # skirt (category 9): 8 landmarks; kp1 (10, 20, v2), kp6 (30, 40, v6), the rest unlabelled
    lm = [0] * 24
    lm[0:3] = [10, 20, 2]
    lm[15:18] = [30, 40, v6]
    return lm


def _write_raw(root: Path) -> None:
    for split in ("validation", "test"):
        (root / split / "image").mkdir(parents=True)
    (root / "validation" / "annos").mkdir()
    cv2.imwrite(str(root / "validation/image/000001.jpg"), np.zeros((50, 70, 3), np.uint8))
    cv2.imwrite(str(root / "validation/image/000002.jpg"), np.zeros((40, 30, 3), np.uint8))
    cv2.imwrite(str(root / "test/image/000005.jpg"), np.zeros((11, 13, 3), np.uint8))
    vest = [0] * 45                              # vest (category 5): 15 landmarks
    vest[3:6] = [7, 8, 1]                        # kp2 occluded
    one = {"source": "shop", "pair_id": 4,
           "item1": {"category_id": 9, "category_name": "skirt", "style": 1,
                     "bounding_box": [5, 6, 45, 36], "landmarks": _skirt(),
                     "segmentation": [[5, 6, 45, 6, 45, 36]], "scale": 2, "occlusion": 1,
                     "zoom_in": 1, "viewpoint": 2},
           "item2": {"category_id": 5, "category_name": "vest", "style": 0,
                     "bounding_box": [1, 2, 3, 4], "landmarks": vest, "segmentation": [],
                     "scale": 1, "occlusion": 1, "zoom_in": 1, "viewpoint": 2}}
    two = {"pair_id": 9, "source": "user",
           "item1": {"category_id": 9, "category_name": "skirt", "style": 2,
                     "bounding_box": [0, 0, 10, 20], "landmarks": [0] * 24,
                     "segmentation": [[0, 0, 10, 20]], "scale": 1, "occlusion": 1,
                     "zoom_in": 1, "viewpoint": 2}}
    (root / "validation/annos/000001.json").write_text(json.dumps(one))
    (root / "validation/annos/000002.json").write_text(json.dumps(two))


def test_matches_official_converter_field_by_field(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    _write_raw(raw)
    assert _tool().main(["--raw", str(raw), "--out", str(out), "--no-progress"]) == 0
    d = json.loads((out / "annotations/validation_coco.json").read_text())
    assert d["info"] == {} and d["licenses"] == []
    assert d["images"] == [
        {"coco_url": "", "date_captured": "", "file_name": "000001.jpg", "flickr_url": "",
         "id": 1, "license": 0, "width": 70, "height": 50},
        {"coco_url": "", "date_captured": "", "file_name": "000002.jpg", "flickr_url": "",
         "id": 2, "license": 0, "width": 30, "height": 40}]
    a1, a2, a3 = d["annotations"]
    # skirt block starts at 0-based landmark 182: kp1 -> values 546..548, kp6 -> 561..563
    kp = np.zeros(882)
    kp[546:549] = [10, 20, 2]
    kp[561:564] = [30, 40, 2]
    assert a1 == {"area": 40 * 30, "bbox": [5, 6, 40, 30], "category_id": 9, "id": 1,
                  "pair_id": 4, "image_id": 1, "iscrowd": 0, "style": 1, "num_keypoints": 2,
                  "keypoints": kp.tolist(), "segmentation": [[5, 6, 45, 6, 45, 36]]}
    # vest block starts at 128: kp2 -> values 387..389, visibility 1 copied unchanged
    assert a2["keypoints"][387:390] == [7.0, 8.0, 1.0] and sum(a2["keypoints"]) == 16
    assert (a2["id"], a2["bbox"], a2["area"], a2["num_keypoints"]) == (2, [1, 2, 2, 2], 4, 1)
    # an item without any labelled landmark is kept (as the official script does)
    assert (a3["id"], a3["image_id"], a3["num_keypoints"], a3["pair_id"]) == (3, 2, 0, 9)
    assert [c["id"] for c in d["categories"]] == list(range(1, 14))
    assert d["categories"][2] == {"id": 3, "name": "short_sleeved_outwear",
                                  "supercategory": "clothes",
                                  "keypoints": [str(i) for i in range(1, 295)], "skeleton": []}
    # 81 layout: skirt kp1 -> agg 63, kp6 -> agg 79 (1-based)
    g = json.loads((out / "annotations_agg81kps/validation_coco_agg81kps.json").read_text())
    k81 = np.array(g["annotations"][0]["keypoints"]).reshape(81, 3)
    assert k81[62].tolist() == [10, 20, 2] and k81[78].tolist() == [30, 40, 2]
    assert k81.sum() == 104 and len(g["categories"][0]["keypoints"]) == 81
    # per category: only skirts and the images holding them, ids restart at 1
    c9 = json.loads((out / "annotations_per_category/validation_coco_category_9.json").read_text())
    assert [a["id"] for a in c9["annotations"]] == [1, 2]
    assert [i["id"] for i in c9["images"]] == [1, 2]
    c5 = json.loads((out / "annotations_per_category_agg81kps/validation_coco_category_5.json")
                    .read_text())
    assert [i["id"] for i in c5["images"]] == [1] and len(c5["annotations"][0]["keypoints"]) == 243
    # test split: images only; images linked
    t = json.loads((out / "annotations/test_coco.json").read_text())
    assert t["annotations"] == [] and t["images"][0]["id"] == 5
    assert (t["images"][0]["width"], t["images"][0]["height"]) == (13, 11)
    assert (out / "images/validation/000002.jpg").exists()


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d["item1"].update(landmarks=_skirt()[:21]), "item1.landmarks"),
    (lambda d: d["item1"].update(category_id=14), "item1.category_id"),
    (lambda d: d["item1"].update(bounding_box=[5, 6, 4, 36]), "item1.bounding_box"),
    (lambda d: d["item1"].update(bounding_box=[5, 6, 45]), "item1.bounding_box"),
    (lambda d: d["item2"].pop("segmentation"), "item2.segmentation"),
    (lambda d: d.pop("pair_id"), "pair_id"),
])
def test_malformed_annotation_reported_with_file_and_field(tmp_path, mutate, field):
    raw, out = tmp_path / "raw", tmp_path / "out"
    _write_raw(raw)
    f = raw / "validation/annos/000001.json"
    d = json.loads(f.read_text())
    mutate(d)
    f.write_text(json.dumps(d))
    stats = prepare_deepfashion2(raw, out, ["validation"], progress=False)
    problems = stats[0].problems
    assert len(problems) == 1 and problems[0].field == field and problems[0].file == str(f)
    n_items = json.loads((out / "annotations/validation_coco.json").read_text())["annotations"]
    assert len(n_items) == (1 if field == "pair_id" else 2)      # bad item (or file) skipped
    with pytest.raises(PrepareError, match=f"000001.json: field '{field}'"):
        prepare_deepfashion2(raw, tmp_path / "strict", ["validation"], strict=True,
                             progress=False)
    from clothpose.utils.cli import run_cli  # what `python tools/prepare_deepfashion2.py` runs

    assert run_cli(_tool().main, ["--raw", str(raw), "--out", str(tmp_path / "s2"), "--strict",
                                  "--no-progress", "--splits", "validation"]) == 2


def test_bad_json_and_missing_image_skip_the_file(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    _write_raw(raw)
    (raw / "validation/annos/000001.json").write_text("{not json")
    (raw / "validation/image/000002.jpg").unlink()
    stats = prepare_deepfashion2(raw, out, ["validation"], progress=False)[0]
    assert stats.skipped_files == 2 and stats.images == 0
    assert {p.field for p in stats.problems} == {"<file>", "image"}
