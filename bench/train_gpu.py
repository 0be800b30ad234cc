#!/usr/bin/env python
"""Training throughput on a GPU: HRNet-W48 512x384 images/s, fp32 vs AMP + channels_last
(+ torch.compile), and how many samples/s the data loader delivers with N workers.

    python bench/train_gpu.py                                   # synthetic 750x750 JPEGs
    python bench/train_gpu.py --root data/deepfashion2 --workers 4,8,16
    python bench/train_gpu.py --device cpu --tiny --iters 3     # a smoke run of this script

Training steps run on batches already on the device (random uint8 crops and keypoints through
``BatchPreparer``, so the step includes normalisation and target drawing): the model's speed
alone. The loader rows run the real dataset (decode, augment, warp in workers; pinned memory;
``BatchPreparer`` on the device) without a model: the headroom column is loader samples/s over
the fastest training row; below 1 the GPU waits for data. Prints a Markdown table naming the GPU.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler

from clothpose.config import load_config
from clothpose.core.function import train_one_epoch
from clothpose.core.loss import build_loss
from clothpose.core.scale import compile_model
from clothpose.data import build_dataset
from clothpose.data.batch import BatchPreparer
from clothpose.data.build import input_spec
from clothpose.models import build_model

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / "experiments/deepfashion2/hrnet-w48_512x384_agg81.yaml"
TINY = ["MODEL.IMAGE_SIZE", "[96, 128]", "MODEL.HEATMAP_SIZE", "[24, 32]",
        "MODEL.EXTRA.STAGE4.NUM_CHANNELS", "[16, 32, 64, 128]",
        "MODEL.EXTRA.STAGE3.NUM_CHANNELS", "[16, 32, 64]",
        "MODEL.EXTRA.STAGE2.NUM_CHANNELS", "[16, 32]"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Timed:
    """An iterable of ``n`` identical device batches that records when each is asked for."""

    def __init__(self, batch: tuple, n: int, device: torch.device):
        self.batch, self.n, self.device, self.stamps = batch, n, device, []

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        for _ in range(self.n):
            _sync(self.device)
            self.stamps.append(time.perf_counter())
            yield self.batch


def train_rate(cfg, device: torch.device, batch_size: int, iters: int, warmup: int, *,
               amp: bool, channels_last: bool, compile_: bool) -> float:
    """Median images/s of training steps (forward, loss, backward, Adam) after ``warmup``."""
    torch.manual_seed(0)
    model = build_model(cfg, is_train=True).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile_:
        model = compile_model(model)
    optim = torch.optim.Adam(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda") if amp and device.type == "cuda" else None
    w, h = cfg.MODEL.IMAGE_SIZE
    k = cfg.MODEL.NUM_JOINTS
    rng = np.random.default_rng(0)
    crops = torch.from_numpy(rng.integers(0, 256, (batch_size, h, w, 3), dtype=np.uint8))
    kps = np.concatenate([rng.uniform(0, min(w, h), (batch_size, k, 2)),
                          rng.random((batch_size, k, 1)) < 0.3], axis=2).astype(np.float32)
    prep = BatchPreparer(input_spec(cfg), device, channels_last, reuse_buffers=True)
    loader = _Timed((crops.pin_memory() if device.type == "cuda" else crops,
                     torch.from_numpy(kps), {}), warmup + iters, device)
    train_one_epoch(model, loader, build_loss(cfg).to(device), optim, device, 0, prepare=prep,
                    scaler=scaler, amp=amp, channels_last=channels_last, print_freq=0,
                    show_progress=False)
    _sync(device)
    stamps = loader.stamps + [time.perf_counter()]
    steps = np.diff(stamps)[warmup:]
    return batch_size / statistics.median(steps)


def loader_rate(cfg, device: torch.device, batch_size: int, workers: int, batches: int) -> float:
    """samples/s of DataLoader(workers, pinned) + BatchPreparer on the device, after batch 1."""
    ds = build_dataset(cfg, cfg.DATASET.TRAIN_SET, is_train=True)
    prep = ds.batch_preparer(device, bool(cfg.TRAIN.CHANNELS_LAST), reuse_buffers=True)
    sampler = RandomSampler(ds, replacement=True, num_samples=batch_size * (batches + 1))
    it = iter(DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=workers,
                         pin_memory=device.type == "cuda", persistent_workers=workers > 0))
    prep(next(it))
    _sync(device)
    t, seen = time.perf_counter(), 0
    for raw in it:
        seen += len(prep(raw).inputs)
    _sync(device)
    return seen / (time.perf_counter() - t)


def synthetic_root(tmp: Path, images: int) -> Path:
    from clothpose.data.prepare import prepare_deepfashion2
    from clothpose.data.synthetic import make_synthetic
    make_synthetic(tmp / "raw", {"train": images}, seed=0, size=(750, 750))
    prepare_deepfashion2(tmp / "raw", tmp / "prep", ["train"], progress=False)
    return tmp / "prep"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cfg", default=str(CFG))
    p.add_argument("--root", help="DATASET.ROOT for the loader rows (default: synthetic)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5, help="steps not timed (compile: more)")
    p.add_argument("--workers", default="2,4,8,16")
    p.add_argument("--loader-batches", type=int, default=20)
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--tiny", action="store_true", help="a small HRNet (smoke runs)")
    args = p.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: nothing measured (use --device cpu --tiny for a smoke run)")
        return
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    torch.backends.cudnn.benchmark = True
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or str(synthetic_root(Path(tmp), 8))
        cfg = load_config(args.cfg, ["DATASET.ROOT", root, "DATASET.FLIP", "True",
                                     "MODEL.PRETRAINED", "",   # speed: weights do not matter
                                     *(TINY if args.tiny else [])])
        rows = [("fp32", False, False, False), ("AMP", True, False, False),
                ("AMP + channels_last", True, True, False)]
        if not args.no_compile:
            rows.append(("AMP + channels_last + compile", True, True, True))
        print(f"{Path(args.cfg).name}, input {cfg.MODEL.IMAGE_SIZE[0]}x{cfg.MODEL.IMAGE_SIZE[1]}, "
              f"{cfg.MODEL.NUM_JOINTS} channels, batch {args.batch}, {name}, "
              f"torch {torch.__version__}\n")
        print("| training step | images/s |\n|---|---:|")
        best = 0.0
        for label, amp, cl, comp in rows:
            warm = args.warmup * (3 if comp else 1)
            r = train_rate(cfg, device, args.batch, args.iters, warm, amp=amp,
                           channels_last=cl, compile_=comp)
            best = max(best, r)
            print(f"| {label} | {r:.1f} |", flush=True)
        print("\n| loader workers | samples/s (pinned, targets on the device) | headroom |\n"
              "|---:|---:|---:|")
        for n in [int(v) for v in args.workers.split(",")]:
            r = loader_rate(cfg, device, args.batch, n, args.loader_batches)
            print(f"| {n} | {r:.1f} | {r / best:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
