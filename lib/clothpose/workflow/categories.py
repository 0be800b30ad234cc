"""Per-category runs of one experiment file: category lists, run folders, subprocess commands,
and the summary table. The tools stay thin; this is where the seed's hard-coded scripts went."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from yacs.config import CfgNode

from ..utils.io import atomic_write, atomic_write_json
from ..utils.paths import run_dirs

logger = logging.getLogger(__name__)
TOOLS = Path(__file__).resolve().parents[3] / "tools"


def parse_categories(spec: str, valid: Sequence[int]) -> list[int]:
    """``"1-13"``, ``"3,7,9"`` or ``"1-3,8"`` -> sorted unique ids, each checked against ``valid``."""
    out: set[int] = set()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise ValueError(f"--categories: {part!r} is not a number or range like 1-13") from None
        out.update(range(a, b + 1))
    bad = sorted(out - set(valid))
    if bad or not out:
        raise ValueError(f"--categories {spec!r}: invalid ids {bad or '(none)'}; valid: {list(valid)}")
    return sorted(out)


def category_config_path(pattern: str, category: int) -> str:
    """``pattern`` with ``{id}`` -> the category id and ``{name}`` -> its DeepFashion2 name, e.g.
    ``mmpose-res50_256x192-{name}.yaml`` -> ``mmpose-res50_256x192-vest.yaml`` for 5."""
    from ..keypoints import deepfashion2 as df2

    names = {cid: name for cid, name, _raw, _n in df2.CATEGORIES}
    if "{name}" in pattern and category not in names:
        raise ValueError(f"--cfg {pattern!r}: {{name}} stands for a DeepFashion2 category name "
                         f"(ids 1-13); use {{id}} for category {category}")
    try:
        return pattern.format(id=category, name=names.get(category, ""))
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"--cfg {pattern!r}: only {{id}} and {{name}} can be filled in ({e})") \
            from None


def category_cfg(cfg: CfgNode, categories: int | Sequence[int]) -> CfgNode:
    c = cfg.clone()
    c.defrost()
    c.DATASET.CATEGORIES = [categories] if isinstance(categories, int) else list(categories)
    c.freeze()
    return c


def category_output(cfg: CfgNode, categories: int | Sequence[int]) -> Path:
    """Run folder of ``cfg`` restricted to ``categories`` (what tools/train.py will use)."""
    return run_dirs(category_cfg(cfg, categories)).output


def python_command(tool: str, args: Sequence[str], nproc: int = 1) -> list[str]:
    """``python tools/<tool>`` or, with ``nproc`` > 1, the same under torchrun."""
    script = str(TOOLS / tool)
    if nproc > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={nproc}", script, *args]
    return [sys.executable, script, *args]


def run(cmd: list[str]) -> None:
    logger.info("running: %s", " ".join(cmd))
    subprocess.run(cmd, check=True)


@dataclass
class CategoryRun:
    category: int
    name: str
    epochs: int
    best_ap: float
    checkpoint: str
    status: str


def finished_run(cfg: CfgNode, category: int) -> bool:
    """A category is finished when its final weights and its summary both exist."""
    out = category_output(cfg, category)
    return (out / "final_state.pth").exists() and (out / "category_summary.json").exists()


def summarize_run(cfg: CfgNode, category: int, name: str, status: str) -> CategoryRun:
    """Read the run's checkpoint metadata and write its ``category_summary.json``."""
    from ..utils.io import load_checkpoint

    out = category_output(cfg, category)
    ckpt = load_checkpoint(out / "checkpoint.pth")
    best = float(ckpt.get("best_perf", float("nan")))
    run_ = CategoryRun(category, name, int(ckpt["epoch"]), best, str(out / "model_best.pth"), status)
    atomic_write_json(out / "category_summary.json", asdict(run_), indent=2)
    return run_


def load_summary(cfg: CfgNode, category: int) -> CategoryRun:
    data = json.loads((category_output(cfg, category) / "category_summary.json").read_text())
    return CategoryRun(**{**data, "status": "skipped (finished)"})


def write_summary_table(runs: list[CategoryRun], path_md: Path, path_json: Path) -> str:
    lines = ["| category | name | epochs | best AP | checkpoint | status |",
             "|---:|---|---:|---:|---|---|"]
    lines += [f"| {r.category} | {r.name} | {r.epochs} | {r.best_ap:.4f} | {r.checkpoint} | "
              f"{r.status} |" for r in runs]
    table = "\n".join(lines) + "\n"
    atomic_write(path_md, lambda f: f.write(table))
    atomic_write_json(path_json, [asdict(r) for r in runs], indent=2)
    return table
