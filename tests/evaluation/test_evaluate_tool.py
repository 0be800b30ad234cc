"""tools/evaluate.py end to end: table, --out JSON, clean errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clothpose.evaluation import STAT_NAMES, format_category_table, format_stats_table, write_results
from clothpose.evaluation.synthetic import make_synthetic_set

TOOL = Path(__file__).resolve().parents[2] / "tools" / "evaluate.py"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("eval")
    gt, res = make_synthetic_set(150, seed=4)
    (d / "gt.json").write_text(json.dumps(gt))
    write_results(d / "res.json", res.image_ids, res.category_ids, res.keypoints, res.scores)
    return d


@pytest.mark.parametrize("mode", ["--fast", "--reference"])
def test_tool_writes_same_numbers_in_both_modes(files, mode):
    out = files / f"stats{mode}.json"
    proc = subprocess.run([sys.executable, str(TOOL), "--gt", str(files / "gt.json"), "--results",
                           str(files / "res.json"), "--out", str(out), mode],
                          capture_output=True, text=True, check=True)
    data = json.loads(out.read_text())
    assert list(data)[:10] == list(STAT_NAMES) and len(data["per_category"]) == 13
    assert f"{data['AP']:.4f}" in proc.stdout and "| short_sleeved_shirt |" in proc.stdout
    other = files / "stats--fast.json"
    if mode == "--reference" and other.exists():
        assert json.loads(other.read_text()) == data


def test_tool_reports_malformed_results(files):
    bad = files / "bad.json"
    bad.write_text(json.dumps([{"image_id": 1, "category_id": 1, "keypoints": [0] * 3}]))
    proc = subprocess.run([sys.executable, str(TOOL), "--gt", str(files / "gt.json"),
                           "--results", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "bad.json: entry 0: missing field 'score'" in proc.stderr


def test_tables():
    stats = dict(zip(STAT_NAMES, [0.5, 0.75, 0.25, -1, 1, 0.1, 0.2, 0.3, 0.4, 0.123456]))
    table = format_stats_table(stats).splitlines()
    assert table[0] == "| " + " | ".join(STAT_NAMES) + " |"
    assert table[2] == ("| 0.5000 | 0.7500 | 0.2500 | -1 | 1.0000 | 0.1000 | 0.2000 | 0.3000 "
                        "| 0.4000 | 0.1235 |")
    assert format_category_table({"vest": 0.5}).splitlines()[-1] == "| vest | 0.5000 |"


@pytest.fixture(scope="module")
def box_files(tmp_path_factory):
    from clothpose.evaluation.synthetic import make_synthetic_box_set

    d = tmp_path_factory.mktemp("eval_boxes")
    gt, entries = make_synthetic_box_set(300, seed=2)
    (d / "gt.json").write_text(json.dumps(gt))
    (d / "bbox_results.json").write_text(json.dumps(entries))
    return d


@pytest.mark.parametrize("mode", ["--fast", "--reference"])
def test_box_results_get_the_12_box_stats(box_files, mode):
    from clothpose.evaluation import BOX_STAT_NAMES, evaluate_boxes_with_pycocotools

    out = box_files / f"box{mode}.json"
    proc = subprocess.run([sys.executable, str(TOOL), "--gt", str(box_files / "gt.json"),
                           "--results", str(box_files / "bbox_results.json"), "--out", str(out),
                           mode], capture_output=True, text=True, check=True)
    data = json.loads(out.read_text())
    assert list(data)[:12] == list(BOX_STAT_NAMES)
    assert list(data)[12:] == ["per_category", "num_ignored"] and data["num_ignored"] > 0
    ref = evaluate_boxes_with_pycocotools(str(box_files / "gt.json"),
                                          str(box_files / "bbox_results.json"))
    assert {k: data[k] for k in BOX_STAT_NAMES} == pytest.approx(ref.stats, abs=1e-12)
    assert "| AP | AP50 | AP75 | APs |" in proc.stdout and "box" in proc.stdout


def test_box_results_with_an_unknown_image_are_refused(box_files):
    bad = box_files / "bad_boxes.json"
    bad.write_text(json.dumps([{"image_id": 10 ** 7, "category_id": 1, "bbox": [0, 0, 1, 1],
                                "score": 0.5}]))
    proc = subprocess.run([sys.executable, str(TOOL), "--gt", str(box_files / "gt.json"),
                           "--results", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "bad_boxes.json: entry 0: field 'image_id' = 10000000 is not in the ground truth" \
        in proc.stderr
