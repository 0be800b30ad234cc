"""``build_dataset``: the only place that reads the config for data loading.

File layout under ``DATASET.ROOT`` (written by ``tools/prepare_deepfashion2.py``, and the
winning solution's layout): ``annotations/<set>_coco.json`` (294 or the scheme's layout),
``annotations_agg81kps/<set>_coco_agg81kps.json``, ``annotations_per_category[_agg81kps]/
<set>_coco_category_<k>.json`` and images under ``images/<set>/``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable

import numpy as np
from yacs.config import CfgNode

from ..keypoints import BUILTIN, KeypointScheme, get_scheme
from .augment import AugmentParams
from .batch import InputSpec
from .coco_records import (AnnotationFileError, ParseResult, keypoints_to_scheme,
                           parse_coco_keypoints, parse_detections)
from .keypoint_dataset import KeypointDataset

logger = logging.getLogger(__name__)


def annotation_candidates(root: Path, image_set: str, scheme: KeypointScheme,
                          categories: list[int]) -> list[Path]:
    """Annotation files to try, in order: the seed layout first, then the 294 fallbacks."""
    agg = scheme.name.startswith("deepfashion2-agg81")
    out = [root / "annotations" / f"{image_set}_coco.json"]
    if len(categories) == 1:
        k = categories[0]
        if agg:
            out.append(root / "annotations_per_category_agg81kps" /
                       f"{image_set}_coco_category_{k}.json")
        out.append(root / "annotations_per_category" / f"{image_set}_coco_category_{k}.json")
    if agg:
        out.append(root / "annotations_agg81kps" / f"{image_set}_coco_agg81kps.json")
    return out


def _load_json(path: Path) -> object:
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise AnnotationFileError(f"{path}: cannot read: {e}") from e
    except ValueError as e:
        raise AnnotationFileError(f"{path}: invalid JSON: {e}") from e


def official_gt(data: dict, scheme: KeypointScheme, categories: list[int]) -> dict:
    """COCO dict in the family's full layout (e.g. 294), annotations restricted to ``categories``.

    Annotations already in the full layout pass through; others are converted per category.
    Every image of the file stays: as for the official evaluator, a detection of category k on
    an image without a category-k item is a false positive, not something to drop.
    """
    full = get_scheme(scheme.family) if scheme.family in BUILTIN else scheme
    anns = [a for a in data.get("annotations", [])
            if not categories or a.get("category_id") in categories]
    if anns and len(anns[0].get("keypoints", ())) != 3 * full.num_keypoints:
        cats = np.array([a["category_id"] for a in anns])
        flat = np.asarray([a["keypoints"] for a in anns], dtype=np.float64)
        kps = keypoints_to_scheme(flat, cats, full)
        anns = [dict(a, keypoints=k.reshape(-1).tolist()) for a, k in zip(anns, kps)]
    images = data.get("images", [])
    cat_list = [dict(c, keypoints=[str(i) for i in range(1, full.num_keypoints + 1)])
                for c in data.get("categories", [])]
    return {"images": images, "annotations": anns, "categories": cat_list}


def first_images(data: dict, limit: int) -> dict:
    """``TEST.MAX_IMAGES``: a COCO dict cut to its first ``limit`` images (by id) and their
    annotations, so predictions and ground truth cover the same images."""
    if limit <= 0:
        return data
    keep = set(sorted(im["id"] for im in data.get("images", []))[:limit])
    return dict(data, images=[im for im in data.get("images", []) if im["id"] in keep],
                annotations=[a for a in data.get("annotations", [])
                             if a.get("image_id") in keep])


def test_image_limit(cfg: CfgNode, is_train: bool) -> int:
    """``TEST.MAX_IMAGES`` when building a test / validation set, else 0 (no limit)."""
    return 0 if is_train else int(cfg.TEST.MAX_IMAGES)


def augment_params(cfg: CfgNode) -> AugmentParams:
    d = cfg.DATASET
    return AugmentParams(scale_factor=d.SCALE_FACTOR, rot_factor=d.ROT_FACTOR, rot_prob=d.ROT_PROB,
                         flip=d.FLIP, prob_half_body=d.PROB_HALF_BODY,
                         num_joints_half_body=d.NUM_JOINTS_HALF_BODY, color_jitter=d.COLOR_JITTER)


def input_spec(cfg: CfgNode) -> InputSpec:
    """Normalisation and target settings of the config (what ``KeypointDataset.input_spec``
    gives for a dataset built from it)."""
    return InputSpec(tuple(cfg.MODEL.IMAGE_SIZE), tuple(cfg.MODEL.HEATMAP_SIZE),
                     float(cfg.MODEL.SIGMA), bool(cfg.DATASET.USE_UDP),
                     bool(cfg.LOSS.USE_TARGET_WEIGHT), bool(cfg.DATASET.COLOR_RGB),
                     tuple(float(v) for v in cfg.DATASET.PIXEL_MEAN),
                     tuple(float(v) for v in cfg.DATASET.PIXEL_STD))


def build_dataset(cfg: CfgNode, image_set: str, is_train: bool) -> KeypointDataset:
    """Dataset of ``image_set`` (train / validation / test) as the config describes it
    (whole images with boxes for a detector, ``MODEL.NAME centernet``)."""
    from ..config.loader import is_detector

    if is_detector(cfg):
        from .detection_dataset import build_detection_dataset
        return build_detection_dataset(cfg, image_set, is_train)
    scheme = get_scheme(cfg.DATASET.SCHEME)
    # COCO-style files serve every family (user schemes too) unless one registered its own
    # reader; FashionAI ships CSVs and needs one.
    builder = _RECORD_BUILDERS.get(scheme.family,
                                   None if scheme.family == "fashionai" else _coco_family)
    if builder is None:
        raise NotImplementedError(f"no record builder registered for keypoint family "
                                  f"{scheme.family!r} (see register_record_builder)")
    categories = [int(c) for c in cfg.DATASET.CATEGORIES]
    res, ann_file, gt_loader = builder(cfg, image_set, is_train, scheme, categories)
    ds = KeypointDataset(
        res.records, scheme, cfg.MODEL.IMAGE_SIZE, cfg.MODEL.HEATMAP_SIZE, cfg.MODEL.SIGMA,
        is_train, augment_params(cfg), color_rgb=cfg.DATASET.COLOR_RGB,
        use_udp=cfg.DATASET.USE_UDP, use_target_weight=cfg.LOSS.USE_TARGET_WEIGHT,
        skip_bad_samples=cfg.DATASET.SKIP_BAD_SAMPLES, seed=max(int(cfg.SEED), 0),
        pixel_mean=list(cfg.DATASET.PIXEL_MEAN), pixel_std=list(cfg.DATASET.PIXEL_STD),
        reduced_decode=bool(cfg.DATASET.REDUCED_DECODE if is_train else cfg.TEST.REDUCED_DECODE))
    ds.ann_file = str(ann_file)
    ds.image_ids = list(res.image_ids)
    ds.num_skipped = res.num_skipped
    ds._gt_loader = gt_loader
    logger.info("%s: %d samples from %s (%d images; skipped %d bad, %d unlabelled, %d filtered)",
                image_set, len(ds), ann_file, len(ds.image_ids), res.num_skipped,
                res.num_unlabelled, res.num_filtered)
    return ds


def _coco_family(cfg: CfgNode, image_set: str, is_train: bool, scheme: KeypointScheme,
                 categories: list[int]) -> tuple[ParseResult, Path, Callable[[], dict | None]]:
    root = Path(cfg.DATASET.ROOT)
    cands = annotation_candidates(root, image_set, scheme, categories)
    ann_file = next((p for p in cands if p.is_file()), None)
    if ann_file is None:
        raise AnnotationFileError(f"no annotation file for set {image_set!r}; looked for: "
                                  + ", ".join(str(p) for p in cands))
    limit = test_image_limit(cfg, is_train)
    data = first_images(_load_json(ann_file), limit)
    image_root = root / "images" / image_set
    skip, boxes = cfg.DATASET.SKIP_BAD_SAMPLES, cfg.DATASET.BOX_CONVENTION
    has_gt = bool(data.get("annotations")) if isinstance(data, dict) else False
    if is_train or cfg.TEST.USE_GT_BBOX:
        if not has_gt and not is_train:
            raise AnnotationFileError(
                f"{ann_file}: set {image_set!r} has no annotations (an image list only, like the "
                "official test release), so there are no ground-truth boxes; test it with "
                "TEST.USE_GT_BBOX False TEST.COCO_BBOX_FILE <detections.json>")
        res = parse_coco_keypoints(data, scheme, image_root, categories, skip, str(ann_file),
                                   box_convention=boxes)
    else:
        if not cfg.TEST.COCO_BBOX_FILE:
            raise AnnotationFileError(
                f"set {image_set!r}: TEST.USE_GT_BBOX is False but TEST.COCO_BBOX_FILE is empty; "
                "give a detection file (COCO bbox results: image_id, category_id, bbox, score)"
                + ("" if has_gt else f" ({ann_file} has no annotations, so ground-truth boxes "
                   "are not an option)"))
        det_file = Path(cfg.TEST.COCO_BBOX_FILE)
        res = parse_detections(_load_json(det_file), data, scheme, image_root, categories,
                               cfg.TEST.IMAGE_THRE, skip, str(det_file), str(ann_file),
                               box_convention=boxes)
        if res.num_unknown_images:
            logger.warning("%s: %d boxes are for images that are not in %s; ignored", det_file,
                           res.num_unknown_images, ann_file)
    del data

    def gt_loader() -> dict | None:
        return official_gt(first_images(_load_json(ann_file), limit), scheme, categories) \
            if has_gt else None

    return res, ann_file, gt_loader


_RECORD_BUILDERS: dict[str, Callable] = {"deepfashion2": _coco_family}


def register_record_builder(family: str, builder: Callable) -> None:
    """Let another keypoint family (e.g. FashionAI CSVs) plug its records into ``build_dataset``.

    ``builder(cfg, image_set, is_train, scheme, categories) -> (ParseResult, ann_file,
    gt_loader)`` where ``gt_loader()`` returns the evaluation ground truth (or None).
    """
    _RECORD_BUILDERS[family] = builder
