"""PNG plots of the error analysis, drawn with matplotlib's Agg canvas (no pyplot, no display).

matplotlib is an optional dependency (``pip install clothpose[analysis]``; ``make install``
installs it). Every function takes plain numbers, so the plots can be redrawn from
``analysis.json``; each writes its PNG atomically and returns the path.
"""
from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..utils.io import atomic_write

CLASS_COLORS = {"good": "#5bab5f", "jitter": "#f2c14e", "inversion": "#e0703a",
                "swap": "#b3478f", "miss": "#5f6b7a"}
FIX_LABELS = {"jitter": "jitter", "inversion": "inversion (left/right)", "swap": "swap",
              "miss": "miss", "wrong_category": "wrong category", "false_positive":
              "false positives", "missed": "missed instances"}
_INSTALL_HINT = ("matplotlib is needed for the analysis plots: pip install 'clothpose[analysis]' "
                 "(or pip install matplotlib); `make install` installs it")


class PlotsUnavailable(ImportError):
    """matplotlib is not installed."""


def require_matplotlib() -> None:
    """Raise ``PlotsUnavailable`` with the install hint when matplotlib cannot be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise PlotsUnavailable(_INSTALL_HINT) from e


def _figure(width: float, height: float):
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike, tight: bool = True) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, bbox_inches="tight" if tight else None)
    atomic_write(path, lambda f: f.write(buf.getvalue()), mode="wb")
    return Path(path)


def plot_error_types(counts: Mapping[str, Mapping[str, int]], path: str | os.PathLike,
                     title: str = "Landmarks of matched instances by class") -> Path:
    """Horizontal stacked bars: share of each class (good ... miss) per row of ``counts``
    (row name -> {class: count}); the count of labelled landmarks is written at the right."""
    names = list(counts)
    classes = list(CLASS_COLORS)
    fig = _figure(8.0, 0.34 * len(names) + 1.4)
    ax = fig.add_subplot()
    y = np.arange(len(names))[::-1]
    left = np.zeros(len(names))
    totals = np.array([sum(counts[n].get(c, 0) for c in classes) for n in names], dtype=float)
    for c in classes:
        share = np.array([counts[n].get(c, 0) for n in names]) / np.maximum(totals, 1)
        ax.barh(y, share, left=left, color=CLASS_COLORS[c], label=c, height=0.75)
        left += share
    for yi, t in zip(y, totals):
        ax.text(1.01, yi, f"{int(t)}", va="center", fontsize=8)
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of labelled landmarks (count at the right)")
    ax.set_title(title, fontsize=10, pad=24)
    ax.legend(ncol=len(classes), loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8,
              frameon=False)
    return _save(fig, path)


def plot_ap_improvement(baseline: Mapping[str, float], oracle: Mapping[str, Mapping[str, float]],
                        path: str | os.PathLike, stats: Sequence[str] = ("AP", "AP50", "AP75")
                        ) -> Path:
    """Grouped horizontal bars: gain of each ``stats`` entry when an oracle fixes one error type
    (``oracle``: fix name -> stats after the fix), against the baseline."""
    fixes = list(oracle)
    fig = _figure(7.5, 0.55 * len(fixes) + 1.3)
    ax = fig.add_subplot()
    height = 0.8 / len(stats)
    y = np.arange(len(fixes))[::-1].astype(float)
    shades = ("#2f5d8a", "#6f9bc8", "#b4cde6")
    for i, s in enumerate(stats):
        gains = [oracle[f][s] - baseline[s] for f in fixes]
        pos = y + (len(stats) / 2 - i - 0.5) * height
        ax.barh(pos, gains, height=height, color=shades[i % len(shades)],
                label=f"{s} (baseline {baseline[s]:.3f})")
        for p, g in zip(pos, gains):
            ax.text(max(g, 0) + 0.002, p, f"{g:+.3f}", va="center", fontsize=7)
    ax.set_yticks(y, [FIX_LABELS.get(f, f) for f in fixes], fontsize=9)
    ax.axvline(0, color="black", linewidth=0.8)
    hi = max([oracle[f][s] - baseline[s] for f in fixes for s in stats] + [0.01])
    ax.set_xlim(min(0, *[oracle[f][s] - baseline[s] for f in fixes for s in stats]), hi * 1.2)
    ax.set_xlabel("AP gain when an oracle fixes only this error type")
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def plot_pr_curves(precision: np.ndarray, category_names: Sequence[str],
                   path: str | os.PathLike, thresholds: Mapping[str, int] | None = None,
                   recall_thresholds: np.ndarray | None = None, ncols: int = 4) -> Path:
    """Precision-recall per category at OKS .5 and .75 (area "all").

    Args:
        precision: (T, R, C, A) COCOeval precision (-1 = undefined).
        category_names: C names.
        thresholds: label -> index into T (default {"OKS .50": 0, "OKS .75": 5}).
    """
    thresholds = thresholds or {"OKS .50": 0, "OKS .75": 5}
    rec = recall_thresholds if recall_thresholds is not None else \
        np.linspace(0, 1, precision.shape[1])
    n = len(category_names)
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig = _figure(2.6 * ncols, 2.1 * nrows + 0.4)
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).reshape(-1)
    # shared axes and fixed margins: tick labels are laid out once per row / column, which
    # keeps a 13-category grid fast to draw
    height = 2.1 * nrows + 0.4
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.45 / height, top=1 - 0.3 / height,
                        wspace=0.12, hspace=0.3)
    for k, ax in enumerate(axes):
        if k >= n:
            ax.set_visible(False)
            continue
        for (label, t), style in zip(thresholds.items(), ("-", "--")):
            p = precision[t, :, k, 0]
            if (p > -1).any():
                ax.plot(rec, np.where(p > -1, p, np.nan), style,
                        label=f"{label}: AP {np.mean(p[p > -1]):.3f}")
        ax.set_title(category_names[k], fontsize=9, pad=3)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7, loc="lower left", handlelength=1.5)
        else:
            ax.text(0.5, 0.5, "no ground truth", ha="center", va="center", fontsize=8)
    axes[0].set_xlim(0, 1)
    axes[0].set_ylim(0, 1.02)
    for k, ax in enumerate(axes):
        ax.tick_params(labelsize=7, labelbottom=k < n and k + ncols >= n)
    fig.supxlabel("recall", fontsize=9, y=0.005)
    fig.supylabel("precision", fontsize=9)
    return _save(fig, path, tight=False)
