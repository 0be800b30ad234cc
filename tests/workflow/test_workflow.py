"""Per-category workflow: category selection, merging, ensembling, resume-skip of finished runs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from clothpose.config import load_config
from clothpose.models import build_model
from clothpose.workflow.categories import category_output, parse_categories
from clothpose.workflow.ensemble import EnsembleError, ensemble_results
from clothpose.workflow.merge import merge_results, read_results

ROOT = Path(__file__).resolve().parents[2]


def entry(image_id, cat, value, score, box=(10, 10, 50, 80)):
    return {"image_id": image_id, "category_id": cat, "keypoints": [float(value)] * 882,
            "score": score, "bbox": list(box)}


def test_parse_categories():
    valid = range(1, 14)
    assert parse_categories("1-3,8", valid) == [1, 2, 3, 8]
    assert parse_categories("13, 2,2", valid) == [2, 13]
    for bad in ("0-2", "14", "a", ""):
        with pytest.raises(ValueError, match="categories"):
            parse_categories(bad, valid)


def test_ensemble_of_two_known_files_is_their_average():
    a = [entry(1, 1, 10.0, 0.8), entry(1, 1, 20.0, 0.6, box=(200, 10, 50, 80)), entry(2, 8, 0.0, 0.2)]
    # same instances, other order, boxes off by a pixel (another model's rounding)
    b = [entry(2, 8, 4.0, 0.4), entry(1, 1, 30.0, 0.2, box=(201, 10, 50, 80)),
         entry(1, 1, 12.0, 0.4, box=(11, 10, 50, 80))]
    out = ensemble_results([a, b], ["a", "b"])
    assert [o["keypoints"][0] for o in out] == [11.0, 25.0, 2.0]
    assert [o["score"] for o in out] == pytest.approx([0.6, 0.4, 0.3])
    w = ensemble_results([a, b], ["a", "b"], weights=[3, 1])
    assert w[0]["keypoints"][5] == pytest.approx(10.5)


def test_ensemble_refuses_files_that_describe_other_instances():
    a = [entry(1, 1, 10.0, 0.8)]
    with pytest.raises(EnsembleError, match="category"):
        ensemble_results([a, [entry(1, 2, 10.0, 0.8)]])
    with pytest.raises(EnsembleError, match="no partner"):
        ensemble_results([a, [entry(1, 1, 10.0, 0.8, box=(300, 300, 20, 20))]])
    with pytest.raises(EnsembleError, match="1 instances in a but 2 in b"):
        ensemble_results([a, a + [entry(1, 1, 1.0, 0.1, box=(90, 90, 9, 9))]], ["a", "b"])


def test_merge_concatenates_and_drops_exact_duplicates(tmp_path):
    a, b = [entry(1, 1, 1.0, 0.9), entry(2, 8, 2.0, 0.5)], [entry(2, 8, 2.0, 0.5), entry(3, 9, 3, 0.1)]
    merged, dropped = merge_results([a, b])
    assert dropped == 1 and [m["image_id"] for m in merged] == [1, 2, 3]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{**a[0], "keypoints": [0.0] * 81}]))
    with pytest.raises(ValueError, match="bad.json: entry 0: field 'keypoints'"):
        read_results(bad)


def test_merge_tool_validates_against_gt(tmp_path, synthetic_df2):
    gt = json.loads((synthetic_df2.root / "annotations" / "validation_coco.json").read_text())
    img = gt["annotations"][0]["image_id"]
    f1, f2 = tmp_path / "1.json", tmp_path / "2.json"
    f1.write_text(json.dumps([entry(img, 1, 1.0, 0.9)]))
    f2.write_text(json.dumps([entry(999999, 1, 1.0, 0.9)]))
    run = lambda *a: subprocess.run([sys.executable, str(ROOT / "tools/merge_results.py"), *a],
                                    capture_output=True, text=True)
    ok = run(str(f1), str(f1), "--out", str(tmp_path / "m.json"))
    assert ok.returncode == 0 and "1 duplicates dropped" in ok.stdout
    bad = run(str(f1), str(f2), "--out", str(tmp_path / "m.json"),
              "--gt", str(synthetic_df2.root / "annotations" / "validation_coco.json"))
    assert bad.returncode != 0 and "999999" in bad.stderr


def test_finetune_categories_skips_finished_categories(tmp_path, synthetic_df2):
    cfg_path = ROOT / "experiments/demo/tiny_agg81_finetune.yaml"
    opts = ["OUTPUT_DIR", str(tmp_path / "out"), "LOG_DIR", str(tmp_path / "log"),
            "DATASET.ROOT", str(synthetic_df2.root), "TRAIN.END_EPOCH", "1",
            "TRAIN.MAX_ITERS_PER_EPOCH", "1", "TRAIN.BATCH_SIZE_PER_GPU", "2", "WORKERS", "0",
            "TRAIN.VAL_FREQ", "0", "MODEL.IMAGE_SIZE", "[64, 64]", "MODEL.HEATMAP_SIZE", "[16, 16]"]
    cfg = load_config(cfg_path, opts)
    init = tmp_path / "agg.pth"
    torch.save(build_model(cfg).state_dict(), init)
    anns = json.loads((synthetic_df2.root / "annotations/train_coco.json").read_text())["annotations"]
    counts = np.bincount([a["category_id"] for a in anns], minlength=14)
    cats = sorted(np.argsort(-counts, kind="stable")[:2].tolist())  # two categories with samples
    cmd = [sys.executable, str(ROOT / "tools/finetune_categories.py"), "--cfg", str(cfg_path),
           "--init", str(init), "--categories", ",".join(map(str, cats)), *opts]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    first = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    for k in cats:
        assert (category_output(cfg, k) / "final_state.pth").exists()
    summary = json.loads((category_output(cfg, cats[0]).parent / "finetune_summary.json").read_text())
    assert [s["category"] for s in summary] == cats and all(s["epochs"] == 1 for s in summary)
    mtime = (category_output(cfg, cats[1]) / "final_state.pth").stat().st_mtime_ns
    second = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert second.returncode == 0
    assert second.stdout.count("skipped (finished)") == 2
    assert (category_output(cfg, cats[1]) / "final_state.pth").stat().st_mtime_ns == mtime
    assert "running:" not in second.stdout + second.stderr
