"""The loop of tools/infer.py: read images in chunks, predict all their boxes, write outputs.

Images are read a chunk at a time (about ``batch_size`` boxes per chunk), so memory stays
bounded for any number of images while every network call still gets a full batch.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np
from tqdm import tqdm

from ..data.coco_records import clean_box
from .inputs import Box
from .outputs import instance_entries, write_image_outputs, write_submission
from .predictor import Predictor

logger = logging.getLogger(__name__)
_IMREAD = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION  # as the dataset reads images


@dataclass
class RunSummary:
    """Counts reported at the end of a run."""

    images: int = 0
    instances: int = 0
    unreadable: list[str] = field(default_factory=list)
    dropped_boxes: int = 0        # outside the image or of another category than the model's

    def line(self, out_dir: Path) -> str:
        return (f"{self.images} images, {self.instances} instances written to {out_dir}; "
                f"{len(self.unreadable)} unreadable images skipped, "
                f"{self.dropped_boxes} boxes dropped")


def _usable(boxes: Sequence[Box], image: np.ndarray, known: set[int], path: Path,
            summary: RunSummary) -> list[Box]:
    """Boxes with area inside the image and a category the model predicts."""
    keep = []
    h, w = image.shape[:2]
    for b in boxes:
        c = clean_box(b.xywh, w, h)
        if b.category_id not in known or c is None or c[2] <= 0 or c[3] <= 0:
            summary.dropped_boxes += 1
            logger.debug("%s: box %s category %d dropped", path, b.xywh, b.category_id)
            continue
        keep.append(b)
    return keep


def _chunks(files: Sequence[Path], boxes: dict[Path, list[Box]], batch_size: int
            ) -> Iterator[list[Path]]:
    chunk: list[Path] = []
    count = 0
    for f in files:
        chunk.append(f)
        count += len(boxes.get(f, []))
        if count >= batch_size:
            yield chunk
            chunk, count = [], 0
    if chunk:
        yield chunk


def run_images(predictor: Predictor, files: Sequence[Path], boxes: dict[Path, list[Box]],
               ids: dict[Path, int], out_dir: Path, *, vis: bool = True,
               vis_thr: float = 0.2, progress: bool = True) -> RunSummary:
    """Predict and write ``<stem>.json`` (+ ``<stem>.png``) per image and ``results.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = RunSummary()
    known = set(predictor.scheme.category_ids)
    all_entries: list[dict] = []
    bar = tqdm(total=len(files), desc="infer", unit="img", disable=not progress,
               dynamic_ncols=True)
    for chunk in _chunks(files, boxes, predictor.batch_size):
        paths, images, chunk_boxes = [], [], []
        for f in chunk:
            img = cv2.imread(str(f), _IMREAD)
            if img is None:
                logger.warning("%s: cannot read image (missing, corrupt or not an image); "
                               "skipped", f)
                summary.unreadable.append(str(f))
                continue
            paths.append(f)
            images.append(img)
            chunk_boxes.append(_usable(boxes.get(f, []), img, known, f, summary))
        results = predictor.predict(images, [[b.xywh for b in bs] for bs in chunk_boxes],
                                    [[b.category_id for b in bs] for bs in chunk_boxes],
                                    [[b.score for b in bs] for bs in chunk_boxes])
        for f, img, instances in zip(paths, images, results):
            entries = instance_entries(instances, ids[f], f.name)
            write_image_outputs(out_dir, f.stem, img if vis else None, entries, instances,
                                predictor.scheme, vis_thr)
            all_entries.extend(entries)
            summary.images += 1
            summary.instances += len(instances)
        bar.update(len(chunk))
    bar.close()
    write_submission(out_dir / "results.json", all_entries, predictor.scheme)
    return summary
