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

from ..data.batch import batch_preparer
from ..keypoints import KeypointScheme, get_scheme
from ..utils.dist import DistInfo, all_gather_objects
from ..utils.io import atomic_write_json
from .function import RawPredictions, run_inference
from .inference import dark_kernel_size, get_final_preds, rescore

logger = logging.getLogger(__name__)


@dataclass
class Submission:
    """Final instances in the official layout of the scheme's family (294 for DeepFashion2)."""

    image_ids: np.ndarray      # (N,)
    category_ids: np.ndarray   # (N,)
    keypoints: np.ndarray      # (N, K_official, 3)
    scores: np.ndarray         # (N,)
    boxes: np.ndarray          # (N, 4) x, y, w, h: the detection (or GT) box of each instance


def shard_loader(cfg: CfgNode, dataset: Dataset, info: DistInfo) -> DataLoader:
    """Each rank takes every world_size-th box (no padding, unlike DistributedSampler), so the
    gathered predictions are exactly those of a single process."""
    indices = list(range(info.rank, len(dataset), info.world_size))
    return DataLoader(Subset(dataset, indices), batch_size=cfg.TEST.BATCH_SIZE_PER_GPU,
                      shuffle=False, num_workers=cfg.WORKERS,
                      pin_memory=cfg.PIN_MEMORY and info.device.type == "cuda")


def make_decoder(cfg: CfgNode):
    """``decode(heatmaps, centers, scales) -> (xy, maxvals)`` as the config says: the
    refinement (``TEST.*``), DARK's kernel from ``MODEL.SIGMA`` (``TEST.DARK_KERNEL`` 0) and the
    back-projection of the crop the model was trained with (UDP with ``DATASET.USE_UDP``)."""
    udp = bool(cfg.DATASET.USE_UDP)
    dark_kernel = int(cfg.TEST.DARK_KERNEL) or dark_kernel_size(cfg.MODEL.SIGMA)
    if cfg.TEST.BLUR_KERNEL > 0 or cfg.TEST.SECOND_MAX_OFFSET:  # FashionAI reference filters
        from .heatmap_filters import decode_heatmaps

        def decode_filtered(heatmaps: np.ndarray, centers: np.ndarray, scales: np.ndarray):
            return decode_heatmaps(heatmaps, centers, scales, blur_kernel=cfg.TEST.BLUR_KERNEL,
                                   second_max=cfg.TEST.SECOND_MAX_OFFSET,
                                   post_process=cfg.TEST.POST_PROCESS,
                                   dark=cfg.TEST.POST_PROCESS_DARK, dark_kernel=dark_kernel,
                                   udp=udp)
        return decode_filtered

    def decode(heatmaps: np.ndarray, centers: np.ndarray, scales: np.ndarray):
        return get_final_preds(heatmaps, centers, scales, post_process=cfg.TEST.POST_PROCESS,
                               dark=cfg.TEST.POST_PROCESS_DARK, blur_kernel=dark_kernel, udp=udp)
    return decode


def predict_dataset(cfg: CfgNode, model: nn.Module, dataset: Any, info: DistInfo,
                    show_progress: bool = True) -> RawPredictions:
    """All boxes of ``dataset`` predicted (flip test per config), gathered on every rank."""
    scheme: KeypointScheme = dataset.scheme
    flip_index = scheme.flip_index if cfg.TEST.FLIP_TEST else None
    prepare = batch_preparer(dataset, info.device, cfg.TRAIN.CHANNELS_LAST, targets=False,
                             reuse_buffers=True)
    part = run_inference(model, shard_loader(cfg, dataset, info), make_decoder(cfg),
                         prepare=prepare, flip_index=flip_index,
                         shift_heatmap=cfg.TEST.SHIFT_HEATMAP, amp=cfg.TRAIN.AMP,
                         channels_last=cfg.TRAIN.CHANNELS_LAST,
                         show_progress=show_progress and info.is_main)
    return RawPredictions.concatenate(all_gather_objects(part), scheme.num_keypoints)


def official_scheme(scheme: KeypointScheme) -> KeypointScheme:
    """The layout results are written and evaluated in (DeepFashion2: the 294 vector)."""
    return get_scheme(scheme.family)


def postprocess(cfg: CfgNode, raw: RawPredictions, scheme: KeypointScheme) -> Submission:
    """Rescore, optionally OKS-NMS (``nms_per_group``), and convert to the official layout."""
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
                      raw.source_boxes[keep])


NMS_MODES = ("hrnet", "mmpose")


def nms_groups(mode: str, image_ids: np.ndarray, category_ids: np.ndarray) -> list[np.ndarray]:
    """Index groups NMS runs in: per image (``hrnet``) or per (image, category) (``mmpose``)."""
    if mode not in NMS_MODES:
        raise ValueError(f"TEST.NMS_MODE {mode!r} is not one of {NMS_MODES}")
    img = np.asarray(image_ids, dtype=np.int64).reshape(-1)
    key = img[:, None] if mode == "hrnet" else \
        np.stack([img, np.asarray(category_ids, dtype=np.int64).reshape(-1)], axis=1)
    if len(img) == 0:
        return []
    _, inverse = np.unique(key, axis=0, return_inverse=True)
    order = np.argsort(inverse.reshape(-1), kind="stable")
    bounds = np.flatnonzero(np.diff(inverse.reshape(-1)[order])) + 1
    return np.split(order, bounds)


def nms_per_group(cfg: CfgNode, raw: RawPredictions, scores: np.ndarray,
                  scheme: KeypointScheme) -> np.ndarray:
    """OKS-NMS (or soft OKS-NMS) of the rescored instances; kept indices in input order.

    ``TEST.NMS_MODE hrnet`` (default) is HRNet's ``coco.py``: one group per image (every
    category together), OKS over all K channels of the model's layout (``oks_nms`` called
    without ``in_vis_thre``), box areas (scale * 200)^2. ``mmpose`` is the variant this toolkit
    used before: one group per (image, category) and only keypoints whose score exceeds
    ``TEST.IN_VIS_THRE`` in both instances (mmpose's ``oks_iou(vis_thr=...)``).
    """
    from ..nms import oks_nms, soft_oks_nms

    mode = cfg.TEST.NMS_MODE
    nms = soft_oks_nms if cfg.TEST.SOFT_NMS else oks_nms
    vis = cfg.TEST.IN_VIS_THRE if mode == "mmpose" else None
    kept = []
    for group in nms_groups(mode, raw.image_ids, raw.category_ids):
        if len(group) == 1:
            kept.append(group)
            continue
        k = nms(raw.keypoints[group], scores[group], raw.areas[group], cfg.TEST.OKS_THRE,
                scheme.sigmas, vis)
        kept.append(group[np.asarray(k, dtype=np.int64)])
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, np.int64)


def evaluate_submission(sub: Submission, gt: Any, results_path: Path | None) -> dict:
    """Write the results file (atomic) and compute the official AP of exactly what it holds
    (the file carries each instance's box, so the official area rule takes areas from it).

    ``gt`` is a COCO-style dict or path in the official layout (already restricted to the
    categories under test). Returns ``{AP, AP50, ..., ARl, per_category: {name: AP}}``.
    """
    from ..evaluation import STAT_NAMES, GroundTruth, evaluate_keypoints, write_results

    if results_path is not None:
        write_results(results_path, sub.image_ids, sub.category_ids, sub.keypoints, sub.scores,
                      boxes=sub.boxes)
    result = evaluate_keypoints(GroundTruth.load(gt), sub.image_ids, sub.category_ids,
                                sub.keypoints, sub.scores, as_submission=True,
                                boxes=sub.boxes)
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
    from ..utils.dist import broadcast_buffers, broadcast_object
    from .checkpoint import unwrap

    # Not through the DDP wrapper: its forward broadcasts buffers, a collective that ranks with
    # no validation batch (more ranks than boxes) never join -> deadlock. The broadcast is done
    # here once, by every rank, so all ranks still validate with rank 0's BatchNorm statistics.
    broadcast_buffers(model)
    raw = predict_dataset(cfg, unwrap(model), dataset, info)
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
