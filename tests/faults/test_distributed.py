"""torchrun: one error line for N processes, and validation on uneven shards (gloo, CPU)."""
from __future__ import annotations

import json
import subprocess

import pytest
from faultkit import run_dir, torchrun, train_opts, write_json

from clothpose.utils.io import load_checkpoint


def test_torchrun_with_a_missing_input_says_so_once_before_any_folder(synthetic_df2, tmp_path):
    out = tmp_path / "out"
    args = train_opts(synthetic_df2, out, "TRAIN.END_EPOCH", "1")
    args[args.index("DATASET.ROOT") + 1] = str(tmp_path / "no_such_root")
    r = torchrun(2, "train", *args, timeout=180)
    assert r.rc != 0
    errors = [ln for ln in r.err.splitlines() if ln.startswith("error: ")]
    assert errors == [f"error: {tmp_path / 'no_such_root'}: DATASET.ROOT: does not exist"]
    # torchrun's own ChildFailedError report remains (the launcher's); no traceback of the tool
    assert "ConfigError" not in r.err and "clothpose/config" not in r.err
    assert not out.exists()


def test_validation_with_more_ranks_than_boxes_does_not_deadlock(synthetic_df2, tmp_path):
    """3 processes, 2 validation boxes: the third rank has no validation batch at all. Also:
    with batches just over half a rank's share, drop_last skips almost half the set (warned)."""
    n = len(json.loads((synthetic_df2.root / "annotations" / "train_coco.json").read_text())
             ["annotations"])                       # training samples (all labelled)
    share = -(-n // 3)                              # per rank (DistributedSampler pads)
    batch = share // 2 + 1
    skipped = (share % batch) * 3                   # each rank drops its partial batch
    gt = json.loads((synthetic_df2.root / "annotations" / "validation_coco.json").read_text())
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
             "score": 0.9} for a in gt["annotations"][:2]]
    det = write_json(tmp_path / "two_boxes.json", dets)
    out = tmp_path / "out"
    try:
        r = torchrun(3, "train", *train_opts(
            synthetic_df2, out, "TRAIN.END_EPOCH", "1", "TRAIN.BATCH_SIZE_PER_GPU", str(batch),
            "TEST.USE_GT_BBOX", "False", "TEST.COCO_BBOX_FILE", str(det),
            "TEST.IMAGE_THRE", "0.5", "TEST.BATCH_SIZE_PER_GPU", "1"), timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail("distributed validation deadlocked (3 ranks, 2 boxes)")
    assert r.rc == 0, r.out[-3000:] + r.err[-3000:]
    assert "device cpu x 3" in r.out
    assert f"{skipped} of the {n} training samples ({100 * skipped / n:.0f}%) are skipped " \
        "every epoch" in r.out
    stats = json.loads((run_dir(out) / "results" / "stats_validation_epoch0.json").read_text())
    assert 0.0 <= stats["AP"] <= 1.0
    res = json.loads((run_dir(out) / "results" / "keypoints_validation_results_epoch0.json")
                     .read_text())
    assert len(res) == 2  # every box predicted once, by the two ranks that had one
    assert load_checkpoint(run_dir(out) / "checkpoint.pth")["epoch"] == 1
