"""Per-category testing goes on past a category with nothing to test and past a broken one."""
from __future__ import annotations

import json
from collections import Counter

import torch
from faultkit import FT_CFG, TINY, cli, write_json

from clothpose.config import load_config
from clothpose.models import build_model
from clothpose.workflow.categories import category_output


def test_empty_and_failing_categories_are_reported_and_the_others_merged(
        synthetic_df2, tmp_path, capfd):
    gt = json.loads((synthetic_df2.root / "annotations" / "validation_coco.json").read_text())
    ok, empty, broken = sorted(Counter(a["category_id"] for a in gt["annotations"]))[:3]
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
             "score": 0.9} for a in gt["annotations"] if a["category_id"] in (ok, broken)]
    det = write_json(tmp_path / "det.json", dets)  # the detector found nothing of `empty`
    opts = ["OUTPUT_DIR", str(tmp_path / "out"), "LOG_DIR", str(tmp_path / "log"),
            "DATASET.ROOT", str(synthetic_df2.root), *TINY, "TEST.USE_GT_BBOX", "False",
            "TEST.COCO_BBOX_FILE", str(det), "TEST.IMAGE_THRE", "0.5"]
    cfg = load_config(FT_CFG, opts)
    torch.manual_seed(0)
    state = build_model(cfg, is_train=False).state_dict()
    for k in (ok, empty):  # finished finetunes (weights only matter as plumbing here)
        category_output(cfg, k).mkdir(parents=True)
        torch.save(state, category_output(cfg, k) / "model_best.pth")
    category_output(cfg, broken).mkdir(parents=True)
    (category_output(cfg, broken) / "model_best.pth").write_bytes(b"truncated by a full disk")
    merged = tmp_path / "merged.json"

    r = cli("test_categories", "--cfg", FT_CFG, "--categories", f"{ok},{empty},{broken}",
            "--out", merged, *opts)
    child = capfd.readouterr().err  # what the three test.py runs printed
    assert r.rc == 1
    assert r.one_error() == (f"error: the test runs of categories {broken} failed (see their "
                             "errors above); the merged submission holds the others")
    n_ok = sum(d["category_id"] == ok for d in dets)
    assert f"| {ok} | ok | {n_ok} |" in r.out
    assert f"| {empty} | empty | 0 |" in r.out
    assert f"| {broken} | failed (exit 2) | 0 |" in r.out
    assert sorted(e["category_id"] for e in json.loads(merged.read_text())) == [ok] * n_ok
    assert "warning: no boxes to test" in child and "TEST.IMAGE_THRE 0.5" in child
    broken_lines = [ln for ln in child.splitlines() if ln.startswith("error: ")]
    assert len(broken_lines) == 1 and "model_best.pth: refused to load checkpoint" in \
        broken_lines[0] and "Traceback" not in child


def test_detection_file_naming_no_image_of_the_set_is_one_error(synthetic_df2, tmp_path):
    gt = json.loads((synthetic_df2.root / "annotations" / "validation_coco.json").read_text())
    dets = [{"image_id": a["image_id"] + 10_000, "category_id": a["category_id"],
             "bbox": a["bbox"], "score": 0.9} for a in gt["annotations"]]  # another split's
    det = write_json(tmp_path / "other_split.json", dets)
    cfg = load_config(FT_CFG, TINY)
    weights = tmp_path / "w.pth"
    torch.save(build_model(cfg, is_train=False).state_dict(), weights)
    r = cli("test", "--cfg", FT_CFG, *TINY, "DATASET.ROOT", synthetic_df2.root,
            "OUTPUT_DIR", tmp_path / "out", "TEST.MODEL_FILE", weights, "TEST.USE_GT_BBOX",
            "False", "TEST.COCO_BBOX_FILE", det)
    assert r.rc == 2
    line = r.one_error()
    assert line.startswith(f"error: {det}: image_id: none of its {len(dets)} detections names "
                           "an image of")
