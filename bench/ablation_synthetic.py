"""Ablation on the synthetic data: aggregation (81) + per-category finetuning vs direct 294 training.

Equal budgets: both arms see the same number of training samples and the same schedule shape.
The aggregation arm trains E epochs on all categories and then F epochs per category (13
categories x F epochs over their own samples = F epochs of the whole set); the 294 arm trains
E + F epochs. LR steps (x0.1) fall at 2/3 and 11/12 of each arm's main training; finetuning runs
at the finetune config's lower LR. Both arms are tested with GT boxes and flip test, and the
official AP of the (merged) submission is reported per training seed (same data, seed 0; SEED
sets initialisation, sampling order and augmentation), then as mean and sample standard
deviation over seeds, with the paired difference. Finished runs are reused (AUTO_RESUME).

    python bench/ablation_synthetic.py [--seeds 0 1 2 --epochs 12 --finetune-epochs 4]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"
AGG_CFG, FT_CFG = "experiments/demo/tiny_agg81.yaml", "experiments/demo/tiny_agg81_finetune.yaml"
DIRECT_CFG = "experiments/demo/tiny_df2-294.yaml"


def run(*args: str) -> None:
    subprocess.run([sys.executable, *args], check=True, cwd=ROOT)


def steps(epochs: int) -> str:
    return json.dumps(sorted({max(round(epochs * 2 / 3), 1), max(round(epochs * 11 / 12), 1)}))


def one_seed(args: argparse.Namespace, prepared: Path, seed: int) -> dict[str, dict]:
    out = Path(args.output) / f"seed{seed}"
    opts = ["OUTPUT_DIR", str(out), "LOG_DIR", str(out / "log"), "DATASET.ROOT", str(prepared),
            "SEED", str(seed)]
    test = ["TEST.USE_GT_BBOX", "True", "TEST.FLIP_TEST", "True"]
    total = args.epochs + args.finetune_epochs

    t0 = time.time()
    run(str(TOOLS / "train.py"), "--cfg", AGG_CFG, *opts, "TRAIN.END_EPOCH", str(args.epochs),
        "TRAIN.LR_STEP", steps(args.epochs))
    agg = out / "deepfashion2agg81kps/pose_hrnet/tiny_agg81/model_best.pth"
    run(str(TOOLS / "finetune_categories.py"), "--cfg", FT_CFG, "--init", str(agg),
        "--categories", "1-13", *opts, "TRAIN.END_EPOCH", str(args.finetune_epochs))
    sub_a = out / "agg81_finetune" / "results.json"
    run(str(TOOLS / "test_categories.py"), "--cfg", FT_CFG, "--categories", "1-13",
        "--out", str(sub_a), *opts, *test)
    t_a = time.time() - t0

    t0 = time.time()
    run(str(TOOLS / "train.py"), "--cfg", DIRECT_CFG, *opts, "TRAIN.END_EPOCH", str(total),
        "TRAIN.LR_STEP", steps(total))
    direct = out / "deepfashion2/pose_hrnet/tiny_df2-294"
    run(str(TOOLS / "test.py"), "--cfg", DIRECT_CFG, *opts, *test,
        "TEST.MODEL_FILE", str(direct / "model_best.pth"), "--results-name", "ablation.json")
    t_b = time.time() - t0
    a = json.loads((sub_a.parent / "report.json").read_text())
    b = json.loads((direct / "results" / "ablation_stats.json").read_text())
    return {"agg": {**{k: a[k] for k in ("AP", "AP50", "AP75")}, "wall": t_a},
            "direct": {**{k: b[k] for k in ("AP", "AP50", "AP75")}, "wall": t_b}}


def spread(values: list[float]) -> str:
    v = np.asarray(values, float)
    sd = v.std(ddof=1) if len(v) > 1 else float("nan")
    return f"{v.mean():.4f} ± {sd:.4f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/synthetic")
    p.add_argument("--output", default="output/ablation")
    p.add_argument("--train", type=int, default=800)
    p.add_argument("--val", type=int, default=120)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--finetune-epochs", type=int, default=4)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    raw, prepared = Path(args.data) / "raw", Path(args.data) / "prepared"
    if not (raw / "validation" / "annos").exists():
        run(str(TOOLS / "make_synthetic_deepfashion2.py"), "--out", str(raw), "--train",
            str(args.train), "--val", str(args.val), "--test", "0", "--seed", "0")
    if not (prepared / "annotations" / "validation_coco.json").exists():
        run(str(TOOLS / "prepare_deepfashion2.py"), "--raw", str(raw), "--out", str(prepared))
    results = {s: one_seed(args, prepared, s) for s in args.seeds}
    total = args.epochs + args.finetune_epochs
    arms = {"agg": f"aggregation 81 ({args.epochs} ep) + finetune 13 x {args.finetune_epochs} ep",
            "direct": f"direct 294 ({total} ep)"}
    print(f"\nsynthetic validation, GT boxes, flip test; equal budget: {total} epochs of samples "
          f"per arm; seeds {args.seeds}")
    print("| arm | seed | AP | AP50 | AP75 | wall s |\n|---|---:|---:|---:|---:|---:|")
    for arm, label in arms.items():
        for s, r in results.items():
            x = r[arm]
            print(f"| {label} | {s} | {x['AP']:.4f} | {x['AP50']:.4f} | {x['AP75']:.4f} | "
                  f"{x['wall']:.0f} |")
    print("\n| arm | AP (mean ± sd) | AP50 | AP75 |\n|---|---:|---:|---:|")
    for arm, label in arms.items():
        print(f"| {label} | " + " | ".join(spread([r[arm][k] for r in results.values()])
                                           for k in ("AP", "AP50", "AP75")) + " |")
    diff = [r["agg"]["AP"] - r["direct"]["AP"] for r in results.values()]
    print(f"\npaired difference aggregation - direct, AP: {spread(diff)} "
          f"(per seed: {', '.join(f'{d:+.4f}' for d in diff)})")


if __name__ == "__main__":
    main()
