"""The unannotated test split (an image list only, as the official test release) gives a
submission end to end: synthetic release -> prepare -> per-category tests on the detection
file -> merged submission (issue 12, item 1). Weights are untrained: this checks the data path,
not accuracy."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from clothpose.config import load_config
from clothpose.evaluation import load_results
from clothpose.models import build_model
from clothpose.workflow.categories import category_output

ROOT = Path(__file__).resolve().parents[2]
CFG = str(ROOT / "experiments/demo/tiny_agg81_finetune.yaml")
TINY = ["MODEL.IMAGE_SIZE", "[64, 64]", "MODEL.HEATMAP_SIZE", "[16, 16]", "MODEL.SIGMA", "1.0",
        "MODEL.EXTRA.STAGE1.NUM_BLOCKS", "[1]", "MODEL.EXTRA.STAGE1.NUM_CHANNELS", "[16]",
        "MODEL.EXTRA.STEM_INPLANES", "16", "MODEL.EXTRA.STAGE4.NUM_CHANNELS", "[16, 32, 64, 64]",
        "TEST.BATCH_SIZE_PER_GPU", "8", "WORKERS", "0", "TEST.FLIP_TEST", "True"]


def tool(name: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(ROOT / "tools" / name), *args], cwd=ROOT,
                          capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def setup(synthetic_df2, tmp_path_factory):
    out = tmp_path_factory.mktemp("testsplit")
    opts = ["OUTPUT_DIR", str(out), "LOG_DIR", str(out / "log"), "DATASET.ROOT",
            str(synthetic_df2.root), *TINY]
    cfg = load_config(CFG, opts)
    torch.manual_seed(0)
    weights = out / "random.pth"
    torch.save(build_model(cfg, is_train=False).state_dict(), weights)
    dets = json.loads(Path(synthetic_df2.detections["test"]).read_text())
    present = Counter(d["category_id"] for d in dets if d["score"] >= 0.01)
    # one category with detections and one without (its run must give an empty file)
    cats = [present.most_common(1)[0][0], next(c for c in range(1, 14) if c not in present)]
    for k in cats:
        run = category_output(cfg, k)
        run.mkdir(parents=True, exist_ok=True)
        torch.save(torch.load(weights, weights_only=True), run / "model_best.pth")
    return out, opts, weights, dets, cats, str(synthetic_df2.detections["test"])


def test_synthetic_release_has_a_test_detection_file(synthetic_df2):
    dets = json.loads(Path(synthetic_df2.detections["test"]).read_text())
    assert {d["image_id"] for d in dets} == set(range(1, synthetic_df2.counts["test"] + 1))
    assert all({"image_id", "category_id", "bbox", "score"} <= set(d) for d in dets)
    test_coco = json.loads((synthetic_df2.root / "annotations/test_coco.json").read_text())
    assert test_coco["annotations"] == [] and len(test_coco["images"]) == 3


def test_per_category_tests_and_merge_give_a_submission(setup):
    out, opts, weights, dets, cats, det_file = setup
    merged = out / "merged.json"
    r = tool("test_categories.py", "--cfg", CFG, "--categories", ",".join(map(str, cats)),
             "--fallback-weights", str(weights), "--out", str(merged), *opts,
             "TEST.USE_GT_BBOX", "False", "TEST.COCO_BBOX_FILE", det_file,
             "DATASET.TEST_SET", "test", "TEST.IMAGE_THRE", "0.01")
    assert r.returncode == 0, r.stdout + r.stderr
    kept = [d for d in dets if d["score"] >= 0.01]
    entries = json.loads(merged.read_text())
    res = load_results(merged)
    assert len(res) == len(kept) > 0                    # every box exactly once, none filtered
    assert Counter(res.category_ids.tolist()) == Counter(d["category_id"] for d in kept)
    assert set(res.image_ids.tolist()) <= {1, 2, 3}
    assert sorted(map(tuple, (e["bbox"] for e in entries))) == \
        sorted(tuple(d["bbox"]) for d in kept)          # each result carries its detection box
    cfg = load_config(CFG, opts + ["DATASET.TEST_SET", "test"])
    empty = category_output(cfg, cats[1])
    assert json.loads((empty / "results" / "keypoints_test_results_det.json").read_text()) == []
    # the stand-alone merge tool gives the same submission from the per-category files
    rest = [c for c in range(1, 14) if c not in cats]
    parts = [str(category_output(cfg, c) / "results" / "keypoints_test_results_det.json")
             for c in [*cats, rest]]
    r = tool("merge_results.py", *parts, "--out", str(out / "merged2.json"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads((out / "merged2.json").read_text()) == entries


def test_single_model_test_split_and_clear_error_without_detections(setup):
    out, opts, weights, dets, _, det_file = setup
    r = tool("test.py", "--cfg", CFG, *opts, "TEST.MODEL_FILE", str(weights),
             "DATASET.TEST_SET", "test", "TEST.USE_GT_BBOX", "False",
             "TEST.COCO_BBOX_FILE", det_file,
             "TEST.IMAGE_THRE", "0.01", "--results-name", "test_sub.json")
    assert r.returncode == 0, r.stdout + r.stderr
    run = load_config(CFG, opts).OUTPUT_DIR
    files = list(Path(run).rglob("test_sub.json"))
    assert len(files) == 1
    assert len(load_results(files[0])) == sum(d["score"] >= 0.01 for d in dets)
    for extra in (["TEST.USE_GT_BBOX", "False"], ["TEST.USE_GT_BBOX", "True"]):
        r = tool("test.py", "--cfg", CFG, *opts, "TEST.MODEL_FILE", str(weights),
                 "DATASET.TEST_SET", "test", *extra)
        assert r.returncode != 0
        assert "TEST.COCO_BBOX_FILE" in r.stderr and "test" in r.stderr
        assert "Traceback" not in r.stderr.splitlines()[-1]
