"""Evaluate a DeepFashion2 landmark result file with the official keypoint AP.

    python tools/evaluate.py --gt validation_coco.json --results results.json [--out stats.json]

``--fast`` (default) runs the in-memory evaluator; ``--reference`` runs pycocotools set up
like the official evaluation. Both give the same numbers, by the official rules: a result's area
comes from its ``bbox`` when the file carries one (else from its keypoint hull), results of
categories the ground truth does not list are ignored (and counted), and a malformed ground
truth is refused with the file, entry and field.
"""
from __future__ import annotations

import argparse
import sys
import time

from clothpose.evaluation import (STAT_NAMES, GroundTruth, evaluate_keypoints,
                                  evaluate_with_pycocotools, format_category_table,
                                  format_stats_table, load_results)
from clothpose.errors import InputError
from clothpose.utils.cli import make_parser, run_cli
from clothpose.utils.io import atomic_write_json


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__)
    p.add_argument("--gt", required=True, help="COCO-style keypoint ground truth JSON")
    p.add_argument("--results", required=True, help="result JSON (DeepFashion2 submission format)")
    p.add_argument("--out", default="", help="write the numbers to this JSON file")
    p.add_argument("--scheme", default="deepfashion2", help="keypoint scheme giving the sigmas")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--fast", dest="reference", action="store_false",
                      help="in-memory vectorised evaluator (default)")
    mode.add_argument("--reference", dest="reference", action="store_true",
                      help="pycocotools COCOeval (official semantics, slower)")
    p.set_defaults(reference=False)
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    """Evaluate and return ``{AP..ARl, per_category}``."""
    from clothpose.workflow.merge import is_empty_results

    if is_empty_results(args.results):
        raise InputError("holds no results (an empty list): nothing to evaluate; expected the "
                         "predictions of at least one instance", file=args.results)
    if args.reference:
        gt = GroundTruth.load(args.gt)
        load_results(args.results, gt)  # same validation and error messages as --fast
        result = evaluate_with_pycocotools(args.gt, args.results, args.scheme)
    else:
        gt = GroundTruth.load(args.gt)
        res = load_results(args.results, gt)
        result = evaluate_keypoints(gt, res.image_ids, res.category_ids, res.keypoints,
                                    res.scores, scheme=args.scheme, as_submission=False,
                                    boxes=res.boxes)
    out = {name: float(result.stats[name]) for name in STAT_NAMES}
    out["per_category"] = {k: float(v) for k, v in result.per_category.items()}
    out["num_ignored"] = int(result.num_ignored)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    out = run(args)
    print(format_stats_table(out))
    print()
    print(format_category_table(out["per_category"]))
    if out["num_ignored"]:
        print(f"\nignored {out['num_ignored']} results of categories not in {args.gt} "
              "(as the official evaluator does)")
    mode = "reference (pycocotools)" if args.reference else "fast"
    print(f"\n{mode} evaluation took {time.perf_counter() - start:.2f} s")
    if args.out:
        atomic_write_json(args.out, out, indent=2)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
