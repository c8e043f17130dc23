"""Coverage of the policy (联网全覆盖) and the daily report, against a real TimescaleDB."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from openpyxl import load_workbook

from tests.fixtures.api_data import insert_readings
from wqmon.audit.coverage import check_coverage
from wqmon.audit.daily import daily_report, report_csv, report_html, report_xlsx
from wqmon.audit.store import Target, create_mark
from wqmon.balance.job import rebuild
from wqmon.registry.importer import import_file

REGISTRY = """
regions:
  - {code: R, name: 测试市, kind: city}
  - {code: RC, name: 测试县, kind: county, parent: R}
sites:
  - code: OK
    kind: wwtp
    region: RC
    capacity_m3_per_day: 20000
    points:
      - {code: inlet, role: inlet, parameters: [flow, cod]}
      - {code: outlet, role: outlet, parameters: [flow, cod, ph]}
  - code: NOCOD
    kind: wwtp
    region: RC
    capacity_m3_per_day: 10000
    points:
      - {code: inlet, role: inlet, parameters: [flow, cod]}
      - {code: outlet, role: outlet, parameters: [flow, nh3n]}
  - code: SILENT
    kind: wwtp
    region: R
    capacity_m3_per_day: 5000
    points:
      - {code: inlet, role: inlet, parameters: [flow, cod]}
      - {code: outlet, role: outlet, parameters: [flow, cod]}
  - {code: KEYENT, kind: enterprise, region: RC, permit: key}
  - {code: SMALL, kind: wwtp, region: RC, capacity_m3_per_day: 300}
  - {code: SMALLENT, kind: enterprise, region: RC, permit: registration}
"""
CHECK = date(2025, 6, 7)  # local day; the window is 2025-06-01 .. 06-07
WINDOW_START = datetime(2025, 5, 31, 16, tzinfo=UTC)
WINDOW_END = datetime(2025, 6, 7, 16, tzinfo=UTC)


def _hourly(start: datetime, end: datetime, value: float) -> list[tuple[datetime, float, str]]:
    hours = int((end - start) / timedelta(hours=1))
    return [(start + timedelta(hours=h), value, "N") for h in range(hours)]


def _setup(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(REGISTRY, encoding="utf-8")
    import_file(db_url, path)
    silent_from = WINDOW_END - timedelta(hours=30)
    for site in ("OK", "NOCOD", "SILENT"):
        for point in ("inlet", "outlet"):
            insert_readings(db_url, site, point, "flow", _hourly(WINDOW_START, WINDOW_END, 400.0))
            if (site, point) == ("NOCOD", "outlet"):
                continue
            end = silent_from if (site, point) == ("SILENT", "outlet") else WINDOW_END
            insert_readings(db_url, site, point, "cod", _hourly(WINDOW_START, end, 280.0))
    insert_readings(db_url, "OK", "outlet", "ph", _hourly(WINDOW_START, WINDOW_END, 7.1))
    with psycopg.connect(db_url) as conn:
        rebuild(conn, WINDOW_START, WINDOW_END)


def test_coverage_finds_what_is_missing_and_nothing_at_a_compliant_site(
    db_url: str, tmp_path: Path
) -> None:
    _setup(db_url, tmp_path)
    with psycopg.connect(db_url) as conn:
        found = {f.site: f for f in check_coverage(conn, region="R", day=CHECK)}
    assert set(found) == {"OK", "NOCOD", "SILENT", "KEYENT", "SMALL", "SMALLENT"}
    assert found["OK"].required
    assert found["OK"].findings == []
    assert [(x.kind, x.point, x.parameter) for x in found["NOCOD"].findings] == [
        ("meter", "outlet", "cod")
    ]
    assert [(x.kind, x.point) for x in found["KEYENT"].findings] == [("point", None)]
    assert "discharge" in found["KEYENT"].findings[0].detail
    silent = found["SILENT"].findings
    no_data = [x for x in silent if x.kind == "data"]
    assert [(x.point, x.parameter, x.since) for x in no_data] == [
        ("outlet", "cod", WINDOW_END - timedelta(hours=31))
    ]
    # 168 − 30 hours received over the 7-day window: below 90 %.
    assert [(x.kind, x.point) for x in silent if x.kind == "transmission"] == [
        ("transmission", "outlet")
    ]
    assert f"{138 / 168:.1%}" in next(x.detail for x in silent if x.kind == "transmission")
    for exempt in ("SMALL", "SMALLENT"):
        assert not found[exempt].required
        assert found[exempt].findings == []
    with psycopg.connect(db_url) as conn:  # the county alone: its sites only
        county = {f.site for f in check_coverage(conn, region="RC", day=CHECK)}
    assert "SILENT" not in county
    assert "OK" in county


def test_daily_report_lists_hours_marks_and_validity(db_url: str, tmp_path: Path) -> None:
    _setup(db_url, tmp_path)
    day_start = datetime(2025, 6, 4, 16, tzinfo=UTC)  # local day 2025-06-05
    with psycopg.connect(db_url) as conn:
        create_mark(
            conn,
            Target("OK", "outlet", "cod"),
            start=day_start + timedelta(hours=3),
            end=day_start + timedelta(hours=5),
            validity="invalid",
            reason="calibration",
            comment="",
            user="op",
        )
        conn.commit()
        rebuild(conn, day_start, day_start + timedelta(days=1), site="OK")
        report = daily_report(conn, "OK", date(2025, 6, 5))
    rows = [r for r in report["hours"] if (r["point"], r["parameter"]) == ("outlet", "cod")]
    assert len(rows) == 24
    states = [r["state"] for r in rows]
    assert states.count("invalid") == 2
    assert states[3:5] == ["invalid", "invalid"]
    assert rows[3]["cause"] == "calibration"
    assert rows[3]["flag"] == "C"
    assert rows[0]["value"] == 280.0
    assert rows[3]["value"] is None
    ph = [r for r in report["hours"] if r["parameter"] == "ph"]
    assert [r["value"] for r in ph] == [7.1] * 24
    cod_validity = next(
        v for v in report["validity"] if (v["point"], v["alias"]) == ("outlet", "cod")
    )
    assert (cod_validity["valid_hours"], cod_validity["invalid_hours"]) == (22, 2)
    assert [m["reason"] for m in report["marks"]] == ["calibration"]
    outlet_cod = next(t for t in report["totals"] if (t["point"], t["alias"]) == ("outlet", "cod"))
    # Hourly flow samples hold 15 min (max_flow_gap): 22 valid hours × 0.25 h × 400 m³/h.
    assert outlet_cod["load_kg"] == pytest.approx(22 * 0.25 * 400.0 * 280.0 / 1000.0)
    text = report_csv(report).decode("utf-8-sig")
    assert text.splitlines()[0].startswith("hour,point,parameter")
    assert len(text.splitlines()) == 1 + 24 * 5
    book = load_workbook(io.BytesIO(report_xlsx(report)))
    assert book.sheetnames == ["hours", "totals", "validity", "marks", "corrections"]
    page = report_html(report).decode()
    assert "calibration" in page
    assert "<script" not in page
