"""OKS-based non-maximum suppression for keypoint instances (HRNet's definitions).

OKS between a kept instance g and another instance d (HRNet ``oks_iou``):
``e_k = |p_d,k - p_g,k|^2 / (2 sigma_k)^2 / ((area_g + area_d) / 2 + eps) / 2`` and
OKS = mean_k exp(-e_k), over the keypoints whose scores exceed ``in_vis_thre`` in **both**
instances when a threshold is given (0 when none does). HRNet writes that selection as
``list(vg > t) and list(vd > t)``, which in Python evaluates to the detection's mask alone; the
intended "both visible" test is used here (as mmpose does).

* ``oks_nms``: greedy, highest score first; drops instances with OKS > ``thresh`` to a kept one.
* ``soft_oks_nms``: repeatedly keeps the highest current score and multiplies the remaining
  scores by ``exp(-oks^2 / thresh)`` (HRNet's Gaussian rescoring), up to ``max_dets`` (HRNet: 20).

Ties in score are broken by the lower index (HRNet's reversed quicksort order is unspecified).
The sigmas are a required argument: a scheme's sigmas (``get_scheme(name).sigmas``), never a
silent COCO default. The loops run in the compiled ``cpu_nms`` extension when it is built;
otherwise a NumPy implementation with identical results is used and a warning is logged once.
"""
from __future__ import annotations

import functools
import logging

import numpy as np

logger = logging.getLogger(__name__)

_EPS = np.spacing(1)


@functools.lru_cache(maxsize=1)
def _extension():
    try:
        from . import cpu_nms
    except ImportError as e:  # not built (e.g. source checkout without `make install`)
        logger.warning("clothpose.nms.cpu_nms extension not available (%s); using the NumPy "
                       "OKS-NMS (same results, slower). Run `make install` to build it.", e)
        return None
    return cpu_nms


def _inputs(keypoints, scores, areas, sigmas):
    kpts = np.ascontiguousarray(keypoints, dtype=np.float64)
    sc = np.ascontiguousarray(scores, dtype=np.float64).reshape(-1)
    ar = np.ascontiguousarray(areas, dtype=np.float64).reshape(-1)
    if sigmas is None:
        raise ValueError("sigmas are required (use the keypoint scheme's sigmas)")
    sg = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    n = len(sc)
    if kpts.ndim != 3 or kpts.shape[0] != n or kpts.shape[2] < 3 or len(ar) != n:
        raise ValueError(f"expected keypoints (N, K, 3), scores (N,), areas (N,); got "
                         f"{kpts.shape}, {sc.shape}, {ar.shape}")
    if kpts.shape[1] != len(sg):
        raise ValueError(f"{len(sg)} sigmas given for {kpts.shape[1]} keypoints")
    if not (np.isfinite(sc).all() and np.isfinite(ar).all() and np.isfinite(kpts).all()):
        raise ValueError("keypoints, scores and areas must be finite")
    return np.ascontiguousarray(kpts[:, :, :3]), sc, ar, (sg * 2) ** 2


def _vis(in_vis_thre: float | None) -> tuple[bool, float]:
    return (in_vis_thre is not None), (0.0 if in_vis_thre is None else float(in_vis_thre))


def oks_to_others(kpts: np.ndarray, g: int, others: np.ndarray, areas: np.ndarray,
                  variances: np.ndarray, in_vis_thre: float | None = None) -> np.ndarray:
    """OKS of instance ``g`` against each of ``others`` (vectorised over instances)."""
    d = kpts[others]
    dx = d[:, :, 0] - kpts[g, :, 0]
    dy = d[:, :, 1] - kpts[g, :, 1]
    scale = ((areas[g] + areas[others]) / 2 + _EPS)[:, None]
    terms = np.exp(-((dx * dx + dy * dy) / variances / scale / 2))
    if in_vis_thre is None:
        return terms.sum(axis=1) / kpts.shape[1]
    sel = (kpts[g, :, 2] > in_vis_thre)[None, :] & (d[:, :, 2] > in_vis_thre)
    count = sel.sum(axis=1)
    total = np.where(sel, terms, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def oks_nms_numpy(keypoints, scores, areas, thresh: float, sigmas,
                  in_vis_thre: float | None = None) -> np.ndarray:
    """NumPy OKS-NMS (reference for the extension); same arguments as ``oks_nms``."""
    kpts, sc, ar, var = _inputs(keypoints, scores, areas, sigmas)
    order = np.argsort(-sc, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        ovr = oks_to_others(kpts, i, order[1:], ar, var, in_vis_thre)
        order = order[1:][ovr <= thresh]
    return np.asarray(keep, dtype=np.int64)


def soft_oks_nms_numpy(keypoints, scores, areas, thresh: float, sigmas,
                       in_vis_thre: float | None = None, max_dets: int = 20) -> np.ndarray:
    """NumPy soft OKS-NMS (reference for the extension); same arguments as ``soft_oks_nms``."""
    kpts, sc, ar, var = _inputs(keypoints, scores, areas, sigmas)
    sc = sc.copy()
    alive = np.ones(len(sc), dtype=bool)
    keep = []
    while len(keep) < max_dets and alive.any():
        i = int(np.argmax(np.where(alive, sc, -np.inf)))
        keep.append(i)
        alive[i] = False
        rest = np.nonzero(alive)[0]
        ovr = oks_to_others(kpts, i, rest, ar, var, in_vis_thre)
        sc[rest] = sc[rest] * np.exp(-(ovr * ovr) / thresh)
    return np.asarray(keep, dtype=np.int64)


def oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray, thresh: float,
            sigmas: np.ndarray, in_vis_thre: float | None = None) -> np.ndarray:
    """Greedy OKS-NMS. Returns kept indices, highest score first.

    Args:
        keypoints: (N, K, 3) x, y, per-keypoint score.
        scores: (N,) instance scores; areas: (N,) instance areas (box w*h).
        thresh: instances with OKS > thresh to a kept instance are dropped.
        sigmas: (K,) OKS sigmas of the keypoint scheme (required).
        in_vis_thre: only keypoints scored above this in both instances count.
    """
    ext = _extension()
    if ext is None:
        return oks_nms_numpy(keypoints, scores, areas, thresh, sigmas, in_vis_thre)
    kpts, sc, ar, var = _inputs(keypoints, scores, areas, sigmas)
    order = np.argsort(-sc, kind="stable").astype(np.int64)
    return ext.oks_nms_loop(kpts, order, ar, float(thresh), var, *_vis(in_vis_thre))


def soft_oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray, thresh: float,
                 sigmas: np.ndarray, in_vis_thre: float | None = None,
                 max_dets: int = 20) -> np.ndarray:
    """Soft OKS-NMS (Gaussian rescoring, ``thresh`` is its sigma). Returns up to ``max_dets``
    indices in the order they were taken; arguments as ``oks_nms``."""
    ext = _extension()
    if ext is None:
        return soft_oks_nms_numpy(keypoints, scores, areas, thresh, sigmas, in_vis_thre, max_dets)
    kpts, sc, ar, var = _inputs(keypoints, scores, areas, sigmas)
    return ext.soft_oks_nms_loop(kpts, sc.copy(), ar, float(thresh), var, *_vis(in_vis_thre),
                                 int(max_dets))
