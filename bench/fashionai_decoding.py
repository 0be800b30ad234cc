"""FashionAI decoding and ensembles on the synthetic release: the README's NE table.

Generates a synthetic release (seed 0), trains the tiny HRNet and the tiny CPN-R18 (whole image
128x128, heatmaps 32x32), then tests each with every decoding of the table (``tools/test.py``
with ``TEST.*`` overrides on the same weights) and ensembles the two (heatmap averaging with
``tools/ensemble_fashionai.py --member``, result averaging with ``--average``). Every step is a
tool run; finished trainings are reused (AUTO_RESUME). Prints a markdown table of NE (%).

    python bench/fashionai_decoding.py [--train 500 --test 150 --hrnet-epochs 24 --cpn-epochs 30]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"
MODELS = {"hrnet": "experiments/fashionai/tiny_hrnet_128x128.yaml",
          "cpn": "experiments/fashionai/tiny_cpn-r18_128x128.yaml"}
OFF = ["TEST.FLIP_TEST", "False", "TEST.BLUR_KERNEL", "0", "TEST.SECOND_MAX_OFFSET", "False",
       "TEST.POST_PROCESS", "False", "TEST.POST_PROCESS_DARK", "False",
       "TEST.SHIFT_HEATMAP", "False"]
FLIP = ["TEST.FLIP_TEST", "True", "TEST.SHIFT_HEATMAP", "True"]
BLUR, SECOND, QUARTER = (["TEST.BLUR_KERNEL", "5"], ["TEST.SECOND_MAX_OFFSET", "True"],
                         ["TEST.POST_PROCESS", "True"])
ROWS = [
    ("argmax only", []),
    ("+ blur 5", BLUR),
    ("+ 2nd-max offset", SECOND),
    ("+ HRNet quarter shift (`POST_PROCESS`)", QUARTER),
    ("+ blur 5 + 2nd-max offset", BLUR + SECOND),
    ("flip test without `SHIFT_HEATMAP`", ["TEST.FLIP_TEST", "True"]),
    ("flip test with `SHIFT_HEATMAP`", FLIP),
    ("flip (shift) + blur 5", FLIP + BLUR),
    ("flip (shift) + 2nd-max offset", FLIP + SECOND),
    ("flip (shift) + quarter shift", FLIP + QUARTER),
    ("**flip (shift) + blur 5 + 2nd-max offset** (the reference; FashionAI configs)",
     FLIP + BLUR + SECOND),
    ("flip (shift) + blur 5 + quarter shift", FLIP + BLUR + QUARTER),
]


def run(*args: str) -> str:
    """Run a tool, echo and return its stdout."""
    print("$", " ".join(args), flush=True)
    r = subprocess.run([sys.executable, *args], check=True, cwd=ROOT, capture_output=True, text=True)
    return r.stdout


def ne(stdout: str) -> float:
    found = re.findall(r"^NE=([0-9.]+)$", stdout, re.M)
    if not found:
        raise RuntimeError(f"no NE= line in:\n{stdout[-2000:]}")
    return float(found[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/synthetic_fashionai_bench")
    p.add_argument("--output", default="output/fashionai_bench")
    p.add_argument("--train", type=int, default=500)
    p.add_argument("--test", type=int, default=150)
    p.add_argument("--hrnet-epochs", type=int, default=24)
    p.add_argument("--cpn-epochs", type=int, default=30)
    args = p.parse_args()
    data, out = Path(args.data), Path(args.output)
    if not (data / "Annotations" / "test_answer.csv").exists():
        run(str(TOOLS / "make_synthetic_fashionai.py"), "--out", str(data), "--train",
            str(args.train), "--test", str(args.test), "--seed", "0")
    opts = ["OUTPUT_DIR", str(out), "LOG_DIR", str(out / "log"), "DATASET.ROOT", str(data),
            "SEED", "0"]
    weights, table = {}, {}
    for name, cfg in MODELS.items():
        epochs = args.hrnet_epochs if name == "hrnet" else args.cpn_epochs
        run(str(TOOLS / "train.py"), "--cfg", cfg, *opts, "TRAIN.END_EPOCH", str(epochs))
        weights[name] = next((out / "fashionai").glob(f"*/{Path(cfg).stem}/model_best.pth"))
        for k, (_label, extra) in enumerate(ROWS):
            stdout = run(str(TOOLS / "test.py"), "--cfg", cfg, *opts, "--results-name",
                         f"decoding_{k}.csv", "--examples", "0", "TEST.MODEL_FILE",
                         str(weights[name]), *OFF, *extra)
            table[name, k] = ne(stdout)
    reference = len(ROWS) - 2                    # flip (shift) + blur 5 + 2nd-max offset
    heat = ne(run(str(TOOLS / "ensemble_fashionai.py"), "--cfg", MODELS["hrnet"],
                  "--member", MODELS["hrnet"], str(weights["hrnet"]),
                  "--member", MODELS["cpn"], str(weights["cpn"]),
                  "--out", str(out / "ensemble_heatmaps.csv"), *opts))
    csvs = [str(w.parent / "results" / f"decoding_{reference}.csv") for w in weights.values()]
    avg = ne(run(str(TOOLS / "ensemble_fashionai.py"), "--average", *csvs,
                 "--out", str(out / "ensemble_results.csv"),
                 "--answers", str(data / "Annotations" / "test_answer.csv")))
    print(f"\nsynthetic FashionAI, {args.train} train / {args.test} test images, NE % "
          "(lower is better)")
    print(f"| decoding | tiny HRNet, {args.hrnet_epochs} epochs | tiny CPN-R18, "
          f"{args.cpn_epochs} epochs |\n|---|---:|---:|")
    for k, (label, _extra) in enumerate(ROWS):
        print(f"| {label} | {table['hrnet', k]:.2f} | {table['cpn', k]:.2f} |")
    print(f"\nensemble of both (flip + blur 5 + 2nd-max offset): heatmap averaging {heat:.2f}, "
          f"result averaging {avg:.2f}")


if __name__ == "__main__":
    main()
