#!/usr/bin/env python
"""Check from real annotations (COCO json, 294 layout) that each flip pair is a mirror pair.

Per category and pair: on frontal items with both points visible, how often the pair's first
(image-left) member is left of its partner, and the median |dy| / box height (raw, and corrected for
each item's tilt). Flags pairs with
a left fraction < --min-left or dy > --max-dy. Example (settles the short_sleeved_outwear
question): check_flip_pairs.py data/deepfashion2/annotations/train_coco.json --scheme
deepfashion2-figure
"""
from __future__ import annotations

import argparse
import json
import sys

from clothpose.data.flip_check import check_flip_pairs, format_table
from clothpose.errors import InputError
from clothpose.utils.cli import make_parser, run_cli


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__)
    p.add_argument("coco_json", help="COCO keypoint annotations (294 layout)")
    p.add_argument("--scheme", default="deepfashion2", help="scheme whose flip pairs are checked")
    p.add_argument("--min-count", type=int, default=20,
                   help="pairs seen fewer times are reported but never flagged")
    p.add_argument("--min-left", type=float, default=0.8, help="flag below this left fraction")
    p.add_argument("--max-dy", type=float, default=0.05,
                   help="flag above this tilt-corrected median |dy| / box height")
    p.add_argument("--flagged-only", action="store_true", help="print flagged pairs only")
    return p


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        with open(args.coco_json) as f:
            data = json.load(f)
        if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
            raise ValueError("no 'annotations' list")
        checks = check_flip_pairs(data, args.scheme, args.min_count, args.min_left, args.max_dy)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"expected COCO keypoint annotations ({e})", file=args.coco_json) from e
    shown = [c for c in checks if c.flagged] if args.flagged_only else checks
    print(format_table(shown))
    flagged = [c for c in checks if c.flagged]
    print(f"\n{len(flagged)} of {len(checks)} pairs flagged (scheme {args.scheme})")
    for c in flagged:
        print(f"  category {c.category_id} ({c.category}) pair {c.a}-{c.b}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
