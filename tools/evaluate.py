"""Evaluate a DeepFashion2 result file with the official metric: landmark AP, or box AP for
detection results.

    python tools/evaluate.py --gt validation_coco.json --results results.json [--out stats.json]

A landmark submission ({image_id, category_id, keypoints, score}) gets the official keypoint AP
(10 numbers); a detection file ({image_id, category_id, bbox, score}, no ``keypoints`` field)
gets COCO box AP (12 numbers: AP AP50 AP75 APs APm APl AR1 AR10 AR100 ARs ARm ARl), as the
official DeepFashion2 detection evaluation (COCOeval, iouType 'bbox'). ``--fast`` (default) runs
the in-memory evaluators; ``--reference`` runs pycocotools. Both give the same numbers, by the
official rules: a landmark result's area comes from its ``bbox`` when the file carries one (else
from its keypoint hull), results of categories the ground truth does not list are ignored (and
counted), and a malformed ground truth is refused with the file, entry and field.
"""
from __future__ import annotations

import argparse
import sys
import time

from clothpose.evaluation import (BOX_STAT_NAMES, STAT_NAMES, GroundTruth, ResultsError,
                                  evaluate_boxes, evaluate_boxes_with_pycocotools,
                                  evaluate_keypoints, evaluate_with_pycocotools,
                                  format_box_table, format_category_table, format_stats_table,
                                  is_box_results, load_box_results, load_results)
from clothpose.evaluation.results import read_results_json
from clothpose.errors import InputError
from clothpose.utils.cli import make_parser, run_cli
from clothpose.utils.io import atomic_write_json


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__)
    p.add_argument("--gt", required=True, help="COCO-style ground truth JSON")
    p.add_argument("--results", required=True,
                   help="result JSON (DeepFashion2 landmark submission or detection results)")
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


def run_keypoints(args: argparse.Namespace, entries: list) -> dict:
    gt = GroundTruth.load(args.gt)
    res = load_results(entries, gt, name=args.results)  # same validation in both modes
    if args.reference:
        result = evaluate_with_pycocotools(args.gt, args.results, args.scheme)
    else:
        result = evaluate_keypoints(gt, res.image_ids, res.category_ids, res.keypoints,
                                    res.scores, scheme=args.scheme, as_submission=False,
                                    boxes=res.boxes)
    out = {name: float(result.stats[name]) for name in STAT_NAMES}
    out["per_category"] = {k: float(v) for k, v in result.per_category.items()}
    out["num_ignored"] = int(result.num_ignored)
    return out


def run_boxes(args: argparse.Namespace, entries: list) -> dict:
    gt = GroundTruth.load(args.gt, keypoints=False)
    res = load_box_results(entries, gt, name=args.results)
    if args.reference:
        result = evaluate_boxes_with_pycocotools(args.gt, entries)
    else:
        result = evaluate_boxes(gt, res.image_ids, res.category_ids, res.boxes, res.scores)
    out = {name: float(result.stats[name]) for name in BOX_STAT_NAMES}
    out["per_category"] = {k: float(v) for k, v in result.per_category.items()}
    out["num_ignored"] = int(result.num_ignored)
    return out


def run(args: argparse.Namespace) -> dict:
    """Evaluate and return the stats (``task``: ``keypoints`` or ``bbox``, the numbers,
    ``per_category``, ``num_ignored``)."""
    entries = read_results_json(args.results)
    if not isinstance(entries, list):
        raise ResultsError(f"{args.results}: expected a JSON list of results, got "
                           f"{type(entries).__name__}")
    if not entries:
        raise InputError("holds no results (an empty list): nothing to evaluate; expected the "
                         "predictions of at least one instance", file=args.results)
    if is_box_results(entries):
        return {"task": "bbox", **run_boxes(args, entries)}
    return {"task": "keypoints", **run_keypoints(args, entries)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    out = run(args)
    task = out.pop("task")
    print(format_box_table(out) if task == "bbox" else format_stats_table(out))
    print()
    print(format_category_table(out["per_category"]))
    if out["num_ignored"]:
        print(f"\nignored {out['num_ignored']} results of categories not in {args.gt} "
              "(as the official evaluator does)")
    mode = "reference (pycocotools)" if args.reference else "fast"
    print(f"\n{'box' if task == 'bbox' else 'keypoint'} {mode} evaluation took "
          f"{time.perf_counter() - start:.2f} s")
    if args.out:
        atomic_write_json(args.out, out, indent=2)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
