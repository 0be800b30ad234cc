"""Benchmark: official-style pycocotools keypoint AP vs the fast in-memory evaluator.

    python bench/evaluation.py [--instances 20000] [--repeats 3]

Reference = what the official evaluation does: parse the GT JSON, ``loadRes`` the submission
JSON, COCOeval with the 294 sigmas (timed end to end). Fast = ``evaluate_keypoints`` from
arrays with the GT indexed once beforehand (the situation of a validation loop). Also shown:
the fast path end to end from the same two files. Asserts that all numbers are identical.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from clothpose.evaluation import (STAT_NAMES, GroundTruth, evaluate_keypoints,
                                  evaluate_with_pycocotools, load_results, write_results)
from clothpose.evaluation.synthetic import make_synthetic_set
from timing import median_time  # bench/timing.py, beside this script


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--instances", type=int, default=20000)
    p.add_argument("--repeats", type=int, default=3, help="runs of the (slow) reference path")
    args = p.parse_args()
    gt, res = make_synthetic_set(args.instances, seed=0)
    with tempfile.TemporaryDirectory() as d:
        gt_path, res_path = Path(d) / "gt.json", Path(d) / "results.json"
        gt_path.write_text(json.dumps(gt))
        write_results(res_path, res.image_ids, res.category_ids, res.keypoints, res.scores)
        print(f"{len(gt['annotations'])} GT instances, {len(res)} detections, "
              f"{len(gt['images'])} images, 13 categories")
        t_ref, reference = median_time(lambda: evaluate_with_pycocotools(gt_path, res_path),
                                 args.repeats)
        ref, ref_cat = reference.stats, reference.per_category
        t_index, g = median_time(lambda: GroundTruth.load(gt_path), 1)
        t_fast, fast = median_time(lambda: evaluate_keypoints(g, res.image_ids, res.category_ids,
                                                        res.keypoints, res.scores), 7)

        def from_files():
            g2 = GroundTruth.load(gt_path)
            r = load_results(res_path, g2)
            return evaluate_keypoints(g2, r.image_ids, r.category_ids, r.keypoints, r.scores,
                                      as_submission=False)

        t_files, fast_files = median_time(from_files, args.repeats)
    diffs = [abs(fast.stats[n] - ref[n]) for n in STAT_NAMES]
    diffs += [abs(fast.per_category[n] - ref_cat[n]) for n in ref_cat]
    assert fast.stats == ref == fast_files.stats, (fast.stats, ref)
    assert fast.per_category == ref_cat == fast_files.per_category
    assert np.array_equal(fast.precision, reference.precision)
    assert np.array_equal(fast.recall, reference.recall)
    print(" ".join(f"{n}={ref[n]:.4f}" for n in STAT_NAMES))
    print(f"stats, precision and recall arrays identical (max |diff| over 10 stats + 13 "
          f"categories = {max(diffs):.1e})")
    print(f"reference pycocotools, JSON files end to end : {t_ref:8.3f} s (median of {args.repeats})")
    print(f"fast, in memory (GT indexed once)            : {t_fast:8.3f} s (median of 7)  "
          f"ratio {t_ref / t_fast:6.1f}x")
    print(f"fast, JSON files end to end                  : {t_files:8.3f} s (median of {args.repeats})  "
          f"ratio {t_ref / t_files:6.1f}x")
    print(f"(one-off GT indexing from JSON: {t_index:.3f} s)")


if __name__ == "__main__":
    main()
