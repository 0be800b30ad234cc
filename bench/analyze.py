"""Benchmark: landmark error analysis (tools/analyze.py) on a DeepFashion2-sized result file.

    python bench/analyze.py [--instances 20000] [--repeats 3]

Synthetic ground truth and results (``make_synthetic_set``: 13 categories, noisy / missed /
duplicated / wrong-category / false-positive detections), written as JSON files. Times, each the
median of ``--repeats`` runs: the analysis in memory (classification, instance errors and the 7
oracle evaluations), one plain evaluation for comparison, and the tool end to end from the two
files (a fresh interpreter: JSON parsing, analysis, analysis.json, plots, report.md; no gallery,
the synthetic set has no images), with its CPU time, which is what the wall time is on an idle
machine. Target: < 20 s end to end on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from clothpose.evaluation import GroundTruth, evaluate_keypoints, load_results, write_results
from clothpose.evaluation.analysis import analyze_errors
from clothpose.evaluation.synthetic import make_synthetic_set
from timing import median_time  # bench/timing.py, beside this script

TOOL = Path(__file__).resolve().parents[1] / "tools" / "analyze.py"


def _stages(gt_path: Path, res_path: Path, out: Path) -> dict[str, tuple[float, float]]:
    """Wall and CPU time of each step of the tool, run once in this process."""
    from clothpose.evaluation.analysis_report import write_analysis_report

    times: dict[str, tuple[float, float]] = {}

    def timed(name, fn):
        w, c = time.perf_counter(), time.process_time()
        value = fn()
        times[name] = (time.perf_counter() - w, time.process_time() - c)
        return value

    def read():
        g = GroundTruth.load(gt_path)
        return g, load_results(res_path, g)

    gt, res = timed("read GT + results JSON", read)
    a = timed("analysis", lambda: analyze_errors(gt, res))
    timed("json + plots + report", lambda: write_analysis_report(a, out, gallery=0))
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--instances", type=int, default=20000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    gt_dict, res = make_synthetic_set(args.instances, seed=0)
    with tempfile.TemporaryDirectory() as d:
        gt_path, res_path = Path(d) / "gt.json", Path(d) / "results.json"
        gt_path.write_text(json.dumps(gt_dict))
        write_results(res_path, res.image_ids, res.category_ids, res.keypoints, res.scores)
        gt = GroundTruth.load(gt_dict)
        res = load_results(res_path, gt)                  # as the tool sees the file
        print(f"{len(gt_dict['annotations'])} GT instances, {len(res)} results, "
              f"{len(gt_dict['images'])} images, 13 categories")
        t_eval, _ = median_time(lambda: evaluate_keypoints(gt, res.image_ids, res.category_ids,
                                                           res.keypoints, res.scores,
                                                           as_submission=False),
                                args.repeats)
        t_mem, a = median_time(lambda: analyze_errors(gt, res), args.repeats)
        out = Path(d) / "analysis"
        cmd = [sys.executable, str(TOOL), "--gt", str(gt_path), "--results", str(res_path),
               "--out", str(out)]

        cpu: list[float] = []

        def tool() -> subprocess.CompletedProcess:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            r = subprocess.run(cmd, capture_output=True, text=True, check=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            return r

        t_tool, _ = median_time(tool, args.repeats)
        written = sorted(f.name for f in out.iterdir())
        stages = _stages(gt_path, res_path, Path(d) / "stages")
    counts = a.counts()
    print(f"matched {len(a.pair_det)}, landmarks {int(counts.sum())}, false positives "
          f"{len(a.false_positive)}, missed {len(a.missed)}, wrong category {len(a.wrong_det)}")
    rep = f"(median of {args.repeats})"
    print(f"one evaluation (in memory)                    : {t_eval:7.2f} s {rep}")
    print(f"analysis in memory (classes + 7 oracle evals) : {t_mem:7.2f} s {rep}  "
          f"= {t_mem / t_eval:4.1f} x one evaluation")
    print(f"tools/analyze.py end to end (files -> report) : {t_tool:7.2f} s {rep}  "
          f"target < 20 s: {'yes' if t_tool < 20 else 'NO'}")
    print(f"  its CPU time (user + sys; ~ wall time on an idle machine): "
          f"{statistics.median(cpu):7.2f} s (median)")
    print("  stages in one process, wall / CPU s: " + ", ".join(
        f"{name} {w:.2f} / {c:.2f}" for name, (w, c) in stages.items()))
    print(f"written: {', '.join(written)}")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          "(machine shared with other jobs: wall times are inflated by the load)")


if __name__ == "__main__":
    main()
