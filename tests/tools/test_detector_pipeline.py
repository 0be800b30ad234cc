"""The garment detector through the tools, end to end on the synthetic release:
train (box AP validation, model_best, AUTO_RESUME) -> test.py (official detection results, last
line ``box AP=``) -> evaluate.py on that file -> the file as TEST.COCO_BBOX_FILE of a landmark
test -> and the test split: synthetic release -> detector -> per-category landmark models ->
merged submission, with no ground truth anywhere. Tiny sizes and few iterations: this checks
the data path, not accuracy."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from clothpose.config import load_config
from clothpose.evaluation import BOX_STAT_NAMES, load_box_results, load_results
from clothpose.models import build_model
from clothpose.workflow.categories import category_output

ROOT = Path(__file__).resolve().parents[2]
DET_CFG = str(ROOT / "experiments/demo/tiny_centernet.yaml")
LM_CFG = str(ROOT / "experiments/demo/tiny_agg81_finetune.yaml")
TINY = ["MODEL.IMAGE_SIZE", "[64, 64]", "WORKERS", "0", "TRAIN.BATCH_SIZE_PER_GPU", "4",
        "TEST.BATCH_SIZE_PER_GPU", "8", "TRAIN.MAX_ITERS_PER_EPOCH", "2", "TRAIN.VAL_FREQ", "1"]
LM_TINY = ["MODEL.HEATMAP_SIZE", "[16, 16]", "MODEL.SIGMA", "1.0", "TEST.FLIP_TEST", "True"]


def tool(name: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(ROOT / "tools" / name), *args], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def trained(synthetic_df2, tmp_path_factory):
    out = tmp_path_factory.mktemp("detector")
    opts = ["OUTPUT_DIR", str(out), "LOG_DIR", str(out / "log"),
            "DATASET.ROOT", str(synthetic_df2.root), *TINY]
    r = tool("train.py", "--cfg", DET_CFG, *opts, "TRAIN.END_EPOCH", "2")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    run = out / "deepfashion2" / "centernet" / "tiny_centernet"
    return out, opts, run


def test_training_validates_box_ap_and_resumes(trained):
    out, opts, run = trained
    for epoch in (0, 1):
        stats = json.loads((run / "results" / f"stats_validation_epoch{epoch}.json").read_text())
        assert stats["detections"] > 0
        assert all(0 <= stats[k] <= 1 or stats[k] == -1 for k in BOX_STAT_NAMES)
        load_box_results(run / "results" / f"bbox_validation_results_epoch{epoch}.json")
    assert (run / "model_best.pth").exists() and (run / "checkpoint.pth").exists()
    r = tool("train.py", "--cfg", DET_CFG, *opts, "TRAIN.END_EPOCH", "3")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    log = (run / "train.log").read_text()
    assert "resumed from" in log and "at epoch 2" in log
    assert (run / "results" / "stats_validation_epoch2.json").exists()
    assert not (run / "results" / "stats_validation_epoch3.json").exists()


def test_test_py_writes_the_official_detection_file_and_box_ap(trained, synthetic_df2):
    out, opts, run = trained
    r = tool("test.py", "--cfg", DET_CFG, *opts, "TEST.MODEL_FILE", str(run / "model_best.pth"))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    last = r.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"box AP=\d\.\d{4}", last), last
    results = run / "results" / "bbox_validation_results.json"
    entries = json.loads(results.read_text())
    assert entries and all(set(e) == {"image_id", "category_id", "bbox", "score"} for e in entries)
    stats = json.loads((run / "results" / "bbox_validation_results_stats.json").read_text())
    assert last == f"box AP={stats['AP']:.4f}"
    # tools/evaluate.py recognises the file as box results and gives the same 12 numbers
    gt = synthetic_df2.root / "annotations" / "validation_coco.json"
    r = tool("evaluate.py", "--gt", str(gt), "--results", str(results), "--out",
             str(out / "eval.json"), "--reference")
    assert r.returncode == 0, r.stderr
    evaluated = json.loads((out / "eval.json").read_text())
    assert {k: evaluated[k] for k in BOX_STAT_NAMES} == \
        pytest.approx({k: stats[k] for k in BOX_STAT_NAMES}, abs=1e-12)
    # The file feeds the landmark models. Two training iterations leave the size head near 0
    # (sub-pixel boxes); a size bias of 6 cells gives the file garment-sized boxes.
    state = torch.load(run / "model_best.pth", weights_only=True)
    state["wh.2.bias"] = torch.full_like(state["wh.2.bias"], 6.0)
    torch.save(state, out / "sized.pth")
    r = tool("test.py", "--cfg", DET_CFG, *opts, "TEST.MODEL_FILE", str(out / "sized.pth"),
             "--results-name", "sized.json")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    sized = run / "results" / "sized.json"
    entries = json.loads(sized.read_text())
    assert entries and min(min(e["bbox"][2:]) for e in entries) > 1
    # ... as TEST.COCO_BBOX_FILE (the det AP path)
    r = tool("test.py", "--cfg", LM_CFG, *opts, *LM_TINY, "TEST.MODEL_FILE",
             str(_random_landmark_weights(out, opts)), "TEST.USE_GT_BBOX", "False",
             "TEST.COCO_BBOX_FILE", str(sized), "TEST.IMAGE_THRE", "0.0",
             "--results-name", "det.json")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert re.fullmatch(r"AP=\d\.\d{4}", r.stdout.strip().splitlines()[-1])
    lm_run = Path(load_config(LM_CFG, opts + LM_TINY).OUTPUT_DIR)
    (det_results,) = lm_run.rglob("det.json")
    assert len(load_results(det_results)) == len(entries)  # one landmark instance per box
    # ... and tools/infer.py --detections on the validation photos (ids = file numbers)
    r = tool("infer.py", "--cfg", LM_CFG, "--weights", str(_random_landmark_weights(out, opts)),
             "--images", str(synthetic_df2.root / "images" / "validation"), "--detections",
             str(sized), "--out", str(out / "infer"), "--no-vis", "--no-progress",
             *opts, *LM_TINY)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    predicted = load_results(out / "infer" / "results.json")
    assert Counter(zip(predicted.image_ids.tolist(), predicted.category_ids.tolist())) == \
        Counter((e["image_id"], e["category_id"]) for e in entries)


def _random_landmark_weights(out: Path, opts: list[str]) -> Path:
    path = out / "landmarks_random.pth"
    if not path.exists():
        torch.manual_seed(0)
        cfg = load_config(LM_CFG, opts + LM_TINY)
        torch.save(build_model(cfg, is_train=False).state_dict(), path)
    return path


def test_test_split_submission_without_ground_truth(trained, synthetic_df2):
    out, opts, run = trained
    test_coco = json.loads((synthetic_df2.root / "annotations" / "test_coco.json").read_text())
    assert test_coco["annotations"] == []                 # the release has no test GT
    r = tool("test.py", "--cfg", DET_CFG, *opts, "TEST.MODEL_FILE", str(run / "model_best.pth"),
             "DATASET.TEST_SET", "test", "TEST.DET_SCORE_THRE", "0.0")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "box AP" not in r.stdout                       # nothing to score
    det_file = run / "results" / "bbox_test_results.json"
    dets = json.loads(det_file.read_text())
    assert {d["image_id"] for d in dets} == {im["id"] for im in test_coco["images"]}
    # per-category landmark models (two "finetuned" ones + a fallback for the rest)
    lm_opts = opts + LM_TINY
    weights = _random_landmark_weights(out, opts)
    cfg = load_config(LM_CFG, lm_opts)
    cats = [c for c, _ in Counter(d["category_id"] for d in dets).most_common(2)]
    for k in cats:
        cat_run = category_output(cfg, k)
        cat_run.mkdir(parents=True, exist_ok=True)
        (cat_run / "model_best.pth").write_bytes(weights.read_bytes())
    merged = out / "test_submission.json"
    r = tool("test_categories.py", "--cfg", LM_CFG, "--categories", ",".join(map(str, cats)),
             "--fallback-weights", str(weights), "--out", str(merged), *lm_opts,
             "TEST.USE_GT_BBOX", "False", "TEST.COCO_BBOX_FILE", str(det_file),
             "DATASET.TEST_SET", "test", "TEST.IMAGE_THRE", "0.0")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = load_results(merged)
    assert len(res) == len(dets) > 0                      # every detection, once
    assert Counter(res.category_ids.tolist()) == Counter(d["category_id"] for d in dets)
    assert "AP=" not in r.stdout                          # no ground truth anywhere


def test_auto_resume_continues_exactly(synthetic_df2, tmp_path):
    from clothpose.utils.io import load_checkpoint

    def opts(out):
        return ["OUTPUT_DIR", str(out), "LOG_DIR", str(out / "log"), "DATASET.ROOT",
                str(synthetic_df2.root), "SEED", "1", *TINY, "TRAIN.VAL_FREQ", "0"]

    ref = tool("train.py", "--cfg", DET_CFG, *opts(tmp_path / "ref"), "TRAIN.END_EPOCH", "3")
    assert ref.returncode == 0, ref.stderr[-3000:]
    for end in ("2", "3"):                                # stop after 2 epochs, then resume
        r = tool("train.py", "--cfg", DET_CFG, *opts(tmp_path / "two"), "TRAIN.END_EPOCH", end)
        assert r.returncode == 0, r.stderr[-3000:]
    assert "at epoch 2" in r.stdout
    run = Path("deepfashion2") / "centernet" / "tiny_centernet" / "final_state.pth"
    a, b = load_checkpoint(tmp_path / "ref" / run), load_checkpoint(tmp_path / "two" / run)
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=0, msg=k)


def test_torchrun_two_processes_test_like_one(trained, synthetic_df2):
    out, opts, run = trained
    env = dict(os.environ, OMP_NUM_THREADS="1")
    args = ["--cfg", DET_CFG, *opts, "TEST.MODEL_FILE", str(run / "model_best.pth")]
    one = tool("test.py", *args, "--results-name", "one.json")
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node=2", str(ROOT / "tools" / "test.py"), *args,
                          "--results-name", "two.json"], cwd=ROOT, capture_output=True,
                         text=True, env=env, timeout=600)
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-3000:]
    res = run / "results"
    assert json.loads((res / "one.json").read_text()) == json.loads((res / "two.json").read_text())
    assert one.stdout.strip().splitlines()[-1] == two.stdout.strip().splitlines()[-1]
