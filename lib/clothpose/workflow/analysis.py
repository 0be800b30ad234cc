"""``--analyze`` of tools/test.py and tools/test_categories.py: the landmark error analysis of a
results file written next to it, with the test set's ground truth and images."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..evaluation.analysis_report import AnalysisReport, analyze_to_folder

logger = logging.getLogger(__name__)


def official_scheme_name(scheme_name: str) -> str:
    """The 294-layout scheme whose mirror pairs the analysis uses: the figure's
    short_sleeved_outwear pairing for ``-figure`` schemes and mmpose's (whose flip table
    follows the figure), the default pairing otherwise."""
    return "deepfashion2-figure" if ("figure" in scheme_name or "mmpose" in scheme_name) \
        else "deepfashion2"


def analyze_dataset_results(dataset: Any, results_path: str | Path,
                            out_dir: str | Path) -> AnalysisReport | None:
    """Analyse a DeepFashion2 results file against ``dataset``'s ground truth; None (logged)
    when the set has no ground truth or is not a DeepFashion2 set."""
    if dataset.scheme.family != "deepfashion2":
        logger.warning("--analyze covers DeepFashion2 keypoint AP results; %s is %s",
                       results_path, dataset.scheme.family)
        return None
    gt = dataset.evaluation_gt()
    if gt is None:
        logger.warning("--analyze: no ground truth for this set, %s not analysed", results_path)
        return None
    rep = analyze_to_folder(gt, results_path, out_dir,
                            scheme=official_scheme_name(dataset.scheme.name),
                            images=dataset.image_paths(),
                            sources={"results_file": Path(results_path).name})
    for note in rep.notes:
        logger.warning("analysis: %s", note)
    return rep


def analyze_merged(cfg: Any, results_path: str | Path,
                   out_dir: str | Path) -> AnalysisReport | None:
    """``analyze_dataset_results`` on the config's test set with every category."""
    from ..data import build_dataset
    from .categories import category_cfg

    full = category_cfg(cfg, [])
    dataset = build_dataset(full, full.DATASET.TEST_SET, is_train=False)
    return analyze_dataset_results(dataset, results_path, out_dir)
