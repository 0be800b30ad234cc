"""The one keypoint dataset: top-down crops with HRNet augmentation.

Records (see ``coco_records``) decide what is loaded; the dataset turns a record into
``(crop, keypoints, meta)``: the uint8 (H, W, 3) BGR crop, the (K, 3) keypoints in crop pixels
with their visibility (flip permutation applied) and the meta dict. Normalisation and heatmap
targets are made batched on the training device by ``data.batch.BatchPreparer`` (see
``batch_preparer``), so only ~0.6 MB per sample crosses the DataLoader's process boundary.
The keypoint scheme supplies the channel count and the flip permutation, so 294, agg81,
single-category and FashionAI layouts share this code.
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

import cv2
import numpy as np
import torch

from ..keypoints import KeypointScheme
from ..utils.transforms import box_to_center_scale
from .augment import (AugmentParams, crop_matrix, half_body_box, sample_jitter,
                      sample_scale_rotation)
from .batch import BatchPreparer, InputSpec
from .decode import ImageFile, decode, probe, reduced_matrix, reduction_factor
from .image_dataset import ImageSampleDataset

logger = logging.getLogger(__name__)
_NO_JITTER = np.ones(3, np.float32)


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
        reduced_decode: decode a JPEG at 1/2, 1/4 or 1/8 size in the DCT domain when the crop
            shrinks it that much (``data.decode``); False decodes every image at full size.
    """

    def __init__(self, records: Sequence[dict], scheme: KeypointScheme, image_size: Sequence[int],
                 heatmap_size: Sequence[int], sigma: float, is_train: bool,
                 augment: AugmentParams = AugmentParams(), color_rgb: bool = False,
                 use_udp: bool = False, use_target_weight: bool = True,
                 skip_bad_samples: bool = False, padding: float = 1.25, seed: int = 0,
                 pixel_mean: Sequence[float] | None = None,
                 pixel_std: Sequence[float] | None = None, reduced_decode: bool = False):
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
        self.reduced_decode = reduced_decode
        self.flip_index = np.asarray(scheme.flip_index)
        self.boxes = [box_to_center_scale(r["box"], self.aspect_ratio, padding)
                      for r in self.records]
        self.num_skipped = 0            # set by the builder: records skipped at load time
        self.ann_file: str | None = None
        self.image_ids: list = sorted({r["image_id"] for r in self.records})
        self._gt_loader = None
        self._id_rank: dict | None = None

    # ------------------------------------------------------------------ samples
    def _geometry(self, idx: int, rec: dict) -> tuple[np.ndarray, np.ndarray, float, bool, Any]:
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

    def _crop(self, enc: ImageFile, c: np.ndarray, s: np.ndarray, r: float, flip: bool
              ) -> tuple[np.ndarray, np.ndarray, int] | None:
        """(crop, image -> crop matrix, decode reduction factor); None when undecodable."""
        if enc.is_jpeg:   # the header gives the width the flip needs, before decoding
            m = crop_matrix(c, s, r, self.image_size, enc.size[0] if flip else None,
                            self.use_udp)
            factor = reduction_factor(m) if self.reduced_decode else 1
            img, factor = decode(enc, factor)
        else:
            img, factor = decode(enc)
            m = None if img is None else crop_matrix(c, s, r, self.image_size,
                                                     img.shape[1] if flip else None, self.use_udp)
        if img is None:
            return None
        self._check_truncated(enc)
        crop = cv2.warpAffine(img, reduced_matrix(m, factor), self.image_size,
                              flags=cv2.INTER_LINEAR)
        return crop, m, factor

    def _sample(self, idx: int) -> tuple | None:
        """``(crop, keypoints, meta)``: uint8 (H, W, 3) BGR, float32 (K, 3) x, y, visibility
        (None when the image cannot be read)."""
        rec = self.records[idx]
        enc = probe(rec["image"])
        c, s, r, flip, jitter = self._geometry(idx, rec)
        out = None if enc is None else self._crop(enc, c, s, r, flip)
        if out is None:
            self._bad(rec["image"])
            return None
        crop, m, factor = out
        kps = np.asarray(rec["keypoints"], dtype=np.float32)
        joints = np.empty_like(kps)
        joints[:, :2] = kps[:, :2] @ m[:, :2].T.astype(np.float32) + m[:, 2].astype(np.float32)
        joints[:, 2] = kps[:, 2]
        if flip:
            joints = joints[self.flip_index]
        meta = {
            "image_id": self._image_num(rec["image_id"]), "category_id": int(rec["category_id"]),
            "center": np.asarray(c, np.float32), "scale": np.asarray(s, np.float32),
            "score": float(rec.get("score", 1.0)), "rotation": float(r),
            "box": np.asarray(rec.get("source_box", rec["box"]), np.float64),
            "joints": np.column_stack([kps[:, :2], np.zeros(len(kps), np.float32)]),
            "joints_vis": np.column_stack([kps[:, 2], kps[:, 2], np.zeros(len(kps), np.float32)]),
            "image": rec["image"], "index": int(idx), "flipped": flip,
            "jitter": _NO_JITTER if jitter is None else np.asarray(jitter, np.float32),
            "decode_factor": factor,
        }
        return torch.from_numpy(crop), torch.from_numpy(joints), meta

    # ------------------------------------------------------------------ device side
    def input_spec(self) -> InputSpec:
        """The normalisation and target settings of this dataset's samples."""
        kw = {}
        if self.pixel_mean is not None:
            kw["pixel_mean"] = tuple(float(v) for v in self.pixel_mean)
        if self.pixel_std is not None:
            kw["pixel_std"] = tuple(float(v) for v in self.pixel_std)
        return InputSpec(self.image_size, self.heatmap_size, self.sigma, self.use_udp,
                         self.use_target_weight, self.color_rgb, **kw)

    def batch_preparer(self, device: torch.device | str = "cpu", channels_last: bool = False,
                       targets: bool | None = None, reuse_buffers: bool = False
                       ) -> BatchPreparer:
        """The function from a loader batch to network input (+ targets when training; see
        ``BatchPreparer`` for ``reuse_buffers``)."""
        return BatchPreparer(self.input_spec(), device, channels_last,
                             self.is_train if targets is None else targets, reuse_buffers)

    def prepared(self, idx: int, targets: bool = True
                 ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, dict]:
        """Sample ``idx`` as ``(input (3, H, W), target (K, h, w), target_weight (K, 1), meta)``,
        made on the CPU by the same ``BatchPreparer`` as training (inspection, tests)."""
        from torch.utils.data import default_collate

        sample = self[idx]
        b = self.batch_preparer("cpu", targets=targets)(default_collate([sample]))
        first = (lambda t: None if t is None else t[0])
        return b.inputs[0], first(b.target), first(b.target_weight), sample[2]

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
