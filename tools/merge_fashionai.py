"""Merge per-type FashionAI result CSVs into one submission, in the test CSV's order.

    python tools/merge_fashionai.py --test-csv test.csv \
        --results blouse.csv outwear.csv trousers.csv skirt.csv dress.csv --out submission.csv

Fails (exit status 2, one error line on stderr) when a test image has no prediction, an image is
predicted twice or is not in the test list, or a type disagrees with the test list.
"""
from __future__ import annotations

import argparse
import sys

from clothpose.data.fashionai_csv import (merge_results, read_annotations, read_test_list,
                                          write_submission)
from clothpose.utils.cli import make_parser, run_cli
from clothpose.utils.logging import setup_logger


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__)
    p.add_argument("--test-csv", required=True, help="test list (image_id,image_category)")
    p.add_argument("--results", nargs="+", required=True, help="per-type result CSVs")
    p.add_argument("--out", required=True, help="submission CSV to write")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logger = setup_logger()
    test = read_test_list(args.test_csv)
    merged = merge_results(test, [read_annotations(p) for p in args.results])
    write_submission(args.out, merged.image_ids, merged.category_ids, merged.keypoints)
    names = merged.category_names
    counts = {name: names.count(name) for name in sorted(set(names))}
    logger.info("merged %d images %s into %s", len(merged), counts, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
