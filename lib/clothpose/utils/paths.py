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
