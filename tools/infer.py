"""Landmarks for your own images, from a trained model or an exported ONNX model.

    python tools/infer.py --cfg X.yaml --weights m.pth --images photos/ \
        --boxes whole-image --category 1 --out out/
    python tools/infer.py --cfg X.yaml --onnx model.onnx --images 'val/image/*.jpg' \
        --detections det.json --score-thr 0.3 --flip --out out/

Writes <out>/<stem>.json (DeepFashion2 result entries + compact per-category landmarks),
<out>/<stem>.png (skeletons drawn) and <out>/results.json (submission format, all images).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from clothpose.config import load_config
from clothpose.predict import Predictor
from clothpose.predict.inputs import image_ids, list_images, load_box_source
from clothpose.predict.runner import run_images
from clothpose.utils.logging import setup_logger

logger = logging.getLogger("clothpose.infer")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--cfg", required=True, help="experiment YAML file")
    net = p.add_mutually_exclusive_group()
    net.add_argument("--weights", default="", help="PyTorch weights (default TEST.MODEL_FILE)")
    net.add_argument("--onnx", default="", help="exported model (runs on onnxruntime)")
    p.add_argument("--images", required=True, help="image directory, file or glob pattern")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--detections", default="",
                     help="COCO bbox results (image_id, category_id, bbox, score)")
    src.add_argument("--boxes", default=None,
                     help="'whole-image' (default), or a boxes .json / .csv file")
    p.add_argument("--category", type=int, default=None,
                   help="category of whole-image boxes; with other sources, keep only it")
    p.add_argument("--score-thr", type=float, default=0.0, help="minimum detection score")
    flip = p.add_mutually_exclusive_group()
    flip.add_argument("--flip", dest="flip", action="store_true", default=None,
                      help="flip test (default TEST.FLIP_TEST)")
    flip.add_argument("--no-flip", dest="flip", action="store_false")
    p.add_argument("--batch-size", type=int, default=16, help="boxes per network call")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    p.add_argument("--vis-thr", type=float, default=None,
                   help="landmarks drawn above this score (default TEST.IN_VIS_THRE)")
    p.add_argument("--no-vis", action="store_true", help="do not write PNGs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("opts", nargs=argparse.REMAINDER, default=[],
                   help="config overrides as KEY VALUE pairs")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    setup_logger(out, filename="infer_log.txt")
    cfg = load_config(args.cfg, list(args.opts))
    files = list_images(args.images)
    boxes, unmatched = load_box_source(args.boxes, args.detections or None, files,
                                       args.category, args.score_thr)
    if unmatched:
        logger.warning("%d boxes name images that are not among the %d input images; ignored",
                       unmatched, len(files))
    if args.category is not None and (args.detections or args.boxes not in (None, "whole-image")):
        boxes = {f: [b for b in bs if b.category_id == args.category] for f, bs in boxes.items()}
    predictor = Predictor(cfg, weights=args.weights or None, onnx=args.onnx or None,
                          device=args.device, flip_test=args.flip, batch_size=args.batch_size)
    vis_thr = cfg.TEST.IN_VIS_THRE if args.vis_thr is None else args.vis_thr
    summary = run_images(predictor, files, boxes, image_ids(files), out, vis=not args.no_vis,
                         vis_thr=vis_thr, progress=not args.no_progress)
    print(summary.line(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
