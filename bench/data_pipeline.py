#!/usr/bin/env python
"""Training input pipeline: clothpose against the DeepFashion2 winner's own dataset class.

    git clone https://github.com/lzhbrian/deepfashion2-kps-agg-finetune /tmp/winner
    git clone https://github.com/open-mmlab/mmpose /tmp/mmpose
    OMP_NUM_THREADS=1 python bench/data_pipeline.py --reference /tmp/winner --mmpose /tmp/mmpose

Both paths may be checkouts or bare git directories (extracted to a temp dir with
``git archive``). Data: a DeepFashion2 root made of the two real photos of mmpose's test data
(``tests/data/deepfasion2``: 750x750 JPEGs, one long-sleeved dress each, 294-layout COCO file);
the winner's agg81 file is written from it by the winner's own ``scripts/dataset_agg81kps.py``
(``agg81kps``). Config: the winner's ``w48_512x384_adam_lr1e-3-agg81kps.yaml`` (and the 294
``w48_512x384_adam_lr1e-3.yaml``) with FLIP on, loaded by the winner's ``update_config`` for
its ``Deepfashion2Agg81KpsDataset`` / ``Deepfashion2Dataset`` and by clothpose's loader for
``build_dataset`` (the same file: flip, +-25 % scale, +-30 deg rotation in 60 % of samples).

Printed, same run, medians of ``--runs`` interleaved runs:
  * samples/s of ``dataset[i]`` in one process with one torch and one OpenCV thread (the
    winner's: float input + 81/294 targets; ours: uint8 crop + keypoints, what a worker does);
  * samples/s through a DataLoader with 2 workers, batch 32 (steady state after the first
    batch), and the bytes per sample that cross the process boundary (tensor storage in shared
    memory + the pickled rest of the batch);
  * ours up to normalised input + targets on the device (here the CPU main process):
    the same DataLoader plus ``BatchPreparer``, and ``BatchPreparer`` alone;
  * JPEG decoding: OpenCV, simplejpeg (if installed) and DCT-reduced decoding.

Runtime shims for the winner's code (not changes to it): its ``dataset`` package ``__init__``
is not run (it imports the MPII/COCO modules, unused here); ``nms.cpu_nms`` / ``nms.gpu_nms``
(Cython/CUDA builds the data path never calls) are empty stand-ins; ``np.float`` (removed from
numpy 1.24) is set to ``float``; torchvision (unusable with this CPU torch) is replaced by the
``ToTensor`` + ``Normalize`` its ``tools/train.py`` composes, written out as torchvision does
them (``from_numpy(pic.transpose(2, 0, 1)).contiguous().float().div(255)``, then a clone with
``sub_(mean).div_(std)``).
Without ``--reference`` the winner's columns are skipped; without ``--mmpose`` two synthetic
750x750 DeepFashion2 images stand in for the photos (figures then not comparable).
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import json
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any, Callable, Iterator

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler, default_collate

from clothpose.config import load_config
from clothpose.data import build_dataset
from clothpose.data.decode import decode, probe

WINNER = "HRNet-Human-Pose-Estimation"
YAML81 = f"{WINNER}/experiments/deepfashion2/w48_512x384_adam_lr1e-3-agg81kps.yaml"
YAML294 = f"{WINNER}/experiments/deepfashion2/w48_512x384_adam_lr1e-3.yaml"
PHOTOS = "tests/data/deepfasion2"


@contextlib.contextmanager
def checkout(path: str | None, tmp: Path, name: str) -> Iterator[Path | None]:
    """A directory tree of ``path``: itself, or extracted from a bare git directory."""
    if not path:
        yield None
        return
    p = Path(path)
    if (p / "HEAD").is_file() and (p / "objects").is_dir():      # bare repository
        out = tmp / name
        out.mkdir()
        archive = subprocess.run(["git", f"--git-dir={p}", "archive", "HEAD"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
        yield out
    else:
        yield p


def make_root(photos: Path | None, tmp: Path) -> tuple[Path, str]:
    """DeepFashion2 root (annotations/train_coco.json, 294 layout; images/train/)."""
    root = tmp / "df2"
    if photos is not None:
        (root / "annotations").mkdir(parents=True)
        (root / "images" / "train").mkdir(parents=True)
        data = json.loads((photos / "deepfasion2.json").read_text())
        for im in data["images"]:
            shutil.copy(photos / im["file_name"], root / "images" / "train" / im["file_name"])
        (root / "annotations" / "train_coco.json").write_text(json.dumps(data))
        return root, f"the {len(data['images'])} real DeepFashion2 photos of mmpose's test data"
    from clothpose.data.prepare import prepare_deepfashion2
    from clothpose.data.synthetic import make_synthetic
    make_synthetic(tmp / "raw", {"train": 2}, seed=0, size=(750, 750))
    prepare_deepfashion2(tmp / "raw", root, ["train"], progress=False)
    return root, "2 SYNTHETIC 750x750 images (no --mmpose: not comparable to the issue's figures)"


# ---------------------------------------------------------------------- the winner's code
def _function(path: Path, name: str, namespace: dict) -> Callable:
    """One top-level function of a script, executed from the clone (its module-level code,
    e.g. ``sys.path`` edits and ``__main__`` blocks, is not)."""
    tree = ast.parse(path.read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    exec(compile(ast.Module([fn], []), str(path), "exec"), namespace)
    return namespace[name]


class _ToTensor:
    """torchvision.transforms.ToTensor on a uint8 HWC array."""

    def __call__(self, pic: np.ndarray) -> torch.Tensor:
        img = torch.from_numpy(pic.transpose((2, 0, 1))).contiguous()
        return img.to(dtype=torch.get_default_dtype()).div(255)


class _Normalize:
    """torchvision.transforms.Normalize (inplace=False: a clone, then sub_ / div_)."""

    def __init__(self, mean: list[float], std: list[float]):
        self.mean, self.std = mean, std

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        t = t.clone()
        mean = torch.as_tensor(self.mean, dtype=t.dtype)
        std = torch.as_tensor(self.std, dtype=t.dtype)
        return t.sub_(mean.view(-1, 1, 1)).div_(std.view(-1, 1, 1))


class _Compose:
    def __init__(self, fns: list):
        self.fns = fns

    def __call__(self, x: Any) -> Any:
        for f in self.fns:
            x = f(x)
        return x


def load_winner(clone: Path) -> types.SimpleNamespace:
    """The winner's config, datasets and agg81 converter, imported from the clone."""
    lib = clone / WINNER / "lib"
    sys.path.insert(0, str(lib))        # the reference's own layout (bench only, run time)
    if not hasattr(np, "float"):
        np.float = float                # type: ignore[attr-defined]  # removed in numpy 1.24
    pkg = types.ModuleType("dataset")
    pkg.__path__ = [str(lib / "dataset")]   # its __init__ (MPII/COCO imports) is not run
    sys.modules["dataset"] = pkg
    for ext, fn in (("cpu_nms", "cpu_nms"), ("gpu_nms", "gpu_nms")):
        stub = types.ModuleType(f"nms.{ext}")
        setattr(stub, fn, None)         # Cython/CUDA builds; never called by the data path
        sys.modules[f"nms.{ext}"] = stub
    import importlib
    config = importlib.import_module("config")
    util = importlib.import_module("dataset.deepfashion2agg81kps_util")
    agg = importlib.import_module("dataset.deepfashion2agg81kps")
    d294 = importlib.import_module("dataset.deepfashion2")
    script = clone / WINNER / "scripts" / "dataset_agg81kps.py"
    agg81kps = _function(script, "agg81kps", {"deepfashion2agg81kps_util": util, "json": json,
                                              "copy": copy, "np": np,
                                              "tqdm": lambda x: x})   # no progress bar
    return types.SimpleNamespace(cfg=config.cfg, update_config=config.update_config,
                                 Agg81=agg.Deepfashion2Agg81KpsDataset,
                                 DF2=d294.Deepfashion2Dataset, agg81kps=agg81kps)


def winner_dataset(w: types.SimpleNamespace, yaml: Path, root: Path, agg: bool) -> Any:
    cfg = w.cfg.clone()
    args = argparse.Namespace(cfg=str(yaml), opts=["DATASET.ROOT", str(root),
                                                   "DATASET.FLIP", "True"],
                              modelDir="", logDir="", dataDir="")
    w.update_config(cfg, args)
    normalize = _Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    cls = w.Agg81 if agg else w.DF2
    with contextlib.redirect_stdout(None):   # it prints its flip pairs
        return cls(cfg, cfg.DATASET.ROOT, cfg.DATASET.TRAIN_SET, True,
                   _Compose([_ToTensor(), normalize]))


# ---------------------------------------------------------------------- measuring
def nbytes_across(batch: Any) -> int:
    """Bytes a collated batch moves from a worker: tensor storage (shared memory) plus the
    pickled rest (strings, numbers, the structure)."""
    tensors: list[torch.Tensor] = []

    def strip(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            tensors.append(x)
            return None
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [strip(v) for v in x]
        return x
    rest = strip(batch)
    return sum(t.untyped_storage().nbytes() for t in tensors) + len(pickle.dumps(rest))


def interleaved(fns: dict[str, Callable[[], float]], runs: int) -> dict[str, float]:
    """Median rate of each function over ``runs`` rounds, rounds interleaved so that load
    changes on the machine hit every column alike."""
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            out[k].append(fn())
    return {k: statistics.median(v) for k, v in out.items()}


def in_process(ds: Any, n: int) -> Callable[[], float]:
    def run() -> float:
        t = time.perf_counter()
        for i in range(n):
            ds[i % len(ds)]
        return n / (time.perf_counter() - t)
    return run


def in_process_prepared(ds: Any, prep: Callable, n: int, batch: int) -> Callable[[], float]:
    """samples/s of the whole per-sample work in one process: ``ds[i]``, collation and the
    BatchPreparer (normalised input + targets) on the CPU, batch by batch."""
    def run() -> float:
        t = time.perf_counter()
        for start in range(0, n, batch):
            prep(default_collate([ds[i % len(ds)] for i in range(start, start + batch)]))
        return (n + (-n) % batch) / (time.perf_counter() - t)
    return run


def through_loader(ds: Any, n: int, batch: int, workers: int,
                   after: Callable[[Any], Any] | None = None,
                   sizes: list | None = None) -> Callable[[], float]:
    """samples/s of a DataLoader (random indices with replacement), timed from the first batch
    (worker start-up excluded); ``after`` runs on each batch in the main process."""
    def run() -> float:
        sampler = RandomSampler(ds, replacement=True, num_samples=n + batch)
        it = iter(DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=workers))
        first = next(it)
        if sizes is not None and not sizes:
            sizes.append(nbytes_across(first) / len(first[0]))
        t = time.perf_counter()
        seen = 0
        for b in it:
            if after is not None:
                after(b)
            seen += len(b[0])
        return seen / (time.perf_counter() - t)
    return run


def decode_rates(path: Path, runs: int) -> dict[str, float]:
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    enc = probe(str(path))
    fns: dict[str, Callable[[], Any]] = {
        "OpenCV imread": lambda: cv2.imread(str(path), flags),
        "ours (header probe + imread), full size": lambda: decode(probe(str(path)))[0],
        "ours, DCT-reduced 1/2": lambda: decode(probe(str(path)), 2)[0],
        "ours, DCT-reduced 1/4": lambda: decode(probe(str(path)), 4)[0],
    }
    try:
        import simplejpeg
        same = np.array_equal(simplejpeg.decode_jpeg(path.read_bytes(), colorspace="BGR"),
                              decode(enc)[0])
        fns[f"simplejpeg {simplejpeg.__version__} (pixels equal: {same})"] = \
            lambda: simplejpeg.decode_jpeg(path.read_bytes(), colorspace="BGR")
        w, h = enc.size
        fns["simplejpeg 1/2"] = lambda: simplejpeg.decode_jpeg(
            path.read_bytes(), colorspace="BGR", min_width=-(-w // 2), min_height=-(-h // 2))
    except ImportError:
        print("  simplejpeg: not installed (pip install simplejpeg to measure it)")

    def timed(fn: Callable[[], Any], n: int = 40) -> Callable[[], float]:
        def run() -> float:
            t = time.perf_counter()
            for _ in range(n):
                fn()
            return n / (time.perf_counter() - t)
        return run
    return interleaved({k: timed(f) for k, f in fns.items()}, runs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference", help="lzhbrian/deepfashion2-kps-agg-finetune (checkout or "
                                       "bare git dir); absent: our columns only")
    p.add_argument("--mmpose", help="open-mmlab/mmpose (checkout or bare git dir) for the "
                                    "two DeepFashion2 photos; absent: synthetic images")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--samples", type=int, default=96, help="samples per in-process run")
    p.add_argument("--loader-samples", type=int, default=256, help="samples per loader run")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--channels", default="81,294", help="81 and/or 294")
    args = p.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        with checkout(args.reference, tmp, "winner") as ref_dir, \
                checkout(args.mmpose, tmp, "mmpose") as mm_dir:
            photos = None
            if mm_dir is not None:
                photos = mm_dir / PHOTOS
                if not photos.is_dir():
                    sys.exit(f"{mm_dir}: no {PHOTOS} (an open-mmlab/mmpose checkout?)")
            root, source = make_root(photos, tmp)
            winner = None
            if ref_dir is not None:
                if not (ref_dir / YAML81).is_file():
                    sys.exit(f"{ref_dir}: no {YAML81} (a deepfashion2-kps-agg-finetune clone?)")
                winner = load_winner(ref_dir)
                root81 = tmp / "df2_agg81"
                (root81 / "annotations").mkdir(parents=True)
                (root81 / "images").symlink_to(root / "images")
                winner.agg81kps(str(root / "annotations" / "train_coco.json"),
                                str(root81 / "annotations" / "train_coco.json"))
            print(f"data pipeline, 512x384 input, FLIP on; data: {source}")
            print(f"torch {torch.__version__}, OpenCV {cv2.__version__}, 1 torch / 1 OpenCV "
                  f"thread, medians of {args.runs} interleaved runs")
            if winner is None:
                print("  (no --reference: the winner's columns are skipped)")
            for ch in [int(c) for c in args.channels.split(",")]:
                bench_channels(args, ch, root, ref_dir, winner,
                               root81 if winner is not None else None)
            image = sorted((root / "images" / "train").iterdir())[0]
        print("\nJPEG decode of", image.name, "(images/s)")
        for name, rate in decode_rates(image, args.runs).items():
            print(f"  {name:58s} {rate:8.1f}" if rate else f"  {name}")


def bench_channels(args: argparse.Namespace, ch: int, root: Path, ref_dir: Path | None,
                   winner: Any, root81: Path | None) -> None:
    yaml = YAML81 if ch == 81 else YAML294
    ours_cfg = (ref_dir / yaml) if ref_dir is not None else \
        Path(__file__).resolve().parents[1] / "experiments/deepfashion2" / \
        ("hrnet-w48_512x384_agg81.yaml" if ch == 81 else "hrnet-w48_512x384_df2-294.yaml")
    cfg = load_config(ours_cfg, ["DATASET.ROOT", str(root), "DATASET.FLIP", "True"])
    ours = build_dataset(cfg, cfg.DATASET.TRAIN_SET, is_train=True)
    assert ours.scheme.num_keypoints == ch, ours.scheme.name
    prep = ours.batch_preparer("cpu", reuse_buffers=True)      # as tools/train.py
    n, nl, b, w = args.samples, args.loader_samples, args.batch, args.workers
    bytes_ours: list = []
    bytes_dev: list = []
    fns = {"ours": in_process(ours, n),
           "ours_full": in_process_prepared(ours, prep, n, b),
           "ours_loader": through_loader(ours, nl, b, w, sizes=bytes_ours),
           "ours_device": through_loader(ours, nl, b, w, after=prep, sizes=bytes_dev)}
    bytes_ref: list = []
    if winner is not None:
        ref = winner_dataset(winner, ref_dir / yaml, root81 if ch == 81 else root, ch == 81)
        assert len(ref) == len(ours), (len(ref), len(ours))
        fns["ref"] = in_process(ref, n)
        fns["ref_loader"] = through_loader(ref, nl, b, w, sizes=bytes_ref)
    collated = default_collate([ours[i % len(ours)] for i in range(b)])
    fns["prep_only"] = lambda: _prep_rate(prep, collated)
    r = interleaved(fns, args.runs)
    mb = 1e6
    print(f"\n{ch} channels ({ours_cfg.name}; {len(ours)} instances)")
    if winner is not None:
        print(f"  winner's {('Deepfashion2Agg81KpsDataset' if ch == 81 else 'Deepfashion2Dataset')}"
              f", 1 process      : {r['ref']:7.1f} samples/s")
    print(f"  ours, 1 process (uint8 crop + keypoints)   : {r['ours']:7.1f} samples/s"
          + (f"   {r['ours'] / r['ref']:.2f}x" if winner is not None else ""))
    print(f"  ours, 1 process, + normalised input and targets (BatchPreparer, CPU): "
          f"{r['ours_full']:7.1f} samples/s"
          + (f"   {r['ours_full'] / r['ref']:.2f}x" if winner is not None else ""))
    if winner is not None:
        print(f"  winner's, DataLoader {w} workers, batch {b}     : {r['ref_loader']:7.1f} "
              f"samples/s   {bytes_ref[0] / mb:6.2f} MB/sample across processes")
    print(f"  ours, DataLoader {w} workers, batch {b}         : {r['ours_loader']:7.1f} samples/s"
          + (f"   {r['ours_loader'] / r['ref_loader']:.2f}x" if winner is not None else "")
          + f"   {bytes_ours[0] / mb:6.2f} MB/sample across processes")
    print(f"  ours, same + normalised input and targets on the device (CPU main process): "
          f"{r['ours_device']:7.1f} samples/s"
          + (f"   {r['ours_device'] / r['ref_loader']:.2f}x" if winner is not None else ""))
    print(f"  ours, BatchPreparer alone (batch {b}, 1 thread)  : {r['prep_only']:7.1f} samples/s")


def _prep_rate(prep: Any, batch: Any, reps: int = 3) -> float:
    t = time.perf_counter()
    for _ in range(reps):
        prep(batch)
    return reps * len(batch[0]) / (time.perf_counter() - t)


if __name__ == "__main__":
    main()
