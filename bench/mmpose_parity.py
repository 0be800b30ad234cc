"""Parity: clothpose's test-time pipeline for mmpose's DeepFashion2 models vs mmpose's own code.

    git clone https://github.com/open-mmlab/mmpose /tmp/mmpose   # any checkout; nothing installed
    python bench/mmpose_parity.py --mmpose /tmp/mmpose

mmpose's functions are imported from the checkout at run time (never copied here): box -> centre
/ scale (``bbox_xyxy2cs``), ``TopdownAffine._fix_aspect_ratio``, ``get_warp_matrix``, the data
preprocessor's normalisation (its config values), flip test (``flip_heatmaps``), the MSRA codec's
``decode`` (``get_heatmap_maximum`` + ``refine_keypoints``) and the flip table
(``parse_pose_metainfo`` on ``configs/_base_/datasets/deepfashion2.py``). The network is the same
pose_resnet for both sides (random weights; its equality with mmpose's is tested in
tests/models/test_convert.py). Inputs: the two real DeepFashion2 photos of mmpose's test data
with their ground-truth boxes. Printed: largest and median landmark differences (pixels) and
score differences between mmpose and clothpose's Predictor with the experiment file, and with
the experiment file but HRNet's box convention (x2 = x + w - 1, clothpose's default).
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import sys
import tempfile
import types
from pathlib import Path

import cv2
import numpy as np
import torch

from clothpose.config import load_config
from clothpose.models import build_model
from clothpose.models.convert import convert_checkpoint
from clothpose.predict import Predictor

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / "experiments/deepfashion2/mmpose-res50_256x192-long_sleeved_dress.yaml"


def _module(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _method(path: Path, cls: str | None, name: str, namespace: dict):
    """One function (or method) of a module whose imports cannot be satisfied here."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if cls is None else next(
        n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls).body
    fn = next(n for n in nodes if isinstance(n, ast.FunctionDef) and n.name == name)
    fn.decorator_list = []
    exec(compile(ast.Module([fn], []), str(path), "exec"), namespace)
    return namespace[name]


def load_mmpose(root: Path) -> types.SimpleNamespace:
    pkg = types.ModuleType("mmref")  # mmpose/codecs/utils without its __init__ (registries)
    pkg.__path__ = [str(root / "mmpose/codecs/utils")]
    sys.modules["mmref"] = pkg
    post = _module("mmref.post_processing", root / "mmpose/codecs/utils/post_processing.py")
    refine = _module("mmref.refinement", root / "mmpose/codecs/utils/refinement.py")
    tta = _module("mm_tta", root / "mmpose/models/utils/tta.py")
    bbox = _module("mm_bbox", root / "mmpose/structures/bbox/transforms.py")
    from typing import Dict, Optional, Tuple
    ns = {"np": np, "Tuple": Tuple, "Dict": Dict, "Optional": Optional,
          "get_heatmap_maximum": post.get_heatmap_maximum,
          "refine_keypoints": refine.refine_keypoints,
          "refine_keypoints_dark": refine.refine_keypoints_dark}
    decode = _method(root / "mmpose/codecs/msra_heatmap.py", "MSRAHeatmap", "decode", ns)
    fix = _method(root / "mmpose/datasets/transforms/topdown_transforms.py", "TopdownAffine",
                  "_fix_aspect_ratio", {"np": np})
    import os.path as osp
    import warnings
    parse = _method(root / "mmpose/datasets/datasets/utils.py", None, "parse_pose_metainfo",
                    {"np": np, "osp": osp, "warnings": warnings, "Config": None, "dict": dict})
    info: dict = {}
    exec((root / "configs/_base_/datasets/deepfashion2.py").read_text(), info)
    return types.SimpleNamespace(flip_heatmaps=tta.flip_heatmaps, bbox=bbox, decode=decode,
                                 fix_aspect_ratio=fix,
                                 flip_indices=parse(info["dataset_info"])["flip_indices"])


def mmpose_predict(mm, model, img: np.ndarray, xyxy: np.ndarray, size=(192, 256)):
    """mmpose's val pipeline + TopdownPoseEstimator.predict for one box, its functions."""
    center, scale = mm.bbox.bbox_xyxy2cs(xyxy[None], padding=1.25)
    scale = mm.fix_aspect_ratio(scale, aspect_ratio=size[0] / size[1])
    warp = mm.bbox.get_warp_matrix(center[0], scale[0], 0.0, output_size=size)
    crop = cv2.warpAffine(img, warp, size, flags=cv2.INTER_LINEAR)
    # PoseDataPreprocessor of the DeepFashion2 configs: bgr_to_rgb, then (x - mean) / std
    mean, std = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])
    x = ((crop[:, :, ::-1] - mean) / std).transpose(2, 0, 1)[None]
    x = torch.from_numpy(x.astype(np.float32))
    with torch.no_grad():
        heat = model(x)
        flipped = mm.flip_heatmaps(model(x.flip(-1)), flip_indices=mm.flip_indices,
                                   flip_mode="heatmap", shift_heatmap=True)
        heat = (heat + flipped) * 0.5
    codec = types.SimpleNamespace(unbiased=False, blur_kernel_size=11,
                                  scale_factor=np.array([size[0] / 48, size[1] / 64]))
    kps, scores = mm.decode(codec, heat[0].numpy())
    # TopdownPoseEstimator.add_pred_to_datasample: input space -> image space
    kps = kps / np.array(size) * scale + center - 0.5 * scale
    return kps[0], scores[0], _border_rule_differs(heat[0].numpy())


def _border_rule_differs(heat: np.ndarray) -> np.ndarray:
    """(K,) where the quarter-pixel rules disagree: mmpose refines x when 1 < x < W-1 and
    0 < y < H (y likewise), HRNet / clothpose only when both are inside 1 < . < size-1."""
    k, h, w = heat.shape
    idx = heat.reshape(k, -1).argmax(axis=1)
    x, y = idx % w, idx // w
    inside = (x > 1) & (x < w - 1) & (y > 1) & (y < h - 1)
    mm_x = (x > 1) & (x < w - 1) & (y > 0)
    mm_y = (y > 1) & (y < h - 1) & (x > 0)
    return ~inside & (mm_x | mm_y)


def randomize(model: torch.nn.Module) -> None:
    """Weights that keep activations alive through 50 layers (variance-preserving convs, BN
    statistics near 1), so heatmaps have real peaks; maxima kept positive (no "invalid"
    landmarks, on which mmpose writes -1 and HRNet 0)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                fan_in = m.weight[0].numel() if isinstance(m, torch.nn.Conv2d) else \
                    m.weight.shape[0] * m.weight[0, 0].numel()
                m.weight.normal_(0, fan_in ** -0.5)
                if m.bias is not None:
                    m.bias.normal_(0, 0.1)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        model.final_layer.bias.add_(100.0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mmpose", required=True, help="checkout of open-mmlab/mmpose")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    root = Path(args.mmpose)
    mm = load_mmpose(root)
    data = root / "tests/data/deepfasion2"
    gt = json.loads((data / "deepfasion2.json").read_text())

    torch.manual_seed(args.seed)
    cfg = load_config(CFG)
    model = build_model(cfg, is_train=False).eval()
    randomize(model)
    rows = {"experiment file (DATASET.BOX_CONVENTION mmpose)": "mmpose",
            "with DATASET.BOX_CONVENTION hrnet": "hrnet"}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "mm.pth"
        torch.save({"state_dict": {("head." if k.startswith(("deconv", "final")) else "backbone.")
                                   + k: v for k, v in model.state_dict().items()}}, src)
        convert_checkpoint(src, Path(tmp) / "c.pth", "mmpose", build_model(cfg, is_train=False))
        predictors = {label: Predictor(load_config(CFG, ["DATASET.BOX_CONVENTION", conv]),
                                       weights=Path(tmp) / "c.pth")
                      for label, conv in rows.items()}

    diffs = {k: ([], [], []) for k in rows}
    images = {im["id"]: im for im in gt["images"]}
    for ann in gt["annotations"]:
        im = images[ann["image_id"]]
        img = cv2.imread(str(data / im["file_name"]),
                         cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        # BaseCocoStyleDataset.parse_data_info: xywh -> xyxy clipped to the image
        x, y, w, h = ann["bbox"]
        xyxy = np.array([np.clip(x, 0, im["width"] - 1), np.clip(y, 0, im["height"] - 1),
                         np.clip(x + w, 0, im["width"] - 1), np.clip(y + h, 0, im["height"] - 1)],
                        np.float32)
        kps, scores, border = mmpose_predict(mm, model, img, xyxy)
        for label, predictor in predictors.items():
            (inst,) = predictor.predict([img], [[ann["bbox"]]], [[ann["category_id"]]])[0]
            diffs[label][0].append(np.abs(kps - inst.keypoints[:, :2]).max(axis=1))
            diffs[label][1].append(np.abs(scores - inst.keypoints[:, 2]))
            diffs[label][2].append(border)
    scheme = next(iter(predictors.values())).scheme
    print(f"flip table: mmpose's parse_pose_metainfo == scheme {scheme.name}: "
          f"{np.array_equal(np.asarray(mm.flip_indices), scheme.flip_index)}")
    n = sum(len(a) for a in diffs[next(iter(rows))][0])
    print(f"{len(gt['annotations'])} real photos' GT boxes x 294 landmarks = {n}; "
          "pose_resnet-50, random weights")
    print("| clothpose | max |dxy| px | median |dxy| px | landmarks > 0.01 px | of them: argmax "
          "where the border rules differ | max |dxy| elsewhere | max |dscore| |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, (d, s, b) in diffs.items():
        d, s, b = np.concatenate(d), np.concatenate(s), np.concatenate(b)
        off = d > 0.01
        print(f"| {label} | {d.max():.4f} | {np.median(d):.4f} | {off.sum()} | "
              f"{(off & b).sum()} | {d[~b].max():.4f} | {s.max():.2e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
