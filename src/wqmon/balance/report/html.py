"""The HTML report: one self-contained page in Chinese or English, laid out for A4.

A cover (region, year, coverage, the rates and the action category in words), the figures
(matplotlib SVG inline, see charts.py) on portrait pages, the tables on landscape pages (their
columns do not fit a portrait A4 at a readable size). Inline CSS, no script, nothing fetched:
it opens and prints on an intranet machine. The CJK font stack matches the operator page's.
"""

from __future__ import annotations

from html import escape
from typing import Literal

from wqmon.balance.accounts import LOW_INLET_COD_MG_L
from wqmon.balance.report.build import RegionReport
from wqmon.balance.report.figures import NO_ACTION, RATES, Figure, Value, action_text
from wqmon.balance.report.levels import Level, levels

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

CSS = """
:root { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
        "WenQuanYi Micro Hei", sans-serif; }
body { font-size: 9.5pt; color: #222; margin: 1.5em auto; max-width: 1000px; }
h1 { font-size: 20pt; margin: 0 0 .3em; } h2 { font-size: 12.5pt; margin: 1.2em 0 .4em; }
h3 { font-size: 10pt; margin: .8em 0 .2em; }
.cover { min-height: 240mm; display: flex; flex-direction: column; gap: .6em; }
.cover .kicker { color: #3b6ea5; font-weight: 600; letter-spacing: .05em; margin-top: 25mm; }
.cover .region { font-size: 14pt; color: #444; }
.cover table.facts { width: auto; font-size: 10.5pt; margin-top: 8mm; }
.cover table.facts th { text-align: left; background: none; border: 0; padding: 4px 18px 4px 0;
                        color: #555; font-weight: normal; white-space: nowrap; }
.cover table.facts td { text-align: left; border: 0; padding: 4px 0; }
.cover .big { font-size: 16pt; font-weight: 700; }
.action { border-left: 4px solid #d98c2b; padding: .3em .8em; margin: .4em 0; background: #fbf6ef; }
.action b { font-size: 11pt; }
.meta { color: #666; font-size: 8.5pt; margin-top: auto; }
table { border-collapse: collapse; width: 100%; font-size: 7.5pt; margin-bottom: 1em; }
th, td { border: 1px solid #bbb; padding: 2px 4px; text-align: right; }
th { background: #eef2f7; font-weight: 600; } td.id { text-align: left; }
td { white-space: nowrap; } th { white-space: normal; }
.cov { color: #777; font-size: 6.5pt; display: block; }
figure { margin: .4em 0 1em; break-inside: avoid; }
figure svg { width: 100%; height: auto; display: block; }
figure svg text { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC",
                  "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif !important; }
figcaption { font-weight: 600; font-size: 10pt; }
@page { size: A4 portrait; margin: 14mm; }
@page wide { size: A4 landscape; margin: 12mm; }
.tables { page: wide; }
@media print {
  body { margin: 0; max-width: none; }
  .cover { break-after: page; min-height: 0; height: 265mm; }
  .figures { break-after: page; }
  section.level { break-inside: auto; } h2 { break-after: avoid; }
  thead { display: table-header-group; } tr { break-inside: avoid; }
}
"""


class _Words:
    """The report's words in one language (the labels of figures come from figures.py)."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang

    def __call__(self, zh: str, en: str) -> str:
        return zh if self.lang == "zh" else en

    def ident(self, label: str) -> str:
        """Identity column labels are "代码 code": the half of this language."""
        zh, _, en = label.partition(" ")
        return self(zh, en or zh)

    def figure(self, f: Figure) -> str:
        unit = f" ({f.unit})" if f.unit else ""
        return self(f.zh, f.en) + unit


def _fmt(value: Value, rate: bool) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return escape(value)
    if rate:
        return f"{value * 100:.1f}%"
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


def _actions(codes: tuple[str, ...], w: _Words) -> str:
    texts = [action_text(c) for c in codes] or [NO_ACTION]
    return w("；", "; ").join(w(t.zh, t.en) for t in texts)


def _cell(figure: Figure, row: object, w: _Words) -> str:
    if figure.key == "actions":
        return f"<td>{escape(_actions(getattr(row, 'actions', ()), w))}</td>"
    text = _fmt(figure.value(row), figure.key in RATES)
    if figure.coverage is not None:
        text += f'<span class="cov">{w("覆盖", "cov.")} {figure.coverage(row) * 100:.0f}%</span>'
    return f"<td>{text}</td>"


def _table(level: Level, w: _Words) -> str:
    if not level.rows:
        return f"<p>{w('无', 'none')}</p>"
    head = "".join(f"<th>{escape(w.ident(c))}</th>" for c in level.ident)
    head += "".join(f"<th>{escape(w.figure(f))}</th>" for f in level.figures)
    body = []
    for _, ident, row in level.rows:
        cells = "".join(f'<td class="id">{escape(v)}</td>' for v in ident)
        cells += "".join(_cell(f, row, w) for f in level.figures)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _regions_table(regions: Level, children: Level, w: _Words) -> str:
    """The region and its children side by side, one figure per row: sixteen figures as
    columns would not fit an A4 page, a few regions as columns do."""
    rows = regions.rows + children.rows
    head = f"<th>{w('指标', 'figure')}</th>"
    head += "".join(f"<th>{escape(ident[1])}<br>{escape(ident[0])}</th>" for _, ident, _ in rows)
    body = [
        f'<tr><td class="id">{escape(w.figure(f))}</td>'
        + "".join(_cell(f, row, w) for _, _, row in rows)
        + "</tr>"
        for f in regions.figures
    ]
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _tables(report: RegionReport, w: _Words) -> str:
    by_key = {level.key: level for level in levels(report)}
    sections = [(w("区域汇总", "Regions"), _regions_table(by_key["region"], by_key["children"], w))]
    sections += [
        (w(level.zh, level.en), _table(level, w))
        for key, level in by_key.items()
        if key not in {"region", "children"}
    ]
    return "".join(
        f'<section class="level"><h2>{escape(title)}</h2>{table}</section>'
        for title, table in sections
    )


def _figures(report: RegionReport, w: _Words) -> list[tuple[str, str]]:
    """(caption, svg) of each figure."""
    # matplotlib (and numpy) only when a report is drawn, not whenever the package is imported.
    from wqmon.balance.report.charts import Line, Series, bar_chart, line_chart  # noqa: PLC0415

    months = [m.start.strftime("%m") for m in report.months]
    accounts = [m.account for m in report.months]
    no_data = w("无数据", "no data")
    load = bar_chart(
        months,
        [
            # A month without any valid inlet (outlet) hour has no collected (reduced) figure:
            # its 0 would read as "nothing collected", so it is drawn as a gap.
            Series(w("产生量", "produced"), [a.produced_kg for a in accounts]),
            Series(
                w("收集量", "collected"),
                [a.collected_kg if a.collected_coverage > 0 else None for a in accounts],
            ),
            Series(
                w("削减量", "reduced"),
                [a.reduced_kg if a.reduced_coverage > 0 else None for a in accounts],
            ),
        ],
        no_data=no_data,
    )
    targets = [
        Line(0.80, w("2025 目标 80%", "2025 target 80%")),
        Line(0.95, w("2030 目标 95%", "2030 target 95%")),
    ]
    monthly_rates = line_chart(
        months,
        [
            Series(w("集中收集率", "collection rate"), [a.collection_rate for a in accounts]),
            Series(
                w("集中收集削减率", "collection-reduction rate"),
                [a.collection_reduction_rate for a in accounts],
            ),
        ],
        lines=targets,
        percent=True,
    )
    regions = report.regions()
    rates = bar_chart(
        [a.code for _, a in regions],
        [
            Series(w("集中收集率", "collection rate"), [a.collection_rate for _, a in regions]),
            Series(
                w("集中收集削减率", "collection-reduction rate"),
                [a.collection_reduction_rate for _, a in regions],
            ),
        ],
        lines=targets,
        percent=True,
        no_data=no_data,
    )
    inlet = bar_chart(
        [p.site for p in report.plants],
        [Series(w("进水 COD", "inlet COD"), [p.inlet.conc_mg_l for p in report.plants])],
        lines=[Line(LOW_INLET_COD_MG_L, f"{LOW_INLET_COD_MG_L:g} mg/L")],
        no_data=no_data,
    )
    return [
        (
            w(
                "逐月产生量、收集量与削减量 (kg COD)",
                "Monthly COD produced, collected and reduced (kg)",
            ),
            load,
        ),
        (
            w(
                "逐月集中收集率与削减率（缺数据的月份留空）",
                "Monthly rates (months without data left blank)",
            ),
            monthly_rates,
        ),
        (w("各区域集中收集率与目标", "Collection rate per region against the targets"), rates),
        (w("各厂流量加权进水 COD 浓度 (mg/L)", "Flow-weighted inlet COD per plant (mg/L)"), inlet),
    ]


def _year_text(report: RegionReport, w: _Words) -> str:
    if report.to_date is None:
        return f"{report.year}"
    end = report.to_date.isoformat()
    return w(
        f"{report.year}（年度未结束：截至 {end}，不含当日；产生量按已过天数计，非最终数据）",
        f"{report.year} (year to date, up to {end} excluded; produced load over the elapsed "
        "days; not final)",
    )


def _cover(report: RegionReport, w: _Words) -> str:
    a = report.account
    name = escape(report.region_name(report.code))
    facts = [
        (w("区域", "Region"), f"{name} ({escape(report.code)})"),
        (w("核算年度", "Year"), _year_text(report, w)),
        (
            w("范围", "Scope"),
            w(
                f"下级区域 {len(report.regions()) - 1} 个 · 污水处理厂 {len(report.plants)} 座 · "
                f"纳管企业排口 {len(report.enterprises)} 个",
                f"{len(report.regions()) - 1} child regions · {len(report.plants)} plants · "
                f"{len(report.enterprises)} enterprise discharge points",
            ),
        ),
        (
            w("数据覆盖率", "Data coverage"),
            w(
                f"收集量 {a.collected_coverage:.1%} · 削减量 {a.reduced_coverage:.1%} · "
                f"工业源 {a.industrial_coverage:.1%}",
                f"collected {a.collected_coverage:.1%} · reduced {a.reduced_coverage:.1%} · "
                f"industrial {a.industrial_coverage:.1%}",
            ),
        ),
        (
            w("集中收集率", "Collection rate"),
            f'<span class="big">{_fmt(a.collection_rate, True)}</span>',
        ),
        (
            w("集中收集削减率", "Collection-reduction rate"),
            f'<span class="big">{_fmt(a.collection_reduction_rate, True)}</span>',
        ),
    ]
    rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts)
    actions = [action_text(c) for c in a.actions] or [NO_ACTION]
    blocks = "".join(
        f'<div class="action"><b>{escape(w(t.zh, t.en))}</b><br>{escape(w(t.zh_why, t.en_why))}</div>'
        for t in actions
    )
    return (
        '<section class="cover">'
        f'<div class="kicker">{w("区域水污染物平衡核算报告", "REGIONAL COD BALANCE REPORT")}</div>'
        f"<h1>{w(f'{name} {report.year} 年 COD 平衡核算', f'{name}: COD balance {report.year}')}</h1>"
        f'<div class="region">{w("化学需氧量（COD）产生、集中收集与削减", "COD produced, collected by plants and removed")}</div>'
        f'<table class="facts">{rows}</table>'
        f"<h2>{w('整治方向', 'Action category')}</h2>{blocks}"
        f'<p class="meta">{w("生成时间", "Generated")} {report.generated_at.isoformat(timespec="seconds")} · '
        + w(
            "覆盖率 = 有效数据的点位小时 / 应有点位小时；覆盖率低于 100% 时负荷为实测之和，是下限。",
            "Coverage = valid point-hours / expected point-hours; where it is below 100 % the "
            "loads are measured sums, lower bounds.",
        )
        + "</p></section>"
    )


def to_html(report: RegionReport, lang: Lang = "zh") -> str:
    """The report as one HTML page (UTF-8) in Chinese (`zh`) or English (`en`)."""
    if lang not in LANGS:
        raise ValueError(f"unknown report language {lang!r}; use zh or en")
    w = _Words(lang)
    figures = "".join(
        f"<figure><figcaption>{escape(caption)}</figcaption>{svg}</figure>"
        for caption, svg in _figures(report, w)
    )
    tables = _tables(report, w)
    title = f"{escape(report.code)} {report.year} {w('COD 平衡核算', 'COD balance')}"
    return (
        f'<!DOCTYPE html><html lang="{w("zh-CN", "en")}"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{CSS}</style></head><body>"
        f"{_cover(report, w)}"
        f'<section class="figures"><h2>{w("图表", "Figures")}</h2>{figures}</section>'
        f'<div class="tables">{tables}</div></body></html>'
    )
