"""Trained checkpoints of other code bases -> clothpose models: renames, shape checks, provenance.

Sources (``--from`` of ``tools/convert_checkpoint.py``):

* ``mmpose``: mmpose's TopdownPoseEstimator with a ResNet backbone and a HeatmapHead, e.g. its
  13 DeepFashion2 SimpleBaselines. ``backbone.*`` is torchvision-named (mmcv's norm layers are
  ``bn1``.., ResLayer's shortcut is ``downsample.0/1``), ``head.deconv_layers.*`` is the same flat
  (deconv, BN, ReLU) stack as ours, ``head.final_layer`` the 1x1 conv: a prefix strip onto
  ``pose_resnet``. mmpose 0.x files (``keypoint_head.*``) map the same way.
* ``hrnet``: HRNet-Human-Pose-Estimation checkpoints (``pose_hrnet`` / ``pose_resnet``), whose
  names are ours already; DataParallel's ``module.`` prefix is removed.
* ``cpn-gathierry``: the FashionAI reference CPN (``src/stage2/cascade_pyramid_network.py``),
  renamed onto ``cpn``; its own bottlenecks call the projection ``shortcut``.

Every tensor of the target model must be present with the same shape, and nothing may be left
over, before anything is written. Files are read with ``weights_only=True``; numpy arrays and
scalars (mmpose keeps them in ``meta``) are allowed through torch's safe-globals list, nothing else.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError
from ..utils.io import atomic_torch_save

logger = logging.getLogger(__name__)


class ConversionError(CheckpointError):
    """A checkpoint cannot be converted; the message names the file and the offending keys."""


# ----------------------------------------------------------------------------------- loading
def _numpy_globals() -> list:
    """numpy's array / scalar reconstructors under their numpy 2 and numpy 1 names (checkpoints
    from 2022 pickle ``numpy.core.multiarray._reconstruct``). Reconstructing an array only calls
    these; object arrays still go through the same restricted unpickler."""
    try:
        from numpy._core import multiarray as ma
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray as ma  # type: ignore[no-redef]
    out: list = [ma._reconstruct, ma.scalar, np.ndarray, np.dtype]
    out += sorted({type(np.dtype(c)) for c in "?bBhHiIlLqQefdgFDGUS"}, key=str)  # no object
    out += [(ma._reconstruct, "numpy.core.multiarray._reconstruct"),
            (ma.scalar, "numpy.core.multiarray.scalar")]
    return out


def load_foreign_checkpoint(path: str | os.PathLike) -> Any:
    """``torch.load(weights_only=True)`` that also accepts numpy arrays and scalars."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint does not exist")
    serialization = torch.serialization
    try:
        if hasattr(serialization, "safe_globals"):
            with serialization.safe_globals(_numpy_globals()):
                return torch.load(path, map_location="cpu", weights_only=True)
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError and friends: refuse, and say what was refused
        raise ConversionError(_refusal(path, e)) from e


def _refusal(path: Path, error: Exception) -> str:
    found = ""
    if hasattr(torch.serialization, "get_unsafe_globals_in_checkpoint"):
        try:
            allowed = {g if isinstance(g, str) else f"{g.__module__}.{g.__qualname__}"
                       for g in (x[1] if isinstance(x, tuple) else x for x in _numpy_globals())}
            names = [g for g in torch.serialization.get_unsafe_globals_in_checkpoint(path)
                     if g not in allowed]
            found = f" It pickles objects that are not tensors, numpy arrays or plain " \
                    f"containers: {', '.join(names)}." if names else ""
        except Exception:  # not a torch file at all: the original error says enough
            found = ""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    reason = next((ln for ln in lines if "but got" in ln or "Unsupported global" in ln),
                  lines[0] if lines else type(error).__name__)
    return (f"{path}: refused to load with torch.load(weights_only=True): {reason}{found} "
            "clothpose never unpickles code. If you trust the file, keep only its weights in "
            "an environment that has those classes, e.g. "
            "torch.save({'state_dict': torch.load(f, weights_only=False)['state_dict']}, g), "
            "and convert that file.")


# ----------------------------------------------------------------------------------- renames
def _rename_mmpose(key: str) -> str | None:
    for prefix in ("backbone.", "head.", "keypoint_head."):
        if key.startswith(prefix):
            return key[len(prefix):]
    return None


def _rename_hrnet(key: str) -> str | None:
    return key


# gathierry's GlobalNet numbers its laterals from C5 down and its top-down convs from P4 down;
# ours index both by level (0 = C2/P2).
_CPN_RULES: tuple[tuple[str, Callable[[re.Match], str]], ...] = (
    (r"global_net\.(conv1|bn1|layer[1-4])\.(.*)", lambda m: f"{m[1]}.{m[2]}"),
    (r"global_net\.latlayer([1-4])\.(.*)", lambda m: f"global_net.lateral.{4 - int(m[1])}.{m[2]}"),
    (r"global_net\.toplayer([1-3])\.(.*)", lambda m: f"global_net.smooth.{3 - int(m[1])}.{m[2]}"),
    (r"refine_net\.bottleneck2\.(.*)", lambda m: f"refine_net.levels.0.0.{m[1]}"),
    (r"refine_net\.bottleneck([345])\.(.*)", lambda m: f"refine_net.levels.{int(m[1]) - 2}.{m[2]}"),
    (r"refine_net\.output\.0\.(.*)", lambda m: f"refine_net.fuse.0.{m[1]}"),
    (r"refine_net\.output\.1\.(.*)", lambda m: f"refine_net.final_layer.{m[1]}"),
)


def _rename_cpn_gathierry(key: str) -> str | None:
    key = key.replace(".shortcut.", ".downsample.")
    for pattern, repl in _CPN_RULES:
        m = re.fullmatch(pattern, key)
        if m:
            return repl(m)
    return None


RENAMERS: dict[str, Callable[[str], str | None]] = {
    "mmpose": _rename_mmpose,
    "hrnet": _rename_hrnet,
    "cpn-gathierry": _rename_cpn_gathierry,
}
# Tensors that belong to the training code, not the network (none of mmpose's preprocessor
# buffers are persistent, but older files may carry them).
_IGNORED = re.compile(r"^(data_preprocessor|loss_module|head\.loss_module)\.")


def split_checkpoint(obj: Any, source: str = "<checkpoint>") -> tuple[OrderedDict, dict]:
    """(tensors with ``module.`` removed, the metadata beside them) of a loaded checkpoint.

    Weights sit at the top level or under ``state_dict`` (mmpose, HRNet, gathierry) / ``model``;
    ``meta`` (mmpose) or the scalar entries next to the weights become the metadata.
    """
    if not isinstance(obj, Mapping):
        raise ConversionError(f"{source}: expected a dict of tensors, got {type(obj).__name__}")
    meta: dict = {}
    weights: Mapping = obj
    for key in ("state_dict", "model"):
        if isinstance(obj.get(key), Mapping):
            weights = obj[key]
            meta = dict(obj["meta"]) if isinstance(obj.get("meta"), Mapping) else \
                {k: v for k, v in obj.items() if not isinstance(v, (Mapping, torch.Tensor))}
            break
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    for name, value in weights.items():
        if isinstance(value, torch.Tensor):
            state[re.sub(r"^(module\.)+", "", str(name))] = value
    if not state:
        raise ConversionError(f"{source}: no tensors found (keys: {list(weights)[:10]})")
    return state, meta


def rename_state_dict(state: Mapping[str, torch.Tensor], source: str,
                      where: str = "<checkpoint>") -> OrderedDict:
    """Apply the source's key rules; a key no rule knows is an error, not a silent drop."""
    if source not in RENAMERS:
        raise ConversionError(f"unknown source {source!r}; expected one of {sorted(RENAMERS)}")
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    unknown, origin = [], {}
    for key, value in state.items():
        if _IGNORED.match(key):
            continue
        new = RENAMERS[source](key)
        if new is None:
            unknown.append(key)
        elif new in out:
            raise ConversionError(f"{where}: {origin[new]!r} and {key!r} both map to {new!r}")
        else:
            out[new], origin[new] = value, key
    if unknown:
        raise ConversionError(f"{where}: {len(unknown)} keys are not part of a {source} model "
                              f"this converter knows: {_names(unknown)}")
    return out


# ------------------------------------------------------------------------------- shape check
def _names(names: list[str], shown: int = 8) -> str:
    more = f", ... (+{len(names) - shown})" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def check_against_model(state: Mapping[str, torch.Tensor], model: nn.Module,
                        where: str = "<checkpoint>") -> list[str]:
    """Every tensor of ``model`` must be in ``state`` with its shape, and nothing else.

    BatchNorm step counters missing from old files are the only exception (returned, to be
    filled with 0: they are not used when BN momentum is set).
    """
    target = model.state_dict()
    counters = [k for k in target if k not in state and k.endswith("num_batches_tracked")]
    missing = [k for k in target if k not in state and k not in counters]
    unexpected = [k for k in state if k not in target]
    mismatched = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(target[k].shape)}"
                  for k in target if k in state and state[k].shape != target[k].shape]
    problems = []
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatches: {_names(mismatched)}")
    if missing:
        problems.append(f"{len(missing)} model tensors missing from the file: {_names(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} file tensors the model does not have: "
                        f"{_names(unexpected)}")
    if problems:
        raise ConversionError(f"{where} does not fit the target model: " + "; ".join(problems))
    return counters


# ------------------------------------------------------------------------------- provenance
def _plain(value: Any) -> Any:
    """A JSON-like copy of scalars (numpy scalars -> Python); None for anything else."""
    if isinstance(value, np.generic):  # before float: np.float64 is a float subclass
        return value.item()
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    return None


def source_metadata(meta: Mapping) -> dict:
    """The scalar entries of a checkpoint's metadata, plus mmpose's dataset name."""
    out = {k: _plain(v) for k, v in meta.items() if _plain(v) is not None and len(str(v)) < 200}
    dataset_meta = meta.get("dataset_meta")
    if isinstance(dataset_meta, Mapping) and isinstance(dataset_meta.get("dataset_name"), str):
        out["dataset_name"] = dataset_meta["dataset_name"]
    return out


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def compare_flip_indices(meta: Mapping, flip_index: np.ndarray) -> bool | None:
    """Whether the checkpoint's own flip table (mmpose ``meta.dataset_meta.flip_indices``)
    equals ``flip_index``; None when the file carries none."""
    dataset_meta = meta.get("dataset_meta")
    if not isinstance(dataset_meta, Mapping) or dataset_meta.get("flip_indices") is None:
        return None
    theirs = np.asarray(dataset_meta["flip_indices"]).reshape(-1)
    return theirs.shape == flip_index.shape and bool(np.all(theirs == flip_index))


@dataclass
class ConversionReport:
    source: str
    tensors: int
    filled_counters: list[str] = field(default_factory=list)
    flip_indices_match: bool | None = None
    provenance: dict = field(default_factory=dict)


def convert_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, source: str,
                       model: nn.Module, flip_index: np.ndarray | None = None,
                       target: Mapping | None = None) -> ConversionReport:
    """Convert ``src`` (a ``source`` checkpoint) for ``model`` and write ``dst`` atomically.

    ``dst`` holds ``state_dict`` (loads strictly into ``model``) and ``converted_from``: source,
    file name, sha256, the source's scalar metadata and ``target`` (e.g. model name, scheme).
    ``flip_index``: the scheme the model will be tested with, compared with the file's own
    flip table when it has one (a mismatch is logged and recorded, not fatal).
    """
    src = Path(src)
    where = str(src)
    state, meta = split_checkpoint(load_foreign_checkpoint(src), where)
    renamed = rename_state_dict(state, source, where)
    counters = check_against_model(renamed, model, where)
    for k in counters:
        renamed[k] = torch.zeros((), dtype=torch.long)
    model.load_state_dict(renamed, strict=True)  # the proof: every tensor placed
    match = compare_flip_indices(meta, flip_index) if flip_index is not None else None
    if match is False:
        logger.warning("%s: the flip table stored in the checkpoint differs from the scheme's; "
                       "flip test will not average the channels the model was trained with", src)
    provenance = {"source": source, "file": src.name, "sha256": file_sha256(src),
                  "metadata": source_metadata(meta), "target": dict(target or {}),
                  "flip_indices_match": match}
    atomic_torch_save({"state_dict": model.state_dict(), "converted_from": provenance}, dst)
    logger.info("%s (%s, %d tensors) -> %s", src, source, len(renamed), dst)
    return ConversionReport(source, len(renamed), counters, match, provenance)
