#!/usr/bin/env python
"""Convert raw DeepFashion2 (<raw>/<split>/image|annos) into COCO-style keypoint files.

Writes, per split, annotations/<split>_coco.json (official converter format, 294 layout),
annotations_agg81kps/<split>_coco_agg81kps.json, per-category files and images/<split>.
"""
from __future__ import annotations

import argparse
import sys

from clothpose.data.prepare import SPLITS, prepare_deepfashion2
from clothpose.utils.cli import make_parser, run_cli
from clothpose.utils.logging import setup_logger


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__)
    p.add_argument("--raw", required=True, help="raw dataset root holding train/ validation/ test/")
    p.add_argument("--out", default="data/deepfashion2", help="output root (DATASET.ROOT)")
    p.add_argument("--splits", nargs="+", default=list(SPLITS), help="splits to convert")
    p.add_argument("--copy", action="store_true", help="copy images instead of symlinking")
    p.add_argument("--strict", action="store_true", help="fail on the first malformed annotation")
    p.add_argument("--no-decode-check", action="store_true",
                   help="read image headers only (faster); by default every image is decoded "
                   "to its end so that truncated files are found, counted and skipped")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logger()
    stats = prepare_deepfashion2(args.raw, args.out, args.splits, strict=args.strict,
                                 copy=args.copy, progress=not args.no_progress,
                                 verify_images=not args.no_decode_check)
    for s in stats:
        rate = s.images / s.seconds if s.seconds > 0 else float("inf")
        print(f"{s.summary()}; {s.seconds:.1f} s, {rate:.0f} images/s")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
