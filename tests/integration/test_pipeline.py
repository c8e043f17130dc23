"""The ingest pipeline against a real database, in both storage modes.

Exactly-once is proven by counting rows: a replay stores nothing twice, a bad row costs only
itself, and a database outage delays acknowledgements without losing anything.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import EXAMPLE_REGISTRY
from tests.fixtures.services import PgCluster
from wqmon.ingest.directory import Directory, load_directory
from wqmon.ingest.envelope import Envelope, Outcome
from wqmon.ingest.pipeline import Pipeline, PipelineConfig
from wqmon.model import RawReading, Reading
from wqmon.registry.importer import import_file
from wqmon.settings import Settings
from wqmon.store.migrate import migrate
from wqmon.store.writer import ReadingWriter

T0 = datetime(2025, 3, 1, tzinfo=UTC)
CHANNELS = [("WWTP-01", "inlet", p) for p in ("flow", "cod", "nh3n", "tp", "tn", "ph")] + [
    ("WWTP-02", "outlet", p) for p in ("flow", "cod", "nh3n", "tp", "tn", "ph")
]


async def _directory(db_url: str) -> Directory:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        return await load_directory(conn)


def _pipeline(db_url: str, directory: Directory, **config: Any) -> Pipeline:
    async def connect() -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(db_url, connect_timeout=2)

    return Pipeline(connect, directory, PipelineConfig(**config))


def _envelopes(total: int, per_envelope: int = 100) -> list[Envelope]:
    """`total` distinct readings spread over 12 channels, one per 30 s per channel."""
    raws = [
        RawReading(
            site, point, param, T0 + timedelta(seconds=30 * (i // len(CHANNELS))), 1.0 + i % 7
        )
        for i, (site, point, param) in ((i, CHANNELS[i % len(CHANNELS)]) for i in range(total))
    ]
    return [
        Envelope("test", "unit", raws[i : i + per_envelope]) for i in range(0, total, per_envelope)
    ]


async def _put_all(pipeline: Pipeline, envelopes: list[Envelope]) -> list[Outcome]:
    futures = [await pipeline.put(e) for e in envelopes]
    return list(await asyncio.gather(*futures))


def _count(db_url: str, sql: str = "SELECT count(*) FROM reading") -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


async def test_replay_of_100k_readings_stores_each_exactly_once(registry_db_url: str) -> None:
    directory = await _directory(registry_db_url)
    async with _pipeline(registry_db_url, directory) as pipeline:
        first = await _put_all(pipeline, _envelopes(100_000))
        second = await _put_all(pipeline, _envelopes(100_000))
    assert sum(o.stored for o in first) == 100_000
    assert sum(o.duplicates for o in first) == 0
    assert sum(o.stored for o in second) == 0
    assert sum(o.duplicates for o in second) == 100_000
    assert _count(registry_db_url) == 100_000
    m = pipeline.metrics
    assert m.value("wqmon_ingest_stored_readings_total", source="test") == 100_000
    assert m.value("wqmon_ingest_duplicate_readings_total", source="test") == 100_000
    assert m.value("wqmon_ingest_received_readings_total", source="test") == 200_000


async def test_partial_replay_counts_duplicates_per_envelope(registry_db_url: str) -> None:
    directory = await _directory(registry_db_url)
    envelopes = _envelopes(1_000, per_envelope=250)
    async with _pipeline(registry_db_url, directory) as pipeline:
        await _put_all(pipeline, envelopes[:2])
        outcomes = await _put_all(pipeline, envelopes)
    assert [(o.stored, o.duplicates) for o in outcomes] == [(0, 250), (0, 250), (250, 0), (250, 0)]
    assert _count(registry_db_url) == 1_000


async def test_invalid_reading_is_dead_lettered_and_the_rest_stored(registry_db_url: str) -> None:
    directory = await _directory(registry_db_url)
    envelope = _envelopes(10, per_envelope=10)[0]
    bad = RawReading("WWTP-01", "inlet", "cod", T0, math.nan)
    envelope.readings.insert(3, bad)
    async with _pipeline(registry_db_url, directory) as pipeline:
        outcome = await pipeline.submit(envelope)
    assert outcome.stored == 10
    assert [(r.index, r.reason) for r in outcome.rejected] == [(3, "non_finite")]
    assert _count(registry_db_url) == 10
    with psycopg.connect(registry_db_url) as conn:
        rows = conn.execute("SELECT source, peer, reason, detail, raw FROM dead_letter").fetchall()
    assert len(rows) == 1
    source, peer, reason, detail, raw = rows[0]
    assert (source, peer, reason) == ("test", "unit", "non_finite")
    assert "nan" in detail
    assert b'"parameter": "cod"' in bytes(raw)


async def test_row_refused_by_the_database_costs_only_itself(registry_db_url: str) -> None:
    """The writer isolates a row the database rejects (here a check constraint)."""
    received = datetime.now(UTC)
    good = [Reading(1, T0 + timedelta(minutes=i), 1.0, "N", "test", received) for i in range(99)]
    bad = Reading(1, T0 - timedelta(minutes=1), 1.0, "TOOLONG", "test", received)
    rows = [*good[:40], bad, *good[40:]]
    writer = ReadingWriter()
    async with await psycopg.AsyncConnection.connect(registry_db_url) as conn:
        result = await writer.write(conn, rows, [], [])
    assert result.readings_inserted == 99
    assert [r for r, _ in result.refused_readings] == [bad]
    assert "ck_reading_flag_length" in result.refused_readings[0][1]
    assert _count(registry_db_url) == 99
    assert (
        _count(registry_db_url, "SELECT count(*) FROM dead_letter WHERE reason = 'store_refused'")
        == 1
    )


async def test_unknown_channel_and_future_time_dead_lettered(registry_db_url: str) -> None:
    directory = await _directory(registry_db_url)
    now = datetime.now(UTC)
    envelope = Envelope(
        "test",
        "unit",
        [
            RawReading("WWTP-01", "inlet", "cod", now - timedelta(minutes=1), 300.0),
            RawReading("WWTP-01", "nowhere", "cod", now, 300.0),
            RawReading("WWTP-01", "inlet", "cod", now + timedelta(days=3), 300.0),
        ],
    )
    async with _pipeline(registry_db_url, directory) as pipeline:
        outcome = await pipeline.submit(envelope)
    assert outcome.stored == 1
    assert sorted(r.reason for r in outcome.rejected) == ["future_time", "unknown_channel"]
    assert _count(registry_db_url, "SELECT count(*) FROM dead_letter") == 2


async def test_shutdown_drains_everything_accepted(registry_db_url: str) -> None:
    directory = await _directory(registry_db_url)
    pipeline = _pipeline(registry_db_url, directory, batch_size=500, batch_linger_s=0.05)
    pipeline.start()
    futures = [await pipeline.put(e) for e in _envelopes(5_000, per_envelope=50)]
    await pipeline.stop()
    assert all(f.done() for f in futures)
    assert _count(registry_db_url) == 5_000


@pytest.fixture
def outage_db(own_pg: PgCluster) -> str:
    with psycopg.connect(own_pg.url(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE wqmon")
    url = own_pg.url("wqmon")
    migrate(Settings(database_url=url, timescale="require"))
    import_file(url, EXAMPLE_REGISTRY)
    return url


async def test_database_outage_delays_acks_and_loses_nothing(
    own_pg: PgCluster, outage_db: str
) -> None:
    directory = await _directory(outage_db)
    pipeline = _pipeline(outage_db, directory, batch_size=200, batch_linger_s=0.02, retry_cap_s=0.5)
    async with pipeline:
        before = await _put_all(pipeline, _envelopes(1_000)[:5])
        assert sum(o.stored for o in before) == 500
        own_pg.stop("immediate")
        during = [await pipeline.put(e) for e in _envelopes(1_000)[5:]]
        await asyncio.sleep(1.0)
        assert not any(f.done() for f in during), "acknowledged while the database was down"
        await asyncio.to_thread(own_pg.start)
        outcomes = await asyncio.wait_for(asyncio.gather(*during), 60)
    assert sum(o.stored + o.duplicates for o in outcomes) == 500
    assert _count(outage_db) == 1_000
    assert pipeline.metrics.value("wqmon_ingest_store_errors_total", kind="unavailable") >= 1


async def test_outage_with_spool_acknowledges_then_replays_exactly_once(
    own_pg: PgCluster, outage_db: str, tmp_path: Path
) -> None:
    """With a spool, sources are acknowledged during the outage (after fsync), and every
    acknowledged reading is in the database exactly once when it returns."""
    directory = await _directory(outage_db)
    spool_dir = tmp_path / "spool"
    pipeline = _pipeline(
        outage_db, directory, batch_size=200, batch_linger_s=0.02, spool_dir=spool_dir
    )
    envelopes = _envelopes(2_000)
    async with pipeline:
        await _put_all(pipeline, envelopes[:5])
        own_pg.stop("immediate")
        during = await asyncio.wait_for(_put_all(pipeline, envelopes[5:15]), 30)
        assert all(o.spooled for o in during)
        assert not pipeline.store_available
        assert any(p.stat().st_size for p in spool_dir.glob("*.seg"))
        # A replay of what the sources already sent, while still down: spooled again, harmless.
        await asyncio.wait_for(_put_all(pipeline, envelopes[10:15]), 30)
        await asyncio.to_thread(own_pg.start)
        for _ in range(300):
            if pipeline.store_available:
                break
            await asyncio.sleep(0.1)
        assert pipeline.store_available
        after = await _put_all(pipeline, envelopes[15:])
        assert not any(o.spooled for o in after)
    assert _count(outage_db) == 2_000
    assert not any(p.stat().st_size for p in spool_dir.glob("*.seg"))


async def test_spool_left_by_a_crash_is_replayed_at_start(
    own_pg: PgCluster, outage_db: str, tmp_path: Path
) -> None:
    directory = await _directory(outage_db)
    spool_dir = tmp_path / "spool"
    first = _pipeline(
        outage_db, directory, batch_size=100, batch_linger_s=0.02, spool_dir=spool_dir
    )
    own_pg.stop("immediate")
    first.start()
    await asyncio.wait_for(_put_all(first, _envelopes(500)), 30)
    # The process dies: tasks gone, nothing replayed; only the spool folder remains.
    for task in first._tasks:
        task.cancel()
    await asyncio.gather(*first._tasks, return_exceptions=True)
    await asyncio.to_thread(own_pg.start)
    second = _pipeline(outage_db, directory, batch_size=100, spool_dir=spool_dir)
    assert not second.store_available  # it found the spool and replays before anything else
    async with second:
        for _ in range(300):
            if second.store_available:
                break
            await asyncio.sleep(0.1)
    assert _count(outage_db) == 500


async def test_bulk_copy_encoding_round_trips_through_postgresql(any_db_url: str) -> None:
    """Every field the writer's own binary encoder sends comes back exactly."""
    rng = __import__("random").Random(7)
    received = datetime(2025, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)
    rows = [
        Reading(
            rng.randrange(1, 2**31 - 1),
            T0 + timedelta(microseconds=rng.randrange(0, 10**13)),
            rng.uniform(-1e9, 1e9),
            rng.choice(["N", "T", "D", "EF01"]),
            rng.choice(["mqtt", "hj212", "http"]),
            received,
        )
        for _ in range(2_000)
    ]
    async with await psycopg.AsyncConnection.connect(any_db_url) as conn:
        result = await ReadingWriter().write(conn, rows, [], [])
        assert result.readings_inserted == len({(r.channel_id, r.ts) for r in rows})
        got = await (
            await conn.execute(
                "SELECT channel_id, ts, value, flag, source, received_at FROM reading"
            )
        ).fetchall()
    assert sorted(Reading(*g) for g in got) == sorted(
        {(r.channel_id, r.ts): r for r in rows}.values()
    )
