"""FashionAI results: submission CSV from predictions, the NE table, and two-model ensembles.

The test path (``tools/test.py``, validation during training) sends FashionAI datasets here
instead of the DeepFashion2 JSON + AP path: predictions become the challenge's submission CSV
(one row per image, ``x_y_1`` for the type's keypoints) and, when the set has ground truth, the
Normalized Error overall and per type. Validation reports ``{"AP": -NE, "NE": NE, ...}`` so
that the trainer's "higher is better" best-model selection picks the lowest NE.

Ensembles: ``HeatmapAverage`` averages the heatmaps of several models before decoding (the
reference sums the flip-tested maps of its two CPNs; summing and averaging decode identically),
and ``average_tables`` averages the decoded coordinates of result CSVs.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..data.fashionai import image_ranks
from ..data.fashionai_csv import FashionAICSVError, FashionAITable, rows_for, write_submission
from ..evaluation.normalized_error import normalized_error
from ..keypoints import get_scheme
from ..keypoints import fashionai as fai
from ..models import final_output
from ..utils.io import atomic_write_json

logger = logging.getLogger(__name__)


def predictions_table(raw: Any, dataset: Any) -> FashionAITable:
    """Decoded predictions (``RawPredictions`` of a FashionAI dataset) as a 24-column table.

    Coordinates of the type's keypoints get v = 1 (the challenge ignores visibility), the others
    -1 (absent); rows follow the dataset order, i.e. the CSV's.
    """
    full = get_scheme("fashionai")
    idx = np.asarray(raw.indices, dtype=np.int64)
    cats = np.asarray(raw.category_ids, dtype=np.int64)
    kps = dataset.scheme.convert(np.asarray(raw.keypoints)[..., :2], cats, full)
    own = np.stack([full.category_mask(int(c)) for c in cats]) if len(cats) else \
        np.zeros((0, full.num_keypoints), bool)
    out = np.concatenate([np.where(own[..., None], kps, -1.0),
                          np.where(own, 1.0, -1.0)[..., None]], axis=2)
    ids = [str(dataset.records[i]["image_id"]) for i in idx]
    return FashionAITable("predictions", ids, cats, out)


def ne_stats(pred: FashionAITable, gt: FashionAITable) -> dict:
    """NE of ``pred`` on the images of ``gt`` (matched by image id) as a stats dict.

    Keys: ``NE`` (%), ``AP`` (= -NE, for best-model selection), ``count`` (scored keypoints),
    ``images``, ``per_type`` {type: {ne, count, images}}, ``per_keypoint`` {name: NE}.
    """
    idx = rows_for(pred.image_ids, gt.image_ids, pred.path, "prediction", gt.path)
    res = normalized_error(pred.keypoints[idx], gt.keypoints, gt.category_ids)
    per_kp = {name: float(v) for name, v in zip(fai.KEYPOINTS, res.per_keypoint)
              if np.isfinite(v)}
    return {"NE": res.ne, "AP": -res.ne, "count": res.count, "images": len(gt),
            "per_type": res.per_type, "per_keypoint": per_kp,
            "zero_normalizer_images": res.zero_normalizer_images}


def format_ne_table(stats: dict) -> str:
    """Markdown table: NE (%) per clothing type and overall."""
    lines = ["| type | NE (%) | keypoints | images |", "|---|---:|---:|---:|"]
    for name in fai.CATEGORY_IDS:
        t = stats.get("per_type", {}).get(name)
        if t:
            lines.append(f"| {name} | {t['ne']:.3f} | {t['count']} | {t['images']} |")
    lines.append(f"| **all** | **{stats['NE']:.3f}** | {stats['count']} | {stats['images']} |")
    return "\n".join(lines)


def ground_truth(dataset: Any) -> FashionAITable | None:
    """The dataset's answer rows (from ``evaluation_gt()``), or None without ground truth."""
    gt = dataset.evaluation_gt()
    return None if gt is None else gt["fashionai"]


def as_submitted(table: FashionAITable) -> FashionAITable:
    """Coordinates as the submission CSV holds them: rounded to integers, clipped at 0."""
    kps = table.keypoints.copy()
    own = kps[..., 2] >= 0
    kps[..., :2] = np.where(own[..., None], np.rint(np.clip(kps[..., :2], 0, None)), -1.0)
    return FashionAITable(table.path, list(table.image_ids), table.category_ids.copy(), kps)


def evaluate_fashionai(raw: Any, dataset: Any, csv_path: Path | None) -> dict | None:
    """Write the submission CSV (if ``csv_path``) and return the NE stats (None without GT).

    NE is computed on the coordinates as submitted (integer pixels), like the leaderboard.
    """
    pred = as_submitted(predictions_table(raw, dataset))
    if csv_path is not None:
        write_submission(csv_path, pred.image_ids, pred.category_ids, pred.keypoints)
    gt = ground_truth(dataset)
    return None if gt is None else ne_stats(pred, gt)


def validate_fashionai(raw: Any, dataset: Any, results_dir: Path, tag: str, test_set: str
                       ) -> dict:
    """Validation during training: CSV + NE; ``AP`` is -NE (``-inf`` without ground truth)."""
    results_dir = Path(results_dir)
    csv_path = results_dir / f"fashionai_{test_set}_results_{tag}.csv"
    stats = evaluate_fashionai(raw, dataset, csv_path)
    if stats is None:
        logger.warning("%s has no ground truth: no NE, best-model selection is off", test_set)
        return {"AP": float("-inf")}
    atomic_write_json(results_dir / f"stats_{test_set}_{tag}.json", stats, indent=2)
    logger.info("NE (%s, %d images):\n%s", tag, stats["images"], format_ne_table(stats))
    return stats


def report_test(raw: Any, dataset: Any, results_dir: Path, test_set: str, name: str = "",
                examples: int = 0) -> tuple[Path, dict | None]:
    """``tools/test.py`` for FashionAI: submission CSV, stats JSON and an example grid.

    Returns the CSV path and the NE stats (None when the set has no ground truth).
    """
    results_dir = Path(results_dir)
    csv_path = results_dir / (name or f"fashionai_{test_set}_results_0.csv")
    stats = evaluate_fashionai(raw, dataset, csv_path)
    if stats is not None:
        atomic_write_json(results_dir / f"{csv_path.stem}_stats.json", stats, indent=2)
    if examples > 0:
        save_examples(raw, dataset, results_dir / f"{csv_path.stem}_examples.png", examples)
    return csv_path, stats


def save_examples(raw: Any, dataset: Any, path: Path, per_type: int) -> Path | None:
    """PNG grid per type: predictions (left) next to the answers (right) when present."""
    from ..utils.vis import category_grid, save_png
    from .report import example_images

    full = get_scheme("fashionai")
    pred = predictions_table(raw, dataset)
    ranks = image_ranks(dataset.records)
    paths = {ranks[str(r["image_id"])]: r["image"] for r in dataset.records}
    ids = np.array([ranks[i] for i in pred.image_ids], dtype=np.int64)
    kps = pred.keypoints.copy()
    kps[..., 2] = np.where(kps[..., 2] > 0, 1.0, 0.0)
    scores = np.asarray(raw.keypoints)[..., 2].mean(axis=1)
    cells = example_images(paths, dataset.evaluation_gt(), ids, pred.category_ids, kps, scores,
                           full, per_type)
    if not cells:
        logger.warning("no example images could be drawn")
        return None
    save_png(path, category_grid(cells, full, ncols=per_type, cell_size=(192, 192)))
    logger.info("example predictions: %s", path)
    return Path(path)


class HeatmapAverage(nn.Module):
    """Several heatmap models as one: the mean of their final heatmaps (same shape required).

    With flip test the trainer's ``predict_heatmaps`` averages the ensemble on the image and on
    its mirror, which equals the reference's sum of (model, model-flip) maps over both models.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(models) < 1:
            raise ValueError("HeatmapAverage needs at least one model")
        self.members = nn.ModuleList(models)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [final_output(m(x)) for m in self.members]
        shapes = {tuple(o.shape) for o in outs}
        if len(shapes) != 1:
            raise ValueError(f"ensemble members predict different heatmap shapes {sorted(shapes)}; "
                             "they need the same MODEL.HEATMAP_SIZE and keypoint scheme")
        return torch.stack([o.float() for o in outs]).mean(dim=0)


def average_tables(tables: Sequence[FashionAITable]) -> FashionAITable:
    """Result-level ensemble: mean x, y of each image's keypoints over the tables.

    Every table must hold the same images with the same types (in any order); the result
    follows the first table's order. A keypoint absent (v < 0) in any table stays absent.
    """
    if not tables:
        raise ValueError("nothing to average")
    first = tables[0]
    xy, vis = [first.keypoints[..., :2]], [first.keypoints[..., 2]]
    for t in tables[1:]:
        pos = {i: n for n, i in enumerate(t.image_ids)}
        if set(pos) != set(first.image_ids) or len(t) != len(first):
            raise FashionAICSVError(f"{t.path} and {first.path} hold different images")
        idx = np.array([pos[i] for i in first.image_ids], dtype=np.int64)
        if not np.array_equal(t.category_ids[idx], first.category_ids):
            raise FashionAICSVError(f"{t.path}: image types disagree with {first.path}")
        xy.append(t.keypoints[idx, :, :2])
        vis.append(t.keypoints[idx, :, 2])
    present = np.all(np.stack(vis) >= 0, axis=0)
    mean = np.mean(np.stack(xy), axis=0)
    out = np.concatenate([np.where(present[..., None], mean, -1.0),
                          np.where(present, 1.0, -1.0)[..., None]], axis=2)
    return FashionAITable("averaged results", list(first.image_ids), first.category_ids.copy(),
                          out)


__all__ = ["HeatmapAverage", "average_tables", "evaluate_fashionai",
           "format_ne_table", "ne_stats", "predictions_table", "report_test",
           "validate_fashionai"]
