"""The one keypoint dataset: top-down crops, HRNet augmentation, Gaussian heatmap targets.

Records (see ``coco_records``) decide what is loaded; the dataset only turns a record into
``(input, target, target_weight, meta)``. The keypoint scheme supplies the channel count and the
flip permutation, so 294, agg81, single-category and FashionAI layouts share this code.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import InputError
from ..keypoints import KeypointScheme
from ..utils.transforms import box_to_center_scale
from .augment import (AugmentParams, crop_matrix, half_body_box, sample_jitter,
                      sample_scale_rotation, to_input)
from .imagesize import file_looks_truncated
from .targets import gaussian_targets, udp_targets

logger = logging.getLogger(__name__)
_IMREAD = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION


class BadSampleError(InputError):
    """An image cannot be read (missing or corrupt file)."""


class ImageSampleDataset(Dataset):
    """What every image dataset here shares: one seeded augmentation stream per process, worker
    and epoch (exact resume), and image reading that reports unreadable files (or skips them,
    counted, with ``skip_bad_samples``) and warns once about truncated JPEGs.

    Subclasses set ``records`` (dicts with an ``image`` path) and implement ``_sample``.
    """

    def _init_reading(self, seed: int, skip_bad_samples: bool) -> None:
        self.seed = seed
        self.skip_bad_samples = skip_bad_samples
        self.num_bad_images = 0         # unreadable images met in this process
        self._bad_files: set[str] = set()
        self._truncated: set[str] = set()    # truncated JPEGs already warned about
        self._rng_key: tuple | None = None
        self._rng: np.random.Generator | None = None
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.records)

    # ------------------------------------------------------------------ randomness / IO
    def set_epoch(self, epoch: int) -> None:
        """Start the augmentation stream of ``epoch``; with the torch RNG restored on resume this
        makes a resumed run draw exactly the augmentations of an uninterrupted one (with or
        without DataLoader workers)."""
        self.epoch = int(epoch)

    def rng(self) -> np.random.Generator:
        """A generator per process, DataLoader worker seed and epoch."""
        key = (os.getpid(), torch.initial_seed(), self.epoch)
        if key != self._rng_key:
            self._rng_key = key
            self._rng = np.random.default_rng([self.seed, self.epoch,
                                               torch.initial_seed() % (1 << 63)])
        return self._rng  # type: ignore[return-value]

    def _read(self, path: str) -> np.ndarray | None:
        img = cv2.imread(path, _IMREAD)
        if img is not None:
            if path not in self._truncated and file_looks_truncated(path):
                self._truncated.add(path)
                logger.warning("%s: truncated JPEG (no end marker): its missing part is decoded "
                               "grey; replace the file (tools/prepare_deepfashion2.py finds "
                               "such files with its full decode check)", path)
            return img
        msg = f"{path}: cannot read image (missing or corrupt)"
        if not self.skip_bad_samples:
            raise BadSampleError(msg + "; set DATASET.SKIP_BAD_SAMPLES True to skip such samples")
        self.num_bad_images += 1
        if path not in self._bad_files:
            self._bad_files.add(path)
            logger.warning("%s; sample skipped", msg)
        return None

    def __getitem__(self, idx: int):
        n = len(self.records)
        for attempt in range(min(n, 64)):
            j = (idx + attempt * 7919) % n
            img = self._read(self.records[j]["image"])
            if img is not None:
                return self._sample(j, img)
        raise BadSampleError(f"no readable image found after 64 attempts from index {idx}")

    def _sample(self, idx: int, img: np.ndarray):
        raise NotImplementedError


class KeypointDataset(ImageSampleDataset):
    """Top-down keypoint samples with HRNet ``JointsDataset`` semantics.

    Args:
        records: dicts with ``image``, ``image_id``, ``category_id``, ``keypoints`` (K, 3),
            ``box`` (x, y, w, h) and optionally ``score``.
        scheme: keypoint layout of ``records[i]['keypoints']`` and of the targets.
        image_size, heatmap_size: (w, h) of the network input and output.
        sigma: Gaussian sigma (heatmap pixels).
        is_train: apply augmentation (``augment``).
        color_rgb: feed RGB (HRNet ``COLOR_RGB``); otherwise BGR as read by OpenCV.
        use_udp: unbiased data processing (UDP) end to end: the UDP crop and target encoding
            (the decoder of ``core.testing.make_decoder`` back-projects the UDP way too).
        use_target_weight: when False every target weight is 1 (HRNet's loss switch is separate;
            this only matters for callers that read the weights directly).
        skip_bad_samples: an unreadable image returns another sample (counted) instead of failing.
        padding: box enlargement for center/scale (HRNet 1.25).
        pixel_mean, pixel_std: input normalisation in 0-255 units (None: ImageNet's).
    """

    def __init__(self, records: Sequence[dict], scheme: KeypointScheme, image_size: Sequence[int],
                 heatmap_size: Sequence[int], sigma: float, is_train: bool,
                 augment: AugmentParams = AugmentParams(), color_rgb: bool = False,
                 use_udp: bool = False, use_target_weight: bool = True,
                 skip_bad_samples: bool = False, padding: float = 1.25, seed: int = 0,
                 pixel_mean: Sequence[float] | None = None,
                 pixel_std: Sequence[float] | None = None):
        self.records = list(records)
        self.scheme = scheme
        self.image_size = tuple(int(v) for v in image_size)
        self.heatmap_size = tuple(int(v) for v in heatmap_size)
        self.aspect_ratio = self.image_size[0] / self.image_size[1]
        self.sigma = float(sigma)
        self.is_train = is_train
        self.augment = augment
        self.color_rgb = color_rgb
        self.use_udp = use_udp
        self.use_target_weight = use_target_weight
        self._init_reading(seed, skip_bad_samples)
        self.pixel_mean, self.pixel_std = pixel_mean, pixel_std
        self.flip_index = np.asarray(scheme.flip_index)
        self.boxes = [box_to_center_scale(r["box"], self.aspect_ratio, padding)
                      for r in self.records]
        self.num_skipped = 0            # set by the builder: records skipped at load time
        self.ann_file: str | None = None
        self.image_ids: list = sorted({r["image_id"] for r in self.records})
        self._gt_loader = None
        self._id_rank: dict | None = None

    def _geometry(self, idx: int, rec: dict, width: int
                  ) -> tuple[np.ndarray, np.ndarray, float, bool, Any]:
        """Centre, scale, rotation, flip and colour jitter of one sample."""
        c, s = (v.copy() for v in self.boxes[idx])
        if not self.is_train:
            return c, s, 0.0, False, None
        rng, p = self.rng(), self.augment
        kps = rec["keypoints"]
        if p.prob_half_body > 0 and kps[:, 2].sum() > p.num_joints_half_body \
                and rng.random() < p.prob_half_body:
            hb = half_body_box(rng, kps, kps[:, 2], float(c[1]), self.aspect_ratio)
            if hb is not None:
                c, s = hb
        sf, r = sample_scale_rotation(rng, p)
        flip = bool(p.flip and rng.random() <= 0.5)
        return c, s * sf, r, flip, sample_jitter(rng, p.color_jitter)

    def _sample(self, idx: int, img: np.ndarray) -> tuple:
        rec = self.records[idx]
        c, s, r, flip, jitter = self._geometry(idx, rec, img.shape[1])
        m = crop_matrix(c, s, r, self.image_size, img.shape[1] if flip else None, self.use_udp)
        crop = cv2.warpAffine(img, m, self.image_size, flags=cv2.INTER_LINEAR)
        if self.color_rgb:
            crop = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        kps = np.asarray(rec["keypoints"], dtype=np.float32)
        vis = kps[:, 2].copy()
        joints = kps[:, :2] @ m[:, :2].T.astype(np.float32) + m[:, 2].astype(np.float32)
        if flip:
            joints, vis = joints[self.flip_index], vis[self.flip_index]
        encode = udp_targets if self.use_udp else gaussian_targets
        target, weight = encode(joints, vis, self.image_size, self.heatmap_size, self.sigma)
        if not self.use_target_weight:
            weight = np.ones_like(weight)
        meta = {
            "image_id": self._image_num(rec["image_id"]), "category_id": int(rec["category_id"]),
            "center": np.asarray(c, np.float32), "scale": np.asarray(s, np.float32),
            "score": float(rec.get("score", 1.0)), "rotation": float(r),
            "box": np.asarray(rec.get("source_box", rec["box"]), np.float64),
            "joints": np.column_stack([kps[:, :2], np.zeros(len(kps), np.float32)]),
            "joints_vis": np.column_stack([kps[:, 2], kps[:, 2], np.zeros(len(kps), np.float32)]),
            "image": rec["image"], "index": int(idx), "flipped": flip,
        }
        x = to_input(crop, jitter, self.pixel_mean, self.pixel_std)
        return (torch.from_numpy(x), torch.from_numpy(target),
                torch.from_numpy(weight), meta)

    def _image_num(self, image_id: Any) -> int:
        """Integer id for ``meta`` (string ids, e.g. FashionAI paths, become their rank)."""
        if isinstance(image_id, (int, np.integer)):
            return int(image_id)
        if self._id_rank is None:
            self._id_rank = {i: n for n, i in enumerate(sorted({str(r["image_id"])
                                                                for r in self.records}))}
        return self._id_rank[str(image_id)]

    # ------------------------------------------------------------------ evaluation support
    def image_paths(self) -> dict:
        """image id -> image path of every record."""
        return {r["image_id"]: r["image"] for r in self.records}

    def gt_coco(self) -> dict | None:
        """Ground truth for evaluation in the family's official layout (None: no annotations)."""
        if self._gt_loader is None:
            return None
        if not hasattr(self, "_gt_cache"):
            self._gt_cache = self._gt_loader()
        return self._gt_cache

    def evaluation_gt(self) -> dict | None:
        return self.gt_coco()
