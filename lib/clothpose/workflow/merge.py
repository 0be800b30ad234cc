"""Concatenate per-category result files into one submission, dropping exact duplicates."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

logger = logging.getLogger(__name__)


def is_empty_results(path: str | Path) -> bool:
    """Whether a results file holds an empty list (a category with nothing to test writes one)."""
    p = Path(path)
    if not p.is_file() or p.stat().st_size > 64:
        return False
    try:
        return json.loads(p.read_text()) == []
    except ValueError:
        return False


def read_results(path: str | Path) -> list[dict]:
    """A DeepFashion2 results file (list of instances), validated field by field; an empty
    list is valid (and said so)."""
    from ..evaluation import read_results_list

    if is_empty_results(path):
        logger.warning("%s: holds no results (an empty list)", path)
        return []
    return read_results_list(path)


def _instance_key(r: dict) -> tuple:
    # Exact duplicates only: the same instance written twice (e.g. overlapping category runs).
    return (int(r["image_id"]), int(r["category_id"]), float(r["score"]),
            np.asarray(r["keypoints"], dtype=np.float64).tobytes())


def merge_results(result_lists: Sequence[list[dict]], names: Sequence[str] | None = None
                  ) -> tuple[list[dict], int]:
    """Concatenate lists in order; returns (merged, number of exact duplicates dropped)."""
    seen: set[tuple] = set()
    merged, dropped = [], 0
    for lst in result_lists:
        for r in lst:
            key = _instance_key(r)
            if key in seen:
                dropped += 1
                continue
            seen.add(key)
            merged.append(r)
    if dropped:
        logger.warning("dropped %d exact duplicate instances while merging %s", dropped,
                       ", ".join(map(str, names or [])))
    return merged, dropped


def write_results_list(path: str | Path, results: list[dict]) -> None:
    from ..utils.io import atomic_write

    atomic_write(path, lambda f: json.dump(results, f))
