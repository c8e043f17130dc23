"""Every kind of long-running task, broken or killed, is restarted and ingestion resumes.

Each test breaks one real task once (a method of the real object raises RuntimeError on its
first call, or a child process is SIGKILLed by its PID), then shows that readings still land
(rows counted in TimescaleDB) and that `wqmon_task_restarts_total{task}` went up.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from wqmon.drivers.base import DriverContext
from wqmon.errors import ConfigError
from wqmon.ingest.directory import load_directory
from wqmon.ingest.envelope import Envelope
from wqmon.ingest.pipeline import Pipeline, PipelineConfig
from wqmon.ingest.spool_segments import Spool, SpooledBatch
from wqmon.model import RawReading, Reading
from wqmon.services.ingest import IngestService, run_until_signalled
from wqmon.settings import Settings
from wqmon.supervision import TaskFailed

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
PARAMS = ("flow", "cod", "nh3n", "tp", "tn", "ph")


def _envelope(start: int, count: int, site: str = "WWTP-01") -> Envelope:
    raws = [
        RawReading(site, "inlet", PARAMS[i % 6], NOW + timedelta(seconds=30 * i), 1.0 + i % 5)
        for i in range(start, start + count)
    ]
    return Envelope("test", "unit", raws)


def _count(url: str, sql: str = "SELECT count(*) FROM reading") -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def _fail_once(obj: object, method: str) -> list[int]:
    """Make `obj.method` raise RuntimeError on its first call only; returns the call count."""
    original: Callable[..., Awaitable[Any]] = getattr(obj, method)
    calls = [0]

    async def broken(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError(f"{method} broke (test)")
        return await original(*args, **kwargs)

    setattr(obj, method, broken)
    return calls


async def _wait_until(predicate: Callable[[], bool], timeout_s: float = 60.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.05)


def _restarts(pipeline: Pipeline, task: str) -> float:
    return pipeline.metrics.value("wqmon_task_restarts_total", task=task)


async def _pipeline(url: str, **config: Any) -> Pipeline:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        directory = await load_directory(conn)

    async def connect() -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(url, connect_timeout=2)

    defaults: dict[str, Any] = {"batch_linger_s": 0.01, "retry_base_s": 0.01, "retry_cap_s": 0.1}
    return Pipeline(connect, directory, PipelineConfig(**(defaults | config)))


# -- pipeline tasks -----------------------------------------------------------------------------


async def test_writer_that_raises_is_restarted_and_its_batch_lands(registry_db_url: str) -> None:
    pipeline = await _pipeline(registry_db_url)
    calls = _fail_once(pipeline._writer, "write")
    async with pipeline:
        outcomes = await asyncio.wait_for(
            asyncio.gather(*[pipeline.submit(_envelope(i * 100, 100)) for i in range(5)]), 60
        )
    assert calls[0] >= 2
    assert sum(o.stored for o in outcomes) == 500
    assert _count(registry_db_url) == 500
    assert _restarts(pipeline, "ingest:writer:0") == 1


async def test_batcher_that_raises_is_restarted_and_nothing_is_lost(registry_db_url: str) -> None:
    pipeline = await _pipeline(registry_db_url)
    calls = _fail_once(pipeline, "_hand_over")
    async with pipeline:
        outcomes = await asyncio.wait_for(
            asyncio.gather(*[pipeline.submit(_envelope(i * 50, 50)) for i in range(4)]), 60
        )
    assert calls[0] >= 2
    assert sum(o.stored for o in outcomes) == 200
    assert _count(registry_db_url) == 200
    assert _restarts(pipeline, "ingest:batcher") == 1


async def test_spool_replayer_that_raises_is_restarted_and_replays_once(
    registry_db_url: str, tmp_path: Path
) -> None:
    """A spool left by a crash; the replayer breaks on its first batch and replays after."""
    async with await psycopg.AsyncConnection.connect(registry_db_url) as conn:
        directory = await load_directory(conn)
    channel = directory.resolve("WWTP-01", "inlet", "cod")
    assert channel is not None
    received = datetime.now(UTC)
    spool = Spool(tmp_path, 10**8)
    for b in range(3):
        rows = [
            Reading(channel.id, NOW + timedelta(minutes=b * 100 + i), 1.0, "N", "test", received)
            for i in range(100)
        ]
        spool.append(SpooledBatch(rows, [], []))
    pipeline = await _pipeline(registry_db_url, spool_dir=tmp_path)
    calls = _fail_once(pipeline, "write_rows")
    assert not pipeline.store_available
    async with pipeline:
        await _wait_until(lambda: pipeline.store_available)
    assert calls[0] >= 4  # the broken call, then the three batches
    assert _count(registry_db_url) == 300
    assert _restarts(pipeline, "ingest:spool") == 1


# -- the ingest service: drivers, rollups, alarm loops, child processes --------------------------


def _settings(url: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "database_url": url,
        "hj212_enabled": False,
        "modbus_enabled": False,
        "rollup_mode": "off",
        "alarm_enabled": False,
        "batch_linger_s": 0.02,
    }
    return Settings(**(base | overrides))


class FlakyDriver:
    """Raises on its first run; on its second it stores readings, then runs until cancelled."""

    name = "flaky"

    def __init__(self) -> None:
        self.runs = 0
        self.stored = 0

    async def run(self, ctx: DriverContext) -> None:
        self.runs += 1
        if self.runs == 1:
            raise RuntimeError("device driver bug (test)")
        outcome = await ctx.sink.submit(_envelope(0, 120))
        self.stored += outcome.stored
        await asyncio.sleep(3600)


class MisconfiguredDriver:
    name = "misconfigured"

    def __init__(self) -> None:
        self.runs = 0

    async def run(self, _ctx: DriverContext) -> None:
        self.runs += 1
        raise ConfigError("driver misconfigured: port 'abc' is not a number")


async def test_driver_that_raises_is_restarted_and_ingests(registry_db_url: str) -> None:
    driver = FlakyDriver()
    service = IngestService(_settings(registry_db_url), [driver])
    await service.start()
    try:
        await _wait_until(lambda: driver.stored == 120)
    finally:
        await service.stop()
    assert driver.runs == 2
    assert _count(registry_db_url) == 120
    assert service.pipeline is not None
    assert _restarts(service.pipeline, "driver:flaky") == 1
    assert service.failure is None


async def test_permanent_driver_error_stops_the_service(registry_db_url: str) -> None:
    driver = MisconfiguredDriver()
    service = IngestService(_settings(registry_db_url), [driver])
    with pytest.raises(TaskFailed, match="driver:misconfigured: driver misconfigured"):
        await asyncio.wait_for(run_until_signalled(service), 60)
    assert driver.runs == 1  # not retried
    assert service.pipeline is not None
    assert _restarts(service.pipeline, "driver:misconfigured") == 0


def test_wqmon_ingest_exits_non_zero_with_one_line_on_a_permanent_error(
    registry_db_url: str,
) -> None:
    """A bad MQTT URL is a ConfigError raised inside the running MQTT driver."""
    env = {
        **os.environ,
        "WQMON_DATABASE_URL": registry_db_url,
        "WQMON_MQTT_URL": "http://127.0.0.1:1",
        "WQMON_HJ212_ENABLED": "false",
        "WQMON_MODBUS_ENABLED": "false",
        "WQMON_ROLLUP_MODE": "off",
        "WQMON_ALARM_ENABLED": "false",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "wqmon.cli", "ingest"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("wqmon: error:")]
    expected = (
        "wqmon: error: driver:mqtt: WQMON_MQTT_URL: unsupported scheme 'http' "
        "(use mqtt:// or mqtts://)"
    )
    assert errors == [expected]


async def test_rollup_task_that_raises_is_restarted_and_recomputes(registry_db_url: str) -> None:
    service = IngestService(_settings(registry_db_url, rollup_mode="inline"), [])
    await service.start()
    assert service.rollups is not None
    rollups = service.rollups
    original = rollups.cycle
    calls = [0]

    def broken() -> int:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("rollup bug (test)")
        return original()

    rollups.cycle = broken  # type: ignore[method-assign]
    try:
        assert service.pipeline is not None
        await service.pipeline.submit(_envelope(0, 240))
        await _wait_until(lambda: rollups.stats.hours > 0)
    finally:
        await service.stop()
    assert calls[0] >= 2
    assert _restarts(service.pipeline, "ingest:rollups") == 1
    assert _count(registry_db_url, "SELECT count(*) FROM point_hour") > 0


async def test_alarm_engine_loop_that_raises_is_restarted(registry_db_url: str) -> None:
    service = IngestService(_settings(registry_db_url, alarm_enabled=True, alarm_mode="inline"), [])
    await service.start()
    engine = service.alarms
    assert engine is not None
    assert service.pipeline is not None
    _fail_once(engine._queue, "get")
    try:
        await _wait_until(lambda: _restarts(service.pipeline, "alarms:engine") == 1)  # type: ignore[arg-type]
        await service.pipeline.submit(_envelope(0, 60))
        await _wait_until(lambda: engine.stats.readings >= 60)
    finally:
        await service.stop()
    assert engine.stats.batches >= 1


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


async def test_killed_rollup_worker_is_restarted_and_keeps_recomputing(
    registry_db_url: str,
) -> None:
    service = IngestService(_settings(registry_db_url, rollup_mode="process"), [])
    await service.start()
    assert service.pipeline is not None
    pipeline = service.pipeline
    dirty = "SELECT count(*) FROM rollup_dirty"
    try:
        await _wait_until(lambda: service._rollup_worker is not None)
        first = service._rollup_worker
        assert first is not None
        await asyncio.sleep(1.0)  # inside its loop
        _kill(first.pid)
        await _wait_until(lambda: _restarts(pipeline, "ingest:rollup-worker") == 1)
        await _wait_until(lambda: service._rollup_worker is not first)
        second = service._rollup_worker
        assert second is not None
        assert second.pid != first.pid
        assert second.returncode is None
        await pipeline.submit(_envelope(0, 240))
        # The maintainer marks the hours; only the new worker recomputes them.
        hours = "SELECT count(*) FROM point_hour"
        await _wait_until(lambda: _count(registry_db_url, hours) > 0, 60)
        await _wait_until(lambda: _count(registry_db_url, dirty) == 0, 60)
    finally:
        await service.stop()
    assert _count(registry_db_url, "SELECT count(*) FROM point_hour") > 0


async def test_killed_alarm_worker_is_restarted_and_raises_alarms(registry_db_url: str) -> None:
    settings = _settings(registry_db_url, alarm_enabled=True, alarm_mode="process")
    service = IngestService(settings, [])
    await service.start()
    assert service.pipeline is not None
    assert service.alarm_process is not None
    pipeline, alarms = service.pipeline, service.alarm_process
    try:
        first = alarms.pid
        assert first is not None
        await asyncio.sleep(1.0)  # the child has read its settings
        _kill(first)
        await _wait_until(lambda: _restarts(pipeline, "alarms:child") == 1)
        await _wait_until(lambda: alarms.pid not in (None, first))
        assert alarms.spawned == 2
        await asyncio.sleep(2.0)  # the new child's engine loaded its state
        high = RawReading("ENT-01", "outfall", "cod", datetime.now(UTC), 99_000.0)
        outcome = await pipeline.submit(Envelope("test", "unit", [high]))
        assert outcome.stored == 1
        alarm_rows = "SELECT count(*) FROM alarm"
        await _wait_until(lambda: _count(registry_db_url, alarm_rows) > 0, 60)
    finally:
        await service.stop()
