"""Training runs never lose work: run folders, checkpoints, validation, resume, divergence."""
from __future__ import annotations

import hashlib
import json
import math
import shutil

import pytest
import torch
import yaml

from clothpose.config import load_config
from clothpose.utils.io import load_checkpoint

from faultkit import AGG_CFG, cli, load_tool, run_dir, train_opts, write_json


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_run(run, out):
    """A copy of a finished run folder under ``out`` (same layout as tools/train.py's)."""
    dest = run_dir(out)
    shutil.copytree(run, dest)
    return dest


def test_new_run_in_a_finished_run_folder_is_refused_and_keeps_its_files(
        synthetic_df2, trained_run, tmp_path):
    run = copy_run(trained_run, tmp_path)
    before = {f: digest(run / f) for f in ("checkpoint.pth", "model_best.pth", "final_state.pth")}
    r = cli("train", *train_opts(synthetic_df2, tmp_path, "TRAIN.END_EPOCH", "1",
                                 "AUTO_RESUME", "False"))
    assert r.rc == 2
    line = r.one_error()
    assert str(run) in line and "AUTO_RESUME True" in line and "another folder" in line
    assert {f: digest(run / f) for f in before} == before


def test_stale_checkpoint_temporaries_are_removed_on_the_next_start(
        synthetic_df2, trained_run, tmp_path):
    run = copy_run(trained_run, tmp_path)
    stale = [run / ".checkpoint.pth.k1ll3d.tmp", run / ".model_best.pth.x9.tmp"]
    for f in stale:
        f.write_bytes(b"\0" * 100_000)  # what a kill -9 during torch.save leaves
    keep = run / "notes.tmp"  # not ours: left alone
    keep.write_text("mine")
    r = cli("train", *train_opts(synthetic_df2, tmp_path, "TRAIN.END_EPOCH", "2",
                                 "AUTO_RESUME", "True"))  # finished: resumes, nothing to train
    assert r.rc == 0, r.err
    assert not any(f.exists() for f in stale) and keep.exists()


def test_ties_go_to_the_later_epoch(synthetic_df2, tmp_path, monkeypatch):
    train = load_tool("train")
    monkeypatch.setattr(train, "validate", lambda *a, **k: {"AP": 0.0})  # every epoch ties
    r = cli("train", *train_opts(synthetic_df2, tmp_path, "TRAIN.END_EPOCH", "3"))
    assert r.rc == 0, r.err
    run = run_dir(tmp_path)
    best, final = load_checkpoint(run / "model_best.pth"), load_checkpoint(run / "final_state.pth")
    for k in final:
        torch.testing.assert_close(best[k], final[k], rtol=0, atol=0)
    assert "model_best.pth holds epoch 2" in r.out
    assert load_checkpoint(run / "checkpoint.pth")["best_epoch"] == 2


def test_checkpoint_is_written_before_validation_and_a_resume_finishes_it(
        synthetic_df2, tmp_path, monkeypatch):
    train = load_tool("train")
    real = train.validate

    def broken(*a, **k):  # a problem only validation meets (a full disk, a bug, a kill)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(train, "validate", broken)
    opts = ["TRAIN.END_EPOCH", "2", "TRAIN.VAL_FREQ", "1"]
    with pytest.raises(OSError):
        cli("train", *train_opts(synthetic_df2, tmp_path, *opts))
    ckpt = load_checkpoint(run_dir(tmp_path) / "checkpoint.pth")
    assert ckpt["epoch"] == 1 and ckpt["pending_validation"]  # epoch 0's training is kept
    monkeypatch.setattr(train, "validate", real)
    r = cli("train", *train_opts(synthetic_df2, tmp_path, *opts))
    assert r.rc == 0, r.err
    assert "validating epoch 0" in r.out and "at epoch 1" in r.out
    results = run_dir(tmp_path) / "results"
    assert (results / "stats_validation_epoch0.json").exists()
    assert (results / "stats_validation_epoch1.json").exists()


@pytest.mark.parametrize("fault", ["gt without categories", "no detection above threshold",
                                   "detections of unknown images"])
def test_validation_inputs_are_checked_before_the_first_epoch(synthetic_df2, tmp_path, fault):
    root = tmp_path / "data"
    shutil.copytree(synthetic_df2.root, root, symlinks=True)
    extra = ["DATASET.ROOT", str(root)]
    if fault == "gt without categories":
        for gt_file in (root / "annotations" / "validation_coco.json",
                        root / "annotations_agg81kps" / "validation_coco_agg81kps.json"):
            gt = json.loads(gt_file.read_text())
            write_json(gt_file, dict(gt, categories=[]))
        field = "categories"
    else:
        dets = json.loads(synthetic_df2.detections["validation"].read_text())
        if fault == "no detection above threshold":
            dets = [dict(d, score=0.01) for d in dets]
        else:
            dets = [dict(d, image_id=d["image_id"] + 10_000) for d in dets]
        extra += ["TEST.USE_GT_BBOX", "False", "TEST.COCO_BBOX_FILE",
                  str(write_json(tmp_path / "det.json", dets)), "TEST.IMAGE_THRE", "0.5"]
        field = "det.json" if fault == "detections of unknown images" else "TEST.IMAGE_THRE"
    out = tmp_path / "out"
    r = cli("train", *train_opts(synthetic_df2, out, "TRAIN.END_EPOCH", "1", *extra))
    assert r.rc == 2
    assert field in r.one_error()
    assert "epoch 0:" not in r.out            # not one epoch trained
    assert not run_dir(out).exists()          # nor a run folder created


def test_resume_applies_a_changed_schedule(synthetic_df2, trained_run, tmp_path):
    run = copy_run(trained_run, tmp_path)
    assert load_checkpoint(run / "checkpoint.pth")["epoch"] == 2
    r = cli("train", *train_opts(synthetic_df2, tmp_path, "AUTO_RESUME", "True",
                                 "TRAIN.END_EPOCH", "3", "TRAIN.LR", "1e-4",
                                 "TRAIN.LR_STEP", "[1]", "TRAIN.VAL_FREQ", "0"))
    assert r.rc == 0, r.err
    before = load_config(AGG_CFG, [])  # the schedule the trained run was started with
    assert f"TRAIN.LR_STEP {list(before.TRAIN.LR_STEP)} -> [1]" in r.out
    assert f"TRAIN.LR {before.TRAIN.LR:g} -> 0.0001" in r.out
    # epoch 2 is past the new step at 1: it trains at 1e-4 * LR_FACTOR 0.1, as recorded
    assert "epoch 2: " in r.out and "lr 1.00e-05" in r.out
    ckpt = load_checkpoint(run / "checkpoint.pth")
    assert ckpt["epoch"] == 3
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-5)
    assert sorted(ckpt["scheduler"]["milestones"]) == [1]
    recorded = yaml.safe_load((run / "train_config.yaml").read_text())["TRAIN"]
    assert recorded["LR_STEP"] == [1] and recorded["LR"] == 1e-4


def test_resume_past_end_epoch_is_refused(synthetic_df2, trained_run, tmp_path):
    run = copy_run(trained_run, tmp_path)
    before = digest(run / "final_state.pth")
    r = cli("train", *train_opts(synthetic_df2, tmp_path, "AUTO_RESUME", "True",
                                 "TRAIN.END_EPOCH", "1"))
    assert r.rc == 2 and "TRAIN.END_EPOCH" in r.one_error()
    assert digest(run / "final_state.pth") == before


def test_nan_loss_stops_with_one_line_and_keeps_the_last_good_checkpoint(
        synthetic_df2, tmp_path, monkeypatch):
    train = load_tool("train")
    real_build = train.build_loss
    calls = {"n": 0}

    class NaNAfterEpoch0(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            calls["n"] += 1
            loss = self.inner(*args)
            return loss * math.nan if calls["n"] > 2 else loss  # epoch 0 has 2 iterations

    monkeypatch.setattr(train, "build_loss", lambda cfg: NaNAfterEpoch0(real_build(cfg)))
    r = cli("train", *train_opts(synthetic_df2, tmp_path, "TRAIN.END_EPOCH", "3"))
    assert r.rc == 1
    line = r.one_error()
    assert "loss is nan at epoch 1" in line and "checkpoint.pth keeps the state before epoch 1" \
        in line
    run = run_dir(tmp_path)
    ckpt = load_checkpoint(run / "checkpoint.pth")
    assert ckpt["epoch"] == 1 and not (run / "final_state.pth").exists()
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values()
               if v.is_floating_point())
    best = load_checkpoint(run / "model_best.pth")
    for k, v in best.items():
        torch.testing.assert_close(v, ckpt["state_dict"][k], rtol=0, atol=0)
