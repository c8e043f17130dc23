"""Rollups against a real database: through the pipeline, the maintainer, late data, rebuild."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest

from tests.integration.balance_series import (
    DAY,
    DAY_END,
    DAY_START,
    SERIES,
    independent,
    raw_readings,
    utc,
)
from wqmon.balance.accounts import daily_totals, plant_account, plant_days
from wqmon.balance.job import RollupMaintainer, rebuild
from wqmon.balance.queries import plant_balance, region_balance
from wqmon.balance.records import COD, FLOW
from wqmon.balance.store import compute_hours, load_points
from wqmon.ingest.directory import load_directory
from wqmon.ingest.envelope import Envelope
from wqmon.ingest.pipeline import Pipeline, PipelineConfig
from wqmon.model import RawReading
from wqmon.services.ingest import IngestService
from wqmon.settings import Settings


def _point_id(conn: psycopg.Connection[Any], site: str, point: str) -> int:
    row = conn.execute(
        "SELECT p.id FROM point p JOIN site s ON s.id = p.site_id WHERE s.code = %s "
        "AND p.code = %s",
        (site, point),
    ).fetchone()
    assert row is not None
    return int(row[0])


async def _ingest(db_url: str, maintainer: RollupMaintainer, raws: list[RawReading]) -> None:
    """Store readings through the real pipeline with the maintainer as commit listener."""
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        directory = await load_directory(conn)

    async def connect() -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(db_url)

    pipeline = Pipeline(connect, directory, PipelineConfig(batch_size=2000))
    pipeline.add_commit_listener(maintainer.on_commit)
    pipeline.start()
    outcomes = [
        await pipeline.submit(Envelope("test", "unit", raws[i : i + 500]))
        for i in range(0, len(raws), 500)
    ]
    await pipeline.stop()
    assert sum(o.stored for o in outcomes) == len(raws)
    assert all(not o.rejected for o in outcomes)


async def _ingest_and_roll_up(db_url: str, raws: list[RawReading]) -> RollupMaintainer:
    maintainer = RollupMaintainer(db_url)
    await _ingest(db_url, maintainer, raws)
    hours = await asyncio.to_thread(maintainer.drain)
    assert hours > 0
    assert maintainer.stats.dropped == 0
    return maintainer


def _cod_day(db_url: str, site: str, point: str) -> tuple[float, float, float, float]:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT volume_m3, load_kg, load_volume_m3, load_hours FROM point_day "
            "WHERE point_id = %s AND parameter = %s AND day = %s",
            (_point_id(conn, site, point), COD, DAY),
        ).fetchone()
    assert row is not None
    return row


async def test_plant_day_matches_an_independent_calculation(registry_db_url: str) -> None:
    await _ingest_and_roll_up(registry_db_url, raw_readings())
    for site, point in (("WWTP-01", "inlet"), ("WWTP-01", "outlet"), ("ENT-01", "outfall")):
        volume, load, conc = independent(
            SERIES[(site, point, "flow")], SERIES[(site, point, "cod")]
        )
        got_volume, got_load, got_load_volume, _ = _cod_day(registry_db_url, site, point)
        assert got_volume == pytest.approx(volume, rel=1e-3)
        assert got_load == pytest.approx(load, rel=1e-3)
        assert got_load / got_load_volume * 1000 == pytest.approx(conc, rel=1e-3)
    # The rules really were exercised: the inlet lost volume to the gap and the D flag, and load
    # to the expired hold (10:00–12:00 UTC has flow but no concentration).
    inlet_volume, _, inlet_load_volume, load_hours = _cod_day(registry_db_url, "WWTP-01", "inlet")
    assert inlet_load_volume < inlet_volume
    assert load_hours < 24 - 2


async def test_hour_rows_carry_flags_coverage_and_held_values(registry_db_url: str) -> None:
    await _ingest_and_roll_up(registry_db_url, raw_readings())
    with psycopg.connect(registry_db_url) as conn:
        inlet = _point_id(conn, "WWTP-01", "inlet")
        rows = {
            (p, h): (cov, flag, load)
            for p, h, cov, flag, load in conn.execute(
                "SELECT parameter, hour, coverage, flag, load_kg FROM point_hour "
                "WHERE point_id = %s",
                (inlet,),
            )
        }
    assert rows[(FLOW, utc(1, 2))][:2] == (pytest.approx(0.5), "D")  # half an hour flagged
    assert rows[(FLOW, utc(1, 13))][0] == pytest.approx(10 / 60)  # 12:55 holds until 13:10
    assert rows[(COD, utc(1, 4))][1] == "C"  # the skipped C result still flags its hour
    assert rows[(COD, utc(1, 4))][0] == pytest.approx(1.0)  # 02:00's result is held over it
    assert rows[(COD, utc(1, 11))][0] == 0.0  # 06:00's result expired at 10:00
    # The first hour of the local day uses the lookback (results from before the day).
    assert rows[(COD, DAY_START)][0] == pytest.approx(1.0)


def _figures(db_url: str, hour_point: int) -> dict[str, float]:
    with psycopg.connect(db_url) as conn:
        hour = conn.execute(
            "SELECT load_kg FROM point_hour WHERE point_id = %s AND parameter = %s AND hour = %s",
            (hour_point, COD, utc(1, 6)),
        ).fetchone()
        hours = conn.execute(
            "SELECT sum(load_kg) FROM point_hour WHERE point_id = %s AND parameter = %s "
            "AND hour >= %s AND hour < %s",
            (hour_point, COD, DAY_START, DAY_END),
        ).fetchone()
        day = plant_balance(conn, "WWTP-01", DAY, DAY + timedelta(days=1), "day")
        month = plant_balance(conn, "WWTP-01", date(2025, 3, 1), date(2025, 4, 1), "month")
        year = plant_balance(conn, "WWTP-01", date(2025, 1, 1), date(2026, 1, 1), "year")
        hz = region_balance(conn, "HZ", year=2025)
        lyg = region_balance(conn, "LYG", year=2025)
    assert hour is not None
    assert hours is not None

    def inlet_load(body: dict[str, Any]) -> float:
        return float(body["periods"][0]["inlet"]["load_kg"])

    def collected(body: dict[str, Any]) -> float:
        return float(body["periods"][0]["account"]["collected_kg"])

    return {
        "hour": float(hour[0]),
        "hours": float(hours[0]),
        "day": inlet_load(day),
        "month": inlet_load(month),
        "year": inlet_load(year),
        "hz": collected(hz),
        "lyg": collected(lyg),
        "hz_rate": float(hz["periods"][0]["account"]["collection_rate"]),
    }


async def test_late_data_changes_the_hour_and_everything_above_it(registry_db_url: str) -> None:
    maintainer = await _ingest_and_roll_up(registry_db_url, raw_readings())
    with psycopg.connect(registry_db_url) as conn:
        inlet = _point_id(conn, "WWTP-01", "inlet")
    before = _figures(registry_db_url, inlet)
    # HZ holds WWTP-02 too, which has no data; the city's only data is HZ's.
    assert before["year"] == pytest.approx(before["hz"]) == pytest.approx(before["lyg"])
    assert before["day"] < before["month"] <= before["year"]  # holds reach past the local day
    # A late analyser result at 06:30 replaces 06:00's held value from then on.
    late = [RawReading("WWTP-01", "inlet", "cod", utc(1, 6, 30), 900.0)]
    await _ingest(registry_db_url, maintainer, late)
    await asyncio.to_thread(maintainer.drain)
    after = _figures(registry_db_url, inlet)
    flow = SERIES[("WWTP-01", "inlet", "flow")]
    cod = sorted([*SERIES[("WWTP-01", "inlet", "cod")], (utc(1, 6, 30), 900.0, "N")])
    _, expected_load, _ = independent(flow, cod)
    assert after["day"] == pytest.approx(expected_load, rel=1e-3)
    delta = after["day"] - before["day"]
    assert delta > 100
    # The result is held for 4 h (no result at 08:00 and 10:00): later hours change too.
    assert after["hour"] > before["hour"]
    for level in ("hours", "month", "year", "hz", "lyg"):
        assert after[level] - before[level] == pytest.approx(delta, rel=1e-6), level
    assert after["hz_rate"] > before["hz_rate"]


async def test_rebuild_reproduces_the_incremental_rollup(registry_db_url: str) -> None:
    await _ingest_and_roll_up(registry_db_url, raw_readings())
    query = (
        "SELECT point_id, parameter, hour, volume_m3, load_kg, coverage, flag, source "
        "FROM point_hour ORDER BY 1, 2, 3"
    )
    with psycopg.connect(registry_db_url) as conn:
        incremental = conn.execute(query).fetchall()
        days = conn.execute("SELECT * FROM point_day ORDER BY 1, 2, 3").fetchall()
        conn.execute("DELETE FROM point_hour")
        conn.execute("DELETE FROM point_day")
        conn.commit()
        hours = rebuild(conn, DAY_START - timedelta(hours=2), DAY_END + timedelta(hours=5))
        assert hours > 0
        assert _rounded(conn.execute(query).fetchall()) == _rounded(incremental)
        rebuilt_days = conn.execute("SELECT * FROM point_day ORDER BY 1, 2, 3").fetchall()
    # computed_at differs
    assert _rounded([row[:-1] for row in rebuilt_days]) == _rounded([row[:-1] for row in days])


def _rounded(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows]


async def test_sql_period_sums_equal_the_pure_plant_account(registry_db_url: str) -> None:
    await _ingest_and_roll_up(registry_db_url, raw_readings())
    start, end = date(2025, 2, 27), date(2025, 3, 4)
    with psycopg.connect(registry_db_url) as conn:
        ids = {role: _point_id(conn, "WWTP-01", role) for role in ("inlet", "outlet")}
        points = load_points(conn, ids.values())
        lo, hi = DAY_START - timedelta(days=2), DAY_END + timedelta(days=3)
        totals = {
            role: daily_totals(
                compute_hours(conn, points[pid], lo, hi), start=start, end=end, tz=points[pid].tz
            )
            for role, pid in ids.items()
        }
        got = plant_balance(conn, "WWTP-01", start, end, "month")
    pure = plant_account(
        plant_days("WWTP-01", 100000, inlets=[totals["inlet"]], outlets=[totals["outlet"]]),
        start=start,
        end=end,
    )
    period = got["periods"]
    assert isinstance(period, list)
    assert len(period) == 2  # February (clipped) and March (clipped)
    inlet_load = sum(p["inlet"]["load_kg"] for p in period)
    assert inlet_load == pytest.approx(pure.inlet.load_kg, rel=1e-9)
    assert sum(p["outlet"]["load_kg"] for p in period) == pytest.approx(pure.outlet.load_kg)
    assert sum(p["evaluated_days"] for p in period) == pure.evaluated_days
    assert sum(p["low_conc_days"] for p in period) == pure.low_conc_days
    expected = sum(p["inlet"]["expected_hours"] for p in period)
    assert expected == pure.inlet.expected_hours


async def test_ingest_service_marks_hours_it_stores_even_at_shutdown(registry_db_url: str) -> None:
    service = IngestService(Settings(database_url=registry_db_url), [])
    await service.start()
    assert service.pipeline is not None
    raws = [RawReading("WWTP-01", "inlet", "flow", utc(1, 3, m), 3000.0) for m in range(0, 60, 5)]
    outcome = await service.pipeline.submit(Envelope("test", "unit", raws))
    assert outcome.stored == len(raws)
    await service.stop()
    # Whatever the running task did not finish is in rollup_dirty: a fresh maintainer does it.
    await asyncio.to_thread(RollupMaintainer(registry_db_url).drain)
    with psycopg.connect(registry_db_url) as conn:
        row = conn.execute(
            "SELECT volume_m3, coverage FROM point_hour WHERE point_id = %s AND parameter = %s "
            "AND hour = %s",
            (_point_id(conn, "WWTP-01", "inlet"), FLOW, utc(1, 3)),
        ).fetchone()
    assert row == (pytest.approx(3000.0), pytest.approx(1.0))
