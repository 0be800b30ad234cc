"""CenterNet decoding: heatmap peaks -> top-K boxes, flip-test averaging, back to image pixels.

Peaks are the cells equal to the maximum of their 3x3 neighbourhood (one max-pool, no NMS op);
the K highest peaks over all classes become boxes ``(x + ox -+ w/2, y + oy -+ h/2)`` in output
cells, which the inverse of the input warp maps to image pixels. Flip test (the paper's) averages
the sigmoid heatmaps and the sizes of the image and of its mirror (mirrored back); the offset
comes from the unflipped image only. Everything runs in torch so PyTorch and onnxruntime outputs
decode the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..utils.transforms import get_affine_transform


@dataclass
class Detections:
    """Top-K detections of a batch: boxes (N, K, 4) x1, y1, x2, y2, scores (N, K) sorted
    descending, class indices (N, K) (0-based channels)."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray


def as_tensor(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))


def merge_flip(heat_logits: torch.Tensor, size: torch.Tensor, offset: torch.Tensor,
               heat_logits_flipped: torch.Tensor | None = None,
               size_flipped: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sigmoid heatmaps (N, C, H, W), sizes and offsets; averaged with the mirrored input's
    outputs (flipped back along the width) when given."""
    heat = torch.sigmoid(as_tensor(heat_logits).float())
    size = as_tensor(size).float()
    offset = as_tensor(offset).float()
    if heat_logits_flipped is None:
        return heat, size, offset
    heat_f = torch.sigmoid(as_tensor(heat_logits_flipped).float()).flip(3)
    size_f = as_tensor(size_flipped).float().flip(3)
    return (heat + heat_f) * 0.5, (size + size_f) * 0.5, offset


def peaks(heat: torch.Tensor, kernel: int = 3) -> torch.Tensor:
    """``heat`` with every cell that is not the maximum of its neighbourhood set to 0."""
    hmax = F.max_pool2d(heat, kernel, stride=1, padding=(kernel - 1) // 2)
    return heat * (hmax == heat).to(heat.dtype)


def decode_centernet(heat: torch.Tensor, size: torch.Tensor, offset: torch.Tensor,
                     k: int = 100) -> Detections:
    """Top-``k`` peaks of sigmoid heatmaps (N, C, H, W) as boxes in output cells."""
    heat, size, offset = as_tensor(heat).float(), as_tensor(size).float(), as_tensor(offset).float()
    n, c, h, w = heat.shape
    k = min(int(k), c * h * w)
    scores, inds = torch.topk(peaks(heat).reshape(n, -1), k)
    classes = torch.div(inds, h * w, rounding_mode="floor")
    cell = inds % (h * w)
    ys = torch.div(cell, w, rounding_mode="floor").float()
    xs = (cell % w).float()
    # a negative predicted size (the regression is unconstrained) is no size
    wh = size.reshape(n, 2, -1).gather(2, cell.unsqueeze(1).expand(n, 2, k)).clamp(min=0)
    off = offset.reshape(n, 2, -1).gather(2, cell.unsqueeze(1).expand(n, 2, k))
    cx, cy = xs + off[:, 0], ys + off[:, 1]
    half_w, half_h = wh[:, 0] / 2, wh[:, 1] / 2
    boxes = torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=2)
    return Detections(boxes.numpy().astype(np.float64), scores.numpy().astype(np.float64),
                      classes.numpy().astype(np.int64))


def input_transform(width: int, height: int, input_size: tuple[int, int]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale (HRNet units of 200 px) of the test-time warp: the whole image,
    centred and letterboxed into ``input_size`` (w, h) at its aspect ratio (CenterNet's
    ``c = image centre, s = max side`` for square inputs)."""
    w_in, h_in = float(input_size[0]), float(input_size[1])
    side = max(float(width), float(height) * w_in / h_in)
    center = np.array([width / 2.0, height / 2.0], dtype=np.float32)
    return center, np.array([side / 200.0, side / 200.0 * h_in / w_in], dtype=np.float32)


def boxes_to_image(boxes: np.ndarray, center: np.ndarray, scale: np.ndarray,
                   output_size: tuple[int, int], image_size: tuple[int, int] | None = None
                   ) -> np.ndarray:
    """(K, 4) x1, y1, x2, y2 in output cells -> image pixels (inverse of the input warp at the
    output resolution); clipped to [0, width - 1] x [0, height - 1] when ``image_size`` (w, h)
    is given."""
    m = get_affine_transform(center, scale, 0, output_size, inv=True)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 2, 2)
    out = (b @ m[:, :2].T + m[:, 2]).reshape(-1, 4)
    if image_size is not None:
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, image_size[0] - 1)
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, image_size[1] - 1)
    return out


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([b[..., :2], b[..., 2:] - b[..., :2]], axis=-1)


@dataclass
class ImageDetections:
    """Detections of one image in pixels: boxes (n, 4) x, y, w, h, scores (n,), category ids
    (n,), sorted by descending score."""

    boxes: np.ndarray
    scores: np.ndarray
    category_ids: np.ndarray


def detections_in_images(heat: torch.Tensor, size: torch.Tensor, offset: torch.Tensor,
                         centers: np.ndarray, scales: np.ndarray, image_sizes: np.ndarray,
                         category_ids: np.ndarray, k: int = 100, score_thr: float = 0.0
                         ) -> list[ImageDetections]:
    """Top-``k`` boxes of a batch (sigmoid heatmaps, sizes, offsets) mapped back to each image
    (``centers`` / ``scales`` of its input warp, ``image_sizes`` (N, 2) w, h), clipped to it,
    scored >= ``score_thr``; class channels become ``category_ids[channel]``. Boxes without
    area inside the image (w or h <= 0) are dropped: they cannot be a garment, and the
    landmark test path refuses them."""
    det = decode_centernet(heat, size, offset, k)
    out_size = (int(heat.shape[3]), int(heat.shape[2]))
    cats = np.asarray(category_ids, dtype=np.int64)
    result = []
    for i in range(len(det.boxes)):
        boxes = xyxy_to_xywh(boxes_to_image(det.boxes[i], centers[i], scales[i], out_size,
                                            tuple(int(v) for v in image_sizes[i])))
        keep = (det.scores[i] >= score_thr) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
        result.append(ImageDetections(boxes[keep], det.scores[i][keep],
                                      cats[det.classes[i][keep]]))
    return result
