"""mmpose's DeepFashion2 models end to end: a random checkpoint in mmpose's layout is converted
by tools/convert_checkpoint.py and run by test_categories.py (-> test.py) and infer.py with the
committed experiment files, on the synthetic fixture. ResNet-18 with narrow deconvs and a small
input keep it fast; the ResNet-50 layout itself is covered in tests/models/test_convert.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from foreign_models import MMPoseTopdown, randomize

ROOT = Path(__file__).resolve().parents[2]

CFG = "experiments/deepfashion2/mmpose-res50_256x192-{name}.yaml"
SMALL = ["MODEL.EXTRA.NUM_LAYERS", "18", "MODEL.EXTRA.NUM_DECONV_FILTERS", "[32, 32, 32]",
         "MODEL.IMAGE_SIZE", "[96, 128]", "MODEL.HEATMAP_SIZE", "[24, 32]"]
CATEGORIES = {3: "short_sleeved_outwear", 5: "vest"}  # the two with mmpose-specific flip pairs

pytestmark = pytest.mark.slow


def tool(name: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(ROOT / "tools" / name), *args], cwd=ROOT,
                          capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory, synthetic_df2):
    """DATA_DIR with models/mmpose/<the experiment files' names>: one converted by the tool, one
    by the library function it calls (same code, no second interpreter start)."""
    from clothpose.config import load_config
    from clothpose.models import build_model
    from clothpose.models.convert import convert_checkpoint

    d = tmp_path_factory.mktemp("mmpose_zoo")
    for seed, (k, name) in enumerate(CATEGORIES.items()):
        src = d / f"res50_deepfashion2_{name}_256x192-00000000_20221208.pth"
        ref = randomize(MMPoseTopdown(18, 294, deconv=(32, 32, 32)), seed=seed)
        torch.save({"meta": {"epoch": 210}, "state_dict": ref.state_dict()}, src)
        dst = d / "models" / "mmpose" / f"res50_deepfashion2_{name}_256x192.pth"
        if name == "vest":
            r = tool("convert_checkpoint.py", "--from", "mmpose", "--cfg", CFG.format(name=name),
                     str(src), str(dst), *SMALL)
            assert r.returncode == 0, r.stdout + r.stderr
            assert "converted 140 tensors (mmpose -> pose_resnet, 294 keypoints)" in r.stdout
        else:
            cfg = load_config(ROOT / CFG.format(name=name), SMALL)
            convert_checkpoint(src, dst, "mmpose", build_model(cfg, is_train=False))
    return d


def overrides(zoo: Path, data, out: Path) -> list[str]:
    return [*SMALL, "DATA_DIR", str(zoo), "DATASET.ROOT", str(data.root), "OUTPUT_DIR", str(out),
            "LOG_DIR", str(out / "log"), "WORKERS", "0", "DEVICE", "cpu"]


def test_convert_tool_errors_are_one_clear_line(tmp_path):
    r = tool("convert_checkpoint.py", "--from", "hrnet", "a.pth", "b.pth")
    assert r.returncode != 0 and "--from hrnet needs --cfg" in r.stderr
    r = tool("convert_checkpoint.py", "--from", "mmpose", str(tmp_path / "none.pth"),
             str(tmp_path / "out.pth"))
    assert r.returncode != 0 and "none.pth: checkpoint does not exist" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "out.pth").exists()


def test_test_categories_uses_each_category_file_and_merges(zoo, synthetic_df2, tmp_path):
    out = tmp_path / "out"
    r = tool("test_categories.py", "--cfg", CFG, "--categories", "3,5",
             *overrides(zoo, synthetic_df2, out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("AP=")
    merged = json.loads((out / "deepfashion2/pose_resnet/merged/"
                         "keypoints_validation_results_gt.json").read_text())
    gt = json.loads((synthetic_df2.root / "annotations/validation_coco.json").read_text())
    gt_cats = sorted(a["category_id"] for a in gt["annotations"] if a["category_id"] in CATEGORIES)
    assert sorted(m["category_id"] for m in merged) == gt_cats
    assert all(len(m["keypoints"]) == 3 * 294 for m in merged)

    # each category's results come from its own converted model: the predictor with that file
    # gives the same landmarks for the same GT boxes as the test.py runs did
    from clothpose.config import load_config
    from clothpose.keypoints import get_scheme
    from clothpose.predict import Predictor

    files = {im["id"]: im["file_name"] for im in gt["images"]}
    for k, name in CATEGORIES.items():
        cfg = load_config(ROOT / CFG.format(name=name), overrides(zoo, synthetic_df2, out))
        predictor, slots = Predictor(cfg), list(get_scheme(cfg.DATASET.SCHEME).category(k).slots)
        for a in (a for a in gt["annotations"] if a["category_id"] == k):
            img = cv2.imread(str(synthetic_df2.root / "images/validation" / files[a["image_id"]]))
            (inst,) = predictor.predict([img], [[a["bbox"]]], [[k]])[0]
            want = inst.keypoints_official()[slots, :2]
            written = [np.asarray(m["keypoints"], float).reshape(294, 3)[slots, :2] for m in merged
                       if m["image_id"] == a["image_id"] and m["category_id"] == k]
            assert min(np.abs(w - want).max() for w in written) < 2e-3, (name, a["image_id"])


def test_infer_runs_a_converted_model(zoo, synthetic_df2, tmp_path):
    out = tmp_path / "infer"
    r = tool("infer.py", "--cfg", CFG.format(name="vest"), "--images",
             str(synthetic_df2.root / "images" / "validation"), "--category", "5", "--flip",
             "--no-progress", "--out", str(out), *SMALL, "DATA_DIR", str(zoo))
    assert r.returncode == 0, r.stdout + r.stderr
    n = synthetic_df2.counts["validation"]
    assert f"{n} images, {n} instances written" in r.stdout
    results = json.loads((out / "results.json").read_text())
    assert len(results) == n and {x["category_id"] for x in results} == {5}
    assert all(len(x["keypoints"]) == 3 * 294 for x in results)
    assert len(list(out.glob("*.png"))) == n
