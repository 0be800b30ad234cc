"""Export a landmark model or garment detector to ONNX (dynamic batch), check it against PyTorch.

    python tools/export_onnx.py --cfg X.yaml --weights m.pth --out model.onnx [--opset 17]

The file's input is the normalised NCHW float32 crop of MODEL.IMAGE_SIZE, its output the
heatmaps decoded by the predictor (CPN: the final stage); a detector (MODEL.NAME centernet) has
three outputs, ``heatmap`` (logits), ``size`` and ``offset``, which tools/infer.py --detector
decodes. After export, onnx.checker runs and onnxruntime (CPU) is compared with PyTorch on
random inputs of batch 1 and 3; the tool exits with 1 when the max abs difference exceeds
--tolerance (x max(1, largest output value)).
"""
from __future__ import annotations

import argparse
import logging
import sys

from clothpose.config import load_config
from clothpose.config.loader import is_detector
from clothpose.core.checkpoint import load_model_weights
from clothpose.models import build_model
from clothpose.predict.export import check_onnx, export_onnx
from clothpose.utils.cli import make_parser, run_cli
from clothpose.utils.logging import setup_logger

logger = logging.getLogger("clothpose.export_onnx")


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__)
    p.add_argument("--cfg", required=True, help="experiment YAML file")
    p.add_argument("--weights", default="", help="model weights (default: TEST.MODEL_FILE)")
    p.add_argument("--out", required=True, help="ONNX file to write")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version")
    p.add_argument("--check", dest="check", action="store_true", default=True,
                   help="run onnx.checker and compare onnxruntime with PyTorch (the default)")
    p.add_argument("--no-check", dest="check", action="store_false", help="export only")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest accepted max abs heatmap difference, times max(1, largest "
                        "heatmap value) so float32 rounding of unusually large outputs passes")
    p.add_argument("opts", nargs=argparse.REMAINDER, default=[],
                   help="config overrides as KEY VALUE pairs")
    return p


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logger(None)
    cfg = load_config(args.cfg, list(args.opts))
    model = build_model(cfg, is_train=False)
    weights = args.weights or cfg.TEST.MODEL_FILE
    if weights:
        load_model_weights(model, weights)
    else:
        logger.warning("no weights given: exporting the randomly initialised model")
    model.eval()
    meta = {"clothpose.scheme": cfg.DATASET.SCHEME, "clothpose.model": cfg.MODEL.NAME,
            "clothpose.image_size": "x".join(str(v) for v in cfg.MODEL.IMAGE_SIZE)}
    if is_detector(cfg):
        meta["clothpose.num_classes"] = str(model.num_classes)
    else:
        meta["clothpose.num_keypoints"] = str(cfg.MODEL.NUM_JOINTS)
    path = export_onnx(model, cfg.MODEL.IMAGE_SIZE, args.out, args.opset, meta)
    if not args.check:
        print(f"exported {path} (not checked)")
        return 0
    diff, peak = check_onnx(path, model, cfg.MODEL.IMAGE_SIZE, batch_sizes=(1, 3))
    limit = args.tolerance * max(1.0, peak)
    ok = diff <= limit
    print(f"exported {path}: onnx.checker ok; onnxruntime vs PyTorch max abs diff {diff:.3e} "
          f"(batch 1 and 3; output max {peak:.3g}; limit {limit:.3g}) -> "
          f"{'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(run_cli(main))
