"""Garment detection on arbitrary images, with the exact test-time pipeline of tools/test.py.

The whole image is centred and letterboxed into ``MODEL.IMAGE_SIZE`` (``input_transform``, one
``cv2.warpAffine``), normalised like the training data (``to_input``, ``DATASET.PIXEL_MEAN`` /
``PIXEL_STD``), run through the CenterNet (PyTorch, or an exported ONNX file on onnxruntime),
flip-tested per ``TEST.FLIP_TEST``, decoded (top ``TEST.DET_TOPK`` peaks) and mapped back to
image pixels, so an image gets the boxes ``tools/test.py`` writes for it.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch
from yacs.config import CfgNode

from ..core.detection_decode import ImageDetections, detections_in_images, input_transform, merge_flip
from ..data.augment import crop_matrix, to_input
from ..keypoints import get_scheme
from ..models.centernet import OUTPUT_NAMES
from .backends import _import_onnxruntime

logger = logging.getLogger(__name__)


class _TorchDetector:
    name = "pytorch"

    def __init__(self, cfg: CfgNode, weights: str | Path | None, device: str) -> None:
        from ..core.checkpoint import load_model_weights
        from ..models import build_model

        self.device = torch.device(device)
        self.model = build_model(cfg, is_train=False)
        if weights:
            load_model_weights(self.model, weights)
        else:
            logger.warning("no detector weights given: the detector keeps its random init")
        self.model = self.model.to(self.device).eval()

    @torch.inference_mode()
    def __call__(self, x: np.ndarray) -> list[torch.Tensor]:
        return [o.float().cpu() for o in self.model(torch.from_numpy(x).to(self.device))]


class _OnnxDetector:
    name = "onnxruntime"

    def __init__(self, path: str | Path, image_size: tuple[int, int], device: str) -> None:
        ort = _import_onnxruntime()
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: ONNX detector file not found")
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(path), providers=providers)
        outputs = [o.name for o in self.session.get_outputs()]
        if outputs != list(OUTPUT_NAMES):
            raise ValueError(f"{path}: outputs {outputs}; a detector exported by "
                             f"tools/export_onnx.py has {list(OUTPUT_NAMES)}")
        inp = self.session.get_inputs()[0]
        want = [3, int(image_size[1]), int(image_size[0])]
        if list(inp.shape)[1:] != want:
            raise ValueError(f"{path}: input shape {list(inp.shape)}; the detector config "
                             f"expects [batch, {want[0]}, {want[1]}, {want[2]}]")
        self.input_name = inp.name

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, np.float32)})


class Detector:
    """CenterNet garment detector on whole images.

    Args:
        cfg: the detector's experiment config (``MODEL.NAME centernet``).
        weights: PyTorch weights (``TEST.MODEL_FILE`` when None).
        onnx: an exported detector; when given, onnxruntime runs it instead of PyTorch.
        device: 'cpu' or 'cuda[:i]'.
        flip_test: average with the mirrored image (``TEST.FLIP_TEST`` when None).
        batch_size: images per network call (``TEST.BATCH_SIZE_PER_GPU`` when None).
    """

    def __init__(self, cfg: CfgNode, weights: str | Path | None = None,
                 onnx: str | Path | None = None, device: str = "cpu",
                 flip_test: bool | None = None, batch_size: int | None = None) -> None:
        from ..config.loader import is_detector

        if not is_detector(cfg):
            raise ValueError(f"the detector config has MODEL.NAME {cfg.MODEL.NAME!r}; expected a "
                             "garment detector (centernet)")
        self.cfg = cfg
        self.category_ids = np.asarray(get_scheme(cfg.DATASET.SCHEME).category_ids, np.int64)
        self.category_names = {c.id: c.name for c in get_scheme(cfg.DATASET.SCHEME).categories}
        self.image_size = (int(cfg.MODEL.IMAGE_SIZE[0]), int(cfg.MODEL.IMAGE_SIZE[1]))
        self.flip_test = bool(cfg.TEST.FLIP_TEST if flip_test is None else flip_test)
        self.batch_size = int(batch_size or cfg.TEST.BATCH_SIZE_PER_GPU)
        self.backend = _OnnxDetector(onnx, self.image_size, device) if onnx else \
            _TorchDetector(cfg, weights or cfg.TEST.MODEL_FILE or None, device)
        logger.info("detector: %s backend, input %dx%d, flip test %s", self.backend.name,
                    *self.image_size, self.flip_test)

    def letterbox(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Network input (3, H, W) of a BGR image, with the centre and scale of the warp."""
        h, w = image.shape[:2]
        center, scale = input_transform(w, h, self.image_size)
        m = crop_matrix(center, scale, 0.0, self.image_size)
        patch = cv2.warpAffine(image, m, self.image_size, flags=cv2.INTER_LINEAR)
        if self.cfg.DATASET.COLOR_RGB:
            patch = cv2.cvtColor(patch, cv2.COLOR_BGR2RGB)
        x = to_input(patch, mean=self.cfg.DATASET.PIXEL_MEAN, std=self.cfg.DATASET.PIXEL_STD)
        return x, center, scale

    def outputs(self, x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sigmoid heatmaps, sizes and offsets of a batch (flip-averaged per ``flip_test``)."""
        out = self.backend(x)
        if not self.flip_test:
            return merge_flip(out[0], out[1], out[2])
        flipped = self.backend(np.ascontiguousarray(x[..., ::-1]))
        return merge_flip(out[0], out[1], out[2], flipped[0], flipped[1])

    def detect(self, images_bgr: Sequence[np.ndarray], score_thr: float | None = None
               ) -> list[ImageDetections]:
        """Boxes (x, y, w, h), scores and category ids per image, best first; boxes scoring
        below ``score_thr`` (``TEST.DET_SCORE_THRE`` when None) are left out."""
        thr = float(self.cfg.TEST.DET_SCORE_THRE if score_thr is None else score_thr)
        result: list[ImageDetections] = []
        for start in range(0, len(images_bgr), self.batch_size):
            chunk = images_bgr[start:start + self.batch_size]
            w, h = self.image_size
            x = np.empty((len(chunk), 3, h, w), np.float32)
            centers = np.empty((len(chunk), 2), np.float32)
            scales = np.empty((len(chunk), 2), np.float32)
            for i, img in enumerate(chunk):
                if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3:
                    raise ValueError(f"detect: image {start + i} must be a (H, W, 3) BGR array, "
                                     f"got {getattr(img, 'shape', type(img))}")
                x[i], centers[i], scales[i] = self.letterbox(img)
            sizes = np.array([[img.shape[1], img.shape[0]] for img in chunk])
            result += detections_in_images(*self.outputs(x), centers, scales, sizes,
                                           self.category_ids, int(self.cfg.TEST.DET_TOPK), thr)
        return result
