"""The report's matplotlib figures: text stays text, missing values are gaps, output is stable."""

from __future__ import annotations

import re

import pytest

from wqmon.balance.report.charts import Line, Series, bar_chart, line_chart


def _texts(svg: str) -> list[str]:
    return [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg) if t.strip()]


def test_bar_chart_labels_are_text_and_a_missing_value_is_a_marked_gap() -> None:
    svg = bar_chart(
        ["01", "02", "03"],
        [Series("收集量", [120.0, None, 80.0])],
        lines=[Line(100.0, "目标 100")],
        no_data="无数据",
    )
    assert svg.startswith("<svg")
    texts = _texts(svg)
    assert {"收集量", "目标 100", "无数据", "01", "02", "03"} <= set(texts)
    # Two bars drawn, not three: February has none (its patch is empty).
    assert len(_bars(svg)) == 2


def _bars(svg: str) -> list[tuple[float, float]]:
    """(x, height) of each bar: closed rectangles standing on the axes' bottom line."""
    rects = re.findall(
        r'<g id="patch_\d+">\s*<path d="M ([\d.]+) ([\d.]+) \nL ([\d.]+) \2 \n'
        r"L \3 ([\d.]+) \nL \1 \4 \nz",
        svg,
    )
    frame = [(float(x0), float(x1), float(yb)) for x0, yb, x1, _ in rects[:2]]
    bottom, width = frame[1][2], frame[1][1] - frame[1][0]
    return [
        (float(x0), float(yb) - float(yt))
        for x0, yb, x1, yt in rects[2:]
        if float(yb) == bottom and float(x1) - float(x0) < width / 2
    ]


def test_line_chart_breaks_at_a_missing_month() -> None:
    whole = line_chart(["01", "02", "03", "04"], [Series("rate", [0.5, 0.6, 0.7, 0.8])])
    broken = line_chart(["01", "02", "03", "04"], [Series("rate", [0.5, 0.6, None, 0.8])])

    def moves(svg: str) -> int:
        paths = re.findall(r'<g id="line2d_\d+">\s*<path d="([^"]+)"[^>]*clip-path', svg)
        # The data line is the one through the most points (the others are grid lines).
        data = max(paths, key=lambda d: d.count("M ") + d.count("L "))
        return data.count("M ")

    # NaN splits the data line's path into two pieces.
    assert moves(whole) == 1
    assert moves(broken) == 2


def test_bar_heights_follow_the_values() -> None:
    bars = _bars(bar_chart(["A", "B", "C"], [Series("s", [10.0, 20.0, 40.0])]))
    assert len(bars) == 3
    heights = [h for _, h in sorted(bars)]
    assert heights[1] / heights[0] == pytest.approx(2, rel=1e-3)
    assert heights[2] / heights[0] == pytest.approx(4, rel=1e-3)


def test_the_same_figure_gives_the_same_svg() -> None:
    args = (["A", "B"], [Series("s", [1.0, 2.0])])
    assert bar_chart(*args) == bar_chart(*args)
