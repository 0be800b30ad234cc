"""Inputs of tools/infer.py: image lists, image ids, and boxes from detectors or by hand.

Box sources all become ``{image path: [Box, ...]}``:
- a COCO bbox-results file (``image_id``, ``category_id``, ``bbox``, ``score``) from any detector;
- ``whole-image``: one box covering each image, with a category given by the user;
- a JSON ``{"file.jpg": [[x, y, w, h, category(, score)], ...]}`` or a CSV
  ``file,x,y,w,h,category`` (optional header, optional 7th column ``score``).

How a box finds its image (``MATCHING_RULE``, also in the README):
1. by name: a detection's ``file_name`` (or the key / first column of a boxes file) is the input
   path (as given or absolute), else its file name; a file name shared by two inputs
   (``a/x.jpg``, ``b/x.jpg``) must be given as the path;
2. by number (COCO detections without ``file_name``): ``image_id`` is the number in the input's
   file name, i.e. its last run of digits (``000123.jpg`` and ``img_123.png`` are image 123).
   Files without digits are reached by name only, and an id that two inputs share
   (``1.jpg``, ``001.png``) is refused for the detections that use it. Files are never renumbered.
Boxes that name no input are counted and reported; so are the inputs that got no box.
"""
from __future__ import annotations

import csv
import glob
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

logger = logging.getLogger(__name__)
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


from ..errors import InputError  # noqa: E402  (re-exported: box and detection file errors)

MATCHING_RULE = ("boxes find their image by file_name (the input path as given, or its file "
                 "name) or, for COCO detections without file_name, by image_id = the last number "
                 "in the input's file name")


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


def file_number(path: Path) -> int | None:
    """The number in a file name (its last run of digits; DeepFashion2: 000123.jpg is 123)."""
    digits = re.findall(r"\d+", path.stem)
    return int(digits[-1]) if digits else None


def image_ids(files: Sequence[Path]) -> dict[Path, int]:
    """Image id of each input for the results: its file number when no other input has the same
    one; the others (no digits, or a shared number) get fresh ids above every file number, in
    sorted order. Only ids of the output; detections are matched by ``MATCHING_RULE``."""
    numbers = {f: file_number(f) for f in files}
    counts: dict[int, int] = {}
    for n in numbers.values():
        if n is not None:
            counts[n] = counts.get(n, 0) + 1
    nxt = max(counts, default=0) + 1
    out = {}
    for f in files:
        n = numbers[f]
        if n is not None and counts[n] == 1:
            out[f] = n
        else:
            out[f], nxt = nxt, nxt + 1
    renumbered = sum(1 for f in files if out[f] != numbers[f])
    if renumbered:
        logger.info("image ids: %d of %d inputs have no unique number in their file name; their "
                    "results use ids %d and up", renumbered, len(files), max(counts, default=0) + 1)
    return out


def output_names(files: Sequence[Path]) -> dict[Path, str]:
    """Name of each input's outputs (``<name>.json``, ``<name>.png``) so that no two inputs
    share one: the file stem when it is unique among the inputs; else the path relative to the
    inputs' common folder without its extension (``a/x.jpg``, ``b/x.jpg`` -> ``a/x``, ``b/x``),
    with the extension kept when only that differs (``x.jpg``, ``x.png``)."""
    stems: dict[str, int] = {}
    for f in files:
        stems[f.stem] = stems.get(f.stem, 0) + 1
    shared = [f for f in files if stems[f.stem] > 1]
    if not shared:
        return {f: f.stem for f in files}
    base = Path(os.path.commonpath([str(f.resolve().parent) for f in files]))
    rel = {f: f.resolve().relative_to(base) for f in shared}
    plain: dict[str, int] = {}
    for r in rel.values():
        key = r.with_suffix("").as_posix()
        plain[key] = plain.get(key, 0) + 1
    out = {f: f.stem for f in files}
    for f, r in rel.items():
        key = r.with_suffix("").as_posix()
        out[f] = key if plain[key] == 1 else r.as_posix()
    logger.info("%d inputs share a file stem; their outputs are named by relative path (e.g. "
                "%s.json)", len(shared), out[shared[0]])
    return out


def display_names(files: Sequence[Path]) -> dict[Path, str]:
    """Input paths relative to the inputs' common folder (the file name when all share one)."""
    if not files:
        return {}
    base = Path(os.path.commonpath([str(f.resolve().parent) for f in files]))
    return {f: f.resolve().relative_to(base).as_posix() for f in files}


class _Matcher:
    """Finds the input a box names, per ``MATCHING_RULE``."""

    def __init__(self, files: Sequence[Path], source: Path):
        self.source = source
        self.by_path = {str(f): f for f in files}
        self.by_path.update({str(f.resolve()): f for f in files})
        self.by_name: dict[str, list[Path]] = {}
        self.by_number: dict[int, list[Path]] = {}
        for f in files:
            self.by_name.setdefault(f.name, []).append(f)
            n = file_number(f)
            if n is not None:
                self.by_number.setdefault(n, []).append(f)

    def name(self, name: str, where: str) -> Path | None:
        if name in self.by_path:
            return self.by_path[name]
        hits = self.by_name.get(Path(name).name, [])
        if len(hits) > 1:
            raise InputError(f"file name {name!r} is ambiguous: inputs {[str(h) for h in hits]}; "
                             "expected the input's path", file=self.source, field=where)
        return hits[0] if hits else None

    def number(self, image_id: Any, where: str) -> Path | None:
        if isinstance(image_id, str) and image_id.strip().isdigit():
            image_id = int(image_id)
        if isinstance(image_id, bool) or not isinstance(image_id, (int, float)) or \
                image_id != int(image_id):
            return None
        hits = self.by_number.get(int(image_id), [])
        if len(hits) > 1:
            raise InputError(f"image_id {int(image_id)} is the number of several inputs "
                             f"{[str(h) for h in hits]}; expected a 'file_name' to tell them "
                             "apart", file=self.source, field=where)
        return hits[0] if hits else None


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


def load_detections(path: Path, files: Sequence[Path], score_thr: float = 0.0
                    ) -> tuple[dict[Path, list[Box]], int]:
    """Boxes from a COCO bbox-results file; returns them and the count of detections whose
    image is not among ``files`` (ignored)."""
    dets = _read_json(path)
    if not isinstance(dets, list):
        raise InputError(f"{path}: expected a JSON list of {{image_id, category_id, bbox, score}}")
    match = _Matcher(files, path)
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
        f = match.name(str(d["file_name"]), f"[{i}].file_name") if "file_name" in d else \
            match.number(d.get("image_id"), f"[{i}].image_id")
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
    match = _Matcher(files, path)
    out: dict[Path, list[Box]] = {}
    unmatched = 0
    for name, rows in data.items():
        if not isinstance(rows, list):
            raise InputError(f"{path}: [{name!r}] must be a list of boxes")
        f = match.name(name, f"[{name!r}]")
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
    match = _Matcher(files, path)
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
        f = match.name(name, f"row {n}")
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
