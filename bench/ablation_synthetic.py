"""Ablation on the synthetic data: aggregation (81) + per-category finetuning vs direct 294 training.

Both arms see the same number of training samples: the aggregation arm trains E epochs on all
categories and then F epochs per category (13 categories x F epochs over their own samples = F
epochs of the whole set); the 294 arm trains E + F epochs. Both are tested with GT boxes and flip
test, and the official AP of the merged submission is printed with the wall time of each arm.

    python bench/ablation_synthetic.py [--epochs 12 --finetune-epochs 4 --train 800 --val 120]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"


def run(*args: str) -> None:
    subprocess.run([sys.executable, *args], check=True, cwd=ROOT)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/synthetic")
    p.add_argument("--output", default="output/ablation")
    p.add_argument("--train", type=int, default=800)
    p.add_argument("--val", type=int, default=120)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--finetune-epochs", type=int, default=4)
    args = p.parse_args()
    raw, prepared = Path(args.data) / "raw", Path(args.data) / "prepared"
    if not (raw / "validation" / "annos").exists():
        run(str(TOOLS / "make_synthetic_deepfashion2.py"), "--out", str(raw), "--train",
            str(args.train), "--val", str(args.val), "--test", "0", "--seed", "0")
    if not (prepared / "annotations" / "validation_coco.json").exists():
        run(str(TOOLS / "prepare_deepfashion2.py"), "--raw", str(raw), "--out", str(prepared))
    out = Path(args.output)
    opts = ["OUTPUT_DIR", str(out), "LOG_DIR", str(out / "log"), "DATASET.ROOT", str(prepared),
            "SEED", "0"]
    test = ["TEST.USE_GT_BBOX", "True", "TEST.FLIP_TEST", "True"]
    total = args.epochs + args.finetune_epochs
    steps = [round(total * 2 / 3), round(total * 11 / 12)]

    t0 = time.time()
    run(str(TOOLS / "train.py"), "--cfg", "experiments/demo/tiny_agg81.yaml", *opts,
        "TRAIN.END_EPOCH", str(args.epochs))
    agg = out / "deepfashion2agg81kps/pose_hrnet/tiny_agg81/model_best.pth"
    ft_cfg = "experiments/demo/tiny_agg81_finetune.yaml"
    run(str(TOOLS / "finetune_categories.py"), "--cfg", ft_cfg, "--init", str(agg),
        "--categories", "1-13", *opts, "TRAIN.END_EPOCH", str(args.finetune_epochs))
    sub_a = out / "agg81_finetune" / "results.json"
    run(str(TOOLS / "test_categories.py"), "--cfg", ft_cfg, "--categories", "1-13",
        "--out", str(sub_a), *opts, *test)
    t_a = time.time() - t0

    t0 = time.time()
    run(str(TOOLS / "train.py"), "--cfg", "experiments/demo/tiny_df2-294.yaml", *opts,
        "TRAIN.END_EPOCH", str(total), "TRAIN.LR_STEP", json.dumps(steps))
    direct = out / "deepfashion2/pose_hrnet/tiny_df2-294"
    run(str(TOOLS / "test.py"), "--cfg", "experiments/demo/tiny_df2-294.yaml", *opts, *test,
        "TEST.MODEL_FILE", str(direct / "model_best.pth"), "--results-name", "ablation.json")
    t_b = time.time() - t0

    a = json.loads((sub_a.parent / "report.json").read_text())
    b = json.loads((direct / "results" / "ablation_stats.json").read_text())
    print(f"\nsynthetic validation, GT boxes, flip test; same training budget ({total} epochs of data)")
    print("| arm | AP | AP50 | AP75 | wall s |\n|---|---:|---:|---:|---:|")
    print(f"| aggregation 81 ({args.epochs} ep) + finetune 13 x {args.finetune_epochs} ep | "
          f"{a['AP']:.4f} | {a['AP50']:.4f} | {a['AP75']:.4f} | {t_a:.0f} |")
    print(f"| direct 294 ({total} ep) | {b['AP']:.4f} | {b['AP50']:.4f} | {b['AP75']:.4f} | {t_b:.0f} |")


if __name__ == "__main__":
    main()
