"""Test each finetuned category model on its category, then merge into one submission.

    python tools/test_categories.py --cfg <finetune yaml> --categories 1-13 \
        [--fallback-weights agg/model_best.pth] [--out merged.json] \
        [TEST.USE_GT_BBOX False TEST.COCO_BBOX_FILE det.json TEST.FLIP_TEST True ...]

Each category's model (<run>/model_best.pth, or --weights-name) sees the boxes of its own
category only (GT boxes, or the detection file filtered by category). With --fallback-weights,
the remaining categories are predicted by that (aggregation) model. The result files are
concatenated into one submission, evaluated when ground truth exists, and reported: per-category
AP table (markdown + JSON) and a PNG grid of example predictions.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from clothpose.config import load_config
from clothpose.keypoints import get_scheme
from clothpose.utils.cli import parse_with_opts
from clothpose.utils.logging import setup_logger
from clothpose.workflow.categories import (category_output, parse_categories, python_command,
                                           run)
from clothpose.workflow.merge import merge_results, read_results, write_results_list
from clothpose.workflow.report import evaluate_and_report

logger = logging.getLogger("clothpose.test_categories")


def test_run(args, extra: list[str], categories: list[int], weights: Path, name: str) -> None:
    cats = "[" + ",".join(map(str, categories)) + "]"
    run(python_command("test.py", ["--cfg", args.cfg, "--results-name", name, "--examples", "0",
                                   *args.opts, "DATASET.CATEGORIES", cats,
                                   "TEST.MODEL_FILE", str(weights), *extra], args.nproc))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cfg", required=True)
    p.add_argument("--categories", default="1-13", help="finetuned categories to test")
    p.add_argument("--weights-name", default="model_best.pth")
    p.add_argument("--fallback-weights", default="",
                   help="model for every other category of the scheme (e.g. the aggregation model)")
    p.add_argument("--out", default="", help="merged submission (default: next to the runs)")
    p.add_argument("--nproc", type=int, default=1, help="processes per test run (torchrun)")
    p.epilog = "Any other arguments are KEY VALUE config overrides for every run."
    args = parse_with_opts(p, argv)
    setup_logger()
    cfg = load_config(args.cfg, args.opts)
    scheme = get_scheme(cfg.DATASET.SCHEME)
    cats = parse_categories(args.categories, scheme.category_ids)
    tag = "gt" if cfg.TEST.USE_GT_BBOX else "det"
    name = f"keypoints_{cfg.DATASET.TEST_SET}_results_{tag}.json"
    files = []
    for k in cats:
        weights = category_output(cfg, k) / args.weights_name
        if not weights.exists():
            raise SystemExit(f"category {k}: {weights} does not exist (finetune it first)")
        test_run(args, [], [k], weights, name)
        files.append(category_output(cfg, k) / "results" / name)
    rest = [c for c in scheme.category_ids if c not in cats]
    if args.fallback_weights and rest:
        test_run(args, [], rest, Path(args.fallback_weights), name)
        files.append(category_output(cfg, rest) / "results" / name)
    merged, _ = merge_results([read_results(f) for f in files], [str(f) for f in files])
    dest = Path(args.out) if args.out else category_output(cfg, cats[0]).parent / "merged" / name
    write_results_list(dest, merged)
    print(f"merged {len(files)} files, {len(merged)} instances -> {dest}")
    stats = evaluate_and_report(cfg, dest)
    if stats is not None:
        from clothpose.evaluation import format_category_table, format_stats_table
        print(format_stats_table(stats))
        print(format_category_table(stats["per_category"]))
        print(f"report: {dest.parent / 'report.md'}  examples: {dest.parent / 'examples.png'}")
        print(f"AP={stats['AP']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
