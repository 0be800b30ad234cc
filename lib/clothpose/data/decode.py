"""Image decoding for the crop pipeline, with DCT-domain reduced decoding of JPEGs.

When a crop shrinks the image by 2x or more, libjpeg can decode the JPEG at 1/2, 1/4 or 1/8
size directly in the DCT domain (``cv2.IMREAD_REDUCED_COLOR_*``): less inverse-DCT and colour
work, and the averaging acts as an anti-aliasing filter the plain bilinear warp lacks.
A reduced pixel u covers original pixels [f u, f u + f), so its centre sits at original
x = f u + (f - 1) / 2; ``reduced_matrix`` composes that into the crop matrix so the crop and
the keypoints (transformed with the original matrix) stay aligned.

OpenCV decodes through libjpeg-turbo (its wheels bundle it); ``bench/data_pipeline.py``
measured simplejpeg (the same library behind another binding) at the same speed and with
identical pixels, so no extra dependency is used. Files that are not JPEG take OpenCV's
ordinary decoder at full size.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

import cv2
import numpy as np

from .imagesize import _jpeg_size

_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
          8: cv2.IMREAD_REDUCED_COLOR_8}
_IGNORE_EXIF = cv2.IMREAD_IGNORE_ORIENTATION   # as HRNet reads images


@dataclass(frozen=True)
class EncodedImage:
    """The bytes of an image file and, for a JPEG, its (width, height) from the header."""

    path: str
    data: np.ndarray               # uint8 file bytes
    size: tuple[int, int] | None   # (w, h) of a JPEG; None for other formats

    @property
    def is_jpeg(self) -> bool:
        return self.size is not None


def read_encoded(path: str) -> EncodedImage | None:
    """The file's bytes (None when it cannot be read) and the JPEG header size."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    size = None
    if raw[:2] == b"\xff\xd8":
        buf = io.BytesIO(raw)
        buf.seek(2)
        size = _jpeg_size(buf)
    return EncodedImage(path, np.frombuffer(raw, np.uint8), size)


def reduction_factor(matrix: np.ndarray, max_factor: int = 8) -> int:
    """Largest of 1, 2, 4, 8 (<= ``max_factor``) by which the 2x3 image -> crop ``matrix``
    shrinks the image in every direction (1 / the largest singular value of its linear part)."""
    if max_factor < 2:
        return 1
    zoom = float(np.linalg.svd(np.asarray(matrix, np.float64)[:, :2], compute_uv=False)[0])
    if zoom <= 0 or not math.isfinite(zoom):
        return 1
    f = 1
    while f * 2 <= max_factor and f * 2 <= 1.0 / zoom:
        f *= 2
    return f


def reduced_matrix(matrix: np.ndarray, factor: int) -> np.ndarray:
    """``matrix`` (original pixels -> crop) re-expressed for the image decoded at 1/``factor``:
    ``matrix @ [[f, 0, (f-1)/2], [0, f, (f-1)/2], [0, 0, 1]]``."""
    m = np.asarray(matrix, np.float64)
    if factor == 1:
        return m
    out = m.copy()
    out[:, :2] = m[:, :2] * factor
    out[:, 2] = m[:, 2] + m[:, :2].sum(axis=1) * (factor - 1) / 2.0
    return out


def decode(image: EncodedImage, factor: int = 1) -> tuple[np.ndarray | None, int]:
    """BGR uint8 pixels at 1/``factor`` size (JPEG only; others full size) and the factor used.

    Returns (None, factor) when the bytes cannot be decoded.
    """
    if not image.is_jpeg:
        factor = 1
    pixels = cv2.imdecode(image.data, _FLAGS[factor] | _IGNORE_EXIF)
    if pixels is None or factor == 1:
        return pixels, factor
    w, h = image.size  # type: ignore[misc]
    if pixels.shape[:2] != (-(-h // factor), -(-w // factor)):   # not the scaled-IDCT layout
        pixels = cv2.imdecode(image.data, cv2.IMREAD_COLOR | _IGNORE_EXIF)
        return pixels, 1
    return pixels, factor
