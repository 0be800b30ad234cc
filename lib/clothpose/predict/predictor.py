"""Landmarks for arbitrary images and boxes, with the exact test-time pipeline of tools/test.py.

Crops (HRNet centre/scale at the model aspect ratio, 1.25 padding, one ``cv2.warpAffine`` to a
uint8 crop), normalisation (``data.batch.normalize_images``, batched on the model's device),
flip test, decoding and rescoring are the ones of the test path, so a box given here gets the
landmarks ``tools/test.py`` would report for it as an annotation (``TEST.USE_GT_BBOX``) box:
boxes are cleaned by ``clean_box`` with ``DATASET.BOX_CONVENTION``. (``tools/test.py`` crops
boxes of a detection file as given, as HRNet and mmpose do, so for a detector box the two
differ by that cleaning.)
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch
from yacs.config import CfgNode

from ..data.augment import crop_matrix
from ..data.batch import normalize_images
from ..data.build import input_spec
from ..data.coco_records import clean_box
from ..keypoints import KeypointScheme, get_scheme
from ..utils.transforms import box_to_center_scale
from .backends import Backend, OnnxBackend, TorchBackend

logger = logging.getLogger(__name__)
BOX_PADDING = 1.25  # HRNet's enlargement of a box before cropping (test and train)


@dataclass(frozen=True, eq=False)
class Instance:
    """One garment: its box, category and landmarks in the model's scheme."""

    category_id: int
    box: tuple[float, float, float, float]   # x, y, w, h as used for the crop (clipped)
    keypoints: np.ndarray                    # (K, 3): x, y in image pixels, heatmap maximum
    score: float                             # box score x mean confident landmark score
    box_score: float
    scheme: KeypointScheme = field(repr=False)

    @property
    def category_name(self) -> str:
        return self.scheme.category(self.category_id).name

    def keypoints_official(self) -> np.ndarray:
        """(K_official, 3) in the family layout (294 for DeepFashion2, 24 for FashionAI);
        slots of other categories are zero."""
        official = get_scheme(self.scheme.family)
        return self.scheme.convert(self.keypoints[None], [self.category_id], official)[0]

    def keypoints_local(self) -> np.ndarray:
        """(n_c, 3): only this category's landmarks, in its local (official) order."""
        return self.keypoints[list(self.scheme.category(self.category_id).slots)]


class Predictor:
    """Top-down landmark prediction on a PyTorch model or an exported ONNX model.

    Args:
        cfg: experiment config (model, ``DATASET.SCHEME``, ``TEST.*`` decoding settings).
        weights: model weights for the PyTorch backend (``TEST.MODEL_FILE`` when None).
        onnx: an exported model; when given, onnxruntime runs the network instead of PyTorch.
        device: 'cpu' or 'cuda[:i]'.
        flip_test: average with the mirrored input (``TEST.FLIP_TEST`` when None).
        batch_size: boxes per network call (``TEST.BATCH_SIZE_PER_GPU`` when None).
    """

    def __init__(self, cfg: CfgNode, weights: str | Path | None = None,
                 onnx: str | Path | None = None, device: str = "cpu",
                 flip_test: bool | None = None, batch_size: int | None = None):
        from ..core.testing import make_decoder

        self.cfg = cfg
        self.scheme = get_scheme(cfg.DATASET.SCHEME)
        self.image_size = (int(cfg.MODEL.IMAGE_SIZE[0]), int(cfg.MODEL.IMAGE_SIZE[1]))
        self.aspect_ratio = self.image_size[0] / self.image_size[1]
        self.flip_test = bool(cfg.TEST.FLIP_TEST if flip_test is None else flip_test)
        self.batch_size = int(batch_size or cfg.TEST.BATCH_SIZE_PER_GPU)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        self.decode = make_decoder(cfg)
        self.spec = input_spec(cfg)
        self.backend: Backend
        if onnx:
            self.backend = OnnxBackend(onnx, self.image_size, self.scheme.num_keypoints, device)
        else:
            self.backend = TorchBackend(cfg, weights or cfg.TEST.MODEL_FILE or None, device)
        logger.info("predictor: %s backend, scheme %s, input %dx%d, flip test %s",
                    self.backend.name, self.scheme.name, *self.image_size, self.flip_test)

    # ------------------------------------------------------------------ stages
    def crop_uint8(self, image: np.ndarray, box: Sequence[float]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The uint8 (H, W, 3) BGR crop of one box, with the HRNet centre and scale used."""
        center, scale = box_to_center_scale(box, self.aspect_ratio, BOX_PADDING)
        m = crop_matrix(center, scale, 0.0, self.image_size, udp=bool(self.cfg.DATASET.USE_UDP))
        return cv2.warpAffine(image, m, self.image_size, flags=cv2.INTER_LINEAR), center, scale

    def inputs(self, crops: np.ndarray) -> torch.Tensor:
        """Normalised network input (N, 3, H, W) of uint8 crops (N, H, W, 3), on the device of
        a PyTorch backend (the CPU otherwise)."""
        device = getattr(self.backend, "device", torch.device("cpu"))
        return normalize_images(torch.from_numpy(crops).to(device), self.spec,
                                channels_last=bool(getattr(self.backend, "channels_last", False)))

    def crop(self, image: np.ndarray, box: Sequence[float]) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]:
        """Network input (3, H, W) for one box, with the HRNet centre and scale used."""
        patch, center, scale = self.crop_uint8(image, box)
        return self.inputs(patch[None])[0].cpu().numpy(), center, scale

    def run_boxes(self, images: Sequence[np.ndarray], jobs: Sequence[tuple[int, np.ndarray]]
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (N, K, 3) and per-landmark confidences for (image index, box) jobs."""
        flip_index = self.scheme.flip_index if self.flip_test else None
        out = np.zeros((len(jobs), self.scheme.num_keypoints, 3), np.float64)
        w, h = self.image_size
        for start in range(0, len(jobs), self.batch_size):
            chunk = jobs[start:start + self.batch_size]
            crops = np.empty((len(chunk), h, w, 3), np.uint8)
            centers = np.empty((len(chunk), 2), np.float32)
            scales = np.empty((len(chunk), 2), np.float32)
            for i, (img_idx, box) in enumerate(chunk):
                crops[i], centers[i], scales[i] = self.crop_uint8(images[img_idx], box)
            x = self.inputs(crops)
            if not isinstance(self.backend, TorchBackend):   # onnxruntime and others: numpy
                x = x.cpu().numpy()
            heat = self.backend.heatmaps(x, flip_index, bool(self.cfg.TEST.SHIFT_HEATMAP))
            xy, maxvals = self.decode(heat, centers, scales)
            out[start:start + len(chunk), :, :2] = xy
            out[start:start + len(chunk), :, 2] = np.asarray(maxvals).reshape(len(chunk), -1)
        return out, out[..., 2:3]

    def rescore(self, box_scores: np.ndarray, maxvals: np.ndarray,
                category_ids: np.ndarray) -> np.ndarray:
        """Instance scores as tools/test.py computes them (own category's channels unless
        ``TEST.RESCORE_ALL_CHANNELS``)."""
        from ..core.inference import rescore

        mask = None if self.cfg.TEST.RESCORE_ALL_CHANNELS else \
            np.stack([self.scheme.category_mask(int(c)) for c in category_ids])
        return np.asarray(rescore(box_scores, maxvals, self.cfg.TEST.IN_VIS_THRE, mask),
                          np.float64).reshape(-1)

    # ------------------------------------------------------------------ public API
    def predict(self, images_bgr: Sequence[np.ndarray],
                boxes: Sequence[Sequence[Sequence[float]]],
                categories: Sequence[Sequence[int]],
                box_scores: Sequence[Sequence[float]] | None = None) -> list[list[Instance]]:
        """Landmarks of every box of every image, all boxes batched together.

        Args:
            images_bgr: uint8 (H, W, 3) BGR images (as ``cv2.imread`` returns them).
            boxes: per image, its boxes (x, y, w, h) in pixels; clipped to the image as test.py
                clips annotation boxes (``DATASET.BOX_CONVENTION``).
            categories: per image, the category id of each box (must be in the scheme).
            box_scores: per image, detector scores (1.0 when None).
        Returns:
            per image, one ``Instance`` per box, in the order given.
        """
        jobs, cats, scores = self._jobs(images_bgr, boxes, categories, box_scores)
        result: list[list[Instance]] = [[] for _ in images_bgr]
        if not jobs:
            return result
        kps, maxvals = self.run_boxes(images_bgr, jobs)
        final = self.rescore(scores, maxvals, cats)
        for j, (img_idx, box) in enumerate(jobs):
            result[img_idx].append(Instance(int(cats[j]), tuple(float(v) for v in box), kps[j],
                                            float(final[j]), float(scores[j]), self.scheme))
        return result

    def _jobs(self, images, boxes, categories, box_scores):
        """Flatten and check the per-image inputs; boxes clipped to their image."""
        if not (len(images) == len(boxes) == len(categories)) or \
                (box_scores is not None and len(box_scores) != len(images)):
            raise ValueError(f"predict: {len(images)} images but {len(boxes)} box lists, "
                             f"{len(categories)} category lists"
                             + ("" if box_scores is None else f", {len(box_scores)} score lists"))
        known = set(self.scheme.category_ids)
        jobs, cats, scores = [], [], []
        for i, img in enumerate(images):
            if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3:
                raise ValueError(f"predict: image {i} must be a (H, W, 3) BGR array, got "
                                 f"{getattr(img, 'shape', type(img))}")
            if len(categories[i]) != len(boxes[i]):
                raise ValueError(f"predict: image {i} has {len(boxes[i])} boxes but "
                                 f"{len(categories[i])} categories")
            for j, (box, cid) in enumerate(zip(boxes[i], categories[i])):
                if int(cid) not in known:
                    raise ValueError(f"predict: image {i} box {j}: category {cid} is not in "
                                     f"scheme {self.scheme.name!r} (known: {sorted(known)})")
                clipped = clean_box(box[:4], img.shape[1], img.shape[0],
                                    self.cfg.DATASET.BOX_CONVENTION)
                if clipped is None or clipped[2] <= 0 or clipped[3] <= 0:
                    raise ValueError(f"predict: image {i} box {j} {list(box[:4])} has no area "
                                     f"inside the {img.shape[1]}x{img.shape[0]} image")
                jobs.append((i, clipped))
                cats.append(int(cid))
                scores.append(1.0 if box_scores is None else float(box_scores[i][j]))
        return jobs, np.asarray(cats, np.int64), np.asarray(scores, np.float64)
