"""Average two or more result files of the same detections (keypoints and scores).

    python tools/ensemble.py r1.json r2.json [...] --out ensemble.json [--weights 0.5 0.5]

Instances are matched by image id, category and box (IoU); files that do not describe the same
instances are refused with the first instance that has no partner.
"""
from __future__ import annotations

import argparse
import sys

from clothpose.utils.logging import setup_logger
from clothpose.workflow.ensemble import ensemble_results
from clothpose.workflow.merge import read_results, write_results_list


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--weights", type=float, nargs="*", default=None)
    args = p.parse_args(argv)
    setup_logger()
    if args.weights is not None and len(args.weights) != len(args.results):
        raise SystemExit(f"--weights: {len(args.weights)} values for {len(args.results)} files")
    out = ensemble_results([read_results(f) for f in args.results], args.results, args.weights)
    write_results_list(args.out, out)
    print(f"averaged {len(args.results)} files, {len(out)} instances -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
