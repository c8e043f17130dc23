"""Inline SVG bar charts for the HTML report: no script, no fonts to fetch, prints as vectors."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 28, 56
PALETTE = ("#3b6ea5", "#d98c2b", "#5a9e5a", "#a34d6d")
MAX_LABELLED = 40  # more categories than this get no axis labels (they would overlap)

Scale = Callable[[float], float]


@dataclass(frozen=True, slots=True)
class Series:
    """One series of bars: a label for the legend, a value per category (None = no data)."""

    label: str
    values: Sequence[float | None]


@dataclass(frozen=True, slots=True)
class Line:
    """A horizontal reference line (a target or threshold)."""

    value: float
    label: str


def nice_max(value: float) -> float:
    """A round axis maximum at or above value (1, 2, 2.5 or 5 × a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return float(next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value))


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    lines: Sequence[Line] = (),
    percent: bool = False,
) -> str:
    """A grouped vertical bar chart as an `<svg>` element."""
    values = [v for s in series for v in s.values if v is not None]
    top = nice_max(max([*values, *(line.value for line in lines), 0.0]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / top)

    opening = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" class="chart">'
    )
    parts = [
        opening,
        f'<text x="{LEFT}" y="16" class="title">{escape(title)}</text>',
    ]
    parts += _axis(top, y, percent)
    parts += _bars(categories, series, y, plot_w)
    for line in lines:
        ly = y(line.value)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ly:.1f}" y2="{ly:.1f}" class="ref"/>'
            f'<text x="{WIDTH - RIGHT}" y="{ly - 3:.1f}" text-anchor="end" class="ref">'
            f"{escape(line.label)}</text>"
        )
    parts += _legend(series)
    parts.append("</svg>")
    return "".join(parts)


def _axis(top: float, y: Scale, percent: bool) -> list[str]:
    parts = []
    for i in range(5):
        v = top * i / 4
        label = f"{v * 100:.0f}%" if percent else f"{v:,.0f}"
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
            f'<text x="{LEFT - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{label}</text>'
        )
    return parts


def _bars(
    categories: Sequence[str], series: Sequence[Series], y: Scale, plot_w: float
) -> list[str]:
    n = max(len(categories), 1)
    slot = plot_w / n
    width = slot * 0.8 / max(len(series), 1)
    show_labels = n <= MAX_LABELLED  # hundreds of plants: bars only, the table names them
    parts = []
    for i, category in enumerate(categories):
        x0 = LEFT + i * slot + slot * 0.1
        for k, s in enumerate(series):
            v = s.values[i]
            if v is None:
                continue
            top_y = y(max(v, 0.0))
            parts.append(
                f'<rect x="{x0 + k * width:.1f}" y="{top_y:.1f}" width="{max(width - 1, 0.5):.1f}" '
                f'height="{y(0.0) - top_y:.1f}" fill="{PALETTE[k % len(PALETTE)]}">'
                f"<title>{escape(category)} {escape(s.label)}: {v:,.3g}</title></rect>"
            )
        if show_labels:
            cx, cy = LEFT + (i + 0.5) * slot, HEIGHT - BOTTOM + 12
            parts.append(
                f'<text x="{cx:.1f}" y="{cy}" text-anchor="end" '
                f'transform="rotate(-35 {cx:.1f} {cy})">{escape(category)}</text>'
            )
    return parts


def _legend(series: Sequence[Series]) -> list[str]:
    parts = []
    for k, s in enumerate(series):
        x = LEFT + 200 + k * 170
        parts.append(
            f'<rect x="{x}" y="6" width="10" height="10" fill="{PALETTE[k % len(PALETTE)]}"/>'
            f'<text x="{x + 14}" y="15">{escape(s.label)}</text>'
        )
    return parts
