"""Run folders (HRNet layout) and per-run setup: logger, resolved config, environment summary."""
from __future__ import annotations

import logging
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from yacs.config import CfgNode

from ..errors import RunFolderError
from .io import atomic_write
from .logging import setup_logger

logger = logging.getLogger(__name__)


def run_name(cfg: CfgNode) -> str:
    """Experiment name: the config name, plus the category when one config serves several
    categories through an override (so per-category finetunes never share a folder)."""
    name = cfg.CFG_NAME
    cats = list(cfg.DATASET.CATEGORIES)
    if cats and not any(f"category{c}" in name for c in cats):
        name += "-category" + "-".join(str(c) for c in cats)
    return name


@dataclass(frozen=True)
class RunDirs:
    output: Path       # OUTPUT_DIR/<dataset>/<model>/<name>: checkpoints, results, logs
    tensorboard: Path  # LOG_DIR/<dataset>/<model>/<name>_<time>


def run_dirs(cfg: CfgNode, phase: str = "train") -> RunDirs:
    sub = Path(cfg.DATASET.DATASET) / cfg.MODEL.NAME / run_name(cfg)
    stamp = time.strftime("%Y-%m-%d-%H-%M")
    return RunDirs(Path(cfg.OUTPUT_DIR) / sub, Path(cfg.LOG_DIR) / sub.parent / f"{sub.name}_{stamp}")


def git_description() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True, cwd=Path(__file__).parent).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True,
                               cwd=Path(__file__).parent).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


RUN_FILES = ("checkpoint.pth", "model_best.pth", "final_state.pth")


def protect_run_folder(output: Path, resuming: bool) -> None:
    """Refuse to start a fresh run where an earlier run left its weights.

    ``resuming``: a ``checkpoint.pth`` will be resumed (``AUTO_RESUME True``), which continues
    the earlier run instead of overwriting it.
    """
    if resuming:
        return
    found = [f for f in RUN_FILES if (output / f).exists()]
    if found:
        raise RunFolderError(
            f"holds an earlier run ({', '.join(found)}) that a new run would overwrite; "
            "continue it with AUTO_RESUME True, or start the new run in another folder "
            "(another OUTPUT_DIR or CFG_NAME, or remove this one)", file=output,
            field="AUTO_RESUME")


def remove_stale_temporaries(output: Path) -> int:
    """Delete the ``.<name>.*.tmp`` files an interrupted atomic write left (a killed run's
    half-written checkpoints); returns the number of bytes freed."""
    freed = 0
    for name in RUN_FILES:
        for tmp in output.glob(f".{name}.*.tmp"):
            try:
                size = tmp.stat().st_size
                tmp.unlink()
            except FileNotFoundError:
                continue
            freed += size
            logger.info("removed %s (%.1f MB) left by an interrupted run", tmp, size / 2 ** 20)
    return freed


def setup_run(cfg: CfgNode, phase: str, rank: int = 0) -> RunDirs:
    """Create the run folder, attach the log file, save the resolved config (rank 0 only)."""
    dirs = run_dirs(cfg, phase)
    if rank == 0:
        dirs.output.mkdir(parents=True, exist_ok=True)
    setup_logger(dirs.output if rank == 0 else None, rank=rank, filename=f"{phase}.log")
    if rank == 0:
        atomic_write(dirs.output / f"{phase}_config.yaml", lambda f: f.write(cfg.dump()))
        logger.info("run folder %s", dirs.output)
        logger.info("clothpose %s, python %s, torch %s, cuda %s", git_description(),
                    platform.python_version(), torch.__version__, torch.cuda.is_available())
    return dirs
