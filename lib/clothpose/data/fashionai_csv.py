"""FashionAI (Tianchi 2018) CSV files: annotations, test lists, submissions and dataset records.

The challenge ships one CSV per release: ``image_id,image_category`` then 24 cells ``x_y_v`` in the
column order of ``clothpose.keypoints.fashionai.KEYPOINTS`` (v: 1 visible, 0 occluded, -1 absent).
Test lists carry only the first two columns; a submission repeats the full 26-column header.
Category ids are this toolkit's (``fashionai.CATEGORY_IDS``); the files use the type names.
"""
from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..keypoints import KeypointScheme, get_scheme
from ..keypoints import fashionai as fai
from ..utils.io import atomic_write
from .imagesize import image_size as read_image_size  # header-only size, cv2 fallback

logger = logging.getLogger(__name__)

HEADER: tuple[str, ...] = ("image_id", "image_category", *fai.KEYPOINTS)
ABSENT_CELL = "-1_-1_-1"
TYPE_NAMES: dict[int, str] = {cid: name for cid, name, _ in fai.CATEGORIES}
NUM_KEYPOINTS = len(fai.KEYPOINTS)


class FashionAICSVError(InputError):
    """A FashionAI CSV is malformed or inconsistent; the message names file, line and column."""


@dataclass
class FashionAITable:
    """Rows of one FashionAI CSV, in file order.

    Attributes:
        path: the file read (or a description of where the rows came from).
        image_ids: relative image paths, e.g. ``Images/blouse/<hash>.jpg``.
        category_ids: (N,) int64 toolkit category ids (1 blouse .. 5 dress).
        keypoints: (N, 24, 3) float64 x, y, v in CSV column order; ``None`` for a test list.
        skipped: one message per malformed row skipped in lenient mode.
    """

    path: str
    image_ids: list[str]
    category_ids: np.ndarray
    keypoints: np.ndarray | None = None
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def category_names(self) -> list[str]:
        return [TYPE_NAMES[int(c)] for c in self.category_ids]


class _RowError(Exception):
    def __init__(self, column: str, reason: str):
        super().__init__(f"column {column!r}: {reason}")


def _check_header(path: Path, header: list[str] | None, with_keypoints: bool) -> None:
    got = [h.strip() for h in header or []]
    if not any(got):
        raise FashionAICSVError(f"{path}, line 1: empty, expected the header row")
    if got == list(HEADER) or (not with_keypoints and got == list(HEADER[:2])):
        return
    diffs = [f"column {i + 1} is {g!r}, expected {e!r}"
             for i, (g, e) in enumerate(zip(got, HEADER)) if g != e]
    raise FashionAICSVError(
        f"{path}, line 1 (header): expected image_id,image_category"
        f"{',<the 24 keypoint names in official order>' if with_keypoints else ''}; got "
        f"{len(got)} columns; {'; '.join(diffs[:3]) or 'columns missing'}")


def _category(cell: str) -> int:
    cid = fai.CATEGORY_IDS.get(cell.strip())
    if cid is None:
        raise _RowError("image_category", f"unknown type {cell!r}, expected one of "
                        f"{sorted(fai.CATEGORY_IDS)}")
    return cid


def _keypoint_cells(cells: list[str]) -> list[float]:
    """Validate 24 ``x_y_v`` cells one by one (the slow path, used to name the bad cell)."""
    out: list[float] = []
    for name, cell in zip(fai.KEYPOINTS, cells):
        parts = cell.strip().split("_")
        try:
            x, y, v = float(parts[0]), float(parts[1]), float(parts[2])
            ok = len(parts) == 3 and np.isfinite(x) and np.isfinite(y)
        except (ValueError, IndexError):
            ok = False
        if not ok:
            raise _RowError(name, f"got {cell!r}, expected 'x_y_v' with finite numbers")
        if v not in (-1.0, 0.0, 1.0):
            raise _RowError(name, f"got {cell!r}, visibility must be 1, 0 or -1")
        out += (x, y, v)
    return out


def _bulk_keypoints(token_rows: list[list[str]]) -> np.ndarray | None:
    """Convert rows of 72 tokens at once; ``None`` when some row is invalid (then go slow)."""
    try:
        values = np.array(token_rows, dtype=np.float64).reshape(-1, NUM_KEYPOINTS, 3)
    except ValueError:
        return None
    good = np.isfinite(values[..., :2]).all() and np.isin(values[..., 2], (-1.0, 0.0, 1.0)).all()
    return values if good else None


def _read(path: str | os.PathLike, with_keypoints: bool, strict: bool) -> FashionAITable:
    path = Path(path)
    try:
        f = open(path, newline="", encoding="utf-8-sig")
    except OSError as e:
        raise FashionAICSVError(f"{path}: cannot open: {e}") from e
    rows: list[tuple[int, str, int, list[str]]] = []  # line, image id, category, keypoint cells
    skipped: list[str] = []

    def reject(line: int, err: _RowError) -> None:
        if strict:
            raise FashionAICSVError(f"{path}, line {line}, {err}") from None
        skipped.append(f"{path}, line {line}, {err}")

    with f:
        reader = csv.reader(f)
        _check_header(path, next(reader, None), with_keypoints)
        for row in reader:
            if not any(c.strip() for c in row):
                continue  # blank line
            try:
                if not row[0].strip():
                    raise _RowError("image_id", "empty image id")
                if len(row) < 2:
                    raise _RowError("image_category", "missing")
                if with_keypoints and len(row) != len(HEADER):
                    raise _RowError("row", f"{len(row)} columns, expected {len(HEADER)}")
                rows.append((reader.line_num, row[0].strip(), _category(row[1]), row[2:]))
            except _RowError as e:
                reject(reader.line_num, e)
    kps = None
    if with_keypoints:
        tokens = ["_".join(r[3]).split("_") for r in rows]
        same_length = all(len(t) == 3 * NUM_KEYPOINTS for t in tokens)
        kps = _bulk_keypoints(tokens) if same_length else None
        if kps is None:  # slow path: find and name the bad cells
            good, values = [], []
            for r in rows:
                try:
                    values.append(_keypoint_cells(r[3]))
                    good.append(r)
                except _RowError as e:
                    reject(r[0], e)
            rows = good
            kps = np.array(values, dtype=np.float64).reshape(-1, NUM_KEYPOINTS, 3)
    if skipped:
        logger.warning("%s: skipped %d malformed rows (first: %s)", path, len(skipped), skipped[0])
    return FashionAITable(str(path), [r[1] for r in rows],
                          np.array([r[2] for r in rows], dtype=np.int64), kps, skipped)


def read_annotations(path: str | os.PathLike, strict: bool = True) -> FashionAITable:
    """Read an annotation (or submission/result) CSV with 24 ``x_y_v`` keypoint cells.

    ``strict=False`` skips malformed rows and records why in ``table.skipped`` instead of raising.
    """
    return _read(path, with_keypoints=True, strict=strict)


def read_test_list(path: str | os.PathLike, strict: bool = True) -> FashionAITable:
    """Read a test CSV (``image_id,image_category``); an annotation CSV is accepted too."""
    return _read(path, with_keypoints=False, strict=strict)


def _category_masks(category_ids: np.ndarray) -> np.ndarray:
    """(N, 24) bool: which keypoints belong to each row's clothing type."""
    full = get_scheme("fashionai")
    table = np.zeros((max(TYPE_NAMES) + 1, NUM_KEYPOINTS), dtype=bool)
    for cid in TYPE_NAMES:
        table[cid] = full.category_mask(cid)
    return table[category_ids]


def rows_for(image_ids: Sequence[str], wanted: Sequence[str], source: str, kind: str,
             of: str) -> np.ndarray:
    """Index of each ``wanted`` id in ``image_ids`` (extra rows allowed). A missing id is an
    error: "<source>: no <kind> for N images of <of>, e.g. [...]"."""
    pos = {i: n for n, i in enumerate(image_ids)}
    missing = [i for i in wanted if i not in pos]
    if missing:
        raise FashionAICSVError(f"{source}: no {kind} for {len(missing)} images of {of}, "
                                f"e.g. {missing[:3]}")
    return np.array([pos[i] for i in wanted], dtype=np.int64)


def _reorder(image_ids: Sequence[str], order: Sequence[str], what: str) -> np.ndarray:
    """Index array putting ``image_ids`` into ``order``; errors name missing/extra/duplicate ids."""
    position: dict[str, int] = {}
    dups = [i for k, i in enumerate(image_ids) if position.setdefault(i, k) != k]
    if dups:
        raise FashionAICSVError(f"{what}: {len(dups)} duplicate image ids, e.g. {dups[:3]}")
    missing = [i for i in order if i not in position]
    wanted = set(order)
    extra = [i for i in image_ids if i not in wanted]
    if missing or extra or len(wanted) != len(order):
        raise FashionAICSVError(
            f"{what}: image ids do not match the requested order: {len(missing)} missing "
            f"(e.g. {missing[:3]}), {len(extra)} not requested (e.g. {extra[:3]}), "
            f"{len(order) - len(wanted)} duplicated in the order")
    return np.array([position[i] for i in order], dtype=np.int64)


def write_submission(path: str | os.PathLike, image_ids: Sequence[str],
                     category_ids: Sequence[int] | np.ndarray, keypoints: np.ndarray,
                     order: Sequence[str] | None = None,
                     scheme: KeypointScheme | None = None) -> None:
    """Write a submission CSV atomically: ``x_y_1`` for the type's keypoints, else ``-1_-1_-1``.

    Args:
        keypoints: (N, K, >=2) predicted pixel coordinates, K = 24 (CSV order) or the layout of
            ``scheme`` (e.g. ``fashionai-blouse``), converted to 24 through the scheme.
        order: image ids in the order to write (the test CSV's); must be a permutation of ids.
    Coordinates are rounded to integers (as the reference) and clipped at 0, because a
    negative value would read as the absent marker -1. NaN coordinates raise.
    """
    cats = np.asarray(category_ids, dtype=np.int64).reshape(-1)
    kps = np.asarray(keypoints, dtype=np.float64)
    if kps.ndim != 3 or kps.shape[2] < 2 or len(kps) != len(cats) or len(cats) != len(image_ids):
        raise ValueError(f"{path}: need (N, K, >=2) keypoints with N = {len(image_ids)} image ids "
                         f"and categories, got keypoints {kps.shape}, {len(cats)} categories")
    if kps.shape[1] != NUM_KEYPOINTS or (scheme is not None and scheme.name != "fashionai"):
        if scheme is None:
            raise ValueError(f"{path}: keypoints have {kps.shape[1]} channels; pass their scheme")
        kps = scheme.convert(kps[..., :2], cats, get_scheme("fashionai"))
    unknown = sorted(set(cats.tolist()) - set(TYPE_NAMES))
    if unknown:
        raise ValueError(f"{path}: unknown category ids {unknown}, expected {sorted(TYPE_NAMES)}")
    mask = _category_masks(cats)
    bad = np.argwhere(mask & ~np.isfinite(kps[..., :2]).all(-1))
    if len(bad):
        n, k = bad[0]
        raise ValueError(f"{path}: non-finite prediction for image {image_ids[n]!r}, keypoint "
                         f"{fai.KEYPOINTS[k]!r} ({len(bad)} such values)")
    index = np.arange(len(cats)) if order is None else _reorder(image_ids, order, str(path))
    xy = np.rint(np.clip(np.where(mask[..., None], kps[..., :2], 0), 0, None)).astype(np.int64)

    def write(f) -> None:
        f.write(",".join(HEADER) + "\n")
        for n in index:
            cells = [f"{x}_{y}_1" if m else ABSENT_CELL for (x, y), m in zip(xy[n], mask[n])]
            f.write(f"{image_ids[n]},{TYPE_NAMES[int(cats[n])]},{','.join(cells)}\n")

    atomic_write(path, write)
    logger.info("wrote %d rows to %s", len(index), path)


def merge_results(test: FashionAITable, results: Sequence[FashionAITable]) -> FashionAITable:
    """Concatenate per-type result tables into one table in the test list's order.

    Raises on an image predicted twice, a test image without prediction, a predicted image that
    is not in the test list, a type that disagrees with the test list, or a result row that lacks
    one of its type's keypoints.
    """
    ids = [i for r in results for i in r.image_ids]
    source = [r.path for r in results for _ in r.image_ids]
    seen: dict[str, str] = {}
    for i, s in zip(ids, source):
        if i in seen:
            raise FashionAICSVError(f"image {i!r} is predicted twice: in {seen[i]} and in {s}")
        seen[i] = s
    cats = np.concatenate([r.category_ids for r in results]) if results else np.zeros(0, int)
    kps = np.concatenate([r.keypoints for r in results]) if results else np.zeros((0, 24, 3))
    index = _reorder(ids, test.image_ids, f"results vs. test list {test.path}")
    cats, kps = cats[index], kps[index]
    wrong = np.nonzero(cats != test.category_ids)[0]
    if len(wrong):
        n = wrong[0]
        raise FashionAICSVError(f"image {test.image_ids[n]!r}: type {TYPE_NAMES[int(cats[n])]!r} "
                                f"in the results, {TYPE_NAMES[int(test.category_ids[n])]!r} in "
                                f"{test.path} ({len(wrong)} such images)")
    lacking = np.argwhere(_category_masks(cats) & (kps[..., 2] < 0))
    if len(lacking):
        n, k = lacking[0]
        image_id = test.image_ids[n]
        raise FashionAICSVError(f"image {image_id!r} ({seen[image_id]}): keypoint "
                                f"{fai.KEYPOINTS[k]!r} of its type is missing (-1_-1_-1)")
    return FashionAITable("merged results", list(test.image_ids), cats, kps)


def _boxes(raw: np.ndarray, labelled: np.ndarray, sizes: np.ndarray, input_mode: str,
           margin: float) -> np.ndarray:
    """(N, 4) x, y, w, h: the whole image, or the labelled keypoints grown by ``margin`` x the
    longer side on every side and clipped to the image where its size is known (not NaN)."""
    if input_mode == "image":
        return np.concatenate([np.zeros_like(sizes), sizes], axis=1)
    xy = raw[..., :2]
    lo = np.where(labelled[..., None], xy, np.inf).min(axis=1)
    hi = np.where(labelled[..., None], xy, -np.inf).max(axis=1)
    pad = margin * np.max(hi - lo, axis=1, keepdims=True)
    lo, hi = lo - pad, hi + pad
    known = np.isfinite(sizes)
    lo = np.where(known, np.maximum(lo, 0), lo)
    hi = np.where(known, np.minimum(hi, sizes), hi)
    return np.concatenate([lo, hi - lo], axis=1)


def rows_to_records(table: FashionAITable, scheme: KeypointScheme, input_mode: str = "box",
                    image_root: str | os.PathLike = "", image_sizes: dict | None = None,
                    margin: float = 0.1, categories: Sequence[int] = (),
                    skip_bad: bool = False) -> list[dict]:
    """Dataset records, one per row whose type is in ``scheme`` (and in ``categories`` if given).

    Each record: ``image`` (path under ``image_root``), ``image_id``, ``category_id``,
    ``keypoints`` (K, 3) float32 in the scheme's layout with HRNet visibility (1 where v >= 0,
    i.e. visible or occluded, else 0 and x = y = 0), ``visibility`` (K,) int8 raw v (-1 outside
    the type, for the v == 1 metric) and ``box`` (4,) x, y, w, h: the whole image for
    ``input_mode='image'`` (sizes from ``image_sizes[image_id]`` or the image header), or the
    labelled keypoints grown by ``margin`` for ``'box'`` (clipped to the image when its size is
    known). Rows without a usable box raise, or are skipped and counted with ``skip_bad``.
    """
    if input_mode not in ("box", "image") or scheme.family != "fashionai":
        raise ValueError(f"need input_mode 'box' or 'image' and a FashionAI scheme, got "
                         f"{input_mode!r} and {scheme.name!r}")
    if table.keypoints is None and input_mode == "box":
        raise FashionAICSVError(f"{table.path}: a test list has no keypoints to derive boxes from; "
                                "use input_mode='image'")
    keep = np.isin(table.category_ids, scheme.category_ids)
    if len(categories):
        keep &= np.isin(table.category_ids, list(categories))
    rows = np.nonzero(keep)[0]
    cats = table.category_ids[rows]
    raw = np.full((len(rows), NUM_KEYPOINTS, 3), -1.0) if table.keypoints is None \
        else table.keypoints[rows]
    labelled = raw[..., 2] >= 0
    hrnet = np.where(labelled[..., None], raw, 0.0)
    hrnet[..., 2] = labelled
    full = get_scheme("fashionai")
    kps = full.convert(hrnet, cats, scheme).astype(np.float32)
    # convert() zero-fills foreign channels: shift v by 2 so they come back as -1 (absent).
    vis = (full.convert(raw[..., 2:] + 2.0, cats, scheme)[..., 0] - 2.0).clip(-1).astype(np.int8)
    sizes = np.full((len(rows), 2), np.nan)
    if input_mode == "image" or image_sizes is not None:
        sizes[:] = np.reshape([_image_size(table.image_ids[r], image_root, image_sizes)
                               for r in rows], (-1, 2))
    boxes = _boxes(raw, labelled, sizes, input_mode, margin)
    good = np.isfinite(boxes).all(axis=1) & (boxes[:, 2:] > 0).all(axis=1)
    if not good.all():
        bad = [table.image_ids[r] for r in rows[~good]]
        msg = (f"{table.path}: {len(bad)} rows have no usable box (fewer than two distinct "
               f"labelled keypoints, or an unknown/unreadable image size), e.g. {bad[:3]}")
        if not skip_bad:
            raise FashionAICSVError(msg)
        logger.warning("%s; skipped", msg)
    root = Path(image_root)
    return [{"image": str(root / table.image_ids[r]), "image_id": table.image_ids[r],
             "category_id": int(cats[j]), "keypoints": kps[j], "visibility": vis[j],
             "box": boxes[j]} for j, r in enumerate(rows) if good[j]]


def _image_size(image_id: str, image_root: str | os.PathLike,
                image_sizes: dict | None) -> tuple[float, float]:
    """Size from ``image_sizes`` or the file header; NaN (-> no usable box) if unreadable."""
    if image_sizes is not None:
        return tuple(image_sizes.get(image_id, (np.nan, np.nan)))
    try:
        return read_image_size(Path(image_root) / image_id)
    except OSError:
        return np.nan, np.nan
