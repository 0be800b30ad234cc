"""Average two or more result files of the same detections (keypoints and scores).

    python tools/ensemble.py r1.json r2.json [...] --out ensemble.json [--weights 0.5 0.5]

Instances are matched by image id, category and box (IoU); files that do not describe the same
instances are refused with the first instance that has no partner.
"""
from __future__ import annotations

import argparse
import sys

from clothpose.errors import InputError
from clothpose.utils.cli import make_parser, run_cli
from clothpose.utils.logging import setup_logger
from clothpose.workflow.ensemble import ensemble_results
from clothpose.workflow.merge import read_results, write_results_list


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__)
    p.add_argument("results", nargs="+", help="result files (DeepFashion2 submission format) "
                   "of the same detections")
    p.add_argument("--out", required=True, help="averaged result file to write")
    p.add_argument("--weights", type=float, nargs="*", default=None,
                   help="one weight per result file (default: equal weights)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    setup_logger()
    if args.weights is not None and len(args.weights) != len(args.results):
        raise InputError(f"{len(args.weights)} values for {len(args.results)} result files; "
                         "expected one weight per file", field="--weights")
    out = ensemble_results([read_results(f) for f in args.results], args.results, args.weights)
    write_results_list(args.out, out)
    print(f"averaged {len(args.results)} files, {len(out)} instances -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
