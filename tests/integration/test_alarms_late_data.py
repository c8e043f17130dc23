"""Replayed and late data are kept out of the live alarm rules; hour rules still judge them.

A real pipeline and a real engine configured as `wqmon ingest` configures it (from Settings).
A backfill of two-day-old data, received now, must neither open nor close a live alarm, nor make
the no-data rule think the channels fell silent two days ago; its hours are still evaluated.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import psycopg

from tests.fixtures.alarms import ingest_with_alarms, series
from wqmon.alarms.config import config_from_settings
from wqmon.settings import Settings


def _alarms(db_url: str) -> set[tuple[str, str, str]]:
    with psycopg.connect(db_url) as conn:
        return set(conn.execute("SELECT rule, target, state FROM alarm").fetchall())


def _hour(site: str, start: datetime, cod: float) -> list:
    return series(site, "outlet", "flow", start, [1000.0] * 12, 5) + series(
        site, "outlet", "cod", start, [cod] * 12, 5
    )


async def test_a_backfill_opens_and_closes_no_live_alarm(registry_db_url: str) -> None:
    db = registry_db_url
    config = config_from_settings(Settings(database_url=db))
    now = datetime.now(UTC)
    old = (now - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    async with ingest_with_alarms(db, config) as ingest:
        # Two-day-old history, received now: 40 min above the limit (WWTP-01 outlet COD ≤ 50),
        # and a logger flag B on the inlet flow; then a whole bad hour at WWTP-02 (≤ 40).
        await ingest.put(series("WWTP-01", "outlet", "cod", old, [55.0] * 9, 5))
        flagged = series("WWTP-01", "inlet", "flow", old, [3000.0] * 12, 5)
        await ingest.put([msgspec.structs.replace(r, flag="B") for r in flagged])
        await ingest.put(_hour("WWTP-02", old, 45.0))
        await ingest.put(
            series("WWTP-02", "outlet", "flow", old + timedelta(minutes=63), [1000.0], 1)
        )
        await ingest.engine.tick(now + timedelta(seconds=10))
        # The hour rules judged the replayed hour; no live rule fired, no channel is "silent".
        assert _alarms(db) == {("exceedance_hour", "WWTP-02/outlet/cod", "active")}

        # Live data opens a live alarm as before (COD is an analyser: 40 min of results).
        live = now - timedelta(minutes=40)
        await ingest.put(series("WWTP-01", "outlet", "cod", live, [55.0] * 9, 5))
        assert ("exceedance_live", "WWTP-01/outlet/cod", "active") in _alarms(db)
        # A late good value does not close it.
        await ingest.put(
            series("WWTP-01", "outlet", "cod", old + timedelta(hours=3), [10.0] * 9, 5)
        )
        assert ("exceedance_live", "WWTP-01/outlet/cod", "active") in _alarms(db)
    assert ingest.engine.stats.late > 0
