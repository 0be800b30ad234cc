#!/usr/bin/env python
"""Generate synthetic DeepFashion2-format data in the RAW layout (images + per-image JSON).

Train/validation get annotations; test gets images only (as the official test release). Every
split gets a detection-results file (<out>/detections/<split>_detections.json). Deterministic
for a seed. Prepare it afterwards with tools/prepare_deepfashion2.py.
"""
from __future__ import annotations

import argparse
import sys
import time

from clothpose.data.synthetic import make_synthetic
from clothpose.utils.cli import make_parser, run_cli
from clothpose.utils.logging import setup_logger


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__)
    p.add_argument("--out", required=True, help="raw dataset root to write")
    p.add_argument("--train", type=int, default=200, help="number of train images")
    p.add_argument("--val", type=int, default=50, help="number of validation images")
    p.add_argument("--test", type=int, default=0, help="number of test images (no annos)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same data)")
    p.add_argument("--size", type=int, nargs="+", default=[384],
                   help="image size: one value (square) or height width")
    return p


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logger()
    if len(args.size) not in (1, 2) or min(args.size) < 32:
        print("error: --size takes 1 or 2 values >= 32", file=sys.stderr)
        return 2
    size = (args.size[0], args.size[-1])
    t0 = time.perf_counter()
    dets = make_synthetic(args.out, {"train": args.train, "validation": args.val,
                                     "test": args.test}, seed=args.seed, size=size)
    n = args.train + args.val + args.test
    dt = time.perf_counter() - t0
    print(f"wrote {n} images to {args.out} in {dt:.1f} s ({n / max(dt, 1e-9):.0f} images/s)")
    for split, path in dets.items():
        print(f"  detections ({split}): {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
