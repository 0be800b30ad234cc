"""Write an error analysis to a folder: ``analysis.json``, PNG plots, a gallery and ``report.md``.

The markdown embeds the plots by relative path, so the folder reads on GitHub as it is. Plots
need matplotlib (optional); without it the JSON, the tables and the gallery (OpenCV) are still
written and the report says why the plots are missing.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import cv2
import numpy as np

from ..keypoints import KeypointScheme
from ..utils.io import atomic_write, atomic_write_json
from ..utils.vis import crop_around, make_grid, save_png, side_by_side
from .analysis import (CLASSES, CODES, KEYPOINT_ERRORS, AnalysisParams, ErrorAnalysis,
                       analysis_to_dict, analyze_errors)
from .analysis_plots import FIX_LABELS
from .groundtruth import GroundTruth
from .params import IOU_THRS, REC_THRS, STAT_NAMES
from .results import Results, load_results

logger = logging.getLogger(__name__)

FIXES = KEYPOINT_ERRORS + ("wrong_category", "false_positive", "missed")
PNG = {"errors": "errors_per_category.png", "ap": "ap_improvement.png", "pr": "pr_curves.png",
       "gallery": "worst_instances.png"}


@dataclass
class AnalysisReport:
    """What was written: the folder, the files and notes on anything left out."""

    out_dir: Path
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)   # the analysis.json content

    @property
    def markdown(self) -> Path:
        return self.out_dir / "report.md"


class ImageFinder:
    """Image path of an image id from the ground truth's ``images[].file_name``.

    Looks in ``image_dir`` when given, else next to the GT file, in the prepared layout
    (``<root>/annotations/<set>_coco*.json`` -> ``<root>/images/<set>/``) and in the raw
    download layout (``<root>/<set>/image/``); absolute file names are used as they are.
    """

    def __init__(self, gt_data: Mapping[str, Any], gt_path: str | os.PathLike | None = None,
                 image_dir: str | os.PathLike | None = None) -> None:
        self.names = {int(im["id"]): str(im.get("file_name", ""))
                      for im in gt_data.get("images", []) if isinstance(im, Mapping) and "id" in im}
        self.bases: list[Path] = []
        if image_dir:
            self.bases.append(Path(image_dir))
        elif gt_path is not None:
            gt_path = Path(gt_path)
            split = re.sub(r"_coco.*$", "", gt_path.stem)
            root = gt_path.resolve().parent.parent
            self.bases += [gt_path.parent, root / "images" / split, root / split / "image"]
        self.image_dir = image_dir

    def __call__(self, image_id: int) -> Path | None:
        name = self.names.get(int(image_id))
        if not name:
            return None
        if Path(name).is_absolute():
            return Path(name) if Path(name).is_file() else None
        for base in self.bases:
            if (base / name).is_file():
                return base / name
        return None

    def describe(self) -> str:
        where = ", ".join(str(b) for b in self.bases) or "nowhere (no GT path)"
        return f"looked for the GT's images[].file_name in {where}; pass --images DIR"


def analyze_to_folder(gt: GroundTruth | Mapping | str | os.PathLike,
                      results: Results | str | os.PathLike, out_dir: str | os.PathLike,
                      scheme: KeypointScheme | str = "deepfashion2",
                      images: Mapping[int, str] | Callable[[int], Any] | None = None,
                      params: AnalysisParams = AnalysisParams(),
                      **report_kw: Any) -> AnalysisReport:
    """Load (when given paths), analyse and write the report folder in one call; results
    are evaluated exactly as the file holds them. ``report_kw`` go to ``write_analysis_report``."""
    sources = {"results_file": str(results)} if not isinstance(results, Results) else {}
    if isinstance(gt, (str, os.PathLike)):
        sources["gt_file"] = str(gt)
    gt = GroundTruth.load(gt if not isinstance(gt, Mapping) else dict(gt))
    res = results if isinstance(results, Results) else load_results(results, gt)
    analysis = analyze_errors(gt, res, scheme, params=params)
    return write_analysis_report(analysis, out_dir, images=images,
                                 sources=report_kw.pop("sources", sources), **report_kw)


def write_analysis_report(a: ErrorAnalysis, out_dir: str | os.PathLike,
                          images: Mapping[int, str] | Callable[[int], Any] | None = None,
                          sources: Mapping[str, str] | None = None, plots: bool = True,
                          gallery: int = 12, image_note: str = "") -> AnalysisReport:
    """Write ``analysis.json``, the plots, the worst-instance gallery and ``report.md``.

    Args:
        images: image id -> path (mapping or callable), for the gallery; None: no gallery.
        sources: names of the inputs, recorded in the JSON and the report.
        plots: False skips the matplotlib plots on purpose.
        gallery: number of worst matched instances drawn (0 = none).
        image_note: why images may be missing (shown when none could be read).
    """
    out = Path(out_dir)
    data = analysis_to_dict(a, dict(sources or {}))
    rep = AnalysisReport(out, data=data)
    atomic_write_json(out / "analysis.json", data)
    rep.files.append(out / "analysis.json")
    figures: dict[str, Path] = {}
    if plots:
        figures.update(_plots(a, data, out, rep))
    else:
        rep.notes.append("plots skipped (--no-plots)")
    if gallery > 0:
        path = _gallery(a, out / PNG["gallery"], images, gallery, rep, image_note)
        if path is not None:
            figures["gallery"] = path
    md = _markdown(data, figures, rep.notes)
    atomic_write(out / "report.md", lambda f: f.write(md))
    rep.files.append(out / "report.md")
    logger.info("error analysis written to %s", out)
    return rep


def _plots(a: ErrorAnalysis, data: dict, out: Path, rep: AnalysisReport) -> dict[str, Path]:
    from .analysis_plots import (PlotsUnavailable, plot_ap_improvement, plot_error_types,
                                 plot_pr_curves)
    figures: dict[str, Path] = {}
    try:
        counts = {"all categories": data["counts"]["overall"]} | {
            k: v for k, v in data["counts"]["per_category"].items() if v["labelled"]}
        figures["errors"] = plot_error_types(counts, out / PNG["errors"])
        oracle = {f: data["ap_oracle_stats"][f] for f in FIXES}
        figures["ap"] = plot_ap_improvement(data["ap"], oracle, out / PNG["ap"])
        names = [a.gt.category_names[c] for c in a.category_ids]
        present = [k for k in range(len(names)) if (a.baseline.precision[:, :, k, 0] > -1).any()]
        t50 = int(np.argmin(np.abs(IOU_THRS - 0.5)))
        t75 = int(np.argmin(np.abs(IOU_THRS - 0.75)))
        figures["pr"] = plot_pr_curves(a.baseline.precision[:, :, present],
                                       [names[k] for k in present], out / PNG["pr"],
                                       {"OKS .50": t50, "OKS .75": t75}, REC_THRS)
    except PlotsUnavailable as e:
        rep.notes.append(f"plots not written: {e}")
        logger.warning("plots not written: %s", e)
    rep.files += list(figures.values())
    return figures


def _gallery(a: ErrorAnalysis, path: Path, images, count: int, rep: AnalysisReport,
             image_note: str) -> Path | None:
    """Worst matched instances (lowest OKS): prediction left, ground truth right."""
    if len(a.pair_det) == 0:
        rep.notes.append("no worst-instance gallery: no result matched a ground-truth item")
        return None
    if images is None:
        rep.notes.append("no worst-instance gallery: no image paths given")
        return None
    find = images if callable(images) else (lambda i: images.get(int(i)))
    res, gt, scheme = a.results, a.gt, a.scheme
    cells, titles, tried = [], [], 0
    for i in np.argsort(a.pair_oks, kind="stable"):
        if len(cells) >= count or tried >= 4 * count + 20:
            break
        tried += 1
        d, g = int(a.pair_det[i]), int(a.pair_gt[i])
        p = find(int(res.image_ids[d]))
        image = cv2.imread(str(p)) if p else None
        if image is None:
            continue
        cid = int(gt.ann_category_ids[g])
        slots = list(scheme.category(cid).slots)
        pred = np.column_stack([res.keypoints[d, slots, :2], np.ones(len(slots))])
        truth = gt.keypoints[g, slots].copy()
        truth[:, 2] = truth[:, 2] > 0
        # frame the labelled landmarks and their predictions (the classed ones)
        crop, off = crop_around(image, np.vstack([np.column_stack([pred[:, :2], truth[:, 2]]),
                                                  truth]))
        pred[:, :2] -= off
        truth[:, :2] -= off
        cells.append(side_by_side(crop, [(pred, cid)], [(truth, cid)], scheme, score_thr=0.5))
        errs = a.classes[i, slots]
        summary = " ".join(f"{CODES[k]}{int((errs == k).sum())}" for k in range(1, len(CLASSES))
                           if (errs == k).any())
        titles.append(f"{gt.category_names[cid]} OKS {a.pair_oks[i]:.2f} {summary}")
    if not cells:
        note = "no worst-instance gallery: none of the images could be read"
        rep.notes.append(f"{note} ({image_note})" if image_note else note)
        logger.warning(rep.notes[-1])
        return None
    save_png(path, make_grid(cells, ncols=min(3, len(cells)), cell_size=(480, 290),
                             titles=titles))
    rep.files.append(path)
    return path


# ----------------------------------------------------------------------------------- markdown
def _pct(part: int, total: int) -> str:
    return f"{100.0 * part / total:.1f} %" if total else "-"


def _class_row(label: str, c: Mapping[str, int]) -> str:
    n = c["labelled"]
    return "| " + " | ".join([label, *[f"{_pct(c[k], n)} ({c[k]})" for k in CLASSES], str(n)]) \
        + " |"


def _markdown(data: dict, figures: Mapping[str, Path], notes: list[str]) -> str:
    inp, d = data["inputs"], data["definitions"]
    ap, oracle = data["ap"], data["ap_oracle_stats"]
    costs = data["instance_costs"]
    overall = data["counts"]["overall"]
    lines = ["# Landmark error analysis", ""]
    src = ", ".join(f"{k}: `{v}`" for k, v in inp.items() if k in ("results_file", "gt_file"))
    lines += [f"{src + '; ' if src else ''}scheme `{inp['scheme']}`: {inp['results']} results, "
              f"{inp['gt_instances']} ground-truth items in {inp['images']} images.", ""]
    lines += ["| " + " | ".join(STAT_NAMES) + " |", "|" + "---:|" * len(STAT_NAMES),
              "| " + " | ".join(f"{ap[n]:.4f}" for n in STAT_NAMES) + " |", ""]
    lines += ["## What each error type costs", "",
              "AP after an oracle fixes one error type alone (all others left as they are):", "",
              "| error type | count | AP after fix | AP gain | AP50 gain | AP75 gain |",
              "|---|---:|---:|---:|---:|---:|"]
    for f in FIXES:
        if f in KEYPOINT_ERRORS:
            count = f"{overall[f]} landmarks"
        elif f == "missed":
            count = f"{costs[f]['count']} GT items"
        else:
            count = f"{costs[f]['count']} results"
        o = oracle[f]
        lines.append(f"| {FIX_LABELS[f]} | {count} | {o['AP']:.4f} | {o['AP'] - ap['AP']:+.4f} | "
                     f"{o['AP50'] - ap['AP50']:+.4f} | {o['AP75'] - ap['AP75']:+.4f} |")
    lines.append("")
    if "ap" in figures:
        lines += [f"![AP gain per error type]({figures['ap'].name})", ""]
    lines += ["## Landmark errors of matched instances", "",
              f"{len(data['instances'])} results matched a ground-truth item (OKS >= "
              f"{d['match_oks']}); their {overall['labelled']} labelled landmarks by class:", "",
              "| | " + " | ".join(CLASSES) + " | labelled |", "|---|" + "---:|" * 6,
              _class_row("all categories", overall), ""]
    if "errors" in figures:
        lines += [f"![Landmark classes per category]({figures['errors'].name})", ""]
    lines += ["| category | AP | GT items | matched | missed | false pos. | wrong cat. | "
              + " | ".join(CLASSES) + " |", "|---|" + "---:|" * 11]
    for name, c in data["per_category"].items():
        if not (c["gt_instances"] or c["false_positive"] or c["wrong_category"]):
            continue                          # a category absent from both GT and results
        lm = c["landmarks"]
        cat_ap = data["ap_per_category"].get(name, -1)
        lines.append(f"| {name} | {cat_ap:.4f} | {c['gt_instances']} | {c['matched']} | "
                     f"{c['missed']} | {c['false_positive']} | {c['wrong_category']} | "
                     + " | ".join(_pct(lm[k], lm["labelled"]) for k in CLASSES) + " |")
    lines.append("")
    lines += _worst_landmarks(data["counts"]["per_landmark"])
    if data["category_confusions"]:
        lines += ["### Category confusions", "",
                  "Results that would match an item of another category (by landmark meaning):",
                  "", "| ground truth -> predicted | results |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in list(data["category_confusions"].items())[:15]]
        lines.append("")
    if "pr" in figures:
        lines += ["## Precision-recall per category", "",
                  f"![PR curves at OKS .5 and .75]({figures['pr'].name})", ""]
    if "gallery" in figures:
        lines += ["## Worst matched instances", "",
                  "Lowest OKS first; prediction left, ground truth right (lighter / darker: "
                  "first / second member of a mirror pair). Title: category, OKS, error counts "
                  f"({', '.join(f'{CODES[k]} {CLASSES[k]}' for k in range(1, len(CLASSES)))}).",
                  "", f"![Worst instances]({figures['gallery'].name})", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    lines += ["## Definitions", "",
              f"- ks = exp(-d² / (2 (2σ)² area)), one landmark's term of OKS (official sigmas, "
              f"GT area). A result is analysed when the official greedy matching pairs it with "
              f"a GT item at OKS >= {d['match_oks']} (area range all).",
              f"- good: ks >= {d['ks_good']} to its own GT landmark; jitter: {d['ks_jitter']} <= "
              f"ks < {d['ks_good']}; inversion: ks >= {d['ks_jitter']} to the mirror landmark "
              f"(flip pairs of the scheme); swap: ks >= {d['ks_jitter']} to the same or mirror "
              f"landmark of another item of the category in the image; miss: none of these "
              "(Ronchi & Perona, ICCV 2017).",
              f"- Oracles: jitter moved to ks = {d['ks_good']}, miss to ks = {d['ks_jitter']}, "
              "inversion / swap onto the own landmark at the ks they had to the confused one; "
              "wrong-category results relabelled (duplicates removed); false positives (matched "
              f"to nothing at OKS {d['match_oks']}) removed; missed GT items ignored.",
              f"- Wrong category: would match (OKS >= {d['category_oks']}) an item of another "
              "category, comparing landmarks of the same meaning (shared aggregated channels).",
              "- Per-landmark classes of every matched result: `analysis.json` → `instances`.",
              ""]
    return "\n".join(lines)


def _worst_landmarks(per_landmark: Mapping[str, Mapping[str, int]], top: int = 15,
                     min_labelled: int = 5) -> list[str]:
    rows = [(n, c) for n, c in per_landmark.items() if c["labelled"] >= min_labelled]
    if not rows:
        return []
    rows.sort(key=lambda nc: -(1 - nc[1]["good"] / nc[1]["labelled"]))
    lines = [f"### Landmarks with the largest error share (of those labelled >= {min_labelled} "
             "times)", "", "| landmark | labelled | " + " | ".join(CLASSES) + " |",
             "|---|" + "---:|" * 6]
    for n, c in rows[:top]:
        lines.append(f"| {n} | {c['labelled']} | "
                     + " | ".join(_pct(c[k], c["labelled"]) for k in CLASSES) + " |")
    return lines + [""]
