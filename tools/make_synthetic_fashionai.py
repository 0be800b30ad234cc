#!/usr/bin/env python
"""Generate a synthetic FashionAI release (Images/<type>/<hash>.jpg, Annotations/train.csv,
val.csv, test.csv and Annotations/test_answer.csv). Deterministic for a seed.

    python tools/make_synthetic_fashionai.py --out data/synthetic_fashionai --train 200 --test 50
"""
from __future__ import annotations

import argparse
import sys
import time

from clothpose.data.synthetic_fashionai import make_synthetic_fashionai
from clothpose.keypoints import fashionai as fai
from clothpose.utils.cli import make_parser, run_cli
from clothpose.utils.logging import setup_logger


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__)
    p.add_argument("--out", required=True, help="release root to write")
    p.add_argument("--train", type=int, default=200, help="annotated training images")
    p.add_argument("--val", type=int, default=0, help="annotated validation images (val.csv)")
    p.add_argument("--test", type=int, default=50, help="test images (test.csv + answers)")
    p.add_argument("--size", type=int, default=256, help="image height (width: same or 3/4)")
    p.add_argument("--types", default=",".join(fai.CATEGORY_IDS),
                   help="comma-separated clothing types, drawn in turn")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same data)")
    return p


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logger()
    if args.size < 32:
        print("error: --size must be >= 32", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        files = make_synthetic_fashionai(args.out, args.train, args.val, args.test, args.seed,
                                         args.size, tuple(t for t in args.types.split(",") if t))
    except ValueError as e:
        print(f"error: --types: {e}", file=sys.stderr)
        return 2
    n = args.train + args.val + args.test
    print(f"wrote {n} images to {args.out} in {time.perf_counter() - t0:.1f} s")
    for role, path in files.items():
        print(f"  {role}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
