"""Results report: per-category AP table (markdown + JSON) and a PNG grid of example predictions."""
from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping

import cv2
import numpy as np

from ..keypoints import KeypointScheme, get_scheme
from ..utils.io import atomic_write, atomic_write_json
from ..utils.vis import category_grid, crop_around, save_png, side_by_side

logger = logging.getLogger(__name__)
STAT_KEYS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def report_markdown(stats: Mapping[str, Any], title: str = "Evaluation") -> str:
    """Overall stats and per-category AP as markdown tables."""
    lines = [f"## {title}", "", "| " + " | ".join(STAT_KEYS) + " |",
             "|" + "---:|" * len(STAT_KEYS),
             "| " + " | ".join(f"{float(stats[k]):.4f}" for k in STAT_KEYS) + " |", ""]
    per_cat = stats.get("per_category") or {}
    if per_cat:
        lines += ["| category | AP |", "|---|---:|"]
        lines += [f"| {name} | {float(ap):.4f} |" for name, ap in per_cat.items()]
        lines.append("")
    return "\n".join(lines)


def write_report(stats: Mapping[str, Any], out_dir: str | Path, title: str = "Evaluation") -> Path:
    """``report.md`` + ``report.json`` in ``out_dir``; returns the markdown path."""
    out = Path(out_dir)
    md = report_markdown(stats, title)
    atomic_write(out / "report.md", lambda f: f.write(md))
    atomic_write_json(out / "report.json", dict(stats), indent=2)
    return out / "report.md"


def example_images(image_paths: Mapping[int, str], gt: Mapping[str, Any] | None,
                   image_ids: np.ndarray, category_ids: np.ndarray, keypoints: np.ndarray,
                   scores: np.ndarray, scheme: KeypointScheme, per_category: int = 4,
                   score_thr: float = 0.2) -> dict[int, list[np.ndarray]]:
    """Best-scored predictions per category, drawn next to the ground truth of that image."""
    gt_by_key: dict[tuple[int, int], list] = defaultdict(list)
    for a in (gt or {}).get("annotations", []):
        gt_by_key[(int(a["image_id"]), int(a["category_id"]))].append(a)
    out: dict[int, list[np.ndarray]] = {}
    for cid in sorted(set(int(c) for c in category_ids)):
        idx = np.flatnonzero(category_ids == cid)
        idx = idx[np.argsort(-scores[idx], kind="stable")][:per_category]
        cells = []
        for i in idx:
            image = cv2.imread(str(image_paths.get(int(image_ids[i]), "")))
            if image is None:
                continue
            local = keypoints[i][list(scheme.category(cid).slots)]
            crop, off = crop_around(image, local)
            pred = np.column_stack([local[:, :2] - off, local[:, 2]])
            gts = []
            for a in gt_by_key.get((int(image_ids[i]), cid), []):
                g = np.asarray(a["keypoints"], dtype=np.float64).reshape(-1, 3)
                g = g[list(scheme.category(cid).slots)] if len(g) == scheme.num_keypoints else g
                gts.append((np.column_stack([g[:, :2] - off, (g[:, 2] > 0).astype(float)]), cid))
            cells.append(side_by_side(crop, [(pred, cid)], gts, scheme, score_thr))
        if cells:
            out[cid] = cells
    return out


def save_example_grid(dataset: Any, sub: Any, path: str | Path, per_category: int = 4) -> Path | None:
    """PNG grid of example predictions per category (prediction left, ground truth right)."""
    scheme = get_scheme(dataset.scheme.family)
    examples = example_images(dataset.image_paths(), dataset.evaluation_gt(), sub.image_ids,
                              sub.category_ids, sub.keypoints, sub.scores, scheme, per_category)
    if not examples:
        logger.warning("no example images could be drawn")
        return None
    save_png(path, category_grid(examples, scheme, ncols=per_category, cell_size=(256, 160)))
    return Path(path)


def evaluate_and_report(cfg: Any, results_path: str | Path, per_category: int = 4) -> dict | None:
    """Evaluate a (merged) submission on the config's test set and write the report next to it:
    ``report.md`` / ``report.json`` (overall + per-category AP) and ``examples.png``.
    Returns the stats, or None when the set has no ground truth."""
    from ..data import build_dataset
    from ..evaluation import GroundTruth, evaluate_keypoints, load_results
    from .categories import category_cfg

    full = category_cfg(cfg, [])  # every category of the set
    dataset = build_dataset(full, full.DATASET.TEST_SET, is_train=False)
    gt_dict = dataset.evaluation_gt()
    if gt_dict is None:
        logger.info("no ground truth for %s: %s not evaluated", full.DATASET.TEST_SET, results_path)
        return None
    gt = GroundTruth.load(gt_dict)
    res = load_results(results_path, gt)
    result = evaluate_keypoints(gt, res.image_ids, res.category_ids, res.keypoints, res.scores,
                                as_submission=False, boxes=res.boxes)
    stats: dict = {k: float(result.stats[k]) for k in STAT_KEYS}
    stats["per_category"] = {k: float(v) for k, v in result.per_category.items()}
    out = Path(results_path).parent
    write_report(stats, out, f"{Path(results_path).name} on {full.DATASET.TEST_SET}")
    scheme = get_scheme(dataset.scheme.family)
    examples = example_images(dataset.image_paths(), gt_dict, res.image_ids, res.category_ids,
                              res.keypoints, res.scores, scheme, per_category)
    if examples:
        save_png(out / "examples.png", category_grid(examples, scheme, ncols=per_category,
                                                     cell_size=(256, 160)))
    logger.info("report: %s, examples: %s", out / "report.md", out / "examples.png")
    return stats
