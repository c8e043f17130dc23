"""The writer across reconnects: its staging tables follow the connection, not a reused id.

HJ 212 minute and hour data (logger_period) always take the staging path, and so do readings
once a replay is seen. A writer that believed a new connection already had its TEMP tables hit
`UndefinedTable`, which is not retried, and ingestion stopped. Here the writer's backend is
terminated between batches, several times, and every batch must land exactly once.
"""

from __future__ import annotations

import asyncio
import gc
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tests.conftest import EXAMPLE_REGISTRY
from wqmon.ingest.directory import load_directory
from wqmon.ingest.envelope import Envelope
from wqmon.ingest.pipeline import Pipeline, PipelineConfig
from wqmon.model import Period, PeriodRecord, RawPeriodRecord, RawReading
from wqmon.registry.importer import import_file
from wqmon.store.writer import ReadingWriter

T0 = datetime(2025, 3, 1, tzinfo=UTC)
ROUNDS = 6
READINGS_PER_ROUND = 50
PARAMS = ("flow", "cod", "nh3n")


def _count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def _terminate_others(url: str) -> int:
    """Kill every other backend of this database (the writer's), as a failover would."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def _round(n: int) -> Envelope:
    """Readings that overlap the previous round by half (a replay) and hourly period data."""
    start = n * READINGS_PER_ROUND // 2
    readings = [
        RawReading("WWTP-01", "inlet", PARAMS[i % 3], T0 + timedelta(minutes=i), 1.0 + i % 5)
        for i in range(start, start + READINGS_PER_ROUND)
    ]
    periods = [
        RawPeriodRecord(
            "WWTP-01", "inlet", p, Period.HOUR, T0 + timedelta(hours=n), avg=2.0, cou=1.0
        )
        for p in PARAMS
    ] + [
        RawPeriodRecord(
            "WWTP-01", "inlet", "cod", Period.MINUTE, T0 + timedelta(minutes=10 * n), avg=3.0
        )
    ]
    return Envelope("hj212", "logger", readings, periods)


async def test_every_batch_lands_once_across_repeated_backend_kills(db_url: str) -> None:
    import_file(db_url, EXAMPLE_REGISTRY)
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        directory = await load_directory(conn)

    async def connect() -> psycopg.AsyncConnection[Any]:
        # Collect the dropped connection first, as a busy process's GC would: CPython then
        # tends to place the new connection at the old one's address, i.e. the same id().
        gc.collect()
        return await psycopg.AsyncConnection.connect(db_url, connect_timeout=2)

    config = PipelineConfig(batch_linger_s=0.01, retry_base_s=0.01, retry_cap_s=0.05)
    killed = 0
    async with Pipeline(connect, directory, config) as pipeline:
        for n in range(ROUNDS):
            outcome = await asyncio.wait_for(pipeline.submit(_round(n)), 30)
            assert not outcome.rejected, outcome.rejected
            killed += await asyncio.to_thread(_terminate_others, db_url)
    assert killed >= ROUNDS  # the writer's connection really was cut after every batch
    distinct_readings = (ROUNDS + 1) * READINGS_PER_ROUND // 2
    assert _count(db_url, "reading") == distinct_readings
    assert _count(db_url, "logger_period") == ROUNDS * (len(PARAMS) + 1)
    assert pipeline.metrics.value("wqmon_ingest_store_errors_total", kind="unavailable") >= 1


async def test_a_new_connection_gets_its_staging_tables_even_at_a_reused_id(db_url: str) -> None:
    """CPython reuses the id of a freed object: the writer must not trust ids.

    Connections are opened, written through and dropped until two of them got an id that an
    earlier, closed one had; each write must still find its staging table.
    """
    import_file(db_url, EXAMPLE_REGISTRY)
    writer = ReadingWriter()
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        directory = await load_directory(conn)
    info = directory.resolve("WWTP-01", "inlet", "cod")
    assert info is not None
    received = datetime.now(UTC)
    seen: set[int] = set()
    reused = written = 0
    while reused < 2 and written < 200:
        conn = await psycopg.AsyncConnection.connect(db_url)
        reused += id(conn) in seen
        seen.add(id(conn))
        ts = T0 + timedelta(hours=written)
        record = PeriodRecord(info.id, "hour", ts, 1.0, 1.0, 1.0, 1.0, "N", "t", received)
        result = await writer.write(conn, [], [record], [])
        assert result.periods_inserted == 1
        written += 1
        await conn.close()
        del conn
        gc.collect()
    assert reused == 2, f"no id was reused in {written} connections"
    assert _count(db_url, "logger_period") == written
