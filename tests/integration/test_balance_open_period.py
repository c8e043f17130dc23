"""A region view of a period that has not ended: produced load over the elapsed days only.

The series of `balance_series` covers the local day 2025-03-01. Seen from 2025-03-02, the year
2025 has 60 elapsed days (1 January to 1 March): the domestic and other load are those of 60
days, not 365, the figures say `to_date`, and the annual figure is `final` only once the year
has ended.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
import psycopg
import pytest

from tests.fixtures.api import running_api
from tests.integration.balance_series import SERIES, independent, raw_readings
from tests.integration.test_balance_rollup import _ingest_and_roll_up
from wqmon.api.keys import create_key
from wqmon.balance.accounts import Granularity
from wqmon.balance.queries import region_balance
from wqmon.balance.report.build import build_report
from wqmon.balance.report.html import to_html
from wqmon.balance.report.tabular import to_csv
from wqmon.settings import Settings

HZ_PER_DAY = 862_000 * 70 / 1000 + 1200  # examples/registry.yaml, HZ 2025: domestic + other kg/d
AS_OF = date(2025, 3, 2)
ELAPSED = (AS_OF - date(2025, 1, 1)).days  # 60


def _loads(end: datetime) -> tuple[float, float]:
    """(industrial, inlet) load by the minute-by-minute rules over [1 January, end)."""
    start = datetime(2024, 12, 31, 16, tzinfo=UTC)  # 2025-01-01 00:00 in Asia/Shanghai
    _, industrial, _ = independent(
        SERIES[("ENT-01", "outfall", "flow")], SERIES[("ENT-01", "outfall", "cod")], start, end
    )
    _, inlet, _ = independent(
        SERIES[("WWTP-01", "inlet", "flow")], SERIES[("WWTP-01", "inlet", "cod")], start, end
    )
    return industrial, inlet


def _region(db: str, **kwargs: Any) -> dict[str, Any]:
    with psycopg.connect(db) as conn:
        return region_balance(conn, "HZ", **kwargs)


async def test_an_open_year_is_year_to_date(registry_db_url: str) -> None:
    await _ingest_and_roll_up(registry_db_url, raw_readings())
    industrial, inlet = _loads(datetime(2025, 3, 1, 16, tzinfo=UTC))  # AS_OF, local
    body = _region(registry_db_url, year=2025, today=AS_OF)
    assert (body["status"], body["as_of"]) == ("to_date", AS_OF.isoformat())
    assert (body["start"], body["end"], body["requested_end"]) == (
        "2025-01-01",
        "2025-03-02",
        "2026-01-01",
    )
    [period] = body["periods"]
    account = period["account"]
    assert period["final"] is False
    assert account["days"] == ELAPSED
    produced = HZ_PER_DAY * ELAPSED + industrial
    assert account["produced_kg"] == pytest.approx(produced, rel=1e-4)
    assert account["collection_rate"] == pytest.approx(inlet / produced, rel=1e-3)
    # Coverage is of the elapsed hours: WWTP-01's inlet reported one day of 60, WWTP-02 none.
    inlets = account["totals"]["inlet"]
    assert inlets["expected_hours"] == 2 * 24 * ELAPSED
    assert account["collected_coverage"] == pytest.approx(inlets["load_hours"] / (2 * 24 * ELAPSED))


async def test_months_of_an_open_year_stop_at_today(registry_db_url: str) -> None:
    await _ingest_and_roll_up(registry_db_url, raw_readings())
    body = _region(registry_db_url, year=2025, today=AS_OF, granularity=None)
    months = _region(registry_db_url, year=2025, today=AS_OF, granularity=Granularity.MONTH)
    spans = [(p["start"], p["end"], p["final"]) for p in months["periods"]]
    assert spans == [
        ("2025-01-01", "2025-02-01", True),
        ("2025-02-01", "2025-03-01", True),
        ("2025-03-01", "2025-03-02", False),
    ]
    total = sum(p["account"]["produced_kg"] for p in months["periods"])
    assert total == pytest.approx(body["periods"][0]["account"]["produced_kg"])


async def test_an_ended_year_is_final(registry_db_url: str) -> None:
    await _ingest_and_roll_up(registry_db_url, raw_readings())
    industrial, _ = _loads(datetime(2025, 3, 2, 16, tzinfo=UTC))  # past the data
    body = _region(registry_db_url, year=2025, today=date(2026, 1, 1))
    assert (body["status"], body["end"]) == ("final", "2026-01-01")
    [period] = body["periods"]
    assert period["final"] is True
    assert period["account"]["produced_kg"] == pytest.approx(HZ_PER_DAY * 365 + industrial)


async def test_the_api_says_whether_the_current_year_is_final(registry_db_url: str) -> None:
    db = registry_db_url
    key = {"X-API-Key": create_key(db, name="op", role="operator")}
    async with (
        running_api(Settings(database_url=db)) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        current = (await client.get("/api/v1/balance/regions/HZ", headers=key)).json()
        past = (await client.get("/api/v1/balance/regions/HZ?year=2025", headers=key)).json()
    today = datetime.now(UTC).date()
    assert current["status"] == "to_date"
    assert current["end"] == current["as_of"]  # the figures end where the elapsed days do
    as_of = date.fromisoformat(current["as_of"])
    assert abs((as_of - today).days) <= 1  # the sites' local day (Asia/Shanghai)
    assert current["requested_end"] == f"{int(current['start'][:4]) + 1}-01-01"
    assert (past["status"], past["end"], past["periods"][0]["final"]) == (
        "final",
        "2026-01-01",
        True,
    )


async def test_a_report_of_an_open_year_says_year_to_date(registry_db_url: str) -> None:
    await _ingest_and_roll_up(registry_db_url, raw_readings())
    industrial, _ = _loads(datetime(2025, 3, 1, 16, tzinfo=UTC))
    with psycopg.connect(registry_db_url) as conn:
        report = build_report(conn, "HZ", 2025, today=AS_OF)
        ended = build_report(conn, "HZ", 2025, today=date(2026, 1, 1))
        with pytest.raises(ValueError, match="no elapsed day"):
            build_report(conn, "HZ", 2026, today=date(2026, 1, 1))
    assert report.to_date == AS_OF
    assert report.account.produced_kg == pytest.approx(HZ_PER_DAY * ELAPSED + industrial)
    assert [m.end for m in report.months][-1] == AS_OF
    assert "2025-01-01/2025-03-02" in to_csv(report)
    assert "year to date, up to 2025-03-02" in to_html(report, lang="en")
    assert ended.to_date is None
    assert "year to date" not in to_html(ended, lang="en")
