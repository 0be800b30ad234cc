"""Benchmark: network throughput (images/s) of the inference backends on CPU.

    python bench/infer.py [--batch 8] [--w48-batch 4] [--repeats 3] [--w48-repeats 2]

For HRNet-W32 256x192 and HRNet-W48 512x384 (81 keypoints, random weights, the experiment
files' architectures), the same random batch goes through:
  * PyTorch fp32, NCHW, ``torch.no_grad`` (the baseline),
  * PyTorch fp32, channels_last memory format, ``torch.inference_mode``,
  * onnxruntime (CPU execution provider) on the model exported by ``predict.export``.
Each figure is the median of several timed runs after one warm-up run, the variants timed
round-robin; ratios are against the baseline measured in the same run. Also printed: the
Predictor's per-image cost outside the network (crop + normalise, decode + rescore), W32.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from clothpose.config import load_config
from clothpose.models import build_model
from clothpose.predict.export import export_onnx

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "HRNet-W32 256x192": ROOT / "experiments/deepfashion2/hrnet-w32_256x192_agg81.yaml",
    "HRNet-W48 512x384": ROOT / "experiments/deepfashion2/hrnet-w48_512x384_agg81.yaml",
}


def median_time(fn, repeats: int) -> float:
    fn()                                        # warm-up (allocations, oneDNN primitives)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def median_times_interleaved(fns: dict, repeats: int) -> dict:
    """Median seconds per callable, timed round-robin so that load from other processes
    affects every variant alike (the ratios stay meaningful on a shared machine)."""
    for fn in fns.values():
        fn()                                    # warm-up
    times: dict = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def backends(model: torch.nn.Module, x: torch.Tensor, onnx_path: Path, threads: int) -> dict:
    """name -> zero-argument callable running one batch."""
    import onnxruntime as ort

    cl_model = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    x_np = x.numpy()

    def plain():
        with torch.no_grad():
            return model(x)

    def channels_last():
        with torch.inference_mode():
            return cl_model(x_cl)

    return {"pytorch fp32 (baseline)": plain,
            "pytorch fp32 channels_last + inference_mode": channels_last,
            "onnxruntime CPU": lambda: sess.run(None, {"input": x_np})}


def pipeline_overheads(cfg, onnx_path: Path, batch: int, repeats: int) -> tuple[float, float]:
    """Seconds per image spent in crop + normalise and in decode + rescore (W32 model)."""
    from clothpose.predictor import Predictor

    p = Predictor(cfg, onnx=onnx_path, batch_size=batch)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (800, 600, 3), dtype=np.uint8)
    boxes = [(float(x), float(y), 300.0, 400.0) for x, y in rng.uniform(0, 250, (batch, 2))]
    t_crop = median_time(lambda: [p.crop(img, b) for b in boxes], repeats) / batch
    w, h = p.image_size
    heat = rng.random((batch, p.scheme.num_keypoints, h // 4, w // 4)).astype(np.float32)
    centers = np.full((batch, 2), 300, np.float32)
    scales = np.full((batch, 2), 2.5, np.float32)
    cats = np.ones(batch, np.int64)

    def decode():
        xy, maxvals = p.decode(heat, centers, scales)
        return p.rescore(np.ones(batch), maxvals, cats)

    return t_crop, median_time(decode, repeats) / batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs for W32")
    ap.add_argument("--w48-repeats", type=int, default=2, help="timed runs for W48")
    ap.add_argument("--w48-batch", type=int, default=4, help="batch for W48 (keeps < 3 min)")
    ap.add_argument("--threads", type=int, default=0, help="0 = library defaults")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch} "
          f"(W48: {args.w48_batch})")
    print(f"{'model':<19} {'backend':<45} {'img/s':>8} {'vs baseline':>11}")
    start = time.perf_counter()
    for name, cfg_path in MODELS.items():
        cfg = load_config(str(cfg_path), ["MODEL.PRETRAINED", ""])
        torch.manual_seed(0)
        model = build_model(cfg, is_train=False).eval()
        w, h = cfg.MODEL.IMAGE_SIZE
        big = "W48" in name
        batch = args.w48_batch if big else args.batch
        x = torch.randn(batch, 3, h, w)
        repeats = args.w48_repeats if big else args.repeats
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            path = export_onnx(model, (w, h), Path(d) / "m.onnx")
            print(f"{name:<19} (ONNX export {time.perf_counter() - t0:.1f} s)")
            seconds = median_times_interleaved(backends(model, x, path, args.threads), repeats)
            base = None
            for label, sec in seconds.items():
                ips = batch / sec
                base = base or ips
                print(f"{name:<19} {label:<45} {ips:8.2f} {ips / base:10.2f}x", flush=True)
            if "W32" in name:
                t_crop, t_dec = pipeline_overheads(cfg, path, args.batch, args.repeats)
                print(f"{name:<19} outside the network, per image: crop+normalise "
                      f"{t_crop * 1e3:.2f} ms, decode+rescore {t_dec * 1e3:.2f} ms")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
