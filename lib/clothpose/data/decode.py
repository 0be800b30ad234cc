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
ordinary decoder at full size. The header is parsed before decoding because the flip needs the
original width, which a reduced image does not give exactly (ceil(W / f)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .imagesize import _jpeg_size, missing_end_marker

_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
          8: cv2.IMREAD_REDUCED_COLOR_8}
_IGNORE_EXIF = cv2.IMREAD_IGNORE_ORIENTATION   # as HRNet reads images


@dataclass(frozen=True)
class ImageFile:
    """An image file as probed before decoding: for a JPEG its (width, height) from the header
    and whether it ends without the end-of-image marker (a cut file OpenCV decodes grey)."""

    path: str
    size: tuple[int, int] | None   # (w, h) of a JPEG; None for other formats
    truncated: bool = False

    @property
    def is_jpeg(self) -> bool:
        return self.size is not None


def probe(path: str, tail: int = 1024) -> ImageFile | None:
    """Header size and truncation of a JPEG from its first bytes and last ``tail`` bytes
    (``imagesize.file_looks_truncated``); None when the file cannot be opened."""
    try:
        with open(path, "rb") as f:
            if f.read(2) != b"\xff\xd8":
                return ImageFile(path, None)
            size = _jpeg_size(f)
            truncated = missing_end_marker(f, tail)
    except OSError:
        return None
    return ImageFile(path, size, truncated) if size is not None else ImageFile(path, None)


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


def decode(image: ImageFile, factor: int = 1) -> tuple[np.ndarray | None, int]:
    """BGR uint8 pixels at 1/``factor`` size (JPEG only; others full size) and the factor used.

    Returns (None, factor) when the file cannot be decoded. (``cv2.imread``, not ``imdecode``:
    OpenCV 5's ``imdecode`` refuses a truncated JPEG that ``imread`` decodes with a grey end.)
    """
    if not image.is_jpeg:
        factor = 1
    pixels = cv2.imread(image.path, _FLAGS[factor] | _IGNORE_EXIF)
    if pixels is None or factor == 1:
        return pixels, factor
    w, h = image.size  # type: ignore[misc]
    if pixels.shape[:2] != (-(-h // factor), -(-w // factor)):   # not the scaled-IDCT layout
        return cv2.imread(image.path, cv2.IMREAD_COLOR | _IGNORE_EXIF), 1
    return pixels, factor
