"""Raw DeepFashion2 (one JSON per image) -> COCO-style keypoint files.

The 294-layout output is, field by field, what the official ``deepfashion2_to_coco.py`` writes
(image ids = file numbers, bbox xyxy -> xywh without +1, area = bbox w*h, visibility copied,
one annotation per item, running ids from 1). Beside it: the 81-channel aggregated layout and
per-category files, the inputs of the winning solution's aggregation and finetuning stages.
Malformed annotations are reported with file and field; they are skipped (default) or fatal
(``strict``).
"""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from tqdm import tqdm

from ..errors import InputError
from ..keypoints import deepfashion2 as df2
from .imagesize import decode_check, image_size

logger = logging.getLogger(__name__)

NUM_LANDMARKS = {cid: n for cid, _name, _raw, n in df2.CATEGORIES}
SPLITS = ("train", "validation", "test")
_TRUNCATED = "is truncated or corrupt"
_REQUIRED = ("category_id", "bounding_box", "landmarks", "style", "segmentation")


class PrepareError(InputError):
    """A raw annotation is malformed (raised in strict mode)."""


@dataclass(frozen=True)
class Problem:
    """One malformed input: where it is and what was expected."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: field {self.field!r}: {self.message}"


class _Bad(Exception):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


@dataclass
class RawItem:
    """One validated clothing item (values kept as in the raw file)."""

    category_id: int
    bbox: list                      # [x1, y1, x2, y2]
    landmarks: np.ndarray           # (n, 3) float64: x, y, v in the category's local order
    style: Any
    segmentation: Any


@dataclass
class RawImage:
    image_id: int
    file_name: str
    width: int
    height: int
    pair_id: Any = None
    items: list[RawItem] = field(default_factory=list)


@dataclass
class SplitStats:
    split: str
    images: int = 0
    items: int = 0
    skipped_items: int = 0
    skipped_files: int = 0
    bad_images: int = 0             # images whose full decode failed (truncated or corrupt)
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)

    def summary(self) -> str:
        by_field = Counter(p.field.split(".")[-1] for p in self.problems)
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(by_field.items())) or "none"
        return (f"{self.split}: {self.images} images, {self.items} items, skipped "
                f"{self.skipped_items} items and {self.skipped_files} files, "
                f"{self.bad_images} truncated or corrupt images (problems: {detail})")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def validate_item(key: str, item: Any, where: str) -> RawItem:
    """Check one ``itemK`` dict against the raw format; raise ``_Bad`` naming the field."""
    def bad(fld: str, msg: str) -> _Bad:
        return _Bad(Problem(where, f"{key}.{fld}" if fld else key, msg))

    if not isinstance(item, dict):
        raise bad("", f"expected an item object, got {type(item).__name__}")
    for fld in _REQUIRED:
        if fld not in item:
            raise bad(fld, "missing")
    cid = item["category_id"]
    if not isinstance(cid, int) or isinstance(cid, bool) or cid not in NUM_LANDMARKS:
        raise bad("category_id", f"expected an integer 1..13, got {cid!r}")
    box = item["bounding_box"]
    if not isinstance(box, list) or len(box) != 4 or not all(_number(v) for v in box):
        raise bad("bounding_box", f"expected 4 numbers [x1, y1, x2, y2], got {box!r}")
    if box[2] < box[0] or box[3] < box[1]:
        raise bad("bounding_box", f"expected x2 >= x1 and y2 >= y1, got {box!r}")
    lm = item["landmarks"]
    n = NUM_LANDMARKS[cid]
    if not isinstance(lm, list) or len(lm) != 3 * n:
        got = len(lm) if isinstance(lm, list) else type(lm).__name__
        raise bad("landmarks", f"expected {3 * n} numbers (3 x {n} landmarks of category "
                  f"{cid}), got {got}")
    if not all(_number(v) for v in lm):
        raise bad("landmarks", "expected numbers only")
    arr = np.asarray(lm, dtype=np.float64).reshape(n, 3)
    if not np.isin(arr[:, 2], (0, 1, 2)).all():
        raise bad("landmarks", "visibility values must be 0, 1 or 2")
    if not isinstance(item["style"], int) or isinstance(item["style"], bool):
        raise bad("style", f"expected an integer, got {item['style']!r}")
    if not isinstance(item["segmentation"], list):
        raise bad("segmentation", "expected a list of polygons")
    return RawItem(cid, list(box), arr, item["style"], item["segmentation"])


def _check_image(image_path: Path, where: str, verify: bool) -> tuple[int, int]:
    """(width, height) from the header; with ``verify`` the whole image is decoded too, so a
    truncated file (whose header is intact) is found here and not as a half-grey sample."""
    try:
        width, height = image_size(image_path)
    except (OSError, ValueError) as e:
        raise _Bad(Problem(where, "image", f"image {image_path} missing or unreadable: {e}")) \
            from e
    if verify:
        reason = decode_check(image_path)
        if reason:
            raise _Bad(Problem(where, "image", f"image {image_path} {_TRUNCATED} "
                               f"(full decode: {reason}); expected a complete image"))
    return width, height


def _read_json(anno_path: Path, image_path: Path, verify: bool = True
               ) -> tuple[dict, int, int]:
    """File-level checks: valid JSON object, integer pair_id, readable (decodable) image."""
    where = str(anno_path)
    try:
        with open(anno_path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise _Bad(Problem(where, "<file>", f"invalid JSON: {e}")) from e
    if not isinstance(data, dict):
        raise _Bad(Problem(where, "<file>", "expected a JSON object"))
    pair_id = data.get("pair_id")
    if not isinstance(pair_id, int) or isinstance(pair_id, bool):
        raise _Bad(Problem(where, "pair_id", f"expected an integer, got {pair_id!r}"))
    width, height = _check_image(image_path, where, verify)
    return data, width, height


def read_annotation(anno_path: Path, image_path: Path, problems: list[Problem], strict: bool,
                    verify: bool = True) -> RawImage | None:
    """Parse one raw JSON + its image; bad items are skipped (or raise in strict mode)."""
    try:
        data, width, height = _read_json(anno_path, image_path, verify)
    except _Bad as e:
        if strict:
            raise PrepareError(str(e.problem)) from None
        problems.append(e.problem)
        return None
    img = RawImage(int(anno_path.stem), image_path.name, width, height, data["pair_id"])
    for key, item in data.items():
        if key in ("source", "pair_id"):
            continue
        try:
            img.items.append(validate_item(key, item, str(anno_path)))
        except _Bad as e:
            if strict:
                raise PrepareError(str(e.problem)) from None
            problems.append(e.problem)
    return img


def _numbered(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files named by their image id, sorted by id; two names of one id (``123.json`` and
    ``000123.json``) would pair annotations with the wrong picture and are refused."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in suffixes]
    bad = [p.name for p in files if not p.stem.isdigit()]
    if bad:
        raise PrepareError(f"file names must be numbers (image ids), got {bad[:3]}",
                           file=folder)
    seen: dict[int, Path] = {}
    clashes = []
    for p in sorted(files):
        other = seen.setdefault(int(p.stem), p)
        if other is not p:
            clashes.append(f"{other.name} and {p.name} are both image id {int(p.stem)}")
    if clashes:
        more = f" (+{len(clashes) - 3} more)" if len(clashes) > 3 else ""
        raise PrepareError(f"{'; '.join(clashes[:3])}{more}; expected one file per image id",
                           file=folder, field="file names")
    return sorted(files, key=lambda p: int(p.stem))


def load_split(raw_root: Path, split: str, strict: bool = False, progress: bool = True,
               verify: bool = True) -> tuple[list[RawImage], SplitStats]:
    """Read every annotation (or, for an unannotated split, every image) of a raw split.

    ``verify``: decode every image fully (truncated files are skipped, counted and reported)."""
    stats = SplitStats(split)
    image_dir, anno_dir = raw_root / split / "image", raw_root / split / "annos"
    images: list[RawImage] = []
    if anno_dir.is_dir():
        files = _numbered(anno_dir, (".json",))
        for path in tqdm(files, desc=f"{split} annos", disable=not progress, unit="img"):
            n_before = len(stats.problems)
            img = read_annotation(path, image_dir / f"{path.stem}.jpg", stats.problems, strict,
                                  verify)
            if img is None:
                stats.skipped_files += 1
                continue
            stats.skipped_items += len(stats.problems) - n_before
            images.append(img)
    else:
        for path in tqdm(_numbered(image_dir, (".jpg", ".jpeg", ".png")), desc=f"{split} images",
                         disable=not progress, unit="img"):
            try:
                w, h = _check_image(path, str(path), verify)
            except _Bad as e:
                if strict:
                    raise PrepareError(str(e.problem)) from None
                stats.problems.append(e.problem)
                stats.skipped_files += 1
                continue
            images.append(RawImage(int(path.stem), path.name, w, h))
    stats.images = len(images)
    stats.items = sum(len(i.items) for i in images)
    stats.bad_images = sum(_TRUNCATED in p.message for p in stats.problems)
    return images, stats


def link_images(raw_root: Path, out: Path, split: str, copy: bool = False) -> Path:
    """``out/images/<split>`` -> the raw image folder (symlink, or a copy with ``copy``)."""
    src = (raw_root / split / "image").resolve()
    dst = out / "images" / split
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink():
        dst.unlink()
    if copy:
        shutil.copytree(src, dst, dirs_exist_ok=True)
    elif dst.exists():
        logger.warning("%s exists and is not a symlink; left as it is", dst)
    else:
        os.symlink(src, dst, target_is_directory=True)
    return dst


def prepare_deepfashion2(raw_root: str | os.PathLike, out: str | os.PathLike,
                         splits: Iterable[str] = SPLITS, strict: bool = False,
                         copy: bool = False, progress: bool = True,
                         verify_images: bool = True) -> list[SplitStats]:
    """Convert every present split of a raw DeepFashion2 tree (see module doc for the layout).

    ``verify_images``: decode every image to the end (JPEGs at 1/8 scale, which still reads all
    of the compressed data), so truncated downloads are reported instead of training half grey.
    """
    from .coco_export import write_split_files

    raw_root, out = Path(raw_root), Path(out)
    if not raw_root.is_dir():
        raise PrepareError("not a directory; expected the raw DeepFashion2 root holding "
                           "train/ validation/ test/", file=raw_root, field="--raw")
    results = []
    for split in splits:
        if not (raw_root / split / "image").is_dir():
            logger.info("split %s: no %s, skipped", split, raw_root / split / "image")
            continue
        t0 = time.perf_counter()
        images, stats = load_split(raw_root, split, strict, progress, verify_images)
        annotated = (raw_root / split / "annos").is_dir()
        write_split_files(out, split, images, per_category=annotated)
        link_images(raw_root, out, split, copy)
        stats.seconds = time.perf_counter() - t0
        for p in stats.problems:
            logger.warning("skipped: %s", p)
        logger.info(stats.summary())
        results.append(stats)
    if not results:
        raise PrepareError(f"{raw_root}: none of the splits {list(splits)} has an image folder")
    return results
