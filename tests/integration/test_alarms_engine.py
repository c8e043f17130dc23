"""Readings through the real pipeline raise and clear alarms in the database (both modes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import psycopg

from tests.fixtures.alarms import ingest_with_alarms, series
from wqmon.alarms.config import AlarmConfig
from wqmon.alarms.engine import AlarmEngine

T0 = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)


def _rows(db_url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql).fetchall()


def _alarms(db_url: str) -> list[tuple[object, ...]]:
    return _rows(db_url, "SELECT rule, target, state FROM alarm ORDER BY id")


async def test_live_exceedance_raises_and_clears(registry_db_url: str) -> None:
    async with ingest_with_alarms(registry_db_url) as ingest:
        # WWTP-01 outlet COD limit 50 (gb18918-1a): 55 mg/L held for 40 min, then 40 for 20 min.
        await ingest.put(series("WWTP-01", "outlet", "cod", T0, [55.0] * 9, 5))
        assert _alarms(registry_db_url) == [("exceedance_live", "WWTP-01/outlet/cod", "active")]
        await ingest.put(
            series("WWTP-01", "outlet", "cod", T0 + timedelta(minutes=45), [40.0] * 4, 5)
        )
    assert _alarms(registry_db_url) == [("exceedance_live", "WWTP-01/outlet/cod", "cleared")]
    events = _rows(registry_db_url, "SELECT kind, alarm->>'target' FROM alarm_event ORDER BY id")
    assert events == [("raised", "WWTP-01/outlet/cod"), ("cleared", "WWTP-01/outlet/cod")]


def _hour(site: str, start: datetime, cod: float) -> list:
    return series(site, "outlet", "flow", start, [1000.0] * 12, 5) + series(
        site, "outlet", "cod", start, [cod] * 12, 5
    )


async def test_hourly_exceedance_and_restart_without_duplicates(registry_db_url: str) -> None:
    # WWTP-02 outlet COD limit is 40 (a per-point override of gb18918-1a).
    config = AlarmConfig()
    async with ingest_with_alarms(registry_db_url, config) as ingest:
        await ingest.put(_hour("WWTP-02", T0, 45.0))
        # A reading after the hour (plus grace) closes it: the hour's mean is evaluated.
        await ingest.put(
            series("WWTP-02", "outlet", "flow", T0 + timedelta(minutes=63), [1000.0], 1)
        )
    hourly = "SELECT id, state, value FROM alarm WHERE rule = 'exceedance_hour'"
    rows = _rows(registry_db_url, hourly)
    assert len(rows) == 1
    assert rows[0][1] == "active"
    assert abs(float(rows[0][2]) - 45.0) < 1e-6  # type: ignore[arg-type]
    # A restarted engine reads the open alarm back: another bad hour raises nothing new.
    async with ingest_with_alarms(registry_db_url, config) as ingest:
        assert ("exceedance_hour", "WWTP-02/outlet/cod") in {
            (r.value, t) for (r, t), tr in ingest.engine.trackers.items() if tr.is_open
        }
        await ingest.put(_hour("WWTP-02", T0 + timedelta(hours=2), 48.0))
        await ingest.put(
            series("WWTP-02", "outlet", "flow", T0 + timedelta(minutes=183), [1000.0], 1)
        )
        # Then a clean hour (under 40 × 0.9) clears it.
        await ingest.put(_hour("WWTP-02", T0 + timedelta(hours=4), 30.0))
        await ingest.put(
            series("WWTP-02", "outlet", "flow", T0 + timedelta(minutes=303), [1000.0], 1)
        )
    assert [r[1] for r in _rows(registry_db_url, hourly)] == ["cleared"]
    kinds = _rows(
        registry_db_url,
        "SELECT e.kind FROM alarm_event e JOIN alarm a ON a.id = e.alarm_id "
        "WHERE a.rule = 'exceedance_hour' ORDER BY e.id",
    )
    assert kinds == [("raised",), ("cleared",)]


async def test_no_data_by_clock_and_instrument_state(registry_db_url: str) -> None:
    async with ingest_with_alarms(registry_db_url) as ingest:
        # ENT-01 outfall flow reported with flag D (fault) for 35 min.
        raws = series("ENT-01", "outfall", "flow", T0, [10.0] * 8, 5)
        await ingest.put([msgspec.structs.replace(r, flag="D") for r in raws])
        engine: AlarmEngine = ingest.engine
        events = await engine.tick(T0 + timedelta(minutes=35 + 31))
    rules = {(r[0], r[1]) for r in _alarms(registry_db_url)}
    assert ("instrument_state", "ENT-01/outfall/flow") in rules
    assert ("no_data", "ENT-01/outfall/flow") in rules
    assert any(e.kind == "raised" and e.alarm["rule"] == "no_data" for e in events)
