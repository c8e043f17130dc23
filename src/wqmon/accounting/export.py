"""The assessment report as XLSX, as a printable HTML page (A4, no scripts, no network) and,
where headless Chromium is installed, as PDF printed from that page."""

from __future__ import annotations

import io
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from wqmon.accounting.errors import UnavailableError
from wqmon.accounting.figures import LABELS, Json
from wqmon.accounting.inputs import INPUTS, InputKind
from wqmon.balance.report.figures import RATES

ACTION_ZH = {
    "fix_network": "完善管网",
    "build_capacity": "新建处理能力",
    "upgrade_treatment": "提标改造",
    "insufficient_data": "数据不足",
}
PLANT_KEYS = ("collected_kg", "reduced_kg", "inlet_conc_mg_l", "low_conc_days", "evaluated_days")


def label(key: str) -> str:
    spec = LABELS[key]
    return f"{spec.zh} {spec.en}" + (f" ({spec.unit})" if spec.unit else "")


def _columns(report: Json) -> list[tuple[str, str, Json]]:
    """(code, name, figures) of the city aggregate, then of each county and park."""
    cols = [(report["region"], report["name"] + " 合计", report["figures"])]
    cols += [(c["region"], c["name"], c["figures"]) for c in report["children"]]
    return cols


def _inputs(report: Json) -> list[Json]:
    return [i | {"region": c["region"]} for c in report["children"] for i in c["inputs"]]


# --- XLSX ----------------------------------------------------------------------------------


def _sheet(
    book: Workbook, title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    sheet = book.create_sheet(title)
    sheet.append(list(header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(list(row))


def to_xlsx(report: Json) -> bytes:
    """Sheets `regions` (one row per region, each figure then its coverage), `plants`,
    `inputs` (with their provenance), `findings` and `about`."""
    book = Workbook()
    book.remove(book.active)
    keys = [k for k in LABELS if k != "actions"]
    header = ["code", "name"]
    for k in keys:
        header += [label(k), f"覆盖率 coverage: {LABELS[k].en}"]
    header.append(label("actions"))
    rows = []
    for code, name, figures in _columns(report):
        row: list[Any] = [code, name]
        for k in keys:
            row += [figures[k]["value"], figures[k]["coverage"]]
        row.append(" ".join(report_actions(figures)))
        rows.append(row)
    _sheet(book, "regions", header, rows)
    _sheet(
        book,
        "plants",
        ["site", "name", "region", *list(PLANT_KEYS), "below_260"],
        (
            [
                p["site"],
                p["name"],
                p["region"],
                *[p[k]["value"] for k in PLANT_KEYS],
                p["below_260"],
            ]
            for p in report["plants"]
        ),
    )
    _sheet(
        book,
        "inputs",
        [
            "region",
            "kind",
            "label",
            "value",
            "unit",
            "source_department",
            "document_ref",
            "document_date",
            "entered_by",
        ],
        (
            [
                i["region"],
                i["kind"],
                INPUTS[InputKind(i["kind"])].zh,
                i["value"],
                INPUTS[InputKind(i["kind"])].unit,
                i["source_department"],
                i["document_ref"],
                i["document_date"],
                i["entered_by"],
            ]
            for i in _inputs(report)
        ),
    )
    _sheet(
        book,
        "findings",
        ["at", "author", "region", "figure", "finding"],
        (
            [f["at"], f["author"], f["region"], f["figure"], f["finding"]]
            for f in report.get("findings", [])
        ),
    )
    _sheet(
        book,
        "about",
        ["item", "value"],
        [
            ["region", report["region"]],
            ["year", report["year"]],
            ["report version", report["version"]],
            ["made at (UTC)", report["created_at"]],
            ["made by", report["created_by"]],
            *[
                [f"account {c['region']}", f"version {c['account_version']}"]
                for c in report["children"]
            ],
        ],
    )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def report_actions(figures: Json) -> list[str]:
    text = figures.get("actions", {}).get("value") or ""
    return [a for a in str(text).split() if a != "-"]


# --- HTML ----------------------------------------------------------------------------------

CSS = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif;
       font-size: 10pt; color: #222; margin: 1.5em; }
h1 { font-size: 16pt; margin: 0 0 .2em; } h2 { font-size: 12pt; margin-top: 1.4em; }
.meta { color: #555; }
table { border-collapse: collapse; width: 100%; font-size: 8.5pt; margin-bottom: 1em; }
th, td { border: 1px solid #bbb; padding: 2px 4px; text-align: right; vertical-align: top; }
th { background: #eef2f7; } td.id, th.id { text-align: left; }
.cov { color: #777; font-size: 7pt; display: block; }
.low { color: #b71c1c; font-weight: bold; }
@page { size: A4; margin: 14mm; }
@media print { body { margin: 0; } section { break-inside: avoid-page; }
               thead { display: table-header-group; } }
"""


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return escape(" ".join(ACTION_ZH.get(v, v) for v in value.split()) or "—")
    if key in RATES:
        return f"{value * 100:.1f}%"
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


def _cell(key: str, figure: Json) -> str:
    text = _fmt(key, figure["value"])
    if figure.get("coverage") is not None:
        text += f'<span class="cov">覆盖 {figure["coverage"] * 100:.0f}%</span>'
    return f"<td>{text}</td>"


def _summary(report: Json) -> str:
    cols = _columns(report)
    head = '<th class="id">指标 figure</th>' + "".join(
        f"<th>{escape(name)}<br>{escape(code)}</th>" for code, name, _ in cols
    )
    rows = [
        f'<tr><td class="id">{escape(label(k))}</td>'
        + "".join(_cell(k, figures[k]) for _, _, figures in cols)
        + "</tr>"
        for k in LABELS
    ]
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _decisions(report: Json) -> str:
    rows = []
    for c in [{"region": report["region"], "name": report["name"], **report}, *report["children"]]:
        d = c["decision"]
        rows.append(
            f'<tr><td class="id">{escape(c["name"])}</td>'
            f"<td>{_fmt('actions', ' '.join(d['actions']) or '—')}</td>"
            f"<td>{_fmt('collection_rate', d['collection_rate'])}</td>"
            f"<td>{_fmt('x', d['required_capacity_m3_per_day'])}</td>"
            f"<td>{_fmt('x', d['capacity_m3_per_day'])}</td>"
            f"<td>{_fmt('x', d['capacity_gap_m3_per_day'])}</td>"
            f"<td>{_fmt('removal_efficiency', d['removal_efficiency'])}</td>"
            f"<td>{_fmt('collection_rate', d['collected_coverage'])}</td></tr>"
        )
    head = (
        '<th class="id">区域</th><th>整治方向</th><th>收集率 (目标 80%)</th>'
        "<th>所需能力 m³/d</th><th>现有能力 m³/d</th><th>能力缺口 m³/d</th>"
        "<th>处理效率 (≥ 80%)</th><th>进水负荷覆盖率</th>"
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _plants(report: Json) -> str:
    rows = [
        f'<tr><td class="id">{escape(p["name"])} ({escape(p["site"])})</td>'
        f'<td class="id">{escape(p["region"] or "")}</td>'
        + "".join(_cell(k, p[k]) for k in PLANT_KEYS)
        + "</tr>"
        for p in report["plants"]
        if p["below_260"]
    ]
    if not rows:
        return "<p>无 none</p>"
    head = '<th class="id">污水处理厂</th><th class="id">区域</th>' + "".join(
        f"<th>{escape(k)}</th>" for k in PLANT_KEYS
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _input_table(report: Json) -> str:
    rows = [
        f'<tr><td class="id">{escape(i["region"])}</td>'
        f'<td class="id">{escape(INPUTS[InputKind(i["kind"])].zh)}</td>'
        f"<td>{i['value']:,.2f} {escape(INPUTS[InputKind(i['kind'])].unit)}</td>"
        f'<td class="id">{escape(i["source_department"])}</td>'
        f'<td class="id">{escape(i["document_ref"])}</td>'
        f'<td class="id">{escape(i["document_date"])}</td></tr>'
        for i in _inputs(report)
    ]
    head = (
        '<th class="id">区域</th><th class="id">数据项</th><th>数值</th>'
        '<th class="id">提供部门</th><th class="id">文件</th><th class="id">日期</th>'
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _findings(report: Json) -> str:
    items = [
        f"<li>{escape(f['at'][:10])} {escape(f['author'])}"
        f"{' · ' + escape(f['region']) if f['region'] else ''}"
        f"{' · ' + escape(f['figure']) if f['figure'] else ''}: {escape(f['finding'])}</li>"
        for f in report.get("findings", [])
    ]
    return f"<ul>{''.join(items)}</ul>" if items else "<p>尚无 none yet</p>"


def to_html(report: Json) -> str:
    """One self-contained page: summary, actions, low-influent plants, inputs, findings."""
    accounts = "、".join(f"{c['name']} v{c['account_version']}" for c in report["children"])
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>{escape(report["name"])} {report["year"]} 年度水污染物平衡核算考核报告</title>
<style>{CSS}</style></head><body>
<h1>{escape(report["name"])} {report["year"]} 年度 COD 平衡核算考核报告</h1>
<p class="meta">Assessment report {escape(report["region"])} {report["year"]} ·
版本 version {report["version"]} · 生成 {escape(report["created_at"][:19])} UTC
由 {escape(report["created_by"])} · 采用经审核的核算: {escape(accounts)}</p>
<section><h2>一、核算汇总 Summary</h2>{_summary(report)}</section>
<section><h2>二、整治方向及依据 Action categories and the figures behind them</h2>
{_decisions(report)}</section>
<section><h2>三、进水COD低于260 mg/L的污水处理厂 Plants under 260 mg/L (一厂一策)</h2>
{_plants(report)}</section>
<section><h2>四、部门数据及来源 Department inputs</h2>{_input_table(report)}</section>
<section><h2>五、省级核查意见 Province findings</h2>{_findings(report)}</section>
</body></html>
"""


def to_pdf(html: str, chromium: str | None) -> bytes:
    """Print the HTML page to PDF with headless Chromium; AccountingError when it is missing."""
    if not chromium or not Path(chromium).exists():
        raise UnavailableError("no PDF here: headless Chromium is not installed; print the HTML")
    with tempfile.TemporaryDirectory(prefix="wqmon-report-") as tmp:
        page, pdf = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            f"--user-data-dir={tmp}/profile",
            f"--print-to-pdf={pdf}",
            page.as_uri(),
        ]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=120)  # noqa: S603
        except (OSError, subprocess.SubprocessError) as exc:
            raise UnavailableError(f"Chromium could not print the report: {exc}") from exc
        return pdf.read_bytes()
