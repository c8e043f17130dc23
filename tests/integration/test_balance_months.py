"""`point_month`: kept equal to `point_day` summed per month, and read for whole months."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from alembic import command

from tests.integration.balance_series import DAY_END, DAY_START, raw_readings
from tests.integration.test_balance_rollup import _ingest_and_roll_up, _point_id
from wqmon.balance.accounts import LOW_INLET_COD_MG_L, Granularity
from wqmon.balance.job import rebuild
from wqmon.balance.sums import periods, point_sums
from wqmon.store.migrate import alembic_config

MonthRows = dict[tuple[int, str, date], tuple[Any, ...]]
MONTH_QUERY = (
    "SELECT point_id, parameter, month, volume_m3, load_kg, load_volume_m3, flow_hours, "
    "load_hours, low_days, evaluated_days FROM point_month"
)
FEB, APR = date(2025, 2, 1), date(2025, 4, 1)


def _months(conn: psycopg.Connection[Any]) -> MonthRows:
    return {(r[0], r[1], r[2]): r[3:] for r in conn.execute(MONTH_QUERY)}


def _months_from_days(conn: psycopg.Connection[Any]) -> MonthRows:
    """`point_day` summed per month in Python, days judged by the 260 mg/L rule."""
    sums: dict[tuple[int, str, date], list[float]] = {}
    days = conn.execute(
        "SELECT point_id, parameter, day, volume_m3, load_kg, load_volume_m3, flow_hours, "
        "load_hours FROM point_day ORDER BY day"
    )
    for pid, parameter, day, vol, load, lvol, fh, lh in days:
        acc = sums.setdefault((pid, parameter, day.replace(day=1)), [0.0] * 7)
        for i, value in enumerate((vol, load, lvol, fh, lh)):
            acc[i] += value
        judged = lvol > 0 and lh > 0
        acc[5] += judged and load / lvol * 1000 < LOW_INLET_COD_MG_L
        acc[6] += judged
    return {key: tuple(acc) for key, acc in sums.items()}


def _assert_same(got: MonthRows, expected: MonthRows, rel: float = 1e-12) -> None:
    assert got.keys() == expected.keys()
    assert expected
    for key, row in expected.items():
        assert got[key][:5] == pytest.approx(row[:5], rel=rel), key
        assert got[key][5:] == row[5:], key  # day counts exactly


async def test_point_month_is_point_day_summed_per_month(registry_db_url: str) -> None:
    await _ingest_and_roll_up(registry_db_url, raw_readings())
    with psycopg.connect(registry_db_url) as conn:
        months = _months(conn)
        _assert_same(months, _months_from_days(conn))
    # The local day 2025-03-01 starts with February's last hours (lookback): two months.
    assert {key[2] for key in months} == {FEB, date(2025, 3, 1)}
    assert any(row[6] > 0 for row in months.values())  # days were judged


async def test_whole_months_read_point_month_and_match_the_days(registry_db_url: str) -> None:
    await _ingest_and_roll_up(registry_db_url, raw_readings())
    months = periods(FEB, APR, Granularity.MONTH)
    with psycopg.connect(registry_db_url) as conn:
        ids = [_point_id(conn, "WWTP-01", p) for p in ("inlet", "outlet")]
        ids.append(_point_id(conn, "ENT-01", "outfall"))
        by_month = point_sums(conn, ids, months, Granularity.MONTH)
        by_day = point_sums(conn, ids, periods(FEB, APR, Granularity.DAY), Granularity.DAY)
        # Nothing but point_month can answer once point_day is gone.
        conn.execute("DELETE FROM point_day")
        assert point_sums(conn, ids, months, Granularity.MONTH) == by_month
        conn.rollback()
    assert by_month.keys() == set(months)
    for (lo, hi), per_point in by_month.items():
        for pid, sums in per_point.items():
            days = [pp[pid] for (d, _), pp in by_day.items() if lo <= d < hi and pid in pp]
            assert sums[:5] == pytest.approx([sum(s[i] for s in days) for i in range(5)])
            assert sums[5:] == (sum(s.low_days for s in days), sum(s.evaluated_days for s in days))


async def test_rebuild_restores_months_and_drops_emptied_ones(registry_db_url: str) -> None:
    await _ingest_and_roll_up(registry_db_url, raw_readings())
    lo, hi = DAY_START - timedelta(hours=2), DAY_END + timedelta(hours=5)
    with psycopg.connect(registry_db_url) as conn:
        before = _months(conn)
        conn.execute("DELETE FROM point_month")
        assert rebuild(conn, lo, hi) > 0
        _assert_same(_months(conn), before, rel=1e-9)
        inlet = _point_id(conn, "WWTP-01", "inlet")
        conn.execute(
            "DELETE FROM reading USING channel c WHERE c.id = reading.channel_id "
            "AND c.point_id = %s",
            (inlet,),
        )
        rebuild(conn, lo - timedelta(days=1), hi + timedelta(days=1))
        after = _months(conn)
    assert any(key[0] == inlet for key in before)
    assert not any(key[0] == inlet for key in after)
    _assert_same(after, {k: v for k, v in before.items() if k[0] != inlet}, rel=1e-9)


async def test_migration_fills_point_month_from_existing_days(registry_db_url: str) -> None:
    await _ingest_and_roll_up(registry_db_url, raw_readings())
    with psycopg.connect(registry_db_url) as conn:
        before = _months(conn)
    config = alembic_config(registry_db_url)
    await asyncio.to_thread(command.downgrade, config, "0006")
    await asyncio.to_thread(command.upgrade, config, "head")
    with psycopg.connect(registry_db_url) as conn:
        _assert_same(_months(conn), before)
