"""Garment detection samples for CenterNet: whole images, every item's box and category.

Reads the same prepared COCO files as the landmark models (``annotations/<set>_coco.json``):
every annotation of a scheme category takes part, including items without labelled landmarks
(the official detection task scores those too), and every listed image, with or without items
(images without items are negatives; the test split has no annotations at all).

Training augmentation, as CenterNet's: random scale of the letterboxed image in
``scale_range``, random shift of the crop centre by up to ``shift_factor`` of the image size
(random crop), horizontal flip, colour jitter; all of it one affine warp built with the toolkit's
helpers (``crop_matrix``), so boxes go through exactly the matrix the pixels do. Test time: the
whole image centred and letterboxed (``input_transform``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch

from ..core.detection_decode import input_transform
from ..keypoints import KeypointScheme
from .augment import crop_matrix, sample_jitter, to_input
from .coco_records import AnnotationFileError, _box_ok, _images
from .detection_targets import centernet_targets
from .image_dataset import ImageSampleDataset

logger = logging.getLogger(__name__)
OUTPUT_STRIDE = 4


@dataclass(frozen=True)
class DetectionAugment:
    """Detector augmentation settings (``DATASET.*``)."""

    flip: bool = True
    scale_range: tuple[float, float] = (0.6, 1.3)
    shift_factor: float = 0.2
    color_jitter: float = 0.0


def parse_coco_boxes(data: dict, scheme: KeypointScheme, image_root: str | Path = "",
                     source: str = "<annotations>") -> list[dict]:
    """One record per listed image: ``image`` (path), ``image_id``, ``width``, ``height``,
    ``boxes`` (N, 4) x, y, w, h and ``category_ids`` (N,) of its items of scheme categories.

    Boxes are clipped to the image; an item whose box has no area left is dropped with a
    warning (it cannot be a training target; evaluation reads the file itself).
    """
    images = _images(data, source)
    known = set(scheme.category_ids)
    per_image: dict[Any, list[tuple[np.ndarray, int]]] = {i: [] for i in images}
    dropped = 0
    for i, a in enumerate(data.get("annotations") or []):
        where = f"{source}: annotations[{i}] (id {a.get('id') if isinstance(a, dict) else '?'})"
        if not isinstance(a, dict) or a.get("category_id") not in known:
            continue
        if a.get("image_id") not in images:
            raise AnnotationFileError(f"{where}: field 'image_id' {a.get('image_id')!r} is not "
                                      "in 'images'")
        if not _box_ok(a.get("bbox")):
            raise AnnotationFileError(f"{where}: field 'bbox': expected 4 numbers [x, y, w, h]")
        _name, w, h = images[a["image_id"]]
        x, y, bw, bh = (float(v) for v in a["bbox"])
        x1, y1 = max(0.0, x), max(0.0, y)
        x2, y2 = min(w - 1.0, x + bw), min(h - 1.0, y + bh)
        if x2 <= x1 or y2 <= y1:
            dropped += 1
            continue
        per_image[a["image_id"]].append((np.array([x1, y1, x2 - x1, y2 - y1], np.float32),
                                         int(a["category_id"])))
    if dropped:
        logger.warning("%s: %d boxes without area inside their image dropped", source, dropped)
    root = Path(image_root)
    records = []
    for image_id in sorted(images):
        name, w, h = images[image_id]
        items = per_image[image_id]
        records.append({
            "image": str(root / name), "image_id": image_id, "width": w, "height": h,
            "boxes": np.stack([b for b, _ in items]) if items else np.zeros((0, 4), np.float32),
            "category_ids": np.array([c for _, c in items], np.int64)})
    return records


class DetectionDataset(ImageSampleDataset):
    """Whole-image samples with CenterNet targets (``pixel_mean`` / ``pixel_std``: input
    normalisation in 0-255 units, None = ImageNet's, as the keypoint dataset).

    ``__getitem__`` returns ``(input (3, H, W), targets, mask, meta)``: ``targets`` is the dict
    of ``DetectionTargets`` arrays (heatmap (C, H/4, W/4), size, offset, index, mask), ``mask``
    (M,) the object slots (in the position of the landmark datasets' target weight), ``meta``
    holds image_id, width, height, the warp's center / scale, flipped and index.
    """

    def __init__(self, records: Sequence[dict], scheme: KeypointScheme,
                 image_size: Sequence[int], is_train: bool,
                 augment: DetectionAugment = DetectionAugment(), color_rgb: bool = False,
                 max_objects: int = 64, radius_rule: str = "centernet",
                 skip_bad_samples: bool = False, seed: int = 0,
                 pixel_mean: Sequence[float] | None = None,
                 pixel_std: Sequence[float] | None = None) -> None:
        self.records = list(records)
        self.scheme = scheme
        self.category_ids = np.asarray(scheme.category_ids, dtype=np.int64)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        if self.image_size[0] % OUTPUT_STRIDE or self.image_size[1] % OUTPUT_STRIDE:
            raise ValueError(f"MODEL.IMAGE_SIZE {list(image_size)} must be a multiple of "
                             f"{OUTPUT_STRIDE}")
        self.output_size = (self.image_size[0] // OUTPUT_STRIDE,
                            self.image_size[1] // OUTPUT_STRIDE)
        self.is_train = is_train
        self.augment = augment
        self.color_rgb = color_rgb
        self.max_objects = int(max_objects)
        self.radius_rule = radius_rule
        self._init_reading(seed, skip_bad_samples)
        self.pixel_mean, self.pixel_std = pixel_mean, pixel_std
        self.image_ids = [r["image_id"] for r in self.records]
        self.ann_file: str | None = None
        self._gt_loader = None

    def _geometry(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray, bool, Any]:
        """Centre, scale, flip and colour jitter of one sample."""
        center, scale = input_transform(width, height, self.image_size)
        if not self.is_train:
            return center, scale, False, None
        rng, p = self.rng(), self.augment
        lo, hi = p.scale_range
        scale = scale * np.float32(rng.uniform(lo, hi))
        shift = rng.uniform(-p.shift_factor, p.shift_factor, 2) * (width, height)
        center = (center + shift).astype(np.float32)
        flip = bool(p.flip and rng.random() < 0.5)
        return center, scale, flip, sample_jitter(rng, p.color_jitter)

    def _sample(self, idx: int):
        rec = self.records[idx]
        img = self._read(rec["image"])
        if img is None:
            return None
        h, w = img.shape[:2]
        center, scale, flip, jitter = self._geometry(w, h)
        m = crop_matrix(center, scale, 0.0, self.image_size, w if flip else None)
        crop = cv2.warpAffine(img, m, self.image_size, flags=cv2.INTER_LINEAR)
        if self.color_rgb:
            crop = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        boxes = transform_boxes(rec["boxes"], m / OUTPUT_STRIDE)
        classes = np.searchsorted(self.category_ids, rec["category_ids"])
        targets = centernet_targets(boxes, classes, len(self.category_ids), self.output_size,
                                    self.max_objects, rule=self.radius_rule)
        meta = {"image_id": int(rec["image_id"]), "width": int(w), "height": int(h),
                "center": np.asarray(center, np.float32), "scale": np.asarray(scale, np.float32),
                "flipped": flip, "index": int(idx), "image": rec["image"]}
        tensors = {k: torch.from_numpy(v) for k, v in targets.as_dict().items()}
        x = to_input(crop, jitter, self.pixel_mean, self.pixel_std)
        return torch.from_numpy(x), tensors, tensors["mask"], meta

    # ------------------------------------------------------------------ evaluation support
    def image_paths(self) -> dict:
        return {r["image_id"]: r["image"] for r in self.records}

    def evaluation_gt(self) -> dict | None:
        """The COCO dict for box evaluation (None: the set has no annotations)."""
        if self._gt_loader is None:
            return None
        if not hasattr(self, "_gt_cache"):
            self._gt_cache = self._gt_loader()
        return self._gt_cache


def transform_boxes(boxes_xywh: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(N, 4) x, y, w, h boxes through a 2x3 axis-aligned affine (scale, shift, mirror) ->
    (N, 4) x1, y1, x2, y2 with x1 <= x2 and y1 <= y2."""
    b = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    corners = np.stack([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)          # (N, 2, 2)
    t = corners @ matrix[:, :2].T + matrix[:, 2]
    return np.concatenate([t.min(axis=1), t.max(axis=1)], axis=1)


def build_detection_dataset(cfg, image_set: str, is_train: bool) -> DetectionDataset:
    """The detector's dataset of ``image_set`` from ``DATASET.ROOT/annotations/<set>_coco.json``
    and ``images/<set>/`` (the prepared layout of the landmark models); ``TEST.MAX_IMAGES``
    limits test / validation sets to their first images by id."""
    import json

    from ..keypoints import get_scheme
    from .build import first_images, test_image_limit

    root = Path(cfg.DATASET.ROOT)
    ann_file = root / "annotations" / f"{image_set}_coco.json"
    try:
        with open(ann_file) as f:
            data = json.load(f)
    except OSError as e:
        raise AnnotationFileError(f"{ann_file}: cannot read the annotation file of set "
                                  f"{image_set!r}: {e}") from e
    except ValueError as e:
        raise AnnotationFileError(f"{ann_file}: invalid JSON: {e}") from e
    data = first_images(data, test_image_limit(cfg, is_train))
    scheme = get_scheme(cfg.DATASET.SCHEME)
    records = parse_coco_boxes(data, scheme, root / "images" / image_set, str(ann_file))
    d = cfg.DATASET
    ds = DetectionDataset(
        records, scheme, cfg.MODEL.IMAGE_SIZE, is_train,
        DetectionAugment(flip=bool(d.FLIP), scale_range=tuple(d.SCALE_RANGE),
                         shift_factor=float(d.SHIFT_FACTOR), color_jitter=float(d.COLOR_JITTER)),
        color_rgb=bool(d.COLOR_RGB), max_objects=int(d.MAX_OBJECTS),
        radius_rule=str(d.GAUSSIAN_RADIUS), skip_bad_samples=bool(d.SKIP_BAD_SAMPLES),
        seed=max(int(cfg.SEED), 0), pixel_mean=list(d.PIXEL_MEAN), pixel_std=list(d.PIXEL_STD))
    ds.ann_file = str(ann_file)
    has_gt = bool(data.get("annotations"))
    gt = {"images": data["images"], "annotations": data.get("annotations") or [],
          "categories": data.get("categories") or []} if has_gt else None
    del data
    ds._gt_loader = (lambda: gt) if has_gt else None
    logger.info("%s: %d images, %d boxes from %s", image_set, len(ds),
                sum(len(r["boxes"]) for r in records), ann_file)
    return ds
