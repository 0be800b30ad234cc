"""Test each finetuned category model on its category, then merge into one submission.

    python tools/test_categories.py --cfg <finetune yaml> --categories 1-13 \
        [--fallback-weights agg/model_best.pth] [--out merged.json] \
        [TEST.USE_GT_BBOX False TEST.COCO_BBOX_FILE det.json TEST.FLIP_TEST True ...]

    python tools/test_categories.py \
        --cfg 'experiments/deepfashion2/mmpose-res50_256x192-{name}.yaml' --categories 1-13

Each category's model sees the boxes of its own category only (GT boxes, or the detection file
filtered by category). The model is TEST.MODEL_FILE when the category's config sets it, else
<run>/model_best.pth (or --weights-name). --cfg may be one file for every category or, with
``{id}`` / ``{name}`` (DeepFashion2 category name), one file per category. With
--fallback-weights, the remaining categories are predicted by that (aggregation) model. The
result files are concatenated into one submission, evaluated when ground truth exists, and
reported: per-category AP table (markdown + JSON) and a PNG grid of example predictions.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from yacs.config import CfgNode

from clothpose.config import load_config
from clothpose.keypoints import get_scheme
from clothpose.utils.cli import parse_with_opts
from clothpose.utils.logging import setup_logger
from clothpose.workflow.categories import (category_config_path, category_output,
                                           parse_categories, python_command, run)
from clothpose.workflow.merge import merge_results, read_results, write_results_list
from clothpose.workflow.report import evaluate_and_report

logger = logging.getLogger("clothpose.test_categories")


def test_run(args, cfg_path: str, categories: list[int], weights: Path, name: str) -> None:
    cats = "[" + ",".join(map(str, categories)) + "]"
    run(python_command("test.py", ["--cfg", cfg_path, "--results-name", name, "--examples", "0",
                                   *args.opts, "DATASET.CATEGORIES", cats,
                                   "TEST.MODEL_FILE", str(Path(weights).resolve())], args.nproc))


def category_runs(args) -> list[tuple[int, str, CfgNode]]:
    """(category, its config file, its config) for every requested category."""
    if "{" not in args.cfg:
        cfg = load_config(args.cfg, args.opts)
        scheme = get_scheme(cfg.DATASET.SCHEME)
        return [(k, args.cfg, cfg) for k in parse_categories(args.categories, scheme.category_ids)]
    runs = []
    for k in parse_categories(args.categories, range(1, 1 << 16)):
        path = category_config_path(args.cfg, k)
        cfg = load_config(path, args.opts)
        parse_categories(str(k), get_scheme(cfg.DATASET.SCHEME).category_ids)
        runs.append((k, path, cfg))
    return runs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cfg", required=True,
                   help="experiment file, or a pattern with {id} / {name} (one file per category)")
    p.add_argument("--categories", default="1-13", help="finetuned categories to test")
    p.add_argument("--weights-name", default="model_best.pth")
    p.add_argument("--fallback-weights", default="",
                   help="model for every other category of the scheme (e.g. the aggregation model)")
    p.add_argument("--out", default="", help="merged submission (default: next to the runs)")
    p.add_argument("--nproc", type=int, default=1, help="processes per test run (torchrun)")
    p.epilog = "Any other arguments are KEY VALUE config overrides for every run."
    args = parse_with_opts(p, argv)
    setup_logger()
    try:
        runs = category_runs(args)
    except ValueError as e:
        raise SystemExit(f"test_categories: {e}") from None
    if args.fallback_weights and "{" in args.cfg:
        raise SystemExit("test_categories: --fallback-weights needs one --cfg for all categories")
    cfg = runs[0][2]
    tag = "gt" if cfg.TEST.USE_GT_BBOX else "det"
    name = f"keypoints_{cfg.DATASET.TEST_SET}_results_{tag}.json"
    files = []
    for k, path, cfg_k in runs:
        weights = Path(cfg_k.TEST.MODEL_FILE) if cfg_k.TEST.MODEL_FILE else \
            category_output(cfg_k, k) / args.weights_name
        if not weights.exists():
            raise SystemExit(f"category {k}: {weights} does not exist "
                             "(finetune or convert it first)")
        test_run(args, path, [k], weights, name)
        files.append(category_output(cfg_k, k) / "results" / name)
    cats = [k for k, _, _ in runs]
    scheme = get_scheme(cfg.DATASET.SCHEME)
    rest = [c for c in scheme.category_ids if c not in cats]
    if args.fallback_weights and rest:
        test_run(args, args.cfg, rest, Path(args.fallback_weights), name)
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
