"""The test path shared by ``tools/test.py`` and validation during training.

predict (sharded over ranks) -> decode -> rescore -> optional OKS-NMS -> official 294 layout ->
results file (atomic) -> official AP (DeepFashion2) -> table + stats JSON.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from yacs.config import CfgNode

from ..keypoints import KeypointScheme, get_scheme
from ..utils.dist import DistInfo, all_gather_objects
from ..utils.io import atomic_write_json
from .function import RawPredictions, run_inference
from .inference import get_final_preds, rescore

logger = logging.getLogger(__name__)


@dataclass
class Submission:
    """Final instances in the official layout of the scheme's family (294 for DeepFashion2)."""

    image_ids: np.ndarray      # (N,)
    category_ids: np.ndarray   # (N,)
    keypoints: np.ndarray      # (N, K_official, 3)
    scores: np.ndarray         # (N,)
    boxes: np.ndarray          # (N, 4) x, y, w, h of the input box (for ensembling)


def shard_loader(cfg: CfgNode, dataset: Dataset, info: DistInfo) -> DataLoader:
    """Each rank takes every world_size-th box (no padding, unlike DistributedSampler), so the
    gathered predictions are exactly those of a single process."""
    indices = list(range(info.rank, len(dataset), info.world_size))
    return DataLoader(Subset(dataset, indices), batch_size=cfg.TEST.BATCH_SIZE_PER_GPU,
                      shuffle=False, num_workers=cfg.WORKERS,
                      pin_memory=cfg.PIN_MEMORY and info.device.type == "cuda")


def make_decoder(cfg: CfgNode):
    if cfg.TEST.BLUR_KERNEL > 0 or cfg.TEST.SECOND_MAX_OFFSET:  # FashionAI reference filters
        from .heatmap_filters import decode_heatmaps

        def decode_filtered(heatmaps: np.ndarray, centers: np.ndarray, scales: np.ndarray):
            return decode_heatmaps(heatmaps, centers, scales, blur_kernel=cfg.TEST.BLUR_KERNEL,
                                   second_max=cfg.TEST.SECOND_MAX_OFFSET,
                                   post_process=cfg.TEST.POST_PROCESS,
                                   dark=cfg.TEST.POST_PROCESS_DARK)
        return decode_filtered

    def decode(heatmaps: np.ndarray, centers: np.ndarray, scales: np.ndarray):
        return get_final_preds(heatmaps, centers, scales, post_process=cfg.TEST.POST_PROCESS,
                               dark=cfg.TEST.POST_PROCESS_DARK)
    return decode


def predict_dataset(cfg: CfgNode, model: nn.Module, dataset: Any, info: DistInfo,
                    show_progress: bool = True) -> RawPredictions:
    """All boxes of ``dataset`` predicted (flip test per config), gathered on every rank."""
    scheme: KeypointScheme = dataset.scheme
    flip_index = scheme.flip_index if cfg.TEST.FLIP_TEST else None
    part = run_inference(model, shard_loader(cfg, dataset, info), make_decoder(cfg),
                         flip_index=flip_index, shift_heatmap=cfg.TEST.SHIFT_HEATMAP,
                         amp=cfg.TRAIN.AMP, channels_last=cfg.TRAIN.CHANNELS_LAST,
                         show_progress=show_progress and info.is_main)
    return RawPredictions.concatenate(all_gather_objects(part))


def official_scheme(scheme: KeypointScheme) -> KeypointScheme:
    """The layout results are written and evaluated in (DeepFashion2: the 294 vector)."""
    return get_scheme(scheme.family)


def postprocess(cfg: CfgNode, raw: RawPredictions, scheme: KeypointScheme) -> Submission:
    """Rescore, optionally OKS-NMS per (image, category), and convert to the official layout."""
    mask = None  # the winner's rescoring: mean over all channels
    if not cfg.TEST.RESCORE_ALL_CHANNELS:  # only the instance's own category's channels
        ids = np.asarray(scheme.category_ids)
        table = np.stack([scheme.category_mask(int(c)) for c in ids])
        mask = table[np.searchsorted(ids, raw.category_ids)]
    scores = rescore(raw.box_scores, raw.keypoints[..., 2:3], cfg.TEST.IN_VIS_THRE, mask)
    keep = np.arange(len(scores))
    if cfg.TEST.USE_NMS and cfg.TEST.OKS_THRE < 1:
        keep = nms_per_group(cfg, raw, scores, scheme)
    official = official_scheme(scheme)
    kps = scheme.convert(raw.keypoints[keep], raw.category_ids[keep], official)
    return Submission(raw.image_ids[keep], raw.category_ids[keep], kps, scores[keep],
                      raw.boxes[keep])


def nms_per_group(cfg: CfgNode, raw: RawPredictions, scores: np.ndarray,
                  scheme: KeypointScheme) -> np.ndarray:
    """OKS-NMS inside each (image, category) group; returns kept indices in input order."""
    from ..nms import oks_nms, soft_oks_nms

    nms = soft_oks_nms if cfg.TEST.SOFT_NMS else oks_nms
    key = raw.image_ids.astype(np.int64) * 1000 + raw.category_ids.astype(np.int64)
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    kept = []
    for group in np.split(order, bounds):
        if len(group) == 1:
            kept.append(group)
            continue
        k = nms(raw.keypoints[group], scores[group], raw.areas[group], cfg.TEST.OKS_THRE,
                scheme.sigmas, cfg.TEST.IN_VIS_THRE)
        kept.append(group[np.asarray(k, dtype=np.int64)])
    return np.sort(np.concatenate(kept))


def evaluate_submission(sub: Submission, gt: Any, results_path: Path | None) -> dict:
    """Write the results file (atomic) and compute the official AP of exactly what it holds.

    ``gt`` is a COCO-style dict or path in the official layout (already restricted to the
    categories under test). Returns ``{AP, AP50, ..., ARl, per_category: {name: AP}}``.
    """
    from ..evaluation import STAT_NAMES, GroundTruth, evaluate_keypoints, write_results

    if results_path is not None:
        write_results(results_path, sub.image_ids, sub.category_ids, sub.keypoints, sub.scores,
                      boxes=sub.boxes)
    result = evaluate_keypoints(GroundTruth.load(gt), sub.image_ids, sub.category_ids,
                                sub.keypoints, sub.scores, as_submission=True)
    stats: dict = {k: float(result.stats[k]) for k in STAT_NAMES}
    stats["per_category"] = {k: float(v) for k, v in result.per_category.items()}
    return stats


def save_stats(stats: dict, path: Path) -> None:
    atomic_write_json(path, stats, indent=2)


def empty_cuda_cache() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def validate(cfg: CfgNode, model: nn.Module, dataset: Any, info: DistInfo, results_dir: Path,
             tag: str) -> dict:
    """Full test path on ``dataset``; returns the stats (AP, ..., per_category) on every rank."""
    from ..evaluation import format_stats_table
    from ..utils.dist import broadcast_object

    raw = predict_dataset(cfg, model, dataset, info)
    stats: dict = {}
    if info.is_main and dataset.scheme.family == "fashionai":  # CSV + NE; AP = -NE
        from ..workflow.fashionai import validate_fashionai
        stats = validate_fashionai(raw, dataset, Path(results_dir), tag, cfg.DATASET.TEST_SET)
    elif info.is_main:
        sub = postprocess(cfg, raw, dataset.scheme)
        name = f"keypoints_{cfg.DATASET.TEST_SET}_results_{tag}.json"
        stats = evaluate_submission(sub, dataset.evaluation_gt(), Path(results_dir) / name)
        save_stats(stats, Path(results_dir) / f"stats_{cfg.DATASET.TEST_SET}_{tag}.json")
        logger.info("evaluation (%s, %d instances):\n%s", tag, len(sub.scores),
                    format_stats_table(stats))
    return broadcast_object(stats)
