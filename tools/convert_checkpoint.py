"""Convert a trained checkpoint of mmpose, HRNet or the FashionAI reference CPN for clothpose.

    python tools/convert_checkpoint.py --from mmpose \
        res50_deepfashion2_vest_256x192-4c48d05c_20221208.pth \
        models/mmpose/res50_deepfashion2_vest_256x192.pth
    python tools/convert_checkpoint.py --from hrnet --cfg X.yaml pose_hrnet_w48_384x288.pth out.pth
    python tools/convert_checkpoint.py --from cpn-gathierry \
        --cfg experiments/fashionai/cpn-resnet152_512x512.yaml \
        DATASET.SCHEME fashionai-blouse kpt_blouse_030.ckpt out.pth

The target model is built from --cfg (mmpose default: the DeepFashion2 ResNet-50 256x192
experiment); every one of its tensors must come from the file with the same shape, and the file
may hold nothing else. The output loads strictly (TEST.MODEL_FILE, --weights) and records the
source file, its sha256 and metadata under ``converted_from``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from clothpose.config import load_config
from clothpose.errors import InputError
from clothpose.keypoints import get_scheme
from clothpose.models import build_model
from clothpose.models.convert import RENAMERS, convert_checkpoint
from clothpose.utils.cli import make_parser, parse_with_opts, run_cli
from clothpose.utils.logging import setup_logger

DEFAULT_CFG = {"mmpose": Path(__file__).resolve().parents[1] / "experiments" / "deepfashion2" /
               "_base_mmpose-res50_256x192.yaml"}


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__)
    p.add_argument("--from", dest="source", required=True, choices=sorted(RENAMERS),
                   help="code base the checkpoint comes from")
    p.add_argument("--cfg", default="", help="experiment YAML of the target model "
                   "(required except for --from mmpose)")
    p.add_argument("src", help="checkpoint to convert")
    p.add_argument("dst", help="converted checkpoint to write")
    p.epilog += "\n\nAny other arguments are KEY VALUE config overrides for the target model."
    return p


def parse_args(argv=None) -> argparse.Namespace:
    return parse_with_opts(build_parser(), argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logger(None)
    cfg_path = args.cfg or DEFAULT_CFG.get(args.source)
    if not cfg_path:
        raise InputError(f"--from {args.source} needs --cfg (the experiment file of the model "
                         "the weights are for)", field="--cfg")
    cfg = load_config(cfg_path, args.opts)
    model = build_model(cfg, is_train=False)
    target = {"model": cfg.MODEL.NAME, "num_keypoints": int(cfg.MODEL.NUM_JOINTS),
              "scheme": cfg.DATASET.SCHEME, "config": str(cfg_path)}
    report = convert_checkpoint(args.src, args.dst, args.source, model,
                                get_scheme(cfg.DATASET.SCHEME).flip_index, target)
    print(f"converted {report.tensors} tensors ({args.source} -> {cfg.MODEL.NAME}, "
          f"{cfg.MODEL.NUM_JOINTS} keypoints) -> {args.dst}")
    if report.flip_indices_match is False:
        print(f"warning: the checkpoint's flip table differs from scheme {cfg.DATASET.SCHEME!r}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
