"""Instance rescoring over all channels (the DeepFashion2 winner) vs the instance's own category's
channels, measured on the synthetic demo.

    python bench/rescoring_synthetic.py [--data data/synthetic --output output/demo]

Runs ``tools/demo.py`` with the given folders (reusing the data and finished runs of ``make
demo``), then tests the same models (finetuned categories + aggregation model for the others,
flip test) with ``TEST.RESCORE_ALL_CHANNELS True`` and ``False``, on the synthetic detection file
and on GT boxes, and prints the official AP of each merged submission. Rescoring only changes
instance scores, i.e. the ranking the AP is computed over.
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
    p.add_argument("--output", default="output/demo")
    p.add_argument("--categories", default="1,8")
    p.add_argument("--demo-args", default="", help="extra arguments for tools/demo.py")
    args = p.parse_args()
    t0 = time.time()
    run(str(TOOLS / "demo.py"), "--data", args.data, "--output", args.output,
        "--categories", args.categories, *args.demo_args.split())
    out = Path(args.output)
    opts = ["OUTPUT_DIR", str(out), "LOG_DIR", str(out / "log"),
            "DATASET.ROOT", str(Path(args.data) / "prepared"), "SEED", "0"]
    agg = out / "deepfashion2agg81kps" / "pose_hrnet" / "tiny_agg81" / "model_best.pth"
    det = Path(args.data) / "raw" / "detections" / "validation_detections.json"
    rows = []
    for boxes, box_opts in (("detections", ["TEST.USE_GT_BBOX", "False", "TEST.COCO_BBOX_FILE",
                                            str(det)]),
                            ("GT boxes", ["TEST.USE_GT_BBOX", "True"])):
        for all_channels in (True, False):
            sub = out / "rescoring" / f"{boxes.split()[0]}_{all_channels}" / "results.json"
            run(str(TOOLS / "test_categories.py"), "--cfg",
                "experiments/demo/tiny_agg81_finetune.yaml", "--categories", args.categories,
                "--fallback-weights", str(agg), "--out", str(sub), *opts, *box_opts,
                "TEST.FLIP_TEST", "True", "TEST.RESCORE_ALL_CHANNELS", str(all_channels))
            s = json.loads((sub.parent / "report.json").read_text())
            rows.append((boxes, "all 81 channels (winner)" if all_channels else
                         "own category's channels", s))
    print(f"\nsynthetic validation, merged submission, flip test ({time.time() - t0:.0f} s)")
    print("| boxes | rescoring over | AP | AP50 | AP75 | APm | APl |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for boxes, name, s in rows:
        print(f"| {boxes} | {name} | {s['AP']:.4f} | {s['AP50']:.4f} | {s['AP75']:.4f} | "
              f"{s['APm']:.4f} | {s['APl']:.4f} |")


if __name__ == "__main__":
    main()
