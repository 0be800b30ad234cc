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


def make_synthetic_box_set(num_instances: int = 1500, seed: int = 0, num_categories: int = 13,
                           crowd_fraction: float = 0.0) -> tuple[dict, list[dict]]:
    """A COCO-style box GT dict and bbox result entries exercising every rule of COCO box AP.

    Small / medium / large boxes, several categories (some without GT), images without GT,
    images without detections and images without either, duplicates, misses, wrong categories,
    false positives, a group with more than 100 detections, detections of a category absent
    from the GT, scores rounded so that ties occur; ``crowd_fraction`` of the GT are crowds.
    """
    rng = np.random.default_rng(seed)
    n_img = max(2, num_instances // 3)
    cats = np.arange(1, num_categories + 1)
    gt_cats = cats[:-1] if num_categories > 1 else cats        # the last category has no GT
    img_of = np.sort(rng.integers(1, n_img + 1, num_instances))
    cat_of = rng.choice(gt_cats, num_instances)
    wh = np.round(np.exp(rng.uniform(np.log(3), np.log(350), (num_instances, 2))), 2)
    xy = np.round(rng.uniform(0, 500, (num_instances, 2)), 2)
    crowd = rng.random(num_instances) < crowd_fraction
    anns = [{"id": i + 1, "image_id": int(img_of[i]), "category_id": int(cat_of[i]),
             "bbox": [float(xy[i, 0]), float(xy[i, 1]), float(wh[i, 0]), float(wh[i, 1])],
             "area": float(wh[i, 0] * wh[i, 1]), "iscrowd": int(crowd[i])}
            for i in range(num_instances)]
    images = [{"id": j, "file_name": f"{j:06d}.jpg", "width": 900, "height": 900}
              for j in range(1, n_img + 3)]                      # two images never used
    categories = [{"id": int(c), "name": f"cat{c}", "supercategory": "clothes"} for c in cats]
    gt = {"images": images, "annotations": anns, "categories": categories}
    src = np.nonzero(rng.random(num_instances) > 0.1)[0]         # 10 % missed
    src = np.concatenate([src, rng.choice(src, len(src) // 8)])  # duplicates
    noise = rng.choice([0.0, 0.02, 0.08, 0.25], len(src))[:, None]
    boxes = np.concatenate([xy[src], wh[src]], axis=1)
    boxes += rng.normal(size=boxes.shape) * noise * np.repeat(wh[src], 2, axis=1)
    boxes[:, 2:] = np.abs(boxes[:, 2:])
    d_img, d_cat = img_of[src], cat_of[src].copy()
    wrong = rng.random(len(src)) < 0.05
    d_cat[wrong] = rng.choice(cats, int(wrong.sum()))            # incl. the GT-less category
    n_fp = num_instances // 5
    fp = np.concatenate([rng.uniform(0, 500, (n_fp, 2)), rng.uniform(3, 300, (n_fp, 2))], axis=1)
    crowded = np.tile(np.concatenate([xy[0], wh[0]]), (130, 1)) + rng.normal(size=(130, 4))
    boxes = np.concatenate([boxes, fp, crowded])
    d_img = np.concatenate([d_img, rng.integers(1, n_img + 1, n_fp), np.full(130, img_of[0])])
    fp_cat = rng.choice(cats, n_fp)
    fp_cat[:3] = num_categories + 1                              # a category the GT lacks
    d_cat = np.concatenate([d_cat, fp_cat, np.full(130, cat_of[0])])
    scores = np.round(rng.uniform(0, 1, len(d_img)), 2)          # ties on purpose
    silent = rng.random(n_img + 1) < 0.05                         # images without detections
    silent[d_img[len(src):len(src) + 3]] = False
    keep = np.nonzero(~silent[d_img])[0]
    keep = keep[rng.permutation(len(keep))]                       # file order != image order
    results = [{"image_id": int(d_img[i]), "category_id": int(d_cat[i]),
                "bbox": [float(v) for v in np.round(boxes[i], 2)], "score": float(scores[i])}
               for i in keep]
    return gt, results
