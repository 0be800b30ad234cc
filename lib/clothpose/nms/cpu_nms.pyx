# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""OKS-NMS and soft OKS-NMS loops in C (same definitions as ``clothpose.nms.oks_nms``).

Inputs are validated and ordered by the Python wrapper; these functions only run the loops.
"""
import numpy as np

from libc.math cimport exp

cdef double EPS = np.spacing(1)


cdef inline double _term(const double[:, :, ::1] kpts, Py_ssize_t g, Py_ssize_t d,
                         Py_ssize_t j, const double[::1] variances, double scale) noexcept nogil:
    cdef double dx = kpts[d, j, 0] - kpts[g, j, 0]
    cdef double dy = kpts[d, j, 1] - kpts[g, j, 1]
    cdef double e = (dx * dx + dy * dy) / variances[j] / scale / 2
    if e > 746.0:       # exp(-e) underflows to exactly 0.0; skip the call
        return 0.0
    return exp(-e)


cdef double _oks(const double[:, :, ::1] kpts, Py_ssize_t g, Py_ssize_t d,
                 const double[::1] variances, const double[::1] areas,
                 bint use_vis, double vis_thre) noexcept nogil:
    """OKS between instance g (the kept one) and d, HRNet's ``oks_iou`` definition."""
    cdef Py_ssize_t j, k = kpts.shape[1], count = 0
    cdef double scale = (areas[g] + areas[d]) / 2 + EPS
    cdef double total = 0.0
    for j in range(k):
        if use_vis and not (kpts[g, j, 2] > vis_thre and kpts[d, j, 2] > vis_thre):
            continue
        total += _term(kpts, g, d, j, variances, scale)
        count += 1
    if count == 0:
        return 0.0
    return total / count


cdef bint _oks_above(const double[:, :, ::1] kpts, Py_ssize_t g, Py_ssize_t d,
                     const double[::1] variances, const double[::1] areas,
                     bint use_vis, double vis_thre, double thresh) noexcept nogil:
    """Whether OKS(g, d) > thresh, stopping as soon as the answer is certain: every term lies
    in [0, 1], so with partial sum s over c counted keypoints and r slots left, the final
    OKS lies in [s / (c + r), (s + r) / (c + r)] (and in [s / c, ...] when nothing is left)."""
    cdef Py_ssize_t j, k = kpts.shape[1], count = 0, left
    cdef double scale = (areas[g] + areas[d]) / 2 + EPS
    cdef double total = 0.0
    for j in range(k):
        if use_vis and not (kpts[g, j, 2] > vis_thre and kpts[d, j, 2] > vis_thre):
            continue
        total += _term(kpts, g, d, j, variances, scale)
        count += 1
        left = k - 1 - j
        if (total + left) <= thresh * (count + left):
            return False
        if not use_vis and total > thresh * k:
            return True
    if count == 0:
        return 0.0 > thresh
    return total / count > thresh


def oks_nms_loop(const double[:, :, ::1] kpts, const long long[::1] order,
                 const double[::1] areas, double thresh, const double[::1] variances,
                 bint use_vis, double vis_thre):
    """Greedy NMS over ``order`` (highest score first); drops OKS > thresh. Returns keep."""
    cdef Py_ssize_t n = order.shape[0], a, b, i, j
    cdef unsigned char[::1] removed = np.zeros(kpts.shape[0], dtype=np.uint8)
    cdef long long[::1] keep = np.empty(n, dtype=np.int64)
    cdef Py_ssize_t num_keep = 0
    with nogil:
        for a in range(n):
            i = order[a]
            if removed[i]:
                continue
            keep[num_keep] = i
            num_keep += 1
            for b in range(a + 1, n):
                j = order[b]
                if not removed[j] and _oks_above(kpts, i, j, variances, areas, use_vis, vis_thre,
                                                  thresh):
                    removed[j] = 1
    return np.asarray(keep[:num_keep]).copy()


def soft_oks_nms_loop(const double[:, :, ::1] kpts, double[::1] scores,
                      const double[::1] areas, double sigma, const double[::1] variances,
                      bint use_vis, double vis_thre, Py_ssize_t max_dets):
    """Soft NMS: take the highest current score (lowest index on ties), multiply every other
    remaining score by exp(-oks^2 / sigma), repeat up to max_dets. ``scores`` is updated."""
    cdef Py_ssize_t n = scores.shape[0], i, j, best, num_keep = 0
    cdef unsigned char[::1] taken = np.zeros(n, dtype=np.uint8)
    cdef long long[::1] keep = np.empty(min(n, max(max_dets, 0)), dtype=np.int64)
    cdef double o
    with nogil:
        while num_keep < keep.shape[0]:
            best = -1
            for i in range(n):
                if not taken[i] and (best < 0 or scores[i] > scores[best]):
                    best = i
            if best < 0:
                break
            taken[best] = 1
            keep[num_keep] = best
            num_keep += 1
            for j in range(n):
                if not taken[j]:
                    o = _oks(kpts, best, j, variances, areas, use_vis, vis_thre)
                    scores[j] = scores[j] * exp(-(o * o) / sigma)
    return np.asarray(keep[:num_keep]).copy()
