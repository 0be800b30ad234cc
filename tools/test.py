"""Test a trained model: flip test, GT boxes or a detection file, DeepFashion2 submission + AP
(FashionAI schemes: the challenge's submission CSV + NE table, last line ``NE=<value>``;
a garment detector, MODEL.NAME centernet: the DeepFashion2 detection results + box AP).

    python tools/test.py --cfg X.yaml TEST.MODEL_FILE m.pth TEST.USE_GT_BBOX False \
        TEST.COCO_BBOX_FILE det.json TEST.IMAGE_THRE 0.01 DATASET.TEST_SET validation TEST.FLIP_TEST True
    python tools/test.py --cfg detector.yaml TEST.MODEL_FILE d.pth DATASET.TEST_SET test
    torchrun --nproc_per_node 2 tools/test.py ...   # same results file as one process

Writes OUTPUT_DIR/<dataset>/<model>/<experiment>/results/keypoints_<set>_results_0.json (a
detector: bbox_<set>_results.json, the format TEST.COCO_BBOX_FILE takes), the stats JSON and,
for landmark models, a PNG grid of example predictions per category; prints the table when the
set has ground truth (last line ``AP=<value>``, ``NE=<value>`` or ``box AP=<value>``).
``--analyze`` adds the landmark error analysis (tools/analyze.py) in
results/<results name>_analysis/.
"""
from __future__ import annotations

import logging
import sys

from clothpose.config import check_paths, load_config
from clothpose.core.checkpoint import load_model_weights
from clothpose.core.evaluators import (DatasetEvaluator, build_evaluator, evaluator_class,
                                       inference_on_dataset)
from clothpose.core.optim import configure_cudnn
from clothpose.core.preflight import check_evaluation_gt, why_empty
from clothpose.data import build_dataset
from clothpose.models import build_model
from clothpose.utils.cli import default_argument_parser, opts_from_args, parse_with_opts, run_cli
from clothpose.utils.dist import cleanup, init_distributed
from clothpose.utils.logging import setup_logger
from clothpose.utils.paths import setup_run

logger = logging.getLogger("clothpose.test")


def build_parser():
    p = default_argument_parser(__doc__)
    p.add_argument("--results-name", default="",
                   help="results file name (default: keypoints_<set>_results_0.json; detectors "
                        "bbox_<set>_results.json, FashionAI fashionai_<set>_results_0.csv)")
    p.add_argument("--examples", type=int, default=4,
                   help="example pictures per category in the PNG grid (0 = none)")
    p.add_argument("--analyze", action="store_true",
                   help="also write the landmark error analysis (report.md, analysis.json, "
                   "plots) to results/<results name>_analysis/ (DeepFashion2 with GT)")
    return p


def parse_args(argv=None):
    return parse_with_opts(build_parser(), argv)


def nothing_to_test(cfg, dataset, evaluator: DatasetEvaluator) -> int:
    """No box survived the threshold / category selection: an empty results file (a valid
    submission part) and one clear line."""
    print(f"warning: no boxes to test: {why_empty(cfg, dataset)}", file=sys.stderr)
    path = evaluator.write_empty()
    if path is not None:
        print(f"results: {path} (empty)")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.cfg, opts_from_args(args))
    check_paths(cfg, ["root", "model_file"] + evaluator_class(cfg).input_paths(cfg))
    info = init_distributed(cfg.DEVICE)
    setup_logger(None, rank=info.rank)
    model = build_model(cfg, is_train=False)
    load_model_weights(model, cfg.TEST.MODEL_FILE)
    dataset = build_dataset(cfg, cfg.DATASET.TEST_SET, is_train=False)
    if len(dataset) and dataset.evaluation_gt() is not None:
        check_evaluation_gt(dataset, "testing")
    dirs = setup_run(cfg, "test", info.rank)
    configure_cudnn(cfg)
    evaluator = build_evaluator(cfg, dataset, info, dirs.output / "results",
                                results_name=args.results_name, examples=args.examples,
                                analyze=args.analyze)
    if len(dataset) == 0:
        status = nothing_to_test(cfg, dataset, evaluator) if info.is_main else 0
        cleanup()
        return status
    model = model.to(info.device).eval()
    logger.info("testing %d samples of %s (%s, flip test %s)", len(dataset), cfg.DATASET.TEST_SET,
                evaluator.task, cfg.TEST.FLIP_TEST)
    stats = inference_on_dataset(model, dataset, evaluator, cfg, info)
    if info.is_main:
        print("\n".join(evaluator.report(stats)))
    cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
