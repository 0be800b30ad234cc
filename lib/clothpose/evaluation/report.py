"""Markdown tables of evaluation numbers, for tools and training logs."""
from __future__ import annotations

from typing import Mapping

from .params import BOX_STAT_NAMES, STAT_NAMES


def format_stats_table(stats: Mapping[str, float], digits: int = 4) -> str:
    """One-row markdown table with the 10 keypoint numbers (AP ... ARl); -1 stays -1."""
    head = "| " + " | ".join(STAT_NAMES) + " |"
    rule = "|" + "|".join("---" for _ in STAT_NAMES) + "|"
    row = "| " + " | ".join(_fmt(stats[n], digits) for n in STAT_NAMES) + " |"
    return "\n".join([head, rule, row])


def format_box_table(stats: Mapping[str, float], digits: int = 4) -> str:
    """One-row markdown table with the 12 COCO box numbers (AP ... ARl); -1 stays -1."""
    head = "| " + " | ".join(BOX_STAT_NAMES) + " |"
    rule = "|" + "|".join("---" for _ in BOX_STAT_NAMES) + "|"
    row = "| " + " | ".join(_fmt(stats[n], digits) for n in BOX_STAT_NAMES) + " |"
    return "\n".join([head, rule, row])


def format_category_table(per_category: Mapping[str, float], digits: int = 4) -> str:
    """Markdown table ``| category | AP |`` in the given order."""
    lines = ["| category | AP |", "|---|---|"]
    lines += [f"| {name} | {_fmt(ap, digits)} |" for name, ap in per_category.items()]
    return "\n".join(lines)


def _fmt(v: float, digits: int) -> str:
    return "-1" if v == -1 else f"{v:.{digits}f}"
