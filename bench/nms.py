"""Benchmark: OKS-NMS and soft OKS-NMS, Cython extension vs NumPy, 294 keypoints.

    python bench/nms.py [--candidates 1000] [--repeats 5]

Candidates are clustered (several noisy copies per object) so NMS has real work to do.
Asserts both implementations keep the same instances.
"""
from __future__ import annotations

import argparse

import numpy as np

from clothpose.keypoints import get_scheme
from clothpose.nms import oks_nms, oks_nms_numpy, soft_oks_nms, soft_oks_nms_numpy
from clothpose.nms.suppression import _extension
from timing import median_time  # bench/timing.py, beside this script


def make_candidates(n: int, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    objects = max(1, n // 10)
    base = rng.uniform(-60, 60, (objects, k, 2)) + rng.uniform(0, 1500, (objects, 1, 2))
    pick = rng.integers(0, objects, n)
    kpts = np.empty((n, k, 3))
    kpts[:, :, :2] = base[pick] + rng.normal(size=(n, k, 2)) * rng.uniform(0.2, 5, (n, 1, 1))
    kpts[:, :, 2] = rng.uniform(0, 1, (n, k))
    return kpts, rng.uniform(0, 1, n), rng.uniform(3000, 30000, n)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--candidates", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    if _extension() is None:
        raise SystemExit("cpu_nms extension is not built; run `make install`")
    sigmas = get_scheme("deepfashion2").sigmas
    kpts, scores, areas = make_candidates(args.candidates, len(sigmas))
    print(f"{args.candidates} candidates x {len(sigmas)} keypoints, median of {args.repeats}")
    cases = [
        ("oks_nms thresh 0.9", lambda: oks_nms(kpts, scores, areas, 0.9, sigmas),
         lambda: oks_nms_numpy(kpts, scores, areas, 0.9, sigmas)),
        ("oks_nms thresh 0.9 vis 0.2", lambda: oks_nms(kpts, scores, areas, 0.9, sigmas, 0.2),
         lambda: oks_nms_numpy(kpts, scores, areas, 0.9, sigmas, 0.2)),
        ("soft_oks_nms 20 dets", lambda: soft_oks_nms(kpts, scores, areas, 0.3, sigmas),
         lambda: soft_oks_nms_numpy(kpts, scores, areas, 0.3, sigmas)),
    ]
    for name, fast, ref in cases:
        t_c, keep_c = median_time(fast, args.repeats)
        t_n, keep_n = median_time(ref, args.repeats)
        assert np.array_equal(keep_c, keep_n), name
        print(f"{name:28s} cython {t_c * 1e3:8.2f} ms   numpy {t_n * 1e3:8.2f} ms   "
              f"ratio {t_n / t_c:5.1f}x   kept {len(keep_c)}")


if __name__ == "__main__":
    main()
