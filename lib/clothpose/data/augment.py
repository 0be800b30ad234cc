"""Training augmentation with HRNet semantics, done as one affine warp per sample.

Scale, rotation, half-body crop and horizontal flip all end up in a single 2x3 matrix: the flip
is composed into it (x -> W - 1 - x before the crop transform), so no negative-stride image view
is ever warped (HRNet flips with ``image[:, ::-1]``, which makes ``cv2.warpAffine`` ~7x slower).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..utils.transforms import PIXEL_STD, get_affine_transform, get_udp_affine_transform

# torchvision's ImageNet statistics (RGB order), applied per channel index as HRNet does.
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# The same in 0-255 units: the default of DATASET.PIXEL_MEAN / PIXEL_STD.
IMAGENET_MEAN_255 = (123.675, 116.28, 103.53)
IMAGENET_STD_255 = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class AugmentParams:
    """HRNet's augmentation settings (``DATASET.*`` keys)."""

    scale_factor: float = 0.25
    rot_factor: float = 30.0
    rot_prob: float = 0.6
    flip: bool = True
    prob_half_body: float = 0.0
    num_joints_half_body: int = 8
    color_jitter: float = 0.0


def crop_matrix(center: np.ndarray, scale: np.ndarray, rot: float, output_size: Sequence[int],
                flip_width: int | None = None, udp: bool = False) -> np.ndarray:
    """2x3 image -> input matrix; with ``flip_width`` the image is mirrored first.

    Same sampling as HRNet's flip path (flip image, move the centre to W - 1 - cx, then crop).
    ``udp``: the unbiased crop (``get_udp_affine_transform``) instead of HRNet's.
    """
    affine = get_udp_affine_transform if udp else get_affine_transform
    if flip_width is None:
        return affine(center, scale, rot, output_size)
    c = np.array([flip_width - 1 - center[0], center[1]], dtype=np.float64)
    a = affine(c, scale, rot, output_size)
    m = a.copy()
    m[:, 0] = -a[:, 0]                                  # A @ [[-1, 0, W-1], [0, 1, 0], [0, 0, 1]]
    m[:, 2] = a[:, 0] * (flip_width - 1) + a[:, 2]
    return m


def sample_scale_rotation(rng: np.random.Generator, p: AugmentParams) -> tuple[float, float]:
    """HRNet: s * clip(N(1, sf), 1 - sf, 1 + sf); r = clip(N(0, rf), -2 rf, 2 rf) w.p. rot_prob."""
    sf, rf = p.scale_factor, p.rot_factor
    s = float(np.clip(rng.standard_normal() * sf + 1, 1 - sf, 1 + sf))
    r = float(np.clip(rng.standard_normal() * rf, -2 * rf, 2 * rf)) \
        if rng.random() <= p.rot_prob else 0.0
    return s, r


def half_body_box(rng: np.random.Generator, joints: np.ndarray, vis: np.ndarray,
                  box_center_y: float, aspect_ratio: float
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """Centre/scale around the upper or lower half of the labelled keypoints.

    Rule (garments have no fixed upper-body joint list): a keypoint is "upper" when its y is
    above the box centre. Pick the upper half w.p. 0.5 if it has > 2 points, else the lower half
    if it has > 2, else the upper one; fewer than 2 points -> None. The box is the points' extent
    widened to the aspect ratio and enlarged 1.5x, as HRNet's ``half_body_transform``.
    """
    labelled = vis > 0
    upper = labelled & (joints[:, 1] < box_center_y)
    lower = labelled & ~upper
    if rng.random() < 0.5 and upper.sum() > 2:
        sel = upper
    else:
        sel = lower if lower.sum() > 2 else upper
    if sel.sum() < 2:
        return None
    pts = joints[sel, :2].astype(np.float32)
    center = pts.mean(axis=0)
    w, h = (pts.max(axis=0) - pts.min(axis=0)).tolist()
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w / PIXEL_STD, h / PIXEL_STD], dtype=np.float32) * 1.5
    return center, scale


def to_input(img: np.ndarray, jitter: tuple[float, float, float] | None = None,
             mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> np.ndarray:
    """uint8 (H, W, 3) -> float32 (3, H, W): (pixel - mean) / std per channel.

    The per-sample definition; training, testing and the predictor normalise batches on their
    device with ``data.batch.normalize_images``, which equals this bit for bit.

    ``mean`` / ``std``: 0-255 units (``DATASET.PIXEL_MEAN`` / ``PIXEL_STD``); None = ImageNet's,
    i.e. ImageNet mean/std on [0, 1]. ``jitter`` = (brightness, contrast, saturation) factors,
    applied on [0, 255] first.
    """
    mean255 = np.asarray(IMAGENET_MEAN_255 if mean is None else mean, np.float64)
    std255 = np.asarray(IMAGENET_STD_255 if std is None else std, np.float64)
    x = img.astype(np.float32)
    if jitter is not None:
        b, c, s = jitter
        x *= np.float32(b)                                  # brightness
        m = float(x.mean())
        x *= np.float32(c)                                  # contrast around the mean
        x += np.float32((1 - c) * m)
        if s != 1:
            gray = x.mean(axis=2, keepdims=True)
            x = gray + (x - gray) * np.float32(s)
        np.clip(x, 0, 255, out=x)
    out = np.empty((3,) + img.shape[:2], np.float32)
    for ch in range(3):
        np.multiply(x[:, :, ch], np.float32(1.0 / std255[ch]), out=out[ch])
        out[ch] -= np.float32(mean255[ch] / std255[ch])
    return out


def sample_jitter(rng: np.random.Generator, amplitude: float) -> tuple[float, float, float] | None:
    if amplitude <= 0:
        return None
    return tuple(float(v) for v in 1.0 + rng.uniform(-amplitude, amplitude, 3))  # type: ignore
