"""Alarms honour audit marks: readings in an invalid range raise nothing, live or hourly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from tests.fixtures.alarms import ingest_with_alarms, series
from wqmon.audit.store import Target, create_mark

T0 = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)


def _alarms(db_url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT rule, target FROM alarm ORDER BY id").fetchall()


def _mark(db_url: str, point: str, start: datetime, end: datetime) -> None:
    with psycopg.connect(db_url) as conn:
        create_mark(
            conn,
            Target("WWTP-02", point),
            start=start,
            end=end,
            validity="invalid",
            reason="calibration",
            comment="span check with standard solution",
            user="op",
        )
        conn.commit()


async def test_marked_readings_raise_no_alarm_and_unmarked_ones_do(db_url: str) -> None:
    from tests.conftest import EXAMPLE_REGISTRY  # noqa: PLC0415
    from wqmon.registry.importer import import_file  # noqa: PLC0415

    import_file(db_url, EXAMPLE_REGISTRY)
    _mark(db_url, "outlet", T0, T0 + timedelta(hours=2))  # WWTP-02 outlet COD limit 40

    def hour(start, cod):
        return series("WWTP-02", "outlet", "flow", start, [1000.0] * 12, 5) + series(
            "WWTP-02", "outlet", "cod", start, [cod] * 12, 5
        )

    async with ingest_with_alarms(db_url) as ingest:
        # 60 mg/L for an hour inside the mark: neither live nor hourly exceedance.
        await ingest.put(hour(T0, 60.0))
        await ingest.put(hour(T0 + timedelta(hours=1), 60.0))
        await ingest.put(series("WWTP-02", "outlet", "flow", T0 + timedelta(minutes=123), [1e3], 1))
        assert _alarms(db_url) == []
        # The same water after the mark ends raises both.
        await ingest.put(hour(T0 + timedelta(hours=2), 60.0))
        await ingest.put(series("WWTP-02", "outlet", "flow", T0 + timedelta(minutes=183), [1e3], 1))
    assert set(_alarms(db_url)) == {
        ("exceedance_live", "WWTP-02/outlet/cod"),
        ("exceedance_hour", "WWTP-02/outlet/cod"),
    }
