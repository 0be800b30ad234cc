"""Synthetic DeepFashion2-style ground truth and predictions, for tests and benchmarks.

The set is built to exercise every rule of the COCO keypoint evaluation: all 13 categories,
small / medium / large boxes, v in {0, 1, 2}, GT with no labelled landmark (ignored), a few
crowd GT, a few GT whose ``num_keypoints`` disagrees with their landmarks (pycocotools then
uses its box-distance OKS), noisy / missing / duplicated / wrong-category / false-positive
detections, more than 20 detections in some (image, category) groups, images without any
detection and scores quantised so that ties occur.
"""
from __future__ import annotations

import numpy as np

from ..keypoints import get_scheme
from .results import Results


def make_synthetic_set(num_instances: int = 2000, seed: int = 0, images_per_instance: float = 0.6,
                       scheme_name: str = "deepfashion2") -> tuple[dict, Results]:
    """A COCO-style GT dict with about ``num_instances`` annotations and matching predictions.

    Predictions are in the scheme's full layout with zeros outside each instance's own block
    (the way a model's output converted to 294 looks before ``write_results``).
    """
    rng = np.random.default_rng(seed)
    scheme = get_scheme(scheme_name)
    k = scheme.num_keypoints
    n_img = max(1, int(num_instances * images_per_instance))
    cat_ids = np.asarray(scheme.category_ids)
    img_of = np.sort(rng.integers(1, n_img + 1, num_instances))
    cat_of = rng.choice(cat_ids, num_instances)
    side = np.exp(rng.uniform(np.log(12), np.log(400), (num_instances, 2)))
    xy0 = rng.uniform(0, 400, (num_instances, 2))
    gt_kps = np.zeros((num_instances, k, 3))
    anns = []
    for i in range(num_instances):
        slots = np.asarray(scheme.category(int(cat_of[i])).slots)
        pts = xy0[i] + rng.uniform(0, 1, (len(slots), 2)) * side[i]
        vis = rng.choice([0, 1, 2], len(slots), p=[0.3, 0.2, 0.5])
        if rng.random() < 0.05:
            vis[:] = 0
        gt_kps[i, slots, :2] = np.where(vis[:, None] > 0, np.round(pts, 1), 0)
        gt_kps[i, slots, 2] = vis
        num_kps = int(np.count_nonzero(vis))
        if rng.random() < 0.01:
            num_kps = num_kps + 1 if num_kps == 0 else num_kps  # inconsistent count on purpose
        w, h = np.round(side[i], 2)
        anns.append({"id": i + 1, "image_id": int(img_of[i]), "category_id": int(cat_of[i]),
                     "bbox": [float(xy0[i, 0]), float(xy0[i, 1]), float(w), float(h)],
                     "area": float(w * h), "num_keypoints": num_kps,
                     "iscrowd": int(rng.random() < 0.01),
                     "keypoints": gt_kps[i].reshape(-1).tolist()})
    images = [{"id": j, "file_name": f"{j:06d}.jpg", "width": 800, "height": 800}
              for j in range(1, n_img + 1)]
    categories = [{"id": c.id, "name": c.name, "supercategory": "clothes",
                   "keypoints": [str(j + 1) for j in range(k)], "skeleton": []}
                  for c in scheme.categories]
    gt = {"info": {}, "licenses": [], "images": images, "annotations": anns,
          "categories": categories}
    return gt, _predictions(rng, gt_kps, img_of, cat_of, side, n_img, scheme)


def _predictions(rng: np.random.Generator, gt_kps: np.ndarray, img_of: np.ndarray,
                 cat_of: np.ndarray, side: np.ndarray, n_img: int, scheme) -> Results:
    n, k = gt_kps.shape[:2]
    src = np.nonzero(rng.random(n) > 0.1)[0]                     # 10 % of GT missed
    dup = rng.choice(src, len(src) // 10)                          # duplicates
    src = np.concatenate([src, dup])
    noise = rng.choice([0.002, 0.01, 0.03, 0.2], len(src))[:, None, None]
    kps = gt_kps[src].copy()
    kps[:, :, :2] += rng.normal(size=(len(src), k, 2)) * noise * np.sqrt(side[src].prod(1))[:, None, None]
    cats = cat_of[src].copy()
    wrong = rng.random(len(src)) < 0.03
    cats[wrong] = rng.choice(np.asarray(scheme.category_ids), int(wrong.sum()))
    imgs = img_of[src].copy()
    n_fp = n // 10                                                 # false positives
    fp_img = rng.integers(1, n_img + 1, n_fp)
    crowd_img = np.full(25, img_of[0])                             # > 20 in one group
    imgs = np.concatenate([imgs, fp_img, crowd_img])
    cats = np.concatenate([cats, rng.choice(np.asarray(scheme.category_ids), n_fp),
                           np.full(25, cat_of[0])])
    extra = rng.uniform(0, 500, (n_fp + 25, k, 3))
    kps = np.concatenate([kps, extra])
    mask = np.stack([scheme.category_mask(int(c)) for c in np.unique(cats)])
    own = mask[np.searchsorted(np.unique(cats), cats)]
    kps[:, :, :2] = np.where(own[:, :, None], np.round(kps[:, :, :2], 3), 0.0)
    kps[:, :, 2] = np.where(own, rng.uniform(0, 1, own.shape), 0.0)
    scores = np.round(rng.uniform(0, 1, len(imgs)), 2)             # ties on purpose
    keep_images = rng.random(n_img + 1) > 0.05                     # some images get nothing
    sel = np.nonzero(keep_images[imgs])[0]
    sel = sel[rng.permutation(len(sel))]                           # file order != image order
    return Results(imgs[sel].astype(np.int64), cats[sel].astype(np.int64), kps[sel], scores[sel])
