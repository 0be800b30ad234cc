"""Concatenate result files (e.g. the 13 per-category files) into one submission.

    python tools/merge_results.py a.json b.json ... --out overall.json [--gt val_coco.json]

Every file is validated against the submission format (882 keypoint values, finite numbers,
image/category ids known to --gt when given); exact duplicates are dropped and counted.
"""
from __future__ import annotations

import argparse
import sys

from clothpose.utils.cli import make_parser, run_cli
from clothpose.utils.logging import setup_logger
from clothpose.workflow.merge import merge_results, read_results, write_results_list


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__)
    p.add_argument("results", nargs="+", help="result files to concatenate, in order")
    p.add_argument("--out", required=True, help="merged submission to write")
    p.add_argument("--gt", default="", help="GT COCO json to check image and category ids against")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    setup_logger()
    lists = [read_results(f) for f in args.results]
    merged, dropped = merge_results(lists, args.results)
    if not merged:
        print(f"warning: all {len(lists)} result files are empty: the merged file holds no "
              "results", file=sys.stderr)
    elif args.gt:  # every image and category id must exist in the ground truth
        from clothpose.evaluation import GroundTruth, load_results
        load_results(merged, GroundTruth.load(args.gt), name=f"merge of {', '.join(args.results)}")
    write_results_list(args.out, merged)
    print(f"{len(merged)} instances from {len(lists)} files ({dropped} duplicates dropped) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
