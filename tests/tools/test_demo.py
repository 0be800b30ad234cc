"""A miniature of `make demo` end to end (tiny sizes, a few iterations): CI guards the main job."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from clothpose.evaluation import load_results

ROOT = Path(__file__).resolve().parents[2]


def test_demo_miniature_runs_the_whole_recipe(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, str(ROOT / "tools/demo.py"), "--mini", "--data", str(tmp_path / "data"),
           "--output", str(tmp_path / "out"), "--train", "16", "--val", "6", "--epochs", "1",
           "--finetune-epochs", "1", "--categories", "1,13"]   # both in the 16 / 6 images
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    box, det, last = r.stdout.strip().splitlines()[-3:]
    assert re.fullmatch(r"AP=\d\.\d{4}", last), last
    assert re.fullmatch(r"box AP=\d\.\d{4}", box), box
    assert re.fullmatch(r"det AP=\d\.\d{4}", det), det
    sub = tmp_path / "out" / "submission"
    for tag in ("gt", "det"):
        report = json.loads((sub / tag / "report.json").read_text())
        assert 0.0 <= report["AP"] <= 1.0 and report["per_category"]
        assert (sub / tag / "examples.png").stat().st_size > 0
        res = load_results(sub / tag / "keypoints_validation_results.json")
        assert len(res) > 0
    assert f"AP={json.loads((sub / 'gt' / 'report.json').read_text())['AP']:.4f}" == last
    assert f"det AP={json.loads((sub / 'det' / 'report.json').read_text())['AP']:.4f}" == det
    # the landmark models ran on the toolkit's own detections, written by the detector's test
    det_dir = tmp_path / "out" / "deepfashion2" / "centernet" / "tiny_centernet" / "results"
    stats = json.loads((det_dir / "bbox_validation_results_stats.json").read_text())
    assert f"box AP={stats['AP']:.4f}" == box and len(stats) >= 12
    # raw download layout -> prepared files, finetuned categories, TensorBoard logs
    assert (tmp_path / "data/raw/validation/annos").is_dir()
    assert (tmp_path / "data/prepared/annotations_agg81kps/train_coco_agg81kps.json").exists()
    assert len(list((tmp_path / "out").rglob("category_summary.json"))) == 2
    assert any((tmp_path / "out" / "log").rglob("events.out.tfevents*"))
