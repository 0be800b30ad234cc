"""`make demo-fashionai` in miniature: tools/demo.py --fashionai --mini runs every step."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from clothpose.data.fashionai_csv import read_annotations, read_test_list

ROOT = Path(__file__).resolve().parents[2]


def test_demo_fashionai_mini(tmp_path, monkeypatch, capfd):
    spec = importlib.util.spec_from_file_location("tool_demo", ROOT / "tools" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")       # the steps are subprocesses
    assert demo.main(["--fashionai", "--mini", "--data", str(tmp_path / "data"),
                      "--output", str(tmp_path / "out"), "--fashionai-train", "10",
                      "--fashionai-test", "5", "--fashionai-epochs", "1"]) == 0
    out = capfd.readouterr().out
    assert re.search(r"^NE=[\d.]+$", out, re.M)
    csv_path = Path(re.search(r"^submission: (.+)$", out, re.M).group(1))
    test = read_test_list(tmp_path / "data" / "fashionai" / "test.csv")
    assert read_annotations(csv_path).image_ids == test.image_ids
