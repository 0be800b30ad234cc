"""Concatenate result files (e.g. the 13 per-category files) into one submission.

    python tools/merge_results.py a.json b.json ... --out overall.json [--gt val_coco.json]

Every file is validated against the submission format (882 keypoint values, finite numbers,
image/category ids known to --gt when given); exact duplicates are dropped and counted.
"""
from __future__ import annotations

import argparse
import sys

from clothpose.utils.logging import setup_logger
from clothpose.workflow.merge import merge_results, read_results, write_results_list


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--gt", default="", help="GT COCO json to check image and category ids against")
    args = p.parse_args(argv)
    setup_logger()
    lists = [read_results(f) for f in args.results]
    merged, dropped = merge_results(lists, args.results)
    if args.gt:  # every image and category id must exist in the ground truth
        from clothpose.evaluation import GroundTruth, load_results
        load_results(merged, GroundTruth.load(args.gt), name=f"merge of {', '.join(args.results)}")
    write_results_list(args.out, merged)
    print(f"{len(merged)} instances from {len(lists)} files ({dropped} duplicates dropped) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
