"""`wqmon balance report` and `wqmon balance rebuild` against a real database."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from openpyxl import load_workbook

from tests.integration.balance_series import DAY_END, DAY_START, SERIES
from wqmon.balance.queries import region_balance
from wqmon.cli import main

SHEETS = ["region", "children", "plants", "enterprises", "monthly", "about"]


def _insert_series(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        for (site, point, alias), samples in SERIES.items():
            row = conn.execute(
                "SELECT c.id FROM channel c JOIN point p ON p.id = c.point_id "
                "JOIN site s ON s.id = p.site_id WHERE s.code = %s AND p.code = %s "
                "AND c.parameter = %s",
                (site, point, {"flow": "w00000", "cod": "w01018"}[alias]),
            ).fetchone()
            assert row is not None
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO reading VALUES (%s, %s, %s, %s, 'test', now())",
                    [(row[0], ts, value, flag) for ts, value, flag in samples],
                )


@pytest.fixture
def rolled_up(registry_db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The example registry with the hand-made day, rolled up by `wqmon balance rebuild`."""
    _insert_series(registry_db_url)
    monkeypatch.setenv("WQMON_DATABASE_URL", registry_db_url)
    start = (DAY_START - timedelta(hours=3)).isoformat()
    end = (DAY_END + timedelta(hours=5)).isoformat()
    assert main(["balance", "rebuild", "--from", start, "--to", end]) == 0
    return registry_db_url


def _expected(db_url: str) -> dict[str, Any]:
    with psycopg.connect(db_url) as conn:
        body = region_balance(conn, "LYG", year=2025)
    periods = body["periods"]
    assert isinstance(periods, list)
    account: dict[str, Any] = periods[0]["account"]
    assert account["collected_kg"] > 1000
    return account


def test_csv_report_lists_every_figure_with_its_coverage(rolled_up: str, tmp_path: Path) -> None:
    out = tmp_path / "lyg.csv"
    assert main(["balance", "report", "--region", "LYG", "--year", "2025", "--format", "csv",
                 "--output", str(out)]) == 0  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    account = _expected(rolled_up)
    by = {(r["level"], r["code"], r["figure"]): r for r in rows}
    collected = by[("region", "LYG", "collected_kg")]
    assert float(collected["value"]) == pytest.approx(account["collected_kg"], rel=1e-6)
    assert float(collected["coverage"]) == pytest.approx(account["collected_coverage"], abs=1e-4)
    assert collected["label_zh"] == "集中收集量"
    assert {r["code"] for r in rows if r["level"] == "children"} == {"HZ", "GY", "KFQ"}
    assert float(by[("plants", "WWTP-01", "collected_kg")]["value"]) == pytest.approx(
        account["collected_kg"], rel=1e-6
    )
    assert float(by[("enterprises", "ENT-01", "load_kg")]["value"]) > 0
    months = [r for r in rows if r["level"] == "monthly" and r["figure"] == "collected_kg"]
    assert len(months) == 12
    assert sum(float(r["value"]) for r in months) == pytest.approx(account["collected_kg"])


def test_xlsx_report_has_one_sheet_per_level(rolled_up: str, tmp_path: Path) -> None:
    out = tmp_path / "lyg.xlsx"
    assert main(["balance", "report", "--region", "LYG", "--year", "2025", "--format", "xlsx",
                 "--output", str(out)]) == 0  # fmt: skip
    book = load_workbook(out, read_only=True)
    assert book.sheetnames == SHEETS
    plants = list(book["plants"].iter_rows(values_only=True))
    header, body = plants[0], {row[0]: row for row in plants[1:]}
    assert set(body) == {"WWTP-01", "WWTP-02", "WWTP-03", "WWTP-04"}
    column = header.index("进水负荷(收集量) inlet load (collected) (kg)")
    assert header[column + 1] == "覆盖率 coverage: inlet load (collected)"
    account = _expected(rolled_up)
    assert body["WWTP-01"][column] == pytest.approx(account["collected_kg"], rel=1e-6)
    assert body["WWTP-02"][column] == 0
    region = list(book["region"].iter_rows(values_only=True))
    assert region[1][0] == "LYG"
    assert len(list(book["monthly"].iter_rows())) == 13
    book.close()


def test_html_report_is_self_contained_with_figures_and_charts(
    rolled_up: str, tmp_path: Path
) -> None:
    out = tmp_path / "lyg.html"
    assert main(["balance", "report", "--region", "LYG", "--year", "2025", "--format", "html",
                 "--output", str(out)]) == 0  # fmt: skip
    page = out.read_text(encoding="utf-8")
    account = _expected(rolled_up)
    assert f"{account['collected_kg']:,.1f}" in page
    assert page.count("<svg") == 3
    assert "260 mg/L" in page
    assert "2030 目标 95%" in page
    assert "@page { size: A4" in page
    # Nothing to fetch: no scripts, no external stylesheets, images or fonts.
    assert "<script" not in page
    assert re.search(r'(src|href)="(https?:)?//', page) is None


def test_report_of_an_unknown_region_is_a_clear_error(
    rolled_up: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.csv"
    code = main(["balance", "report", "--region", "NOPE", "--year", "2025", "--format", "csv",
                 "--output", str(out)])  # fmt: skip
    assert code == 2
    assert "unknown region 'NOPE'" in capsys.readouterr().err
    assert rolled_up
