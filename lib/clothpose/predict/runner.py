"""The loop of tools/infer.py: read images in chunks, predict all their boxes, write outputs.

Images are read a chunk at a time (about ``batch_size`` boxes per chunk), so memory stays
bounded for any number of images while every network call still gets a full batch. With a
garment detector the boxes come from it, image by image of the chunk (each image read once).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import cv2
import numpy as np
from tqdm import tqdm

from ..data.coco_records import clean_box
from ..utils.io import atomic_write_json
from .inputs import Box, display_names, output_names
from .outputs import instance_entries, write_image_outputs, write_submission
from .predictor import Predictor

logger = logging.getLogger(__name__)
# Own photos are turned upright by their EXIF orientation, as every viewer shows them (the
# dataset, whose annotations are in stored-pixel coordinates, ignores it).
_IMREAD = cv2.IMREAD_COLOR
_ORIENTATION_TAG = 0x0112


def exif_orientation(path: Path) -> int:
    """The EXIF orientation of an image file (1 = upright; 2..8 = mirrored / rotated)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return int(im.getexif().get(_ORIENTATION_TAG, 1) or 1)
    except (OSError, ValueError, SyntaxError):
        return 1


@dataclass
class RunSummary:
    """Counts reported at the end of a run."""

    images: int = 0
    instances: int = 0
    unreadable: list[str] = field(default_factory=list)
    dropped_boxes: int = 0        # outside the image or of another category than the model's
    no_box: list[str] = field(default_factory=list)   # readable images that got no box
    rotated: list[str] = field(default_factory=list)  # turned upright by their EXIF orientation

    def line(self, out_dir: Path) -> str:
        return (f"{self.images} images, {self.instances} instances written to {out_dir}; "
                f"{len(self.unreadable)} unreadable images skipped, "
                f"{self.dropped_boxes} boxes dropped, {len(self.no_box)} images without a box, "
                f"{len(self.rotated)} turned upright by their EXIF orientation")


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


def _detected(detector: Any, images: list[np.ndarray], score_thr: float,
              category: int | None) -> list[list[Box]]:
    return [[Box(tuple(float(v) for v in b), int(c), float(s))  # type: ignore[arg-type]
             for b, c, s in zip(d.boxes, d.category_ids, d.scores)
             if category is None or c == category]
            for d in detector.detect(images, score_thr)]


def run_images(predictor: Predictor, files: Sequence[Path], boxes: dict[Path, list[Box]],
               ids: dict[Path, int], out_dir: Path, *, vis: bool = True,
               vis_thr: float = 0.2, progress: bool = True, detector: Any = None,
               det_score_thr: float = 0.3, det_category: int | None = None) -> RunSummary:
    """Predict and write ``<name>.json`` (+ ``<name>.png``) per image and ``results.json``;
    ``<name>`` is the file stem, or a longer unique name when inputs share a stem
    (``inputs.output_names``).

    With a ``detector`` (``predict.detector.Detector``) ``boxes`` is ignored: each image's boxes
    are its detections scoring >= ``det_score_thr`` (of ``det_category`` only, when given),
    each predicted with its detected category, and every such detection is also written to
    ``detections.json`` (COCO bbox results)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = RunSummary()
    names, shown = output_names(files), display_names(files)
    known = set(predictor.scheme.category_ids)
    all_entries: list[dict] = []
    all_dets: list[dict] = []
    bar = tqdm(total=len(files), desc="infer", unit="img", disable=not progress,
               dynamic_ncols=True)
    chunks = _chunks(files, {f: [None] for f in files} if detector is not None else boxes,
                     predictor.batch_size)
    for chunk in chunks:
        paths, images, chunk_boxes = [], [], []
        for f in chunk:
            img = cv2.imread(str(f), _IMREAD)
            if img is None:
                logger.warning("%s: cannot read image (missing, corrupt or not an image); "
                               "skipped", f)
                summary.unreadable.append(str(f))
                continue
            orientation = exif_orientation(f)
            if orientation != 1:
                summary.rotated.append(str(f))
                logger.info("%s: turned upright by its EXIF orientation %d; landmarks and boxes "
                            "are in the upright image's pixels", f, orientation)
            paths.append(f)
            images.append(img)
        if detector is not None:
            found = _detected(detector, images, det_score_thr, det_category)
        else:
            found = [boxes.get(f, []) for f in paths]
        for f, img, bs in zip(paths, images, found):
            usable = _usable(bs, img, known, f, summary)
            if not usable:
                summary.no_box.append(shown[f])
            chunk_boxes.append(usable)
            if detector is not None:
                all_dets += [{"image_id": ids[f], "category_id": b.category_id,
                              "bbox": [round(v, 2) for v in b.xywh], "score": b.score}
                             for b in bs]
        results = predictor.predict(images, [[b.xywh for b in bs] for bs in chunk_boxes],
                                    [[b.category_id for b in bs] for bs in chunk_boxes],
                                    [[b.score for b in bs] for bs in chunk_boxes])
        for f, img, instances in zip(paths, images, results):
            entries = instance_entries(instances, ids[f], shown[f])
            write_image_outputs(out_dir, names[f], img if vis else None, entries, instances,
                                predictor.scheme, vis_thr)
            all_entries.extend(entries)
            summary.images += 1
            summary.instances += len(instances)
        bar.update(len(chunk))
    bar.close()
    if summary.no_box:
        more = f" (+{len(summary.no_box) - 10} more)" if len(summary.no_box) > 10 else ""
        logger.warning("%d images got no box to predict: %s%s", len(summary.no_box),
                       ", ".join(summary.no_box[:10]), more)
    write_submission(out_dir / "results.json", all_entries, predictor.scheme)
    if detector is not None:
        atomic_write_json(out_dir / "detections.json", all_dets)
    return summary
