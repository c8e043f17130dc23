"""CSV and XLSX writers of a region-year report.

CSV is long: one line per figure (level, period, identity, figure with Chinese and English
labels, unit, value, coverage), so every figure has its coverage beside it and a spreadsheet or
script can pivot it any way. XLSX is wide: one sheet per level, each figure followed by a
coverage column.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font

from wqmon.balance.report.build import RegionReport
from wqmon.balance.report.figures import Figure, Value
from wqmon.balance.report.levels import Level, levels

CSV_HEADER = (
    "level",
    "period",
    "code",
    "name",
    "figure",
    "label_zh",
    "label_en",
    "unit",
    "value",
    "coverage",
)


def _cell(value: Value) -> Value:
    return round(value, 6) if isinstance(value, float) else value


def _coverage(figure: Figure, row: object) -> float | None:
    return None if figure.coverage is None else round(figure.coverage(row), 4)


def to_csv(report: RegionReport) -> str:
    """The report as CSV text (UTF-8 without BOM; the caller may add one for Excel)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for level in levels(report):
        for period, ident, row in level.rows:
            for figure in level.figures:
                writer.writerow(
                    (
                        level.key,
                        period,
                        ident[0],
                        ident[1] if len(ident) > 1 else "",
                        figure.key,
                        figure.zh,
                        figure.en,
                        figure.unit,
                        _cell(figure.value(row)),
                        _coverage(figure, row),
                    )
                )
    return out.getvalue()


def _header(level: Level) -> list[str]:
    columns = list(level.ident)
    for figure in level.figures:
        columns.append(figure.label)
        if figure.coverage is not None:
            columns.append(f"覆盖率 coverage: {figure.en}")
    return columns


def _values(level: Level, ident: tuple[str, ...], row: object) -> list[Value]:
    values: list[Value] = list(ident)
    for figure in level.figures:
        values.append(_cell(figure.value(row)))
        if figure.coverage is not None:
            values.append(_coverage(figure, row))
    return values


def write_xlsx(report: RegionReport, path: Path) -> None:
    """The report as a workbook: one sheet per level, a header row in bold, frozen panes."""
    book = Workbook()
    book.remove(book.active) if book.active is not None else None
    for level in levels(report):
        sheet = book.create_sheet(level.key)
        sheet.append(_header(level))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for _, ident, row in level.rows:
            sheet.append(_values(level, ident, row))
        sheet.freeze_panes = sheet.cell(row=2, column=len(level.ident) + 1)
    info = book.create_sheet("about")
    info.append(["区域 region", report.code, report.region_name(report.code)])
    info.append(["年份 year", report.year])
    info.append(["生成时间 generated (UTC)", report.generated_at.isoformat(timespec="seconds")])
    info.append(["说明 note", "coverage = share of expected point-hours with valid data"])
    book.save(path)
