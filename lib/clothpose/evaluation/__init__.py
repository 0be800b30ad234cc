"""Official-equivalent DeepFashion2 / COCO keypoint evaluation.

* ``evaluate_keypoints`` — fast in-memory evaluator (vectorised numpy), identical numbers to
* ``evaluate_with_pycocotools`` — the pycocotools reference set up like the official API;
* ``write_results`` / ``load_results`` — submission files;
* ``format_stats_table`` / ``format_category_table`` — markdown tables for tools and logs;
* ``evaluate_boxes`` / ``evaluate_boxes_with_pycocotools`` — COCO box AP (detection), and
  ``write_box_results`` / ``load_box_results`` for its result files.
"""
from .box_eval import BoxEvalResult, evaluate_boxes
from .box_results import BoxResults, is_box_results, load_box_results, write_box_results
from .fast_eval import KeypointEvalResult, detection_areas, evaluate_keypoints, result_areas
from .groundtruth import GroundTruth, GroundTruthError, validate_ground_truth
from .params import BOX_STAT_NAMES, STAT_NAMES
from .reference import evaluate_boxes_with_pycocotools, evaluate_with_pycocotools
from .report import format_box_table, format_category_table, format_stats_table
from .results import (Results, ResultsError, carries_bbox, load_results, read_results_list,
                      submission_keypoints, write_results)

__all__ = [
    "BOX_STAT_NAMES", "BoxEvalResult", "format_box_table", "BoxResults", "evaluate_boxes",
    "evaluate_boxes_with_pycocotools", "is_box_results", "load_box_results", "write_box_results",
    "GroundTruth", "GroundTruthError", "KeypointEvalResult", "Results", "ResultsError",
    "STAT_NAMES", "carries_bbox", "detection_areas", "evaluate_keypoints",
    "evaluate_with_pycocotools", "format_category_table", "format_stats_table", "load_results",
    "read_results_list", "result_areas", "submission_keypoints", "validate_ground_truth",
    "write_results",
]
