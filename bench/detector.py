"""Benchmark: the garment detector on CPU, alone and followed by a landmark model.

    python bench/detector.py [--runs 3] [--images 4] [--boxes-per-image 2] [--threads 0]

With the architectures of the experiment files and random weights:
  * detector network throughput at 512x512 (images/s), PyTorch fp32 (``inference_mode``,
    the baseline) and onnxruntime (CPU) on the model exported by ``predict.export``;
  * the decode time per image (sigmoid, 3x3 peak max-pool, top-100, back to pixels);
  * end to end, images/s of photo -> detector (PyTorch) -> the ``--boxes-per-image`` best boxes ->
    landmark model on each box (``predict.Predictor``, PyTorch): what ``tools/infer.py
    --detector`` does per image, without reading and writing files. DeepFashion2 images hold
    1.6 items on average; the detector's boxes are taken by rank, since random weights give
    arbitrary scores.
Figures are medians of ``--runs`` timed runs after a warm-up, variants timed round-robin so
that load from other processes affects them alike; ratios are against the baseline.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from clothpose.config import load_config
from clothpose.core.detection_decode import detections_in_images, merge_flip
from clothpose.predict import Predictor
from clothpose.predict.detector import Detector
from clothpose.predict.export import export_onnx

ROOT = Path(__file__).resolve().parents[1]
DETECTORS = {
    "CenterNet HRNet-W32 512x512": ROOT / "experiments/deepfashion2/centernet-hrnet-w32_512x512.yaml",
    "CenterNet ResNet-50 512x512": ROOT / "experiments/deepfashion2/centernet-resnet50_512x512.yaml",
}
LANDMARKS = ROOT / "experiments/deepfashion2/hrnet-w32_256x192_agg81.yaml"


def interleaved(fns: dict, runs: int) -> dict:
    """Median seconds per callable over ``runs`` round-robin rounds after one warm-up each."""
    for fn in fns.values():
        fn()
    times: dict = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def photos(n: int, seed: int = 0) -> list[np.ndarray]:
    """Synthetic DeepFashion2-like scenes of 640x480 (height x width), BGR."""
    from clothpose.data.synthetic.generate import make_image

    rng = np.random.default_rng(seed)
    return [make_image(rng, (640, 480))[0] for _ in range(n)]


def detector_figures(name: str, cfg_path: Path, images: list[np.ndarray], runs: int,
                     threads: int) -> Detector:
    cfg = load_config(str(cfg_path), ["MODEL.PRETRAINED", "", "TEST.FLIP_TEST", "False"])
    torch.manual_seed(0)
    det = Detector(cfg, batch_size=len(images))
    x = np.stack([det.letterbox(img)[0] for img in images])
    with torch.no_grad():   # box sizes of garments (~25 cells = 100 input px), not the init's ~0
        det.backend.model.wh[-1].bias.fill_(25.0)
    with tempfile.TemporaryDirectory() as d:
        path = export_onnx(det.backend.model, cfg.MODEL.IMAGE_SIZE, Path(d) / "det.onnx")
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        seconds = interleaved({"pytorch fp32 (baseline)": lambda: det.backend(x),
                               "onnxruntime CPU": lambda: sess.run(None, {"input": x})}, runs)
    base = None
    for label, sec in seconds.items():
        ips = len(images) / sec
        base = base or ips
        print(f"{name:<28} {label:<28} {ips:8.2f} img/s {ips / base:6.2f}x", flush=True)
    out = merge_flip(*det.backend(x))
    centers = np.stack([det.letterbox(img)[1] for img in images])
    scales = np.stack([det.letterbox(img)[2] for img in images])
    sizes = np.array([[img.shape[1], img.shape[0]] for img in images])
    t_dec = interleaved({"decode": lambda: detections_in_images(
        *out, centers, scales, sizes, det.category_ids, 100, 0.0)}, runs)["decode"]
    print(f"{name:<28} decode (top-100 peaks -> image boxes): {t_dec / len(images) * 1e3:.2f} "
          "ms per image", flush=True)
    return det


def end_to_end(det: Detector, images: list[np.ndarray], boxes_per_image: int, runs: int,
               name: str) -> None:
    cfg = load_config(str(LANDMARKS), ["MODEL.PRETRAINED", "", "TEST.FLIP_TEST", "True"])
    torch.manual_seed(0)
    predictor = Predictor(cfg, batch_size=max(1, boxes_per_image * len(images)))

    def pipeline():
        found = det.detect(images, score_thr=0.0)
        boxes = [d.boxes[:boxes_per_image].tolist() for d in found]
        cats = [d.category_ids[:boxes_per_image].tolist() for d in found]
        return predictor.predict(images, boxes, cats)

    sec = interleaved({"e2e": pipeline}, runs)["e2e"]
    print(f"{name:<28} end to end + HRNet-W32 256x192 landmarks (flip test), "
          f"{boxes_per_image} boxes/image: {len(images) / sec:.2f} img/s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="timed runs per figure (median)")
    ap.add_argument("--images", type=int, default=4, help="images per batch")
    ap.add_argument("--boxes-per-image", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="0 = library defaults")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.images} images "
          f"of 480x640 per batch, median of {args.runs} runs")
    start = time.perf_counter()
    images = photos(args.images)
    for name, path in DETECTORS.items():
        det = detector_figures(name, path, images, args.runs, args.threads)
        end_to_end(det, images, args.boxes_per_image, args.runs, name)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
