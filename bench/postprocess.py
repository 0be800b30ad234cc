"""Benchmark: heatmap decoding and flip-back, HRNet-style loops vs clothpose's vectorised code.

    python bench/postprocess.py [--batch 64] [--repeats 7]

Batch of 64 heatmaps 81 x 128 x 96 (the aggregated DeepFashion2 head at 512 x 384 input).
The references below are written the way HRNet's ``lib/core/inference.py`` and
``lib/utils/transforms.py`` work: loops over samples and keypoints, a per-keypoint affine
product, and flip-back as a reversed view plus one copy per flip pair (followed by the
``.copy()`` HRNet's ``validate`` makes before handing the array to torch).
Asserts that both give the same outputs.
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

from clothpose.core.inference import get_final_preds
from clothpose.keypoints import get_scheme
from clothpose.utils.transforms import flip_back, get_affine_transform


def hrnet_style_final_preds(heatmaps, center, scale):
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, -1)
    idx = np.argmax(flat, 2).reshape(n, k, 1)
    maxvals = np.amax(flat, 2).reshape(n, k, 1)
    coords = np.tile(idx, (1, 1, 2)).astype(np.float32)
    coords[:, :, 0] = coords[:, :, 0] % w
    coords[:, :, 1] = np.floor(coords[:, :, 1] / w)
    coords *= np.tile(np.greater(maxvals, 0.0), (1, 1, 2)).astype(np.float32)
    for i in range(n):
        for j in range(k):
            hm = heatmaps[i][j]
            px = int(math.floor(coords[i][j][0] + 0.5))
            py = int(math.floor(coords[i][j][1] + 0.5))
            if 1 < px < w - 1 and 1 < py < h - 1:
                diff = np.array([hm[py][px + 1] - hm[py][px - 1], hm[py + 1][px] - hm[py - 1][px]])
                coords[i][j] += np.sign(diff) * .25
    preds = coords.copy()
    for i in range(n):
        trans = get_affine_transform(center[i], scale[i], 0, [w, h], inv=True)
        for j in range(k):
            pt = np.array([coords[i, j, 0], coords[i, j, 1], 1.0])
            preds[i, j] = np.dot(trans, pt)[:2]
    return preds, maxvals


def hrnet_style_flip_back(heatmaps, flip_pairs):
    out = heatmaps[:, :, :, ::-1]
    for a, b in flip_pairs:
        tmp = out[:, a, :, :].copy()
        out[:, a, :, :] = out[:, b, :, :]
        out[:, b, :, :] = tmp
    return out.copy()


def median_times(fns, repeats):
    """Run the functions interleaved (a, b, a, b, ...) so both see the same machine load;
    returns [(median seconds, last output), ...]."""
    times, outs = [[] for _ in fns], [None] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            outs[i] = fn()
            times[i].append(time.perf_counter() - t)
    return [(statistics.median(t), o) for t, o in zip(times, outs)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=11)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    scheme = get_scheme("deepfashion2-agg81")
    k, h, w = scheme.num_keypoints, 128, 96
    heatmaps = rng.random((args.batch, k, h, w), dtype=np.float32) * 0.2
    peaks = rng.integers(0, [h, w], (args.batch, k, 2))
    heatmaps[np.arange(args.batch)[:, None], np.arange(k), peaks[..., 0], peaks[..., 1]] = 1.0
    center = rng.uniform(100, 500, (args.batch, 2)).astype(np.float32)
    scale = rng.uniform(0.5, 3, (args.batch, 2)).astype(np.float32)
    print(f"batch {args.batch} x {k} x {h} x {w} float32, median of {args.repeats}")

    (t_ref, (ref_p, ref_v)), (t_new, (new_p, new_v)), (t_dark, _) = median_times(
        [lambda: hrnet_style_final_preds(heatmaps, center, scale),
         lambda: get_final_preds(heatmaps, center, scale),
         lambda: get_final_preds(heatmaps, center, scale, dark=True)], args.repeats)
    # HRNet stores predictions in float32; ours are float64
    assert np.allclose(new_p, ref_p, rtol=0, atol=1e-3) and np.array_equal(new_v, ref_v)
    print(f"get_final_preds (quarter shift) HRNet-style {t_ref * 1e3:8.2f} ms   "
          f"clothpose {t_new * 1e3:8.2f} ms   ratio {t_ref / t_new:5.1f}x")
    print(f"get_final_preds (DARK)                                clothpose {t_dark * 1e3:8.2f} ms")

    pairs = scheme.flip_pairs
    (t_ref, ref_f), (t_copy, _), (t_new, new_f) = median_times(
        [lambda: hrnet_style_flip_back(heatmaps.copy(), pairs), lambda: heatmaps.copy(),
         lambda: flip_back(heatmaps, scheme.flip_index)], args.repeats)
    assert np.array_equal(ref_f, new_f)
    t_ref -= t_copy   # the reference mutates its input; the protective copy is not its cost
    print(f"flip_back ({len(pairs)} pairs)             HRNet-style {t_ref * 1e3:8.2f} ms   "
          f"clothpose {t_new * 1e3:8.2f} ms   ratio {t_ref / t_new:5.1f}x")


if __name__ == "__main__":
    main()
