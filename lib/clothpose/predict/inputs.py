"""Inputs of tools/infer.py: image lists, image ids, and boxes from detectors or by hand.

Box sources all become ``{image path: [Box, ...]}``:
- a COCO bbox-results file (``image_id``, ``category_id``, ``bbox``, ``score``) from any detector;
  image ids are matched to files by the integer in the file name (DeepFashion2: 000123.jpg is
  image 123) or by a ``file_name`` field of the detection;
- ``whole-image``: one box covering each image, with a category given by the user;
- a JSON ``{"file.jpg": [[x, y, w, h, category(, score)], ...]}`` or a CSV
  ``file,x,y,w,h,category`` (optional header, optional 7th column ``score``).
"""
from __future__ import annotations

import csv
import glob
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

logger = logging.getLogger(__name__)
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class InputError(ValueError):
    """A box or detection file is malformed (the message names the file and field)."""


@dataclass(frozen=True)
class Box:
    """One box to predict: x, y, w, h in pixels, its category and detector score."""

    xywh: tuple[float, float, float, float]
    category_id: int
    score: float = 1.0


def list_images(spec: str) -> list[Path]:
    """Image files of a directory (not recursive), a single file, or a glob pattern; sorted."""
    p = Path(spec)
    if p.is_dir():
        files = [f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS]
    elif p.is_file():
        files = [p]
    else:
        files = [Path(f) for f in glob.glob(spec) if Path(f).is_file()]
        if not files:
            raise FileNotFoundError(f"--images {spec!r}: no such file or directory, and the glob "
                                    "pattern matches no file")
    if not files:
        raise FileNotFoundError(f"--images {spec!r}: no image files ({sorted(IMAGE_EXTENSIONS)})")
    return sorted(files)


def image_ids(files: Sequence[Path]) -> dict[Path, int]:
    """Integer id of each file: the last run of digits in its name (DeepFashion2 convention).

    When a name has no digits or two files share an id, all files get 1-based ranks instead
    (with a warning), so ids stay unique.
    """
    ids = {}
    for f in files:
        digits = re.findall(r"\d+", f.stem)
        ids[f] = int(digits[-1]) if digits else None
    if None in ids.values() or len(set(ids.values())) != len(ids):
        logger.warning("image ids: not every file name holds a distinct integer; numbering the "
                       "%d images 1..%d in sorted order instead", len(files), len(files))
        return {f: i for i, f in enumerate(files, start=1)}
    return ids  # type: ignore[return-value]


def _number(v: Any, where: str, field: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        x = math.nan
    if not math.isfinite(x):
        raise InputError(f"{where}: field {field!r} must be a finite number, got {v!r}")
    return x


def _category(v: Any, where: str) -> int:
    x = _number(v, where, "category")
    if x != int(x):
        raise InputError(f"{where}: field 'category' must be an integer id, got {v!r}")
    return int(x)


def _read_json(path: Path) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: box/detection file not found") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e})") from e


def _by_name(files: Sequence[Path]) -> dict[str, Path]:
    """Lookup by file name and by the path as given."""
    out = {f.name: f for f in files}
    out.update({str(f): f for f in files})
    return out


def load_detections(path: Path, files: Sequence[Path], score_thr: float = 0.0
                    ) -> tuple[dict[Path, list[Box]], int]:
    """Boxes from a COCO bbox-results file; returns them and the count of detections whose
    image is not among ``files`` (ignored)."""
    dets = _read_json(path)
    if not isinstance(dets, list):
        raise InputError(f"{path}: expected a JSON list of {{image_id, category_id, bbox, score}}")
    by_id = {i: f for f, i in image_ids(files).items()}
    by_name = _by_name(files)
    out: dict[Path, list[Box]] = {}
    unmatched = 0
    for i, d in enumerate(dets):
        where = f"{path}: [{i}]"
        if not isinstance(d, dict):
            raise InputError(f"{where}: expected an object with image_id, category_id, bbox, score")
        bbox = d.get("bbox")
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            raise InputError(f"{where}: field 'bbox' must be [x, y, w, h], got {bbox!r}")
        xywh = tuple(_number(v, where, "bbox") for v in bbox)
        score = _number(d.get("score", 1.0), where, "score")
        cid = _category(d.get("category_id"), where)
        if score < score_thr:
            continue
        f = by_name.get(str(d["file_name"])) if "file_name" in d else by_id.get(d.get("image_id"))
        if f is None:
            unmatched += 1
            continue
        out.setdefault(f, []).append(Box(xywh, cid, score))  # type: ignore[arg-type]
    return out, unmatched


def _row_box(row: Sequence[Any], where: str, default_category: int | None) -> Box:
    if len(row) == 4 and default_category is not None:
        row = list(row) + [default_category]
    if len(row) not in (5, 6):
        raise InputError(f"{where}: expected [x, y, w, h, category] or [x, y, w, h, category, "
                         f"score], got {list(row)!r}")
    xywh = tuple(_number(v, where, n) for v, n in zip(row[:4], "xywh"))
    score = _number(row[5], where, "score") if len(row) == 6 else 1.0
    return Box(xywh, _category(row[4], where), score)  # type: ignore[arg-type]


def load_boxes_json(path: Path, files: Sequence[Path], default_category: int | None
                    ) -> tuple[dict[Path, list[Box]], int]:
    """``{"file.jpg": [[x, y, w, h, cat], ...]}``; returns boxes and the number of unknown files."""
    data = _read_json(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected an object {{\"file.jpg\": [[x, y, w, h, category], "
                         "...]}")
    by_name = _by_name(files)
    out: dict[Path, list[Box]] = {}
    unmatched = 0
    for name, rows in data.items():
        if not isinstance(rows, list):
            raise InputError(f"{path}: [{name!r}] must be a list of boxes")
        f = by_name.get(name) or by_name.get(Path(name).name)
        boxes = [_row_box(r if isinstance(r, (list, tuple)) else [r], f"{path}: [{name!r}][{j}]",
                          default_category) for j, r in enumerate(rows)]
        if f is None:
            unmatched += len(boxes)
            continue
        out.setdefault(f, []).extend(boxes)
    return out, unmatched


def load_boxes_csv(path: Path, files: Sequence[Path], default_category: int | None
                   ) -> tuple[dict[Path, list[Box]], int]:
    """``file,x,y,w,h,category[,score]`` rows (a first row naming the columns is skipped)."""
    by_name = _by_name(files)
    out: dict[Path, list[Box]] = {}
    unmatched = 0
    try:
        with open(path, newline="") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: box file not found") from None
    if rows and rows[0][0].strip().lower() in ("file", "filename", "file_name", "image"):
        rows = rows[1:]
    for n, r in enumerate(rows, start=1):
        name = r[0].strip()
        box = _row_box([c.strip() for c in r[1:]], f"{path}: row {n} ({name})", default_category)
        f = by_name.get(name) or by_name.get(Path(name).name)
        if f is None:
            unmatched += 1
            continue
        out.setdefault(f, []).append(box)
    return out, unmatched


def whole_image_boxes(files: Sequence[Path], category_id: int) -> dict[Path, list[Box]]:
    """One box per image; x, y, w, h = 0, 0, inf, inf is clipped to the image when predicting."""
    return {f: [Box((0.0, 0.0, math.inf, math.inf), category_id, 1.0)] for f in files}


def load_box_source(spec: str | None, detections: str | None, files: Sequence[Path],
                    category: int | None, score_thr: float = 0.0
                    ) -> tuple[dict[Path, list[Box]], int]:
    """Dispatch ``--detections`` / ``--boxes``; returns boxes and the number left unmatched."""
    if detections and spec:
        raise InputError("give either --detections or --boxes, not both")
    if detections:
        return load_detections(Path(detections), files, score_thr)
    if spec is None or spec == "whole-image":
        if category is None:
            raise InputError("--boxes whole-image needs --category (the garment category of "
                             "every image)")
        return whole_image_boxes(files, category), 0
    p = Path(spec)
    if p.suffix.lower() == ".csv":
        return load_boxes_csv(p, files, category)
    return load_boxes_json(p, files, category)
