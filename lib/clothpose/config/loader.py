"""Load, normalise and validate experiment files.

``load_config`` = defaults -> YAML (with ``_BASE_`` inheritance) -> ``KEY VALUE`` overrides ->
translate legacy keys -> validate -> freeze. File existence is checked separately by
``check_paths`` so that tools report every missing input before doing any work, while the config
itself stays loadable on a machine without the data (tests, inspection).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Sequence

import yaml
from yacs.config import CfgNode as CN

from ..errors import InputError
from ..keypoints import get_scheme
from .defaults import get_cfg


class ConfigError(InputError):
    """An experiment file or override is invalid."""


# Dataset names of HRNet-style files -> keypoint scheme. The per-category name of the winning
# solution is the agg81 scheme with a category filter (train_category_id).
DATASET_SCHEMES: dict[str, str] = {
    "deepfashion2": "deepfashion2",
    "deepfashion2agg81kps": "deepfashion2-agg81",
    "deepfashion2agg81kpspercategory": "deepfashion2-agg81",
    "fashionai": "fashionai",
}


def _read_yaml(path: Path, chain: tuple[Path, ...] = ()) -> dict:
    path = path.resolve()
    if path in chain:
        raise ConfigError(f"{path}: _BASE_ cycle through {[str(p) for p in chain]}")
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    base = data.pop("_BASE_", None)
    if base is None:
        return data
    merged: dict = {}
    for b in [base] if isinstance(base, str) else base:
        merged = _deep_merge(merged, _read_yaml(path.parent / b, chain + (path,)))
    return _deep_merge(merged, data)


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _opts_to_dict(opts: Sequence[str]) -> dict:
    """``["A.B", "1", ...]`` -> ``{"A": {"B": 1}}`` with yacs' literal decoding."""
    if len(opts) % 2:
        raise ConfigError(f"overrides must be KEY VALUE pairs, got an odd list: {list(opts)}")
    out: dict = {}
    for key, value in zip(opts[0::2], opts[1::2]):
        node = out
        *parents, leaf = str(key).split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = CN._decode_cfg_value(value)
    return out


def _coerce_numbers(data: dict, defaults: CN, prefix: str = "") -> dict:
    """Let ``SIGMA: 3`` fill a float key and ``3.0`` an int key, as a user would expect."""
    out = {}
    for k, v in data.items():
        d = defaults.get(k) if isinstance(defaults, CN) else None
        if isinstance(v, dict):
            v = _coerce_numbers(v, d, f"{prefix}{k}.") if isinstance(d, CN) else v
        elif isinstance(d, float) and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        elif isinstance(d, int) and not isinstance(d, bool) and isinstance(v, float) \
                and v.is_integer():
            v = int(v)
        out[k] = v
    return out


def load_config(path: str | os.PathLike | None, opts: Sequence[str] = (), *,
                freeze: bool = True) -> CN:
    """Build the config of an experiment.

    Args:
        path: YAML experiment file (may use ``_BASE_: other.yaml``); None = defaults only.
        opts: flat ``KEY VALUE`` overrides, e.g. ``["TRAIN.LR", "1e-4"]``.
        freeze: freeze the result.
    """
    cfg = get_cfg()
    try:
        if path is not None:
            cfg.merge_from_other_cfg(CN(_coerce_numbers(_read_yaml(Path(path)), cfg)))
        cfg.merge_from_other_cfg(CN(_coerce_numbers(_opts_to_dict(opts), cfg)))
    except (KeyError, AssertionError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{path or '<defaults>'}: {e}") from e
    if not cfg.CFG_NAME:
        cfg.CFG_NAME = Path(path).stem if path is not None else "default"
    _normalise(cfg)
    validate(cfg, source=str(path or "<defaults>"))
    if freeze:
        cfg.freeze()
    return cfg


def _normalise(cfg: CN) -> None:
    """Translate legacy keys into the clean ones and resolve DATA_DIR-relative paths."""
    if not cfg.DATASET.SCHEME:
        if cfg.DATASET.DATASET not in DATASET_SCHEMES:
            raise ConfigError(f"DATASET.DATASET {cfg.DATASET.DATASET!r} is unknown; known: "
                              f"{sorted(DATASET_SCHEMES)} (or set DATASET.SCHEME)")
        cfg.DATASET.SCHEME = DATASET_SCHEMES[cfg.DATASET.DATASET]
    if cfg.train_category_id and not cfg.DATASET.CATEGORIES:
        cfg.DATASET.CATEGORIES = [int(cfg.train_category_id)]
    if cfg.finetune_from and not cfg.TRAIN.INIT_FROM:
        cfg.TRAIN.INIT_FROM = cfg.finetune_from
    if cfg.DATA_DIR:
        cfg.DATASET.ROOT = os.path.join(cfg.DATA_DIR, cfg.DATASET.ROOT)
        for node, key in ((cfg.MODEL, "PRETRAINED"), (cfg.TEST, "MODEL_FILE")):
            if node[key]:
                node[key] = os.path.join(cfg.DATA_DIR, node[key])
        cfg.DATA_DIR = ""  # applied once; re-loading a dumped config must not prefix again
    if cfg.MODEL.NUM_JOINTS == 0:
        cfg.MODEL.NUM_JOINTS = get_scheme(cfg.DATASET.SCHEME).num_keypoints
    if is_detector(cfg):  # CenterNet's outputs are at stride 4 by construction
        cfg.MODEL.HEATMAP_SIZE = [int(v) // 4 for v in cfg.MODEL.IMAGE_SIZE]
        if cfg.LOSS.NAME == "mse":  # the landmark default; a detector has its own loss
            cfg.LOSS.NAME = "centernet"


def is_detector(cfg: CN) -> bool:
    """True when ``MODEL.NAME`` is a garment detector (boxes) rather than a landmark model."""
    from ..models import DETECTORS

    return cfg.MODEL.NAME in DETECTORS


def output_stride(cfg: CN) -> int:
    """Input pixels per heatmap pixel of ``MODEL.NAME`` (HRNet and CPN: 4; SimpleBaseline:
    32 halved by each deconvolution)."""
    if cfg.MODEL.NAME == "pose_resnet":
        return max(1, 32 // 2 ** int(cfg.MODEL.EXTRA.NUM_DECONV_LAYERS))
    return 4


# Numeric keys and the smallest value each accepts: (key, minimum, minimum allowed itself).
_LOWER_BOUNDS: tuple[tuple[str, float, bool], ...] = (
    ("MODEL.SIGMA", 0.0, False),
    ("TRAIN.LR", 0.0, False),
    ("TRAIN.LR_FACTOR", 0.0, False),
    ("TRAIN.BATCH_SIZE_PER_GPU", 1, True),
    ("TEST.BATCH_SIZE_PER_GPU", 1, True),
    ("WORKERS", 0, True),
    ("PRINT_FREQ", 0, True),
    ("TRAIN.END_EPOCH", 1, True),
    ("TRAIN.BEGIN_EPOCH", 0, True),
    ("TRAIN.VAL_FREQ", 0, True),
    ("TRAIN.MAX_ITERS_PER_EPOCH", 0, True),
    ("TRAIN.WD", 0.0, True),
    ("TRAIN.MOMENTUM", 0.0, True),
    ("TEST.MAX_IMAGES", 0, True),
    ("TEST.BLUR_KERNEL", 0, True),
    ("LOSS.TOPK", 1, True),
    ("DATASET.SCALE_FACTOR", 0.0, True),
    ("DATASET.ROT_FACTOR", 0.0, True),
    ("MODEL.MIN_LOADED_FRACTION", 0.0, True),
)
_PROBABILITIES = ("DATASET.ROT_PROB", "DATASET.PROB_HALF_BODY", "LOSS.OHKM_RATIO",
                  "MODEL.MIN_LOADED_FRACTION")


def _get(cfg: CN, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def validate(cfg: CN, source: str = "<config>") -> None:
    """Check values that yacs' type checks cannot see; the error names the key."""
    def fail(key: str, msg: str) -> None:
        raise ConfigError(msg, file=source, field=key)

    try:
        scheme = get_scheme(cfg.DATASET.SCHEME)
    except (KeyError, ValueError) as e:
        fail("DATASET.SCHEME", str(e))
    if cfg.MODEL.NUM_JOINTS != scheme.num_keypoints:
        fail("MODEL.NUM_JOINTS", f"{cfg.MODEL.NUM_JOINTS} does not match scheme "
             f"{scheme.name!r} with {scheme.num_keypoints} keypoints")
    for cid in cfg.DATASET.CATEGORIES:
        if cid not in scheme.category_ids:
            fail("DATASET.CATEGORIES", f"category {cid} is not in scheme {scheme.name!r} "
                 f"(ids {list(scheme.category_ids)})")
    for key, low, inclusive in _LOWER_BOUNDS:
        value = _get(cfg, key)
        if not math.isfinite(value) or value < low or (value == low and not inclusive):
            fail(key, f"expected a number {'>=' if inclusive else '>'} {low}, got {value!r}")
    for key in _PROBABILITIES:
        value = _get(cfg, key)
        if not 0.0 <= value <= 1.0:
            fail(key, f"expected a fraction in [0, 1], got {value!r}")
    if cfg.TEST.BLUR_KERNEL and cfg.TEST.BLUR_KERNEL % 2 == 0:
        fail("TEST.BLUR_KERNEL",
             f"expected 0 (off) or an odd kernel size, got {cfg.TEST.BLUR_KERNEL}")
    image, heat = list(cfg.MODEL.IMAGE_SIZE), list(cfg.MODEL.HEATMAP_SIZE)
    if len(image) != 2 or len(heat) != 2 or min(image + heat) <= 0:
        fail("MODEL.IMAGE_SIZE/HEATMAP_SIZE", "expected two positive integers [width, height]")
    ratios = {image[0] / heat[0], image[1] / heat[1]}
    if len(ratios) != 1 or not float(next(iter(ratios))).is_integer():
        fail("MODEL.IMAGE_SIZE/HEATMAP_SIZE", f"{image} / {heat} must be one integer stride "
             "for width and height")
    stride = output_stride(cfg)
    if next(iter(ratios)) != stride:
        fail("MODEL.HEATMAP_SIZE", f"{heat} does not fit {cfg.MODEL.NAME!r}, whose heatmaps "
             f"come out at stride {stride}: expected MODEL.IMAGE_SIZE / {stride} = "
             f"{[image[0] // stride, image[1] // stride]}")
    for key, value, allowed in (
            ("TRAIN.OPTIMIZER", cfg.TRAIN.OPTIMIZER, ("adam", "sgd")),
            ("DEVICE", cfg.DEVICE, ("auto", "cpu", "cuda")),
            ("DATASET.INPUT", cfg.DATASET.INPUT, ("box", "image")),
            ("DATASET.BOX_CONVENTION", cfg.DATASET.BOX_CONVENTION, ("hrnet", "mmpose")),
            ("LOSS.NAME", cfg.LOSS.NAME, ("mse", "cpn_l1", "centernet")),
            ("TEST.NMS_MODE", cfg.TEST.NMS_MODE, ("hrnet", "mmpose")),
            ("TRAIN.COMPILE_MODE", cfg.TRAIN.COMPILE_MODE,
             ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"))):
        if value not in allowed:
            fail(key, f"{value!r} is not one of {allowed}")
    for key in ("PIXEL_MEAN", "PIXEL_STD"):
        values = list(cfg.DATASET[key])
        if len(values) != 3 or not all(math.isfinite(v) for v in values) or \
                (key == "PIXEL_STD" and min(values) <= 0):
            fail(f"DATASET.{key}", f"{values} is not three finite numbers (0-255 units"
                 f"{', positive' if key == 'PIXEL_STD' else ''})")
    if cfg.DATASET.USE_UDP and cfg.TEST.SHIFT_HEATMAP:
        fail("TEST.SHIFT_HEATMAP", "must be False with DATASET.USE_UDP: a UDP heatmap mirrors "
             "exactly (pixel x <-> W - 1 - x); HRNet's one-pixel shift would bias flip test")
    if cfg.TEST.DARK_KERNEL and (cfg.TEST.DARK_KERNEL < 1 or cfg.TEST.DARK_KERNEL % 2 == 0):
        fail("TEST.DARK_KERNEL", f"{cfg.TEST.DARK_KERNEL} must be 0 (from MODEL.SIGMA) or a "
             "positive odd size")
    if cfg.TRAIN.ACCUM_STEPS < 1:
        fail("TRAIN.ACCUM_STEPS", f"{cfg.TRAIN.ACCUM_STEPS} must be >= 1 (1 = no accumulation)")
    if is_detector(cfg):
        _validate_detector(cfg, fail)
    if cfg.TRAIN.END_EPOCH < cfg.TRAIN.BEGIN_EPOCH:
        fail("TRAIN.END_EPOCH", "is before TRAIN.BEGIN_EPOCH")
    if sorted(cfg.TRAIN.LR_STEP) != list(cfg.TRAIN.LR_STEP):
        fail("TRAIN.LR_STEP", "must be increasing")


def _validate_detector(cfg: CN, fail) -> None:
    from ..data.detection_targets import RADIUS_RULES

    if cfg.DATASET.CATEGORIES:
        fail("DATASET.CATEGORIES", f"{list(cfg.DATASET.CATEGORIES)}: a detector predicts every "
             "category of the scheme; leave the list empty")
    if cfg.DATASET.GAUSSIAN_RADIUS not in RADIUS_RULES:
        fail("DATASET.GAUSSIAN_RADIUS", f"{cfg.DATASET.GAUSSIAN_RADIUS!r} is not one of "
             f"{RADIUS_RULES}")
    lo_hi = list(cfg.DATASET.SCALE_RANGE)
    if len(lo_hi) != 2 or not 0 < lo_hi[0] <= lo_hi[1]:
        fail("DATASET.SCALE_RANGE", f"{lo_hi}: expected [min, max] with 0 < min <= max")
    if cfg.DATASET.MAX_OBJECTS < 1:
        fail("DATASET.MAX_OBJECTS", f"{cfg.DATASET.MAX_OBJECTS} must be >= 1")
    if cfg.LOSS.NAME != "centernet":
        fail("LOSS.NAME", f"{cfg.LOSS.NAME!r}: MODEL.NAME centernet trains with 'centernet'")
    if cfg.TEST.DET_TOPK < 1:
        fail("TEST.DET_TOPK", f"{cfg.TEST.DET_TOPK} must be >= 1")


def check_paths(cfg: CN, needs: Iterable[str]) -> None:
    """Report every missing input named by the config at once, before any work.

    ``needs`` picks what to check: ``root``, ``pretrained``, ``model_file``, ``bbox_file``,
    ``init_from``. Empty optional values are skipped.
    """
    wanted = set(needs)
    checks = [
        ("root", "DATASET.ROOT", cfg.DATASET.ROOT, True),
        ("pretrained", "MODEL.PRETRAINED", cfg.MODEL.PRETRAINED, False),
        ("model_file", "TEST.MODEL_FILE", cfg.TEST.MODEL_FILE, True),
        ("bbox_file", "TEST.COCO_BBOX_FILE",
         cfg.TEST.COCO_BBOX_FILE if not cfg.TEST.USE_GT_BBOX else "", False),
        ("init_from", "TRAIN.INIT_FROM", cfg.TRAIN.INIT_FROM, False),
    ]
    missing = []
    for tag, key, value, required in checks:
        if tag not in wanted:
            continue
        if not value:
            if required:
                missing.append(f"{key}: is empty; expected a path")
            continue
        if not os.path.exists(value):
            missing.append(f"{value}: {key}: does not exist")
    if missing:
        raise ConfigError("missing inputs", problems=missing)
