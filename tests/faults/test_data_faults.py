"""Bad data never becomes a silent wrong result: ids, visibility, truncated images, weights."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from faultkit import AGG_CFG, TINY, cli, write_json

from clothpose.config import load_config
from clothpose.data import build_dataset
from clothpose.data.coco_records import AnnotationFileError, parse_coco_keypoints
from clothpose.data.synthetic import make_synthetic
from clothpose.keypoints import get_scheme
from clothpose.models import build_model, init_from_checkpoint


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """A small raw DeepFashion2 tree (train 4, validation 2) to break; copy before changing."""
    base = tmp_path_factory.mktemp("faults_raw")
    make_synthetic(base / "raw", {"train": 4, "validation": 2}, seed=3, size=(96, 96))
    return base / "raw"


def test_prepare_refuses_two_annotation_files_of_one_image_id(raw, tmp_path):
    bad = tmp_path / "raw"
    shutil.copytree(raw, bad)
    annos, images = bad / "train" / "annos", bad / "train" / "image"
    first = sorted(annos.iterdir())[0]                       # e.g. 000001.json
    other = sorted(annos.iterdir())[1]
    twin = annos / f"{int(first.stem)}.json"                 # 1.json: the same id, unpadded
    shutil.copy(other, twin)
    shutil.copy(images / f"{other.stem}.jpg", images / f"{int(first.stem)}.jpg")
    r = cli("prepare_deepfashion2", "--raw", bad, "--out", tmp_path / "out", "--no-progress")
    assert r.rc == 2
    line = r.one_error()
    assert first.name in line and twin.name in line and f"image id {int(first.stem)}" in line
    assert not (tmp_path / "out" / "annotations" / "train_coco.json").exists()


def test_prepare_decodes_every_image_and_skips_truncated_ones(raw, tmp_path):
    bad = tmp_path / "raw"
    shutil.copytree(raw, bad)
    victim = sorted((bad / "train" / "image").iterdir())[1]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])                # header intact, half the pixels
    r = cli("prepare_deepfashion2", "--raw", bad, "--out", tmp_path / "out", "--no-progress")
    assert r.rc == 0, r.err
    assert "train: 3 images" in r.out and "1 truncated or corrupt images" in r.out
    assert f"{victim} is truncated or corrupt" in r.out     # the warning names the file
    coco = json.loads((tmp_path / "out" / "annotations" / "train_coco.json").read_text())
    assert int(victim.stem) not in {im["id"] for im in coco["images"]}
    # header-only mode (the old behaviour) lets it through, as documented for --no-decode-check
    r = cli("prepare_deepfashion2", "--raw", bad, "--out", tmp_path / "fast", "--no-progress",
            "--no-decode-check")
    assert r.rc == 0 and "train: 4 images" in r.out


def test_truncated_image_met_at_load_time_is_warned(synthetic_df2, tmp_path, clothpose_log):
    root = tmp_path / "data"
    shutil.copytree(synthetic_df2.root, root, symlinks=False)    # real files, to damage one
    cfg = load_config(AGG_CFG, [*TINY, "DATASET.ROOT", str(root)])
    ds = build_dataset(cfg, "validation", is_train=False)
    path = ds.records[0]["image"]
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) * 2 // 3])
    ds[0]
    ds[0]
    warned = [r for r in clothpose_log.records if "truncated JPEG" in r.getMessage()]
    assert len(warned) == 1 and path in warned[0].getMessage()    # once per file


def coco(images: list[dict], anns: list[dict]) -> dict:
    return {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "short_sleeved_shirt"}]}


def shirt(ann_id: int, image_id: int, vis: int = 2) -> dict:
    kps = np.zeros((294, 3))
    kps[:25, :2] = 20 + np.arange(25)[:, None]
    kps[:25, 2] = 2
    kps[3, 2] = vis
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "bbox": [5, 5, 60, 70],
            "area": 4200, "iscrowd": 0, "num_keypoints": 25, "keypoints": kps.ravel().tolist()}


def test_coco_file_repeating_an_image_id_is_refused():
    images = [{"id": 7, "file_name": "000007.jpg", "width": 96, "height": 96},
              {"id": 8, "file_name": "000008.jpg", "width": 96, "height": 96},
              {"id": 7, "file_name": "0007.jpg", "width": 96, "height": 96}]
    with pytest.raises(AnnotationFileError, match=r"val.json: images\[2\].id: id 7 is already "
                                                  r"used by '000007.jpg' \(this one is '0007.jpg'\)"):
        parse_coco_keypoints(coco(images, [shirt(1, 7)]), get_scheme("deepfashion2"),
                             source="val.json")


def test_negative_visibility_is_not_a_negative_target_weight(tmp_path, clothpose_log):
    image = [{"id": 1, "file_name": "000001.jpg", "width": 96, "height": 96}]
    res = parse_coco_keypoints(coco(image, [shirt(1, 1, vis=-1)]), get_scheme("deepfashion2"),
                               source="fai.json")
    (rec,) = res.records
    assert rec["keypoints"][3, 2] == 0 and rec["keypoints"][:, 2].min() >= 0
    assert "fai.json: 1 keypoints have a negative visibility" in clothpose_log.text


def test_test_max_images_limits_predictions_and_ground_truth(synthetic_df2):
    full = build_dataset(load_config(AGG_CFG, [*TINY, "DATASET.ROOT", str(synthetic_df2.root)]),
                         "validation", is_train=False)
    cfg = load_config(AGG_CFG, [*TINY, "DATASET.ROOT", str(synthetic_df2.root),
                                "TEST.MAX_IMAGES", "2"])
    ds = build_dataset(cfg, "validation", is_train=False)
    first = sorted(full.image_ids)[:2]
    assert sorted({r["image_id"] for r in ds.records}) == first
    assert len(ds) == sum(r["image_id"] in first for r in full.records) < len(full)
    gt = ds.evaluation_gt()
    assert sorted(im["id"] for im in gt["images"]) == first
    assert {a["image_id"] for a in gt["annotations"]} <= set(first)
    train = build_dataset(cfg, "train", is_train=True)           # training is never cut
    assert len(train.image_ids) == synthetic_df2.counts["train"]


def few_tensors(tmp_path, cfg) -> str:
    """A 'pretrained' file of which only the final layer fits the model."""
    state = build_model(cfg, is_train=False).state_dict()
    keep = {k: v for k, v in state.items() if k.startswith("final_layer")}
    keep["backbone.layer9.weight"] = torch.zeros(3)               # another network's tensor
    path = tmp_path / "mostly_other.pth"
    torch.save(keep, path)
    return str(path)


def test_init_from_fitting_a_few_tensors_is_refused_unless_asked(tmp_path, clothpose_log):
    from clothpose.errors import CheckpointError

    cfg = load_config(AGG_CFG, TINY)
    path = few_tensors(tmp_path, cfg)
    with pytest.raises(CheckpointError, match=r"TRAIN.INIT_FROM: fits only 0\.\d% of the model's "
                                              r"weights, expected at least MODEL.MIN_LOADED_"
                                              r"FRACTION = 0.25"):
        init_from_checkpoint(build_model(cfg), path, cfg.MODEL.MIN_LOADED_FRACTION)
    report = init_from_checkpoint(build_model(cfg), path, 0.0)   # asked for: loaded, loudly
    assert 0 < report.loaded_fraction < 0.01
    warned = [r for r in clothpose_log.records if r.levelname == "WARNING"
              and "of the model's weights loaded" in r.getMessage()]
    assert warned and f"{report.loaded_fraction:.1%}" in warned[0].getMessage()


def test_train_refuses_such_an_init_from_with_one_line(synthetic_df2, tmp_path):
    cfg = load_config(AGG_CFG, TINY)
    path = few_tensors(tmp_path, cfg)
    r = cli("train", "--cfg", AGG_CFG, *TINY, "DATASET.ROOT", synthetic_df2.root,
            "OUTPUT_DIR", tmp_path / "out", "TRAIN.INIT_FROM", path, "TRAIN.END_EPOCH", "1")
    assert r.rc == 2
    line = r.one_error()
    assert path in line and "MODEL.MIN_LOADED_FRACTION 0" in line
    assert not list((tmp_path / "out").rglob("*.pth"))


def test_empty_results_file_is_refused_by_the_evaluator_with_one_line(synthetic_df2, tmp_path):
    gt = synthetic_df2.root / "annotations" / "validation_coco.json"
    r = cli("evaluate", "--gt", gt, "--results", write_json(tmp_path / "empty.json", []))
    assert r.rc == 2 and "empty.json: holds no results" in r.one_error()
