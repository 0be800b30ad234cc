"""Shared fixtures: a tiny synthetic DeepFashion2 set, generated raw and prepared once per session."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass(frozen=True)
class SyntheticDF2:
    """Paths of the session's synthetic DeepFashion2 data.

    root: prepared root (``DATASET.ROOT``: annotations*/, images/<split>/).
    raw: raw layout (``<split>/image``, ``<split>/annos``).
    detections: split -> COCO bbox-results file (train, validation).
    counts: split -> number of images.
    """

    root: Path
    raw: Path
    detections: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)

    def __getitem__(self, key: str):
        return getattr(self, key)


@pytest.fixture(scope="session")
def synthetic_df2(tmp_path_factory) -> SyntheticDF2:
    """12 train / 6 validation / 3 test images of 256x256 px, prepared (< 2 s)."""
    from clothpose.data.prepare import prepare_deepfashion2
    from clothpose.data.synthetic import make_synthetic

    base = tmp_path_factory.mktemp("synthetic_df2")
    raw, root = base / "raw", base / "prepared"
    counts = {"train": 12, "validation": 6, "test": 3}
    dets = make_synthetic(raw, counts, seed=7, size=(256, 256))
    prepare_deepfashion2(raw, root, progress=False)
    return SyntheticDF2(root=root, raw=raw, detections=dets, counts=counts)
