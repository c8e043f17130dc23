"""Region-year reports (`wqmon balance report`): CSV, XLSX and a self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

from wqmon.balance.report.build import RegionReport, build_report
from wqmon.balance.report.html import LANGS, Lang, to_html
from wqmon.balance.report.tabular import to_csv, write_xlsx
from wqmon.balance.store import Conn

FORMATS = ("csv", "xlsx", "html")


def write_report(
    conn: Conn, region: str, year: int, fmt: str, output: Path, *, lang: Lang = "zh"
) -> RegionReport:
    """Build the report and write it to `output` in `fmt` (csv, xlsx or html).

    `lang` chooses the HTML report's language; CSV and XLSX carry both in every label.
    """
    report = build_report(conn, region, year)
    if fmt == "xlsx":
        write_xlsx(report, output)
    elif fmt == "csv":
        output.write_text(to_csv(report), encoding="utf-8")
    elif fmt == "html":
        output.write_text(to_html(report, lang), encoding="utf-8")
    else:
        raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    return report


__all__ = [
    "FORMATS",
    "LANGS",
    "Lang",
    "RegionReport",
    "build_report",
    "to_csv",
    "to_html",
    "write_report",
]
