"""tools/train.py and tools/test.py end to end on the synthetic fixture (tiny HRNet, CPU)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from clothpose.evaluation import GroundTruth, load_results
from clothpose.utils.io import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
CFG = str(ROOT / "experiments/demo/tiny_agg81.yaml")
TINY = ["MODEL.IMAGE_SIZE", "[64, 64]", "MODEL.HEATMAP_SIZE", "[16, 16]", "MODEL.SIGMA", "1.0",
        "MODEL.EXTRA.STAGE1.NUM_BLOCKS", "[1]", "MODEL.EXTRA.STAGE1.NUM_CHANNELS", "[16]",
        "MODEL.EXTRA.STEM_INPLANES", "16", "MODEL.EXTRA.STAGE4.NUM_CHANNELS", "[16, 32, 64, 64]",
        "TRAIN.BATCH_SIZE_PER_GPU", "4", "TEST.BATCH_SIZE_PER_GPU", "8", "WORKERS", "0",
        "TRAIN.MAX_ITERS_PER_EPOCH", "2", "PRINT_FREQ", "0"]


def tool(name: str, *args: str, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(ROOT / "tools" / name), *args], cwd=ROOT,
                          capture_output=True, text=True, env=env, **kw)


def common(data, out: Path) -> list[str]:
    return ["OUTPUT_DIR", str(out), "LOG_DIR", str(out / "log"), "DATASET.ROOT", str(data.root),
            "SEED", "1", *TINY]


def run_dir(out: Path, cfg_name: str = "tiny_agg81") -> Path:
    return out / "deepfashion2agg81kps" / "pose_hrnet" / cfg_name


@pytest.fixture(scope="module")
def trained(synthetic_df2, tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    r = tool("train.py", "--cfg", CFG, *common(synthetic_df2, out), "TRAIN.END_EPOCH", "2",
             "DEBUG.DEBUG", "True", "DEBUG.SAVE_BATCH_IMAGES_GT", "True",
             "DEBUG.SAVE_HEATMAPS_PRED", "True")
    assert r.returncode == 0, r.stdout + r.stderr
    return out, r


def test_train_writes_checkpoints_and_validates(trained):
    out, r = trained
    run = run_dir(out)
    for f in ("checkpoint.pth", "model_best.pth", "final_state.pth", "train.log",
              "train_config.yaml"):
        assert (run / f).exists(), f
    ckpt = load_checkpoint(run / "checkpoint.pth")
    assert ckpt["epoch"] == 2 and {"optimizer", "scheduler", "rng", "best_perf"} <= set(ckpt)
    stats = json.loads((run / "results" / "stats_validation_epoch1.json").read_text())
    assert 0.0 <= stats["AP"] <= 1.0 and len(stats["per_category"]) >= 1
    assert any((out / "log").rglob("events.out.tfevents*"))
    debug = sorted(p.name for p in (run / "debug").iterdir())  # only the switched-on pictures
    assert debug == ["train_epoch0_batch_gt.png", "train_epoch0_heatmaps_pred.png",
                     "train_epoch1_batch_gt.png", "train_epoch1_heatmaps_pred.png"]


def test_test_tool_with_gt_boxes_and_with_detections(trained, synthetic_df2):
    out, _ = trained
    weights = run_dir(out) / "model_best.pth"
    gt = GroundTruth.load(synthetic_df2.root / "annotations" / "validation_coco.json")
    r = tool("test.py", "--cfg", CFG, *common(synthetic_df2, out), "TEST.MODEL_FILE", str(weights),
             "TEST.USE_GT_BBOX", "True", "TEST.FLIP_TEST", "True", "--results-name", "gt.json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "| AP |" in r.stdout and r.stdout.strip().splitlines()[-1].startswith("AP=")
    res = load_results(run_dir(out) / "results" / "gt.json", gt)
    assert len(res) == len(gt.keypoints)           # one instance per GT box
    assert (run_dir(out) / "results" / "gt_examples.png").exists()
    stats = json.loads((run_dir(out) / "results" / "gt_stats.json").read_text())
    assert set(stats) >= {"AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl",
                          "per_category"}

    dets = json.loads(Path(synthetic_df2.detections["validation"]).read_text())
    kept = [d for d in dets if d["score"] >= 0.3]
    r = tool("test.py", "--cfg", CFG, *common(synthetic_df2, out), "TEST.MODEL_FILE", str(weights),
             "TEST.USE_GT_BBOX", "False", "TEST.COCO_BBOX_FILE", synthetic_df2.detections["validation"],
             "TEST.IMAGE_THRE", "0.3", "--results-name", "det.json")
    assert r.returncode == 0, r.stdout + r.stderr
    res = load_results(run_dir(out) / "results" / "det.json", gt)
    assert len(res) == len(kept)
    assert sorted(res.category_ids.tolist()) == sorted(d["category_id"] for d in kept)


def test_missing_inputs_are_reported_before_work(synthetic_df2, tmp_path):
    r = tool("test.py", "--cfg", CFG, *common(synthetic_df2, tmp_path),
             "TEST.MODEL_FILE", str(tmp_path / "nope.pth"), "TEST.USE_GT_BBOX", "False",
             "TEST.COCO_BBOX_FILE", str(tmp_path / "nodet.json"))
    assert r.returncode != 0
    assert "TEST.MODEL_FILE" in r.stderr and "TEST.COCO_BBOX_FILE" in r.stderr


def test_kill_during_training_then_auto_resume_matches_an_uninterrupted_run(synthetic_df2,
                                                                             tmp_path):
    opts = ["TRAIN.END_EPOCH", "5", "TRAIN.VAL_FREQ", "0"]
    ref = tool("train.py", "--cfg", CFG, *common(synthetic_df2, tmp_path / "ref"), *opts)
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "killed"
    ckpt = run_dir(out) / "checkpoint.pth"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools/train.py"), "--cfg", CFG,
                             *common(synthetic_df2, out), *opts], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and load_checkpoint(ckpt)["epoch"] >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    done = load_checkpoint(ckpt)["epoch"]
    assert 2 <= done < 5 and not (run_dir(out) / "final_state.pth").exists()
    r = tool("train.py", "--cfg", CFG, *common(synthetic_df2, out), *opts)
    assert r.returncode == 0, r.stderr
    assert f"at epoch {done}" in r.stdout
    a = load_checkpoint(run_dir(tmp_path / "ref") / "final_state.pth")
    b = load_checkpoint(run_dir(out) / "final_state.pth")
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=0, msg=k)


def torchrun(name: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", str(ROOT / "tools" / name), *args], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=300)


def test_torchrun_two_processes_train_and_test_like_one(trained, synthetic_df2, tmp_path):
    out = tmp_path / "ddp"
    r = torchrun("train.py", "--cfg", CFG, *common(synthetic_df2, out), "TRAIN.END_EPOCH", "1")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "device cpu x 2" in r.stdout  # one DDP process group of two (gloo)
    assert load_checkpoint(run_dir(out) / "checkpoint.pth")["epoch"] == 1
    # distributed inference = single-process inference, file for file
    weights = str(run_dir(trained[0]) / "model_best.pth")
    args = ["--cfg", CFG, *common(synthetic_df2, out), "TEST.MODEL_FILE", weights,
            "TEST.USE_GT_BBOX", "True", "TEST.FLIP_TEST", "True", "--examples", "0"]
    one = tool("test.py", *args, "--results-name", "one.json")
    two = torchrun("test.py", *args, "--results-name", "two.json")
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-3000:]
    res = run_dir(out) / "results"
    assert json.loads((res / "one.json").read_text()) == json.loads((res / "two.json").read_text())


def test_analyze_writes_the_error_report_next_to_the_results(trained, synthetic_df2, tmp_path):
    """tools/test.py --analyze and tools/test_categories.py --analyze (one category "finetuned",
    i.e. the aggregation weights copied into its run folder, the others by the fallback)."""
    import shutil

    from clothpose.config import load_config
    from clothpose.workflow.categories import category_output

    out, _ = trained
    weights = run_dir(out) / "model_best.pth"
    r = tool("test.py", "--cfg", CFG, *common(synthetic_df2, out), "TEST.MODEL_FILE", str(weights),
             "TEST.USE_GT_BBOX", "True", "--results-name", "an.json", "--examples", "0",
             "--analyze")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    last = r.stdout.strip().splitlines()[-1]
    folder = run_dir(out) / "results" / "an_analysis"
    data = json.loads((folder / "analysis.json").read_text())
    assert last == f"AP={data['ap']['AP']:.4f}"          # the analysis evaluates the same file
    # every GT item is matched, claimed by a wrong-category result, or missed (once)
    found = {i["gt_id"] for i in data["instances"]} | {w["gt_id"] for w in data["wrong_category"]}
    assert not found & set(data["missed_gt_ids"])
    assert len(found) + len(data["missed_gt_ids"]) == data["inputs"]["gt_instances"] > 0
    assert (folder / "ap_improvement.png").exists() and "## What each error type costs" in \
        (folder / "report.md").read_text()

    ft = str(ROOT / "experiments/demo/tiny_agg81_finetune.yaml")
    opts = common(synthetic_df2, tmp_path)
    val = GroundTruth.load(synthetic_df2.root / "annotations" / "validation_coco.json")
    cid = int(val.ann_category_ids[0])                    # a category of the validation set
    one = category_output(load_config(ft, opts), cid)
    one.mkdir(parents=True)
    shutil.copy(weights, one / "model_best.pth")
    merged = tmp_path / "merged" / "merged.json"
    r = tool("test_categories.py", "--cfg", ft, "--categories", str(cid), "--fallback-weights",
             str(weights), "--out", str(merged), "--analyze", *opts, "TEST.USE_GT_BBOX", "True")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    data = json.loads((merged.parent / "analysis" / "analysis.json").read_text())
    assert r.stdout.strip().splitlines()[-1] == f"AP={data['ap']['AP']:.4f}"
    assert (merged.parent / "report.md").exists()                 # the AP report is kept
    assert (merged.parent / "analysis" / "report.md").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_on_the_loopback_train_like_two_local_processes(synthetic_df2, tmp_path):
    """Multi-node torchrun (README): two launchers, ``--nnodes 2 --rdzv-backend c10d`` on
    127.0.0.1, one process each, give the weights of one launcher with two processes, with
    gradient accumulation (DDP all-reduce once per group) and SYNC_BN (a warning on CPU)."""
    opts = ["TRAIN.END_EPOCH", "1", "TRAIN.VAL_FREQ", "0", "TRAIN.MAX_ITERS_PER_EPOCH", "4",
            "TRAIN.ACCUM_STEPS", "2", "TRAIN.SYNC_BN", "True"]
    local = torchrun("train.py", "--cfg", CFG, *common(synthetic_df2, tmp_path / "local"), *opts)
    assert local.returncode == 0, local.stdout[-3000:] + local.stderr[-3000:]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    launch = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2",
              "--nproc_per_node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint",
              f"127.0.0.1:{_free_port()}", "--rdzv-id", "clothpose-two-nodes",
              str(ROOT / "tools/train.py"), "--cfg", CFG,
              *common(synthetic_df2, tmp_path / "nodes"), *opts]
    nodes = [subprocess.Popen(launch, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    logs = []
    try:
        for p in nodes:
            out, err = p.communicate(timeout=400)
            logs.append(out + err)
    finally:
        for p in nodes:
            p.kill()
    assert [p.returncode for p in nodes] == [0, 0], "\n".join(x[-3000:] for x in logs)
    text = "\n".join(logs)
    assert "device cpu x 2" in text and "2 accumulation steps = 16 per optimizer step" in text
    assert "SyncBatchNorm runs on GPUs only" in text
    a = load_checkpoint(run_dir(tmp_path / "local") / "final_state.pth")
    b = load_checkpoint(run_dir(tmp_path / "nodes") / "final_state.pth")
    assert set(a) == set(b)
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=0, msg=k)
