#!/usr/bin/env python
"""Ensemble FashionAI models: heatmap averaging (the reference's way) or result averaging.

Heatmap averaging: every member's heatmaps (flip-tested per TEST.FLIP_TEST) are averaged, then
decoded once with --cfg's TEST.* filters; data and test settings come from --cfg, each member's
network from its own config (same input size, heatmap size and keypoint scheme required):

    python tools/ensemble_fashionai.py --cfg A.yaml --member A.yaml a.pth --member B.yaml b.pth \
        --out ensemble.csv [KEY VALUE ...]

Result averaging of submission CSVs (same images), optionally scored against an answer CSV:

    python tools/ensemble_fashionai.py --average a.csv b.csv --out ensemble.csv [--answers gt.csv]
"""
from __future__ import annotations

import argparse
import logging
import sys

from clothpose.data.fashionai_csv import read_annotations, write_submission
from clothpose.errors import InputError
from clothpose.utils.cli import make_parser, run_cli
from clothpose.workflow.fashionai import average_tables, format_ne_table, ne_stats

logger = logging.getLogger("clothpose.ensemble_fashionai")


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__)
    p.add_argument("--cfg", help="experiment file of the data and test settings (heatmap mode)")
    p.add_argument("--member", nargs=2, action="append", metavar=("CFG", "WEIGHTS"), default=[],
                   help="an ensemble member: its config and weights (repeat)")
    p.add_argument("--average", nargs="+", metavar="CSV", help="result CSVs to average")
    p.add_argument("--answers", help="answer CSV to score the averaged results (NE)")
    p.add_argument("--out", required=True, help="submission CSV to write")
    p.add_argument("opts", nargs=argparse.REMAINDER, default=[],
                   help="KEY VALUE overrides applied to --cfg and every member's config")
    return p


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def average_results(args: argparse.Namespace) -> int:
    merged = average_tables([read_annotations(p) for p in args.average])
    write_submission(args.out, merged.image_ids, merged.category_ids, merged.keypoints)
    print(f"averaged {len(args.average)} result files: {args.out}")
    if args.answers:
        stats = ne_stats(merged, read_annotations(args.answers))
        print(format_ne_table(stats))
        print(f"NE={stats['NE']:.4f}")
    return 0


def mismatch(cfg, member) -> str:
    """The first key whose value must agree between the data config and a member, or ''."""
    for node, key in (("MODEL", "IMAGE_SIZE"), ("MODEL", "HEATMAP_SIZE"), ("DATASET", "SCHEME")):
        a, b = cfg[node][key], member[node][key]
        if (list(a) if isinstance(a, (list, tuple)) else a) != \
                (list(b) if isinstance(b, (list, tuple)) else b):
            return f"{node}.{key} ({b!r} vs {a!r})"
    return ""


def heatmap_ensemble(args: argparse.Namespace) -> int:
    from clothpose.config import load_config
    from clothpose.core.checkpoint import load_model_weights
    from clothpose.core.testing import predict_dataset
    from clothpose.data import build_dataset
    from clothpose.models import build_model
    from clothpose.utils.dist import cleanup, init_distributed
    from clothpose.utils.logging import setup_logger
    from clothpose.workflow.fashionai import HeatmapAverage, evaluate_fashionai

    setup_logger()
    cfg = load_config(args.cfg, args.opts)
    info = init_distributed(cfg.DEVICE)
    models = []
    for member_cfg, weights in args.member:
        mcfg = load_config(member_cfg, args.opts)
        bad = mismatch(cfg, mcfg)
        if bad:
            raise InputError(f"{bad} differs from {args.cfg}; ensemble members need the same "
                             "input size, heatmap size and scheme", file=member_cfg)
        model = build_model(mcfg, is_train=False)
        load_model_weights(model, weights)
        models.append(model)
    ensemble = HeatmapAverage(models).to(info.device).eval()
    dataset = build_dataset(cfg, cfg.DATASET.TEST_SET, is_train=False)
    raw = predict_dataset(cfg, ensemble, dataset, info)
    if info.is_main:
        stats = evaluate_fashionai(raw, dataset, args.out)
        print(f"heatmap ensemble of {len(models)} models: {args.out}")
        if stats is not None:
            print(format_ne_table(stats))
            print(f"NE={stats['NE']:.4f}")
    cleanup()
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if bool(args.average) == bool(args.member):
        raise InputError("give either --average CSV... or --cfg with --member CFG WEIGHTS (x2+)",
                         field="--average/--member")
    if args.average:
        return average_results(args)
    if not args.cfg:
        raise InputError("heatmap averaging needs --cfg", field="--cfg")
    return heatmap_ensemble(args)


if __name__ == "__main__":
    sys.exit(run_cli(main))
