"""One evaluator per task, in detectron2's ``DatasetEvaluator`` shape: ``reset()``,
``process(inputs, outputs)`` per batch, ``evaluate() -> dict``.

The trainer's validation and ``tools/test.py`` run ``inference_on_dataset`` with the evaluator
``build_evaluator`` picks for the config's task, so neither branches on the model or the
keypoint family. Every evaluator also knows how to run the network on a batch (``forward``: the
task's test-time flip), which inputs its test needs (``input_paths``) and what ``tools/test.py``
prints (``report``, last line ``AP=`` / ``NE=`` / ``box AP=``). ``evaluate`` gathers the shards
of all ranks, lets rank 0 write the result files and compute the numbers, and returns the same
dict on every rank; its ``"AP"`` entry is what ``model_best.pth`` maximises.

Tasks: ``detection`` (CenterNet boxes, COCO box AP), ``fashionai`` (challenge CSV + NE) and the
COCO-style landmark families (DeepFashion2 submission + official keypoint AP; the default).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm
from yacs.config import CfgNode

from ..data.batch import Batch, batch_preparer
from ..utils.dist import DistInfo, all_gather_objects, broadcast_object
from ..utils.io import atomic_write_json
from .detection_decode import detections_in_images, merge_flip
from .function import (RawPredictions, _autocast, _to_device, heatmap_batch_accuracy,
                       predict_heatmaps)
from .testing import evaluate_submission, make_decoder, postprocess, save_stats, shard_loader

logger = logging.getLogger(__name__)


class DatasetEvaluator:
    """Base class: collects per-batch results of this rank; subclasses say what they mean.

    Args:
        cfg: the experiment config (decoding and test settings).
        dataset: the dataset inferred on (its ``evaluation_gt()`` is the ground truth).
        info: this process's rank / device.
        results_dir: where result files go.
        tag: validation tag (e.g. ``epoch3``) for per-epoch file names; "" = a test run.
        results_name: file name of the results (test runs; default per task).
        examples: example pictures per category drawn by test runs (0 = none).
        analyze: also write the landmark error analysis next to the results (test runs of
            DeepFashion2 landmark models; other tasks say they have none).
    """

    task = ""
    # Training-time settings of the task: the per-batch metric ``train_one_epoch`` reports
    # (``(outputs, target) -> (value, count)``, None = none) and whether DEBUG pictures apply.
    train_accuracy: Callable | None = None
    debug_pictures = False
    has_analysis = False      # the landmark error analysis (``--analyze``) applies

    def __init__(self, cfg: CfgNode, dataset: Any, info: DistInfo, results_dir: str | Path,
                 tag: str = "", results_name: str = "", examples: int = 0,
                 analyze: bool = False) -> None:
        self.cfg, self.dataset, self.info = cfg, dataset, info
        self.results_dir = Path(results_dir)
        self.tag, self.results_name, self.examples = tag, results_name, examples
        self.analyze = analyze
        if analyze and not self.has_analysis:
            logger.warning("--analyze covers DeepFashion2 keypoint AP results, not %s", self.task)
        self.results_path: Path | None = None
        self.reset()

    @staticmethod
    def input_paths(cfg: CfgNode) -> list[str]:
        """``check_paths`` tags of the inputs a test of this task reads besides data/model."""
        return [] if cfg.TEST.USE_GT_BBOX else ["bbox_file"]

    def reset(self) -> None:
        self._parts: list[Any] = []

    def forward(self, model: nn.Module, inputs: torch.Tensor) -> Any:
        raise NotImplementedError

    def process(self, inputs: dict, outputs: Any) -> None:
        raise NotImplementedError

    def evaluate(self) -> dict:
        raise NotImplementedError

    def report(self, stats: dict) -> list[str]:
        raise NotImplementedError

    def write_empty(self) -> Path | None:
        """The results file of a set with nothing to test: an empty list (a valid submission
        part); None when the task writes no file then."""
        from ..utils.io import atomic_write

        path = self._results_file()
        atomic_write(path, lambda f: f.write("[]"))
        return path

    def _results_file(self) -> Path:
        raise NotImplementedError

    def _finish(self, compute: Callable[[], dict]) -> dict:
        """Run ``compute`` on rank 0 (after the gather) and share its dict with every rank."""
        return broadcast_object(compute() if self.info.is_main else {})

    def _file(self, prefix: str, suffix: str = ".json") -> tuple[Path, Path]:
        """(results file, stats file) named for a validation tag or a test run."""
        test_set = self.cfg.DATASET.TEST_SET
        if self.tag:
            return (self.results_dir / f"{prefix}_{test_set}_results_{self.tag}{suffix}",
                    self.results_dir / f"stats_{test_set}_{self.tag}.json")
        path = self.results_dir / (self.results_name or f"{prefix}_{test_set}_results{suffix}")
        return path, path.with_name(path.stem + "_stats.json")


def process_dataset(model: nn.Module, dataset: Any, evaluator: DatasetEvaluator,
                    cfg: CfgNode, info: DistInfo, show_progress: bool = True) -> None:
    """``evaluator.process`` every batch of this rank's shard of ``dataset`` (after a reset).

    Batches become network input through the dataset's device-side ``BatchPreparer`` (uint8
    crops normalised on the model's device) or, for datasets that ship float inputs (the
    detector's), as they are."""
    evaluator.reset()
    model.eval()
    prepare = batch_preparer(dataset, info.device, cfg.TRAIN.CHANNELS_LAST, targets=False,
                             reuse_buffers=True) or (lambda b: Batch(b[0], None, None, b[-1]))
    for raw in tqdm(shard_loader(cfg, dataset, info), desc="inference", leave=False,
                    dynamic_ncols=True, disable=not (show_progress and info.is_main)):
        batch = prepare(raw)
        evaluator.process(batch.meta, evaluator.forward(model, batch.inputs))


def inference_on_dataset(model: nn.Module, dataset: Any, evaluator: DatasetEvaluator,
                         cfg: CfgNode, info: DistInfo, show_progress: bool = True) -> dict:
    """Run ``model`` over this rank's shard of ``dataset`` and return ``evaluator.evaluate()``."""
    process_dataset(model, dataset, evaluator, cfg, info, show_progress)
    return evaluator.evaluate()


# ---------------------------------------------------------------------------- landmark tasks
class HeatmapEvaluator(DatasetEvaluator):
    """Top-down landmark models: flip-tested heatmaps decoded per box (the shared decoder)."""

    train_accuracy = staticmethod(heatmap_batch_accuracy)
    debug_pictures = True

    def reset(self) -> None:
        super().reset()
        self._decode = make_decoder(self.cfg)

    def forward(self, model: nn.Module, inputs: torch.Tensor) -> np.ndarray:
        cfg = self.cfg
        flip = self.dataset.scheme.flip_index if cfg.TEST.FLIP_TEST else None
        return predict_heatmaps(model, inputs, flip_index=flip,
                                shift_heatmap=cfg.TEST.SHIFT_HEATMAP, amp=cfg.TRAIN.AMP,
                                channels_last=cfg.TRAIN.CHANNELS_LAST)

    def process(self, inputs: dict, outputs: np.ndarray) -> None:
        center, scale = inputs["center"].numpy(), inputs["scale"].numpy()
        xy, maxvals = self._decode(outputs, center, scale)
        self._parts.append(RawPredictions(
            indices=inputs["index"].numpy(), image_ids=inputs["image_id"].numpy(),
            category_ids=inputs["category_id"].numpy(),
            keypoints=np.concatenate([xy, maxvals.reshape(*xy.shape[:2], 1)], axis=2),
            box_scores=inputs["score"].numpy().astype(np.float64), centers=center,
            scales=scale, source_boxes=inputs["box"].numpy().astype(np.float64)))

    def predictions(self) -> RawPredictions:
        """Every rank's predictions, merged in dataset order (on every rank)."""
        part = RawPredictions.concatenate(self._parts) if self._parts else None
        return RawPredictions.concatenate(all_gather_objects(part),
                                          self.dataset.scheme.num_keypoints)


class KeypointEvaluator(HeatmapEvaluator):
    """COCO-style landmark families (DeepFashion2): submission JSON + official keypoint AP."""

    task = "landmarks"
    has_analysis = True

    def _results_file(self) -> Path:
        return self._file("keypoints", "_0.json" if not self.tag else ".json")[0]

    def evaluate(self) -> dict:
        raw = self.predictions()
        return self._finish(lambda: self._score(raw))

    def _score(self, raw: RawPredictions) -> dict:
        from ..evaluation import format_stats_table, write_results

        sub = postprocess(self.cfg, raw, self.dataset.scheme)
        path, stats_path = self._file("keypoints", "_0.json" if not self.tag else ".json")
        extra = ("results", "analysis")
        self.results_path = path
        gt = self.dataset.evaluation_gt()
        stats: dict = {"results": str(path)}
        if gt is None:
            write_results(path, sub.image_ids, sub.category_ids, sub.keypoints, sub.scores,
                          boxes=sub.boxes)
            logger.info("no ground truth for %s: wrote %s only", self.cfg.DATASET.TEST_SET, path)
        else:
            stats.update(evaluate_submission(sub, gt, path))
            save_stats({k: v for k, v in stats.items() if k not in extra}, stats_path)
            logger.info("evaluation (%s, %d instances):\n%s", self.tag or "test",
                        len(sub.scores), format_stats_table(stats))
        if self.examples > 0:
            from ..workflow.report import save_example_grid

            png = save_example_grid(self.dataset, sub, path.with_name(path.stem + "_examples.png"),
                                    per_category=self.examples)
            logger.info("example predictions: %s", png)
        if self.analyze:
            from ..workflow.analysis import analyze_dataset_results

            rep = analyze_dataset_results(self.dataset, path,
                                          path.with_name(path.stem + "_analysis"))
            if rep is not None:
                stats["analysis"] = str(rep.markdown)
        return stats

    def report(self, stats: dict) -> list[str]:
        from ..evaluation import format_category_table, format_stats_table

        lines = [f"error analysis: {stats['analysis']}"] if "analysis" in stats else []
        lines.append(f"results: {stats['results']}")
        if "AP" in stats:
            lines += [format_stats_table(stats), format_category_table(stats["per_category"]),
                      f"AP={stats['AP']:.4f}"]
        return lines


class FashionAIEvaluator(HeatmapEvaluator):
    """FashionAI: the challenge's submission CSV + NE; ``AP`` is -NE for model selection."""

    task = "fashionai"

    def write_empty(self) -> None:
        return None   # the challenge CSV lists every test image; nothing partial to write

    def evaluate(self) -> dict:
        raw = self.predictions()
        return self._finish(lambda: self._score(raw))

    def _score(self, raw: RawPredictions) -> dict:
        from ..workflow.fashionai import report_test, validate_fashionai

        if self.tag:
            return validate_fashionai(raw, self.dataset, self.results_dir, self.tag,
                                      self.cfg.DATASET.TEST_SET)
        csv_path, stats = report_test(raw, self.dataset, self.results_dir,
                                      self.cfg.DATASET.TEST_SET, self.results_name, self.examples)
        self.results_path = csv_path
        return dict(stats or {}, submission=str(csv_path))

    def report(self, stats: dict) -> list[str]:
        from ..workflow.fashionai import format_ne_table

        lines = [f"submission: {stats['submission']}"]
        if "NE" in stats:
            lines += [format_ne_table(stats), f"NE={stats['NE']:.4f}"]
        return lines


# ---------------------------------------------------------------------------- detection
class BoxEvaluator(DatasetEvaluator):
    """CenterNet garment detector: top-K boxes per image, the official DeepFashion2 detection
    result file (``bbox_<set>_results.json``) and, with ground truth, COCO box AP."""

    task = "detection"

    @staticmethod
    def input_paths(cfg: CfgNode) -> list[str]:
        return []   # whole images: no boxes to read

    def _results_file(self) -> Path:
        return self._file("bbox")[0]

    def forward(self, model: nn.Module, inputs: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sigmoid heatmaps, sizes, offsets (flip-averaged per ``TEST.FLIP_TEST``), on CPU."""
        cfg = self.cfg
        device = next(model.parameters()).device
        x = _to_device(inputs, device, cfg.TRAIN.CHANNELS_LAST)
        with torch.inference_mode(), _autocast(device, cfg.TRAIN.AMP):
            out = [o.float().cpu() for o in model(x)]
            flipped = [o.float().cpu() for o in model(torch.flip(x, dims=[3]))] \
                if cfg.TEST.FLIP_TEST else [None, None]
        return merge_flip(out[0], out[1], out[2], flipped[0], flipped[1])

    def process(self, inputs: dict, outputs: tuple[torch.Tensor, ...]) -> None:
        sizes = np.stack([inputs["width"].numpy(), inputs["height"].numpy()], axis=1)
        dets = detections_in_images(*outputs, inputs["center"].numpy(), inputs["scale"].numpy(),
                                    sizes, self.dataset.category_ids, int(self.cfg.TEST.DET_TOPK),
                                    float(self.cfg.TEST.DET_SCORE_THRE))
        for image_id, d in zip(inputs["image_id"].tolist(), dets):
            self._parts.append((int(image_id), d))

    def evaluate(self) -> dict:
        parts = [p for rank in all_gather_objects(self._parts) for p in rank]
        parts.sort(key=lambda p: p[0])
        return self._finish(lambda: self._score(parts))

    def _score(self, parts: list) -> dict:
        from ..evaluation import (GroundTruth, evaluate_boxes, format_box_table,
                                  format_category_table, write_box_results)

        n = [len(d.scores) for _, d in parts]
        image_ids = np.repeat([i for i, _ in parts], n).astype(np.int64)
        cats = np.concatenate([d.category_ids for _, d in parts]) if parts else np.zeros(0, int)
        boxes = np.concatenate([d.boxes for _, d in parts]) if parts else np.zeros((0, 4))
        scores = np.concatenate([d.scores for _, d in parts]) if parts else np.zeros(0)
        path, stats_path = self._file("bbox")
        self.results_path = path
        write_box_results(path, image_ids, cats, boxes, scores)
        stats: dict = {"results": str(path), "detections": int(len(scores))}
        gt = self.dataset.evaluation_gt()
        if gt is None:
            logger.info("no ground truth for %s: wrote %s only", self.cfg.DATASET.TEST_SET, path)
            return stats
        result = evaluate_boxes(GroundTruth.load(gt, keypoints=False), image_ids, cats, boxes,
                                scores)
        stats.update({k: float(v) for k, v in result.stats.items()})
        stats["per_category"] = {k: float(v) for k, v in result.per_category.items()}
        atomic_write_json(stats_path, {k: v for k, v in stats.items() if k != "results"},
                          indent=2)
        logger.info("box evaluation (%s, %d detections on %d images):\n%s\n%s",
                    self.tag or "test", len(scores), len(parts), format_box_table(stats),
                    format_category_table(stats["per_category"]))
        return stats

    def report(self, stats: dict) -> list[str]:
        from ..evaluation import format_box_table, format_category_table

        lines = [f"results: {stats['results']} ({stats['detections']} detections)"]
        if "AP" in stats:
            lines += [format_box_table(stats), format_category_table(stats["per_category"]),
                      f"box AP={stats['AP']:.4f}"]
        return lines


# ---------------------------------------------------------------------------- registry
EVALUATORS: dict[str, type[DatasetEvaluator]] = {
    "detection": BoxEvaluator,
    "fashionai": FashionAIEvaluator,
}


def task_of(cfg: CfgNode) -> str:
    """The config's task: ``detection`` for a detector, else its keypoint family."""
    from ..config.loader import is_detector
    from ..keypoints import get_scheme

    return "detection" if is_detector(cfg) else get_scheme(cfg.DATASET.SCHEME).family


def evaluator_class(cfg: CfgNode) -> type[DatasetEvaluator]:
    """Evaluator of the config's task (COCO-style landmark families by default)."""
    return EVALUATORS.get(task_of(cfg), KeypointEvaluator)


def build_evaluator(cfg: CfgNode, dataset: Any, info: DistInfo, results_dir: str | Path,
                    tag: str = "", results_name: str = "", examples: int = 0,
                    analyze: bool = False) -> DatasetEvaluator:
    """The evaluator of the config's task (see ``DatasetEvaluator`` for the arguments)."""
    return evaluator_class(cfg)(cfg, dataset, info, results_dir, tag, results_name, examples,
                                analyze)
