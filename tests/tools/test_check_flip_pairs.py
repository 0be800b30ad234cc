"""Flip-pair check on synthetic annotations: a deliberately swapped pair is flagged, others not."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from clothpose.data.flip_check import check_flip_pairs
from clothpose.data.prepare import prepare_deepfashion2
from clothpose.data.synthetic import make_synthetic
from clothpose.keypoints import get_scheme

TOOL = Path(__file__).resolve().parents[2] / "tools" / "check_flip_pairs.py"


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    base = tmp_path_factory.mktemp("flipcheck")
    make_synthetic(base / "raw", {"train": 100}, seed=11, size=(160, 160))
    prepare_deepfashion2(base / "raw", base / "out", ["train"], progress=False)
    return base / "out/annotations/train_coco.json"


def _swap(data: dict, cid: int, a: int, b: int) -> dict:
    """Swap local landmarks a and b (1-based) of every item of category cid."""
    off = get_scheme("deepfashion2").category(cid).slots[0]
    for ann in data["annotations"]:
        if ann["category_id"] == cid:
            k = np.array(ann["keypoints"]).reshape(-1, 3)
            k[[off + a - 1, off + b - 1]] = k[[off + b - 1, off + a - 1]]
            ann["keypoints"] = k.reshape(-1).tolist()
    return data


def test_swapped_pair_flagged_others_not(coco):
    data = _swap(json.loads(coco.read_text()), 1, 2, 6)
    checks = check_flip_pairs(data, "deepfashion2", min_count=5)
    flagged = {(c.category_id, c.a, c.b) for c in checks if c.flagged}
    assert flagged == {(1, 2, 6)}
    row = next(c for c in checks if (c.category_id, c.a, c.b) == (1, 2, 6))
    assert row.count >= 5 and row.left_fraction < 0.2
    others = [c for c in checks if c.count >= 5 and (c.category_id, c.a) != (1, 2)]
    assert len(others) > 50 and all(c.left_fraction >= 0.8 for c in others)


def test_figure_pairing_of_outwear_is_flagged_on_lso_like_data(coco):
    """The synthetic sso is numbered lso-like: the figure's 2-26 / 4-6 pairs are not mirrors."""
    checks = check_flip_pairs(json.loads(coco.read_text()), "deepfashion2-figure", min_count=3)
    flagged = {(c.category_id, c.a, c.b) for c in checks if c.flagged}
    assert flagged == {(3, 2, 26), (3, 4, 6)}


def test_tool_prints_table_and_flags(coco, tmp_path, capsys):
    path = tmp_path / "swapped.json"
    path.write_text(json.dumps(_swap(json.loads(coco.read_text()), 1, 2, 6)))
    spec = importlib.util.spec_from_file_location("check_tool", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main([str(path), "--min-count", "5"]) == 0
    out = capsys.readouterr().out
    assert "category 1 (short_sleeved_shirt) pair 2-6" in out and "1 of 131 pairs flagged" in out
