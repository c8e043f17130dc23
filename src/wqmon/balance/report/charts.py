"""The HTML report's figures, drawn by matplotlib as inline SVG (vectors in print, no script).

Text stays text (`svg.fonttype = none`): the page's CSS gives it the report's CJK font stack,
so Chinese renders with the same font as the tables, and matplotlib only measures it for the
layout (with Noto Sans CJK when installed, see scripts/setup). Titles are the HTML captions
above each figure and legends sit above the axes, so neither overlaps the plot. A missing
value (no data, or coverage too low to compute it) is drawn as a gap: no bar and a grey mark
on the axis for bars, a break in a line.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Figure objects, never pyplot: no backend, display or global figure state is involved.
import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter
from matplotlib.typing import RcKeyType

PALETTE = ("#3b6ea5", "#d98c2b", "#5a9e5a", "#a34d6d")
REFERENCE = "#c0392b"
WIDTH_IN, HEIGHT_IN = 7.0, 2.9  # fits an A4 portrait page inside 14 mm margins
MAX_LABELLED = 40  # more categories than this get no axis labels (the table names them)
SLANTED_OVER = 4  # category names longer than this (plant codes) are slanted to fit
STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "wqmon",  # stable ids: the same report gives the same file
    "font.family": ["DejaVu Sans", "Noto Sans CJK SC", "Noto Sans CJK JP", "sans-serif"],
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
}


@dataclass(frozen=True, slots=True)
class Series:
    """One series: a label for the legend, a value per category (None = no data)."""

    label: str
    values: Sequence[float | None]


@dataclass(frozen=True, slots=True)
class Line:
    """A horizontal reference line (a target or threshold)."""

    value: float
    label: str


def _svg(fig: Figure) -> str:
    out = io.StringIO()
    with warnings.catch_warnings():
        # Without a CJK font matplotlib measures Chinese with boxes and says so; the browser
        # still draws the text with the page's fonts, only the layout is approximate.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        fig.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = out.getvalue()
    return text[text.index("<svg") :]  # inline: without the XML declaration and doctype


def bar_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    lines: Sequence[Line] = (),
    percent: bool = False,
    no_data: str = "no data",
) -> str:
    """Grouped vertical bars as an `<svg>` element; None values leave a marked gap."""
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), layout="constrained")
        ax = fig.subplots()
        n, k = max(len(categories), 1), max(len(series), 1)
        width = 0.8 / k
        for i, s in enumerate(series):
            xs = [c + (i - (k - 1) / 2) * width for c in range(len(categories))]
            heights = [math.nan if v is None else v for v in s.values]
            ax.bar(xs, heights, width * 0.95, label=s.label, color=PALETTE[i % len(PALETTE)])
        missing = [c for c in range(len(categories)) if all(s.values[c] is None for s in series)]
        if missing:
            ax.plot(missing, [0] * len(missing), "x", color="#999999", label=no_data, ms=4)
        for line in lines:
            _reference(ax, line)
        _categories(ax, categories, n)
        if percent:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
            ax.set_ylim(0, max(1.0, *(v for s in series for v in s.values if v is not None)))
        else:
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
            ax.set_ylim(bottom=0)
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01), ncols=4, fontsize=7)
        return _svg(fig)


def line_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    lines: Sequence[Line] = (),
    percent: bool = False,
) -> str:
    """Lines over ordered categories (months); a None value breaks the line there."""
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN * 0.85), layout="constrained")
        ax = fig.subplots()
        xs = list(range(len(categories)))
        for i, s in enumerate(series):
            ys = [math.nan if v is None else v for v in s.values]
            ax.plot(xs, ys, marker="o", ms=3, label=s.label, color=PALETTE[i % len(PALETTE)])
        for line in lines:
            _reference(ax, line)
        _categories(ax, categories, len(categories))
        if percent:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
            ax.set_ylim(0, 1.05)
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01), ncols=4, fontsize=7)
        return _svg(fig)


def _reference(ax: Axes, line: Line) -> None:
    ax.axhline(line.value, color=REFERENCE, linestyle="--", linewidth=0.9)
    ax.annotate(
        line.label,
        (1, line.value),
        xycoords=("axes fraction", "data"),
        ha="right",
        va="bottom",
        color=REFERENCE,
        fontsize=7,
    )


def _categories(ax: Axes, categories: Sequence[str], n: int) -> None:
    ax.set_xlim(-0.6, n - 0.4)
    if len(categories) > MAX_LABELLED:
        ax.set_xticks([])
        return
    ax.set_xticks(range(len(categories)), categories)
    if max((len(c) for c in categories), default=0) > SLANTED_OVER:
        for label in ax.get_xticklabels():
            label.set_rotation(30)
            label.set_horizontalalignment("right")
