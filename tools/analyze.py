"""Why a model misses: landmark error analysis of a DeepFashion2 result file.

    python tools/analyze.py --gt validation_coco.json --results results.json --out analysis/

Writes ``analysis.json`` (class of every landmark of every matched result: good, jitter,
inversion, swap, miss; counts overall / per category / per landmark; AP after an oracle fixes
each error type; cost of wrong categories, false positives and missed items), PNG plots
(matplotlib), a gallery of the worst instances (images from the GT's ``file_name``; ``--images``)
and ``report.md`` embedding them. Definitions: ``clothpose.evaluation.analysis``.
"""
from __future__ import annotations

import argparse
import sys
import time

from clothpose.evaluation import GroundTruth
from clothpose.evaluation.analysis import AnalysisParams
from clothpose.evaluation.analysis_report import ImageFinder, analyze_to_folder
from clothpose.utils.cli import make_parser, run_cli
from clothpose.utils.logging import setup_logger


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = make_parser(__doc__)
    p.add_argument("--gt", required=True, help="COCO-style keypoint ground truth JSON (294 layout)")
    p.add_argument("--results", required=True, help="result JSON (DeepFashion2 submission format)")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--scheme", default="deepfashion2",
                   help="keypoint scheme: sigmas, flip pairs (deepfashion2-figure: the landmark "
                   "figure's short_sleeved_outwear pairing)")
    p.add_argument("--images", default="", help="folder of the GT's images[].file_name (default: "
                   "next to the GT file, <root>/images/<set>/ or <root>/<set>/image/)")
    p.add_argument("--gallery", type=int, default=12, help="worst instances drawn (0 = none)")
    p.add_argument("--no-plots", action="store_true", help="skip the matplotlib plots")
    p.add_argument("--match-oks", type=float, default=AnalysisParams.match_oks,
                   help="OKS at which a result counts as matched for the landmark analysis")
    p.add_argument("--category-oks", type=float, default=AnalysisParams.category_oks,
                   help="OKS at which a result would match an item of another category")
    return p.parse_args(argv)


def run(args: argparse.Namespace):
    """Load, analyse, write; returns the ``AnalysisReport``."""
    gt_data = GroundTruth.read_json(args.gt)
    finder = ImageFinder(gt_data, args.gt, args.images or None)
    gt = GroundTruth.from_dict(gt_data, str(args.gt))
    del gt_data
    params = AnalysisParams(match_oks=args.match_oks, category_oks=args.category_oks)
    return analyze_to_folder(gt, args.results, args.out, args.scheme, images=finder, params=params,
                             sources={"results_file": str(args.results), "gt_file": str(args.gt)},
                             plots=not args.no_plots, gallery=args.gallery,
                             image_note=finder.describe())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logger()
    start = time.perf_counter()
    report = run(args)  # input errors become one line and exit 2 through run_cli
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    data = report.data
    print(f"AP {data['ap']['AP']:.4f}; AP after an oracle fixes ...")
    for name, ap in data["ap_oracle"].items():
        print(f"  {name:15s} {ap:.4f} ({ap - data['ap']['AP']:+.4f})")
    for name, c in data["instance_costs"].items():
        print(f"  {name:15s} {c['ap_oracle']:.4f} ({c['gain']:+.4f}, {c['count']} instances)")
    print(f"report: {report.markdown}  ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
