"""Rows of dicts as CSV or XLSX bytes (coverage lists, daily reports)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, datetime):  # XLSX has no time zones: the ISO text keeps the offset
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return str(value)
    return value


def csv_bytes(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> bytes:
    """UTF-8 with a BOM, so spreadsheet programs open the Chinese names right."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return ("\ufeff" + out.getvalue()).encode()


def xlsx_bytes(sheets: dict[str, tuple[Sequence[str], Sequence[dict[str, Any]]]]) -> bytes:
    """One sheet per entry: (columns, rows); a bold header row."""
    book = Workbook()
    book.remove(book.active)
    for title, (columns, rows) in sheets.items():
        sheet = book.create_sheet(title[:31])
        sheet.append(list(columns))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append([_cell(row.get(c)) for c in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
