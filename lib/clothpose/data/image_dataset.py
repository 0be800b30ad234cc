"""What every image dataset here shares (keypoint crops and whole-image detection samples).

One seeded augmentation stream per process, DataLoader worker and epoch (so a resumed run draws
exactly the augmentations of an uninterrupted one), and image reading that reports an unreadable
file (or skips it, counted, with ``skip_bad_samples``) and warns once per truncated JPEG.
"""
from __future__ import annotations

import logging
import os

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import InputError
from .decode import ImageFile, decode, probe

logger = logging.getLogger(__name__)


class BadSampleError(InputError):
    """An image cannot be read (missing or corrupt file)."""


class ImageSampleDataset(Dataset):
    """Base class: subclasses set ``records`` (dicts with an ``image`` path), call
    ``_init_reading`` and implement ``_sample(idx)``, which returns None when the record's image
    cannot be read (after ``_bad``); ``__getitem__`` then tries other records."""

    records: list[dict]

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

    # ------------------------------------------------------------------ randomness
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

    # ------------------------------------------------------------------ reading
    def _bad(self, path: str) -> None:
        """An unreadable image: an error, or (``skip_bad_samples``) counted and warned once."""
        msg = f"{path}: cannot read image (missing or corrupt)"
        if not self.skip_bad_samples:
            raise BadSampleError(msg + "; set DATASET.SKIP_BAD_SAMPLES True to skip such samples")
        self.num_bad_images += 1
        if path not in self._bad_files:
            self._bad_files.add(path)
            logger.warning("%s; sample skipped", msg)

    def _check_truncated(self, enc: ImageFile) -> None:
        if enc.truncated and enc.path not in self._truncated:
            self._truncated.add(enc.path)
            logger.warning("%s: truncated JPEG (no end marker): its missing part is decoded "
                           "grey; replace the file (tools/prepare_deepfashion2.py finds "
                           "such files with its full decode check)", enc.path)

    def _read(self, path: str) -> np.ndarray | None:
        """The whole image at full size (BGR), or None after ``_bad``."""
        enc = probe(path)
        img = None if enc is None else decode(enc)[0]
        if img is None:
            self._bad(path)
            return None
        self._check_truncated(enc)
        return img

    def __getitem__(self, idx: int):
        n = len(self.records)
        for attempt in range(min(n, 64)):
            j = (idx + attempt * 7919) % n
            sample = self._sample(j)
            if sample is not None:
                return sample
        raise BadSampleError(f"no readable image found after 64 attempts from index {idx}")

    def _sample(self, idx: int):
        raise NotImplementedError
