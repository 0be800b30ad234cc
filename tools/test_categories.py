"""Test each finetuned category model on its category, then merge into one submission.

    python tools/test_categories.py --cfg <finetune yaml> --categories 1-13 \
        [--out merged.json] [TEST.USE_GT_BBOX False TEST.COCO_BBOX_FILE det.json TEST.FLIP_TEST True ...]

Each category's model (<run>/model_best.pth, or --weights-name) is run on the boxes of its own
category only (GT boxes, or the detection file filtered by category), the 13 result files are
concatenated into one submission, evaluated when ground truth exists, and a report (per-category
AP table in markdown and JSON, PNG grid of examples) is written next to it.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from clothpose.config import load_config
from clothpose.keypoints import get_scheme
from clothpose.utils.logging import setup_logger
from clothpose.workflow.categories import (category_output, parse_categories, python_command,
                                           run)
from clothpose.workflow.merge import merge_results, read_results, write_results_list

logger = logging.getLogger("clothpose.test_categories")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cfg", required=True)
    p.add_argument("--categories", default="1-13")
    p.add_argument("--weights-name", default="model_best.pth")
    p.add_argument("--out", default="", help="merged submission (default: next to the runs)")
    p.add_argument("--nproc", type=int, default=1, help="processes per test run (torchrun)")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides for every run")
    args = p.parse_args(argv)
    setup_logger()
    cfg = load_config(args.cfg, args.opts)
    scheme = get_scheme(cfg.DATASET.SCHEME)
    cats = parse_categories(args.categories, scheme.category_ids)
    tag = "gt" if cfg.TEST.USE_GT_BBOX else "det"
    files = []
    for k in cats:
        out = category_output(cfg, k)
        weights = out / args.weights_name
        if not weights.exists():
            raise SystemExit(f"category {k}: {weights} does not exist (finetune it first)")
        name = f"keypoints_{cfg.DATASET.TEST_SET}_results_{tag}.json"
        run(python_command("test.py", ["--cfg", args.cfg, "--results-name", name, "--examples", "0",
                                       *args.opts, "DATASET.CATEGORIES", f"[{k}]",
                                       "TEST.MODEL_FILE", str(weights)], args.nproc))
        files.append(out / "results" / name)
    merged, _ = merge_results([read_results(f) for f in files], [str(f) for f in files])
    dest = Path(args.out) if args.out else \
        category_output(cfg, cats[0]).parent / "merged" / f"keypoints_{cfg.DATASET.TEST_SET}_results_{tag}.json"
    write_results_list(dest, merged)
    logger.info("merged %d files, %d instances -> %s", len(files), len(merged), dest)
    gt = Path(cfg.DATASET.ROOT) / "annotations" / f"{cfg.DATASET.TEST_SET}_coco.json"
    if gt.exists():
        run(python_command("evaluate.py", ["--gt", str(gt), "--results", str(dest),
                                           "--out", str(dest.with_suffix(".stats.json")),
                                           "--report-dir", str(dest.parent),
                                           "--images", str(Path(cfg.DATASET.ROOT) / "images" / cfg.DATASET.TEST_SET)]))
    print(f"merged submission: {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
