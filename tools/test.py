"""Test a trained model: flip test, GT boxes or a detection file, DeepFashion2 submission + AP
(FashionAI schemes: the challenge's submission CSV + NE table, last line ``NE=<value>``).

    python tools/test.py --cfg X.yaml TEST.MODEL_FILE m.pth TEST.USE_GT_BBOX False \
        TEST.COCO_BBOX_FILE det.json TEST.IMAGE_THRE 0.01 DATASET.TEST_SET validation TEST.FLIP_TEST True
    torchrun --nproc_per_node 2 tools/test.py ...   # same results file as one process

Writes OUTPUT_DIR/<dataset>/<model>/<experiment>/results/keypoints_<set>_results_0.json, the stats
JSON and a PNG grid of example predictions per category; prints the AP table when the set has
ground truth. ``--analyze`` adds the landmark error analysis (tools/analyze.py) in
results/<results name>_analysis/.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from clothpose.config import check_paths, load_config
from clothpose.core.checkpoint import load_model_weights
from clothpose.core.optim import configure_cudnn
from clothpose.core.preflight import check_evaluation_gt, why_empty
from clothpose.core.testing import evaluate_submission, postprocess, predict_dataset, save_stats
from clothpose.data import build_dataset
from clothpose.errors import InputError
from clothpose.models import build_model
from clothpose.utils.cli import default_argument_parser, opts_from_args, parse_with_opts, run_cli
from clothpose.utils.dist import cleanup, init_distributed
from clothpose.utils.io import atomic_write
from clothpose.utils.logging import setup_logger
from clothpose.utils.paths import setup_run
from clothpose.workflow.report import save_example_grid

logger = logging.getLogger("clothpose.test")


def build_parser():
    p = default_argument_parser(__doc__)
    p.add_argument("--results-name", default="",
                   help="results file name (default: keypoints_<set>_results_0.json)")
    p.add_argument("--examples", type=int, default=4,
                   help="example pictures per category in the PNG grid (0 = none)")
    p.add_argument("--analyze", action="store_true",
                   help="also write the landmark error analysis (report.md, analysis.json, "
                   "plots) to results/<results name>_analysis/ (DeepFashion2 with GT)")
    return p


def parse_args(argv=None):
    return parse_with_opts(build_parser(), argv)


def dataset_is_fashionai(cfg) -> bool:
    from clothpose.keypoints import get_scheme
    return get_scheme(cfg.DATASET.SCHEME).family == "fashionai"


def nothing_to_test(args, cfg, dataset, results_dir: Path) -> int:
    """No box survived the threshold / category selection: an empty results file (a valid
    submission part) and one clear line."""
    reason = why_empty(cfg, dataset)
    print(f"warning: no boxes to test: {reason}", file=sys.stderr)
    if dataset_is_fashionai(cfg):
        return 0
    path = results_dir / (args.results_name or f"keypoints_{cfg.DATASET.TEST_SET}_results_0.json")
    atomic_write(path, lambda f: f.write("[]"))
    print(f"results: {path} (empty)")
    return 0


def report_deepfashion2(args, cfg, raw, dataset, results_dir: Path) -> None:
    """Submission JSON (atomic), example pictures, then the AP table when GT exists."""
    name = args.results_name or f"keypoints_{cfg.DATASET.TEST_SET}_results_0.json"
    sub = postprocess(cfg, raw, dataset.scheme)
    gt = dataset.evaluation_gt()
    stats = None
    if gt is None:
        from clothpose.evaluation import write_results
        write_results(results_dir / name, sub.image_ids, sub.category_ids, sub.keypoints,
                      sub.scores, boxes=sub.boxes)
        logger.info("no ground truth for %s: wrote %s only", cfg.DATASET.TEST_SET, results_dir / name)
    else:
        stats = evaluate_submission(sub, gt, results_dir / name)
        save_stats(stats, results_dir / (Path(name).stem + "_stats.json"))
    if args.examples > 0:
        png = save_example_grid(dataset, sub, results_dir / (Path(name).stem + "_examples.png"),
                                per_category=args.examples)
        logger.info("example predictions: %s", png)
    if args.analyze:
        from clothpose.workflow.analysis import analyze_dataset_results
        rep = analyze_dataset_results(dataset, results_dir / name,
                                      results_dir / (Path(name).stem + "_analysis"))
        if rep is not None:
            print(f"error analysis: {rep.markdown}")
    print(f"results: {results_dir / name}")
    if stats is not None:
        from clothpose.evaluation import format_category_table, format_stats_table
        print(format_stats_table(stats))
        print(format_category_table(stats["per_category"]))
        print(f"AP={stats['AP']:.4f}")


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.cfg, opts_from_args(args))
    check_paths(cfg, ["root", "model_file"] + ([] if cfg.TEST.USE_GT_BBOX else ["bbox_file"]))
    info = init_distributed(cfg.DEVICE)
    setup_logger(None, rank=info.rank)
    model = build_model(cfg, is_train=False)
    load_model_weights(model, cfg.TEST.MODEL_FILE)
    dataset = build_dataset(cfg, cfg.DATASET.TEST_SET, is_train=False)
    if len(dataset) and dataset.evaluation_gt() is not None:
        check_evaluation_gt(dataset, "testing")
    dirs = setup_run(cfg, "test", info.rank)
    configure_cudnn(cfg)
    if len(dataset) == 0:
        status = nothing_to_test(args, cfg, dataset, dirs.output / "results") if info.is_main \
            else 0
        cleanup()
        return status
    model = model.to(info.device).eval()
    logger.info("testing %d boxes of %s (%s boxes, flip test %s)", len(dataset),
                cfg.DATASET.TEST_SET, "GT" if cfg.TEST.USE_GT_BBOX else "detected",
                cfg.TEST.FLIP_TEST)
    raw = predict_dataset(cfg, model, dataset, info)
    if info.is_main and dataset.scheme.family == "fashionai":  # submission CSV + NE table
        if args.analyze:
            logger.warning("--analyze covers DeepFashion2 keypoint AP results, not FashionAI")
        from clothpose.workflow.fashionai import format_ne_table, report_test
        csv_path, stats = report_test(raw, dataset, dirs.output / "results", cfg.DATASET.TEST_SET,
                                      args.results_name, args.examples)
        print(f"submission: {csv_path}")
        if stats is not None:
            print(format_ne_table(stats))
            print(f"NE={stats['NE']:.4f}")
    elif info.is_main:
        report_deepfashion2(args, cfg, raw, dataset, dirs.output / "results")
    cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
