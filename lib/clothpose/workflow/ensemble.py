"""Result-level ensembling: average the keypoints and scores of the same instances over N files.

Instances are matched by image id, category and detection box (IoU), never by float keys: the
seed keyed instances on ``center_x + 1.7 * center_y``, which collides and breaks on rounding.
Every file must describe the same instances (the same detections run through different models);
anything else is an error that says which instance has no partner.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from ..errors import InputError


class EnsembleError(InputError):
    """The result files do not describe the same instances."""


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of (n, 4) and (m, 4) xywh boxes."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return inter / np.maximum(union, 1e-12)


def _groups(results: list[dict], name: str) -> dict[tuple[int, int], list[int]]:
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, r in enumerate(results):
        if "bbox" not in r:
            raise EnsembleError(f"{name}: entry {i} has no 'bbox'; ensembling matches instances "
                                "by box (results written by clothpose carry it)")
        groups[(int(r["image_id"]), int(r["category_id"]))].append(i)
    return groups


def match_instances(reference: list[dict], other: list[dict], names: tuple[str, str],
                    min_iou: float = 0.9) -> np.ndarray:
    """For each reference entry, the index of the same instance in ``other``."""
    ref_groups, oth_groups = _groups(reference, names[0]), _groups(other, names[1])
    only = sorted(set(ref_groups) ^ set(oth_groups))
    if only:
        img, cat = only[0]
        where = names[0] if (img, cat) in ref_groups else names[1]
        raise EnsembleError(f"{names[0]} and {names[1]} do not describe the same instances: "
                            f"image {img} category {cat} is only in {where}")
    match = np.full(len(reference), -1, dtype=np.int64)
    for key, ref_idx in ref_groups.items():
        oth_idx = oth_groups[key]
        if len(ref_idx) != len(oth_idx):
            raise EnsembleError(f"image {key[0]} category {key[1]}: {len(ref_idx)} instances in "
                                f"{names[0]} but {len(oth_idx)} in {names[1]}")
        a = np.array([reference[i]["bbox"] for i in ref_idx], dtype=np.float64)
        b = np.array([other[i]["bbox"] for i in oth_idx], dtype=np.float64)
        iou = _box_iou(a, b)
        for _ in range(len(ref_idx)):  # greedy on the best remaining pair
            r, o = np.unravel_index(np.argmax(iou), iou.shape)
            if iou[r, o] < min_iou:
                raise EnsembleError(f"image {key[0]} category {key[1]}: box {a[r].tolist()} of "
                                    f"{names[0]} has no partner in {names[1]} (IoU >= {min_iou})")
            match[ref_idx[r]] = oth_idx[o]
            iou[r, :], iou[:, o] = -1, -1
    return match


def ensemble_results(result_lists: Sequence[list[dict]], names: Sequence[str] | None = None,
                     weights: Sequence[float] | None = None) -> list[dict]:
    """Average keypoints (x, y, score) and instance scores over files, instance by instance."""
    if len(result_lists) < 2:
        raise EnsembleError("ensembling needs at least two result files")
    names = list(names or [f"file{i}" for i in range(len(result_lists))])
    w = np.asarray(weights if weights is not None else [1.0] * len(result_lists), dtype=np.float64)
    w = w / w.sum()
    ref = result_lists[0]
    kps = np.array([r["keypoints"] for r in ref], dtype=np.float64) * w[0]
    scores = np.array([r["score"] for r in ref], dtype=np.float64) * w[0]
    for lst, name, wi in zip(result_lists[1:], names[1:], w[1:]):
        m = match_instances(ref, lst, (names[0], name))
        kps += np.array([lst[j]["keypoints"] for j in m], dtype=np.float64) * wi
        scores += np.array([lst[j]["score"] for j in m], dtype=np.float64) * wi
    return [dict(r, keypoints=k.tolist(), score=float(s)) for r, k, s in zip(ref, kps, scores)]
