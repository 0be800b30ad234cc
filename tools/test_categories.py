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
reported: per-category AP table (markdown + JSON) and a PNG grid of example predictions; with
--analyze also the landmark error analysis (tools/analyze.py) in <merged folder>/analysis/.
A category without boxes to test (an empty results file) or whose test fails is reported in a
table and the others go on; the exit status is 1 when one failed.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from yacs.config import CfgNode

from clothpose.config import load_config
from clothpose.errors import ClothposeError, InputError
from clothpose.keypoints import get_scheme
from clothpose.utils.cli import make_parser, parse_with_opts, run_cli
from clothpose.utils.logging import setup_logger
from clothpose.workflow.categories import (category_config_path, category_output,
                                           parse_categories, python_command)
from clothpose.workflow.merge import merge_results, read_results, write_results_list
from clothpose.workflow.report import evaluate_and_report

logger = logging.getLogger("clothpose.test_categories")


def build_parser():
    p = make_parser(__doc__)
    p.epilog = (p.epilog or "") + \
        "\nAny other arguments are KEY VALUE config overrides for every run."
    p.add_argument("--cfg", required=True,
                   help="experiment file, or a pattern with {id} / {name} (one file per category)")
    p.add_argument("--categories", default="1-13", help="finetuned categories to test")
    p.add_argument("--weights-name", default="model_best.pth",
                   help="weights file inside each category's run folder")
    p.add_argument("--fallback-weights", default="",
                   help="model for every other category of the scheme (e.g. the aggregation model)")
    p.add_argument("--out", default="",
                   help="merged submission (default: "
                   "<runs>/merged/keypoints_<set>_results_<gt|det>.json)")
    p.add_argument("--nproc", type=int, default=1, help="processes per test run (torchrun)")
    p.add_argument("--analyze", action="store_true",
                   help="also write the landmark error analysis of the merged submission to "
                   "<its folder>/analysis/ (report.md, analysis.json, plots)")
    return p


def test_run(args, cfg_path: str, categories: list[int], weights: Path, name: str,
             results: Path) -> str:
    """Run tools/test.py on ``categories``; returns 'ok', 'empty' (no box to test: an empty
    results file) or 'failed (exit N)'. A failure does not stop the other categories."""
    cats = "[" + ",".join(map(str, categories)) + "]"
    cmd = python_command("test.py", ["--cfg", cfg_path, "--results-name", name, "--examples", "0",
                                     *args.opts, "DATASET.CATEGORIES", cats,
                                     "TEST.MODEL_FILE", str(Path(weights).resolve())], args.nproc)
    logger.info("running: %s", " ".join(cmd))
    results.unlink(missing_ok=True)  # a stale file of an earlier run must not count
    code = subprocess.run(cmd).returncode
    if code != 0 or not results.exists():
        return f"failed (exit {code})"
    return "empty" if not json.loads(results.read_text()) else "ok"


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
    args = parse_with_opts(build_parser(), argv)
    setup_logger()
    try:
        runs = category_runs(args)
    except ValueError as e:
        if isinstance(e, InputError):
            raise
        raise InputError(str(e)) from None  # names --cfg / --categories itself
    if args.fallback_weights and "{" in args.cfg:
        raise InputError("needs one --cfg for all categories (not a {id} / {name} pattern)",
                         field="--fallback-weights")
    cfg = runs[0][2]
    tag = "gt" if cfg.TEST.USE_GT_BBOX else "det"
    name = f"keypoints_{cfg.DATASET.TEST_SET}_results_{tag}.json"
    weights = {k: Path(cfg_k.TEST.MODEL_FILE) if cfg_k.TEST.MODEL_FILE else
               category_output(cfg_k, k) / args.weights_name for k, _, cfg_k in runs}
    missing = [f"{weights[k]}: category {k}: does not exist (finetune or convert it first)"
               for k, _, _ in runs if not weights[k].exists()]
    if args.fallback_weights and not Path(args.fallback_weights).exists():
        missing.append(f"{args.fallback_weights}: --fallback-weights: does not exist")
    if missing:
        raise InputError("missing weights", problems=missing)
    done: list[tuple[str, Path, str]] = []  # (categories, results file, status)
    for k, path, cfg_k in runs:
        results = category_output(cfg_k, k) / "results" / name
        done.append((str(k), results, test_run(args, path, [k], weights[k], name, results)))
    cats = [k for k, _, _ in runs]
    scheme = get_scheme(cfg.DATASET.SCHEME)
    rest = [c for c in scheme.category_ids if c not in cats]
    if args.fallback_weights and rest:
        results = category_output(cfg, rest) / "results" / name
        done.append(("others (fallback)", results,
                     test_run(args, args.cfg, rest, Path(args.fallback_weights), name, results)))
    print("\n| categories | status | instances |\n|---|---|---:|")
    files = []
    for label, path, status in done:
        count = len(json.loads(path.read_text())) if status in ("ok", "empty") else 0
        print(f"| {label} | {status} | {count} |")
        if status in ("ok", "empty"):
            files.append(path)
    failed = [label for label, _p, status in done if status.startswith("failed")]
    if not files:
        raise ClothposeError(f"every test run failed (categories {', '.join(failed)})")
    merged, _ = merge_results([read_results(f) for f in files], [str(f) for f in files])
    dest = Path(args.out) if args.out else category_output(cfg, cats[0]).parent / "merged" / name
    write_results_list(dest, merged)
    print(f"merged {len(files)} files, {len(merged)} instances -> {dest}")
    if merged:
        stats = evaluate_and_report(cfg, dest)
    else:
        print("warning: the merged submission is empty: nothing to evaluate", file=sys.stderr)
        stats = None
    if stats is not None:
        from clothpose.evaluation import format_category_table, format_stats_table
        print(format_stats_table(stats))
        print(format_category_table(stats["per_category"]))
        print(f"report: {dest.parent / 'report.md'}  examples: {dest.parent / 'examples.png'}")
        if args.analyze:
            from clothpose.workflow.analysis import analyze_merged
            rep = analyze_merged(cfg, dest, dest.parent / "analysis")
            if rep is not None:
                print(f"error analysis: {rep.markdown}")
        print(f"AP={stats['AP']:.4f}")
    if failed:
        raise ClothposeError(f"the test runs of categories {', '.join(failed)} failed (see "
                             "their errors above); the merged submission holds the others")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
