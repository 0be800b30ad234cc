"""COCOeval's greedy matching, vectorised, for any similarity (keypoint OKS or box IoU).

``COCOeval.evaluateImg`` visits each (image, category) group; detections in score order
(mergesort) each take the free GT with the highest similarity >= the threshold, ties going to
the later GT (its ``<`` test), a crowd GT may be taken repeatedly, and a non-ignored GT always
wins over an ignored one (GTs are sorted by their ignore flag, and the search stops at the
first ignored GT once a regular one matched). Here all groups, thresholds and area ranges run
at once: groups are bucketed by their number of GTs and the loop runs over detection ranks only.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def group_pairs(gt_group_keys: np.ndarray, dt_keys: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (detection, GT) pair of the same group.

    Args:
        gt_group_keys: (M,) sorted group key of each GT.
        dt_keys: (Nd,) group key of each detection.

    Returns:
        gs (Nd,) first GT of each detection's group, num_g (Nd,) its GT count, pair_start
        (Nd,) offset of the detection's pairs, dt_index (P,), gt_index (P,).
    """
    gs = np.searchsorted(gt_group_keys, dt_keys, side="left")
    num_g = np.searchsorted(gt_group_keys, dt_keys, side="right") - gs
    pair_start = np.concatenate([[0], np.cumsum(num_g)[:-1]]).astype(np.int64)
    dt_index = np.repeat(np.arange(len(num_g)), num_g)
    gt_index = np.repeat(gs, num_g) + np.arange(len(dt_index)) - np.repeat(pair_start, num_g)
    return gs, num_g, pair_start, dt_index, gt_index


def greedy_match(gt_group_keys: np.ndarray, dt_keys: np.ndarray, dt_ranks: np.ndarray,
                 similarity: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 gt_ignore: np.ndarray, gt_crowd: np.ndarray, thresholds: np.ndarray
                 ) -> np.ndarray:
    """Match detections to GT as COCOeval does.

    Args:
        gt_group_keys: (M,) sorted group key of each GT (GT in file order inside a group).
        dt_keys, dt_ranks: (Nd,) group key and score rank inside the group (0 = best) of each
            detection; detections of a group are contiguous, in rank order.
        similarity: ``similarity(dt_index, gt_index) -> (P,)`` OKS / IoU of the pairs.
        gt_ignore: (A, M) GT ignored in each area range.
        gt_crowd: (M,) crowd GT (may be matched more than once).
        thresholds: (T,) similarity thresholds.

    Returns:
        (Nd, A, T) index of the matched GT, -1 if none.
    """
    num_a, num_t = gt_ignore.shape[0], len(thresholds)
    dt_match = np.full((len(dt_keys), num_a, num_t), -1, dtype=np.int64)
    if len(dt_keys) == 0 or len(gt_group_keys) == 0:
        return dt_match
    gs, num_g, pair_start, dt_index, gt_index = group_pairs(gt_group_keys, dt_keys)
    sim = similarity(dt_index, gt_index)
    thr = np.minimum(thresholds, 1 - 1e-10)
    for g in np.unique(num_g[num_g > 0]):
        js = np.nonzero(num_g == g)[0]                       # detections of this bucket
        first = js[dt_ranks[js] == 0]                        # one per group
        group_of = np.searchsorted(dt_keys[first], dt_keys[js])
        table = np.full((len(first), int(dt_ranks[js].max()) + 1, g), -1.0)
        table[group_of, dt_ranks[js]] = sim[pair_start[js][:, None] + np.arange(g)]
        gidx = gs[first][:, None] + np.arange(g)             # (B, g) global GT index
        dt_of = np.full(table.shape[:2], -1, dtype=np.int64)
        dt_of[group_of, dt_ranks[js]] = js
        _match_bucket(table, gidx, gt_ignore, gt_crowd, thr, dt_of, dt_match)
    return dt_match


def _match_bucket(table: np.ndarray, gidx: np.ndarray, ign: np.ndarray, crowd: np.ndarray,
                  thr: np.ndarray, dt_of: np.ndarray, dt_match: np.ndarray) -> None:
    """Groups with the same GT count g: table (B, D, g) similarity (-1 = no detection)."""
    b, d, g = table.shape
    gt_ign = np.transpose(ign[:, gidx], (1, 0, 2))[:, :, None, :]    # (B, A, 1, g)
    gt_crowd = crowd[gidx][:, None, None, :]
    matched = np.zeros((b, gt_ign.shape[1], len(thr), g), dtype=bool)
    for r in range(d):
        act = np.nonzero(dt_of[:, r] >= 0)[0]
        o = table[act, r][:, None, None, :]                          # (n, 1, 1, g)
        ok = (o >= thr[None, None, :, None]) & (~matched[act] | gt_crowd[act])
        ig = gt_ign[act]
        regular = ok & ~ig
        has_regular = regular.any(axis=-1, keepdims=True)
        cand = np.where(has_regular, regular, ok & ig)
        # best similarity, ties resolved to the later GT (pycocotools' ``<`` test)
        val = np.where(cand, o, -np.inf)[..., ::-1]
        m = g - 1 - np.argmax(val, axis=-1)
        has = cand.any(axis=-1)
        matched[act] |= (np.arange(g) == m[..., None]) & has[..., None]
        chosen = gidx[act][np.arange(len(act))[:, None, None], m]    # (n, A, T)
        dt_match[dt_of[act, r]] = np.where(has, chosen, -1)
