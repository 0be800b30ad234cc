#!/usr/bin/env python
"""Training-path throughput of KeypointDataset at 512x384 input, 81 joints (agg81), sigma 3.

Measured in the same run, on synthetic DeepFashion2 images generated into a temp dir:
  * ours, single process (OpenCV and torch limited to 1 thread: a per-core figure);
  * ours through a DataLoader with 2 workers;
  * an HRNet-style sample path (negative-stride flip view + warp, per-joint Python loops for the
    joint transform and the target, ToTensor/Normalize-style float conversion) as the baseline;
  * the target generator alone: vectorised vs HRNet's per-joint loop.
Figures are medians over several runs.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from clothpose.config import load_config
from clothpose.data import build_dataset
from clothpose.data.prepare import prepare_deepfashion2
from clothpose.data.synthetic import make_synthetic
from clothpose.data.targets import gaussian_targets
from clothpose.utils.transforms import get_affine_transform


def loop_targets(joints, vis, image_size, heatmap_size, sigma):
    """HRNet's generate_target: one Python iteration per joint."""
    w, h = heatmap_size
    k = len(joints)
    weight = np.asarray(vis, np.float32).reshape(k, 1).copy()
    target = np.zeros((k, h, w), np.float32)
    stride = np.asarray(image_size, float) / np.asarray(heatmap_size, float)
    tmp = sigma * 3
    for j in range(k):
        mx, my = int(joints[j][0] / stride[0] + 0.5), int(joints[j][1] / stride[1] + 0.5)
        ul, br = [int(mx - tmp), int(my - tmp)], [int(mx + tmp + 1), int(my + tmp + 1)]
        if ul[0] >= w or ul[1] >= h or br[0] < 0 or br[1] < 0:
            weight[j] = 0
            continue
        size = 2 * tmp + 1
        x = np.arange(0, size, 1, np.float32)
        y = x[:, None]
        g = np.exp(-((x - size // 2) ** 2 + (y - size // 2) ** 2) / (2 * sigma ** 2))
        gx = max(0, -ul[0]), min(br[0], w) - ul[0]
        gy = max(0, -ul[1]), min(br[1], h) - ul[1]
        ix, iy = (max(0, ul[0]), min(br[0], w)), (max(0, ul[1]), min(br[1], h))
        if weight[j] > 0.5:
            target[j][iy[0]:iy[1], ix[0]:ix[1]] = g[gy[0]:gy[1], gx[0]:gx[1]]
    return target, weight


_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def hrnet_style_sample(ds, idx, rng):
    """The upstream JointsDataset path, re-typed for the comparison."""
    rec = ds.records[idx]
    img = cv2.imread(rec["image"], cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    joints = rec["keypoints"].astype(np.float64).copy()
    c, s = (v.copy() for v in ds.boxes[idx])
    s = s * np.clip(rng.standard_normal() * 0.25 + 1, 0.75, 1.25)
    r = np.clip(rng.standard_normal() * 30, -60, 60) if rng.random() <= 0.6 else 0
    if rng.random() <= 0.5:
        img = img[:, ::-1, :]
        joints[:, 0] = (img.shape[1] - 1 - joints[:, 0]) * joints[:, 2]
        for a, b in ds.scheme.flip_pairs:
            joints[[a, b]] = joints[[b, a]]
        c[0] = img.shape[1] - c[0] - 1
    trans = get_affine_transform(c, s, r, ds.image_size)
    crop = cv2.warpAffine(img, trans, ds.image_size, flags=cv2.INTER_LINEAR)
    # torchvision ToTensor + Normalize (in place), as HRNet's transform
    t = torch.from_numpy(crop).permute(2, 0, 1).contiguous().float().div(255)
    t.sub_(_MEAN).div_(_STD)
    for j in range(len(joints)):
        if joints[j, 2] > 0:
            joints[j, :2] = trans @ np.array([joints[j, 0], joints[j, 1], 1.0])
    target, weight = loop_targets(joints, joints[:, 2], ds.image_size, ds.heatmap_size, ds.sigma)
    return t, torch.from_numpy(target), torch.from_numpy(weight)


def rates(fns: dict, n: int, runs: int) -> dict:
    """samples/s of each function, runs interleaved (load changes hit all alike); medians."""
    out: dict = {k: [] for k in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(n)
            out[name].append(n / (time.perf_counter() - t0))
    return {k: statistics.median(v) for k, v in out.items()}


def flipped_warp_rates(image: np.ndarray, runs: int) -> dict:
    """warpAffine of a negative-stride (flipped) view vs the flip composed into the matrix."""
    from clothpose.data.augment import crop_matrix
    c, s = np.array([250.0, 260.0]), np.array([1.8, 2.4])
    m_flip = crop_matrix(c, s, 10.0, (384, 512), image.shape[1])
    m_view = get_affine_transform(np.array([image.shape[1] - 1 - 250.0, 260.0]), s, 10.0,
                                  (384, 512))
    view = image[:, ::-1]
    return rates({"view": lambda k: [cv2.warpAffine(view, m_view, (384, 512)) for _ in range(k)],
                  "composed": lambda k: [cv2.warpAffine(image, m_flip, (384, 512))
                                         for _ in range(k)]}, 50, runs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=48)
    p.add_argument("--samples", type=int, default=96, help="samples per timed run")
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        make_synthetic(Path(tmp) / "raw", {"train": args.images}, seed=0, size=(512, 512))
        prepare_deepfashion2(Path(tmp) / "raw", Path(tmp) / "prep", ["train"], progress=False)
        cfg = load_config(None, ["DATASET.ROOT", str(Path(tmp) / "prep"), "DATASET.SCHEME",
                                 "deepfashion2-agg81", "MODEL.IMAGE_SIZE", "[384, 512]",
                                 "MODEL.HEATMAP_SIZE", "[96, 128]", "MODEL.SIGMA", "3",
                                 "DATASET.COLOR_RGB", "True"])
        ds = build_dataset(cfg, "train", is_train=True)
        n = len(ds)
        cv2.setNumThreads(1)               # per-core figures, as inside DataLoader workers
        torch.set_num_threads(1)
        rng = np.random.default_rng(0)
        r = rates({"ours": lambda k: [ds[i % n] for i in range(k)],
                   "base": lambda k: [hrnet_style_sample(ds, i % n, rng) for i in range(k)]},
                  args.samples, args.runs)

        def loader_pass(k: int) -> None:
            seen = 0
            for batch in DataLoader(ds, batch_size=8, shuffle=True, num_workers=2):
                seen += len(batch[0])
                if seen >= k:
                    break
        workers = rates({"w": loader_pass}, args.samples * 2, args.runs)["w"]
        joints = np.random.default_rng(1).uniform(0, 400, (81, 2))
        vis = np.ones(81)
        t = rates({"vec": lambda k: [gaussian_targets(joints, vis, (384, 512), (96, 128), 3.0)
                                     for _ in range(k)],
                   "loop": lambda k: [loop_targets(joints, vis, (384, 512), (96, 128), 3.0)
                                      for _ in range(k)]}, 200, args.runs)
        image = cv2.imread(ds.records[0]["image"])
        w = flipped_warp_rates(image, args.runs)
    ours, base, tv, tl = r["ours"], r["base"], t["vec"], t["loop"]
    print(f"data pipeline, 512x384 input, 81 joints, {n} instances, median of {args.runs} runs")
    print(f"  ours, 1 process, 1 thread      : {ours:8.1f} samples/s")
    print(f"  HRNet-style path, same process : {base:8.1f} samples/s   ratio {ours / base:.2f}x")
    print(f"  ours, DataLoader 2 workers     : {workers:8.1f} samples/s")
    print(f"  targets vectorised             : {tv:8.1f} /s")
    print(f"  targets per-joint loop         : {tl:8.1f} /s   ratio {tv / tl:.2f}x")
    print(f"  warp, flip in the matrix       : {w['composed']:8.1f} /s")
    print(f"  warp of a flipped (::-1) view  : {w['view']:8.1f} /s   ratio "
          f"{w['composed'] / w['view']:.2f}x")


if __name__ == "__main__":
    main()
