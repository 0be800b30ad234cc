"""The error-analysis report: tools/analyze.py end to end, the plots, the gallery, no matplotlib."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import matplotlib  # noqa: F401  (the plots need it; `make install` installs it)
import numpy as np
import pytest

from clothpose.evaluation import GroundTruth, Results, submission_keypoints, write_results
from clothpose.evaluation.analysis import analyze_errors
from clothpose.evaluation.analysis_plots import (CLASS_COLORS, plot_ap_improvement,
                                                 plot_error_types, plot_pr_curves)
from clothpose.evaluation.analysis_report import ImageFinder, write_analysis_report
from clothpose.evaluation.synthetic import make_synthetic_set

TOOL = Path(__file__).resolve().parents[2] / "tools" / "analyze.py"
PNGS = ("ap_improvement.png", "errors_per_category.png", "pr_curves.png", "worst_instances.png")


def _gt_copies(gt: GroundTruth, drop: int = 0) -> Results:
    """Exact copies of the non-ignored GT items, the first ``drop`` left out."""
    rows = np.nonzero(~gt.ignore)[0][drop:]
    return Results(gt.ann_image_ids[rows], gt.ann_category_ids[rows],
                   submission_keypoints(gt.keypoints[rows], gt.ann_category_ids[rows]),
                   np.linspace(0.9, 0.5, len(rows)))


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True)


def test_tool_on_the_prepared_layout_writes_json_plots_gallery_and_report(synthetic_df2, tmp_path):
    gt_path = synthetic_df2.root / "annotations" / "validation_coco.json"
    gt = GroundTruth.load(gt_path)
    res = _gt_copies(gt, drop=1)
    write_results(tmp_path / "r.json", res.image_ids, res.category_ids, res.keypoints, res.scores)
    out = tmp_path / "analysis"
    r = _run("--gt", str(gt_path), "--results", str(tmp_path / "r.json"), "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads((out / "analysis.json").read_text())
    c = data["counts"]["overall"]
    assert c["good"] == c["labelled"] == int((gt.keypoints[~gt.ignore][1:, :, 2] > 0).sum())
    assert data["instance_costs"]["missed"]["count"] == 1
    assert data["missed_gt_ids"] == [int(gt.ann_ids[np.nonzero(~gt.ignore)[0][0]])]
    assert data["instance_costs"]["missed"]["ap_oracle"] == pytest.approx(1.0)
    for name in PNGS:                                        # images found without --images
        img = cv2.imread(str(out / name))
        assert img is not None and img.shape[0] > 100 and img.std() > 5, name
    md = (out / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert sorted(links) == sorted(PNGS)                     # relative, all embedded
    assert "| missed instances | 1 GT items |" in md and "## Notes" not in md
    assert f"AP {data['ap']['AP']:.4f}" in r.stdout and "report:" in r.stdout


def test_tool_without_images_says_where_it_looked(tmp_path):
    gt, res = make_synthetic_set(120, seed=2)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    write_results(tmp_path / "r.json", res.image_ids, res.category_ids, res.keypoints, res.scores)
    out = tmp_path / "out"
    r = _run("--gt", str(tmp_path / "gt.json"), "--results", str(tmp_path / "r.json"), "--out",
             str(out), "--no-plots")
    assert r.returncode == 0, r.stderr
    assert "note: no worst-instance gallery" in r.stderr and "--images" in r.stderr
    md = (out / "report.md").read_text()
    assert "plots skipped (--no-plots)" in md and "pass --images DIR" in md
    assert not list(out.glob("*.png"))


def test_tool_reports_a_malformed_results_file(tmp_path):
    gt, _ = make_synthetic_set(50, seed=1)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "r.json").write_text(json.dumps([{"image_id": 1, "category_id": 1,
                                                  "keypoints": [0.0] * 5, "score": 0.5}]))
    r = _run("--gt", str(tmp_path / "gt.json"), "--results", str(tmp_path / "r.json"), "--out",
             str(tmp_path / "o"))
    assert r.returncode == 2
    assert "r.json: entry 0: field 'keypoints'" in r.stderr


def test_without_matplotlib_json_tables_and_gallery_are_still_written(monkeypatch, tmp_path):
    gt_dict, res = make_synthetic_set(200, seed=7)
    gt = GroundTruth.load(gt_dict)
    a = analyze_errors(gt, res, as_submission=True)
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)          # import fails like a missing one
    image = np.full((820, 820, 3), 90, np.uint8)
    cv2.imwrite(str(tmp_path / "img.png"), image)
    rep = write_analysis_report(a, tmp_path / "o", images=lambda i: tmp_path / "img.png")
    assert any("pip install 'clothpose[analysis]'" in n for n in rep.notes)
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == \
        ["analysis.json", "report.md", "worst_instances.png"]
    md = (tmp_path / "o" / "report.md").read_text()
    assert "plots not written: matplotlib is needed" in md and "| jitter |" in md


def _color_pixels(img: np.ndarray, hex_color: str) -> int:
    rgb = [int(hex_color[i:i + 2], 16) for i in (1, 3, 5)]
    return int(np.all(np.abs(img.astype(int) - rgb[::-1]) <= 2, axis=-1).sum())


def test_stacked_bars_are_proportional_to_the_counts(tmp_path):
    path = plot_error_types({"a": {"good": 3, "miss": 1}, "b": {"good": 3, "miss": 1}},
                            tmp_path / "e.png")
    img = cv2.imread(str(path))
    good, miss = _color_pixels(img, CLASS_COLORS["good"]), _color_pixels(img, CLASS_COLORS["miss"])
    assert miss > 500 and good / miss == pytest.approx(3.0, rel=0.1)


def test_ap_improvement_and_pr_plots_are_drawn(tmp_path):
    base = {"AP": 0.5, "AP50": 0.7, "AP75": 0.5}
    path = plot_ap_improvement(base, {"jitter": {"AP": 0.6, "AP50": 0.7, "AP75": 0.65},
                                      "missed": {"AP": 0.55, "AP50": 0.8, "AP75": 0.5}},
                               tmp_path / "ap.png")
    assert cv2.imread(str(path)).std() > 5
    precision = -np.ones((10, 101, 3, 3))
    precision[:, :, 0, 0] = np.linspace(1, 0, 101)
    path = plot_pr_curves(precision, ["x", "y", "z"], tmp_path / "pr.png")
    img = cv2.imread(str(path))
    assert img.shape[1] > img.shape[0] and img.std() > 5


def test_image_finder_layouts(tmp_path):
    data = {"images": [{"id": 1, "file_name": "000001.jpg"}, {"id": 2, "file_name": "x.jpg"}]}
    raw = tmp_path / "raw"
    (raw / "validation" / "image").mkdir(parents=True)
    (raw / "annotations").mkdir()
    (raw / "validation" / "image" / "000001.jpg").write_bytes(b"x")
    finder = ImageFinder(data, raw / "annotations" / "validation_coco.json")
    assert finder(1) == raw / "validation" / "image" / "000001.jpg"
    assert finder(2) is None and finder(3) is None
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "x.jpg").write_bytes(b"x")
    assert ImageFinder(data, None, other)(2) == other / "x.jpg"
    assert ImageFinder(data, None, other)(1) is None
