"""The HTML report: one self-contained page (inline CSS and SVG), A4 print layout, no network."""

from __future__ import annotations

from html import escape

from wqmon.balance.accounts import LOW_INLET_COD_MG_L
from wqmon.balance.report.build import RegionReport
from wqmon.balance.report.figures import RATES, Figure, Value
from wqmon.balance.report.levels import Level, levels
from wqmon.balance.report.svg import Line, Series, bar_chart

CSS = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif;
       font-size: 10pt; color: #222; margin: 1.5em; }
h1 { font-size: 16pt; margin-bottom: 0.2em; } h2 { font-size: 12pt; margin-top: 1.4em; }
.meta { color: #555; }
table { border-collapse: collapse; width: 100%; font-size: 8pt; margin-bottom: 1em; }
th, td { border: 1px solid #bbb; padding: 2px 4px; text-align: right; }
th { background: #eef2f7; } td.id { text-align: left; }
.cov { color: #777; font-size: 7pt; display: block; }
.chart { width: 100%; max-width: 720px; height: auto; display: block; margin: 0.5em 0; }
.chart text { font-size: 9px; fill: #333; } .chart .title { font-size: 11px; font-weight: bold; }
.chart .grid { stroke: #ddd; } .chart .ref { stroke: #c0392b; stroke-dasharray: 4 3; fill: #c0392b; }
@page { size: A4; margin: 14mm; }
@media print { body { margin: 0; } section { break-inside: avoid-page; }
               h2 { break-after: avoid; } thead { display: table-header-group; } }
"""


def _fmt(value: Value, rate: bool) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return escape(value)
    if rate:
        return f"{value * 100:.1f}%"
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


def _cell(figure: Figure, row: object) -> str:
    text = _fmt(figure.value(row), figure.key in RATES)
    if figure.coverage is not None:
        text += f'<span class="cov">覆盖 {figure.coverage(row) * 100:.0f}%</span>'
    return f"<td>{text}</td>"


def _table(level: Level) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in level.ident)
    head += "".join(f"<th>{escape(f.label)}</th>" for f in level.figures)
    body = []
    for _, ident, row in level.rows:
        cells = "".join(f'<td class="id">{escape(v)}</td>' for v in ident)
        cells += "".join(_cell(f, row) for f in level.figures)
        body.append(f"<tr>{cells}</tr>")
    if not body:
        return "<p>—</p>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _charts(report: RegionReport) -> list[str]:
    months = [m.start.strftime("%m") for m in report.months]
    load = bar_chart(
        "逐月产生量与收集量 Monthly produced vs collected COD (kg)",
        months,
        [
            Series("产生 produced", [m.account.produced_kg for m in report.months]),
            Series("收集 collected", [m.account.collected_kg for m in report.months]),
            Series("削减 reduced", [m.account.reduced_kg for m in report.months]),
        ],
    )
    regions = report.regions()
    rates = bar_chart(
        "集中收集率与目标 Collection rate vs targets",
        [a.code for _, a in regions],
        [
            Series("收集率 collection", [a.collection_rate for _, a in regions]),
            Series(
                "收集削减率 collection-reduction", [a.collection_reduction_rate for _, a in regions]
            ),
        ],
        lines=[Line(0.80, "2025 目标 80%"), Line(0.95, "2030 目标 95%")],
        percent=True,
    )
    inlet = bar_chart(
        "各厂进水COD浓度 Flow-weighted inlet COD per plant (mg/L)",
        [p.site for p in report.plants],
        [Series("进水COD inlet COD", [p.inlet.conc_mg_l for p in report.plants])],
        lines=[Line(LOW_INLET_COD_MG_L, "260 mg/L")],
    )
    return [load, rates, inlet]


def to_html(report: RegionReport) -> str:
    """The report as one HTML page (UTF-8)."""
    name = report.region_name(report.code)
    a = report.account
    headline = (
        f"集中收集率 collection rate <b>{_fmt(a.collection_rate, True)}</b> · "
        f"收集削减率 collection-reduction rate <b>{_fmt(a.collection_reduction_rate, True)}</b> · "
        f"整治方向 actions <b>{escape(' '.join(a.actions) or '-')}</b>"
    )
    sections = [
        f"<section><h2>{escape(level.title)}</h2>{_table(level)}</section>"
        for level in levels(report)
    ]
    charts = "".join(f"<section>{svg}</section>" for svg in _charts(report))
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(report.code)} {report.year} COD balance</title><style>{CSS}</style>"
        "</head><body>"
        f"<h1>{escape(name)} ({escape(report.code)}) {report.year} 年 COD 区域水污染物平衡核算 "
        "Regional COD balance</h1>"
        f'<p class="meta">生成 generated {report.generated_at.isoformat(timespec="seconds")} · '
        "覆盖率 = 有效数据点位小时 / 应有点位小时 (coverage = valid / expected point-hours); "
        "loads are measured sums, lower bounds where coverage &lt; 100%.</p>"
        f"<p>{headline}</p>{charts}{''.join(sections)}</body></html>"
    )
