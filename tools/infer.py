"""Landmarks for your own images, from a trained model or an exported ONNX model.

    python tools/infer.py --cfg X.yaml --weights m.pth --images photos/ \
        --boxes whole-image --category 1 --out out/
    python tools/infer.py --cfg X.yaml --onnx model.onnx --images 'val/image/*.jpg' \
        --detections det.json --score-thr 0.3 --flip --out out/
    python tools/infer.py --detector det.yaml --detector-weights d.pth \
        --cfg X.yaml --weights m.pth --images photos/ --out out/      # photos -> garments -> landmarks

Writes <out>/<name>.json (DeepFashion2 result entries + compact per-category landmarks),
<out>/<name>.png (boxes, category names and scores, skeletons) and <out>/results.json
(submission format, all images); with --detector also <out>/detections.json (every detection
kept, COCO bbox results), and each detected box is predicted with its detected category.
<name> is the file stem; inputs sharing a stem (a/x.jpg, b/x.jpg; x.jpg, x.png) get their
relative path (a/x, b/x; x.jpg, x.png) so that no output overwrites another. Boxes find their
image by file_name, or (COCO detections) by image_id = the last number in the file name; images
are turned upright by their EXIF orientation. Exits with 2, one error line, when nothing can be
predicted (no weights, unknown category, no box naming an input, no readable image).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from clothpose.config import load_config
from clothpose.errors import InputError
from clothpose.keypoints import get_scheme
from clothpose.predict import Predictor
from clothpose.predict.inputs import MATCHING_RULE, image_ids, list_images, load_box_source
from clothpose.predict.runner import run_images
from clothpose.utils.cli import make_parser, run_cli
from clothpose.utils.logging import setup_logger

logger = logging.getLogger("clothpose.infer")


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__)
    p.add_argument("--cfg", required=True, help="experiment YAML file")
    net = p.add_mutually_exclusive_group()
    net.add_argument("--weights", default="", help="PyTorch weights (default: TEST.MODEL_FILE)")
    net.add_argument("--onnx", default="", help="exported model (runs on onnxruntime)")
    p.add_argument("--images", required=True, help="image directory, file or glob pattern")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--detections", default="",
                     help="COCO bbox results (image_id or file_name, category_id, bbox, score)")
    src.add_argument("--boxes", default=None,
                     help="'whole-image' (the default), or a boxes .json / .csv file")
    src.add_argument("--detector", default="",
                     help="garment detector experiment YAML (MODEL.NAME centernet): boxes and "
                          "categories come from it")
    det = p.add_mutually_exclusive_group()
    det.add_argument("--detector-weights", default="",
                     help="detector weights (default: its TEST.MODEL_FILE)")
    det.add_argument("--detector-onnx", default="", help="exported detector (onnxruntime)")
    p.add_argument("--category", type=int, default=None,
                   help="category of whole-image boxes; with other sources, keep only it")
    p.add_argument("--score-thr", type=float, default=None,
                   help="minimum detection score (default: 0.3 with --detector, else 0)")
    flip = p.add_mutually_exclusive_group()
    flip.add_argument("--flip", dest="flip", action="store_true", default=None,
                      help="flip test (default: TEST.FLIP_TEST)")
    flip.add_argument("--no-flip", dest="flip", action="store_false", help="no flip test")
    p.add_argument("--batch-size", type=int, default=16, help="boxes per network call")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    p.add_argument("--vis-thr", type=float, default=None,
                   help="landmarks drawn above this score (default: TEST.IN_VIS_THRE)")
    p.add_argument("--no-vis", action="store_true", help="do not write PNGs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("opts", nargs=argparse.REMAINDER, default=[],
                   help="config overrides as KEY VALUE pairs")
    return p


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def check_network(args, cfg) -> None:
    """Weights that exist (never a silently random model) and a category the model predicts."""
    if not args.onnx:
        weights = args.weights or cfg.TEST.MODEL_FILE
        if not weights:
            raise InputError("no weights given and TEST.MODEL_FILE is empty; expected "
                             "--weights model.pth (or --onnx model.onnx)", field="--weights")
        if not Path(weights).is_file():
            raise InputError("does not exist; expected the model's weights", file=weights,
                             field="--weights" if args.weights else "TEST.MODEL_FILE")
    elif not Path(args.onnx).is_file():
        raise InputError("does not exist; expected an exported model", file=args.onnx,
                         field="--onnx")
    scheme = get_scheme(cfg.DATASET.SCHEME)
    if args.category is not None and args.category not in scheme.category_ids:
        raise InputError(f"category {args.category} is not predicted by scheme {scheme.name!r}; "
                         f"expected one of {list(scheme.category_ids)}", field="--category")
    if args.batch_size < 1:
        raise InputError(f"expected >= 1, got {args.batch_size}", field="--batch-size")
    if (args.detector_weights or args.detector_onnx) and not args.detector:
        raise InputError("needs --detector det.yaml (the detector's experiment file)",
                         field="--detector-weights" if args.detector_weights else
                         "--detector-onnx")


def load_detector(args):
    """The garment detector of ``--detector`` (weights: --detector-weights, --detector-onnx or
    its TEST.MODEL_FILE, which must exist), or None."""
    if not args.detector:
        return None
    from clothpose.predict.detector import Detector

    det_cfg = load_config(args.detector)
    if not args.detector_onnx:
        weights = args.detector_weights or det_cfg.TEST.MODEL_FILE
        if not weights or not Path(weights).is_file():
            raise InputError("does not exist; expected the detector's weights",
                             file=weights or None, field="--detector-weights")
    return Detector(det_cfg, weights=args.detector_weights or None,
                    onnx=args.detector_onnx or None, device=args.device, flip_test=args.flip,
                    batch_size=args.batch_size)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.cfg, list(args.opts))
    check_network(args, cfg)
    files = list_images(args.images)
    out = Path(args.out)
    setup_logger(out, filename="infer_log.txt")
    detector = load_detector(args)
    score_thr = args.score_thr if args.score_thr is not None else (0.3 if detector else 0.0)
    source = args.detections or args.boxes or (f"--detector {args.detector}" if detector else None)
    boxes, unmatched = ({}, 0) if detector else \
        load_box_source(args.boxes, args.detections or None, files, args.category, score_thr)
    named = sum(len(b) for b in boxes.values())
    if unmatched and not named:
        raise InputError(f"none of its {unmatched} boxes names one of the {len(files)} input "
                         f"images; {MATCHING_RULE}", file=source)
    if unmatched:
        logger.warning("%d boxes name images that are not among the %d input images; ignored "
                       "(%s)", unmatched, len(files), MATCHING_RULE)
    if args.category is not None and (args.detections or args.boxes not in (None, "whole-image")):
        boxes = {f: [b for b in bs if b.category_id == args.category] for f, bs in boxes.items()}
    predictor = Predictor(cfg, weights=args.weights or None, onnx=args.onnx or None,
                          device=args.device, flip_test=args.flip, batch_size=args.batch_size)
    vis_thr = cfg.TEST.IN_VIS_THRE if args.vis_thr is None else args.vis_thr
    summary = run_images(predictor, files, boxes, image_ids(files), out, vis=not args.no_vis,
                         vis_thr=vis_thr, progress=not args.no_progress, detector=detector,
                         det_score_thr=score_thr, det_category=args.category)
    print(summary.line(out))
    if summary.images == 0:
        raise InputError(f"none of the {len(files)} images could be read; nothing was predicted",
                         file=args.images, field="--images")
    if summary.instances == 0:
        why = (f"all {summary.dropped_boxes} boxes were outside their image or of a category "
               "the model does not predict") if summary.dropped_boxes else \
            f"no box is left after --score-thr {score_thr:g} and --category"
        raise InputError(f"{why}; nothing was predicted", file=source or "whole-image")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
