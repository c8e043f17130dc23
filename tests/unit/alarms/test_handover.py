"""The hand-over to the alarm process: what waits is a gauge, and the child never drops."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from wqmon.alarms.engine import AlarmEngine
from wqmon.alarms.process import AlarmProcess
from wqmon.model import Reading
from wqmon.settings import Settings
from wqmon.telemetry import Telemetry

TS = datetime(2025, 1, 1, tzinfo=UTC)


def batch(n: int) -> list[Reading]:
    return [Reading(1, TS, float(i), "N", "test", TS) for i in range(n)]


async def test_pending_readings_are_a_gauge_until_handed_over() -> None:
    process = AlarmProcess(Settings(), max_pending_readings=250)
    telemetry = Telemetry()
    telemetry.alarms.watch("alarms", process.counts)
    process.on_commit(batch(100), [])
    process.on_commit(batch(100), [])
    process.on_commit(batch(100), [])  # past the bound: dropped and counted, not queued
    assert telemetry.value("wqmon_alarm_pending_readings", component="alarms") == 200
    assert telemetry.value("wqmon_alarm_dropped_readings_total", component="alarms") == 100


async def test_submit_waits_for_room_instead_of_dropping() -> None:
    engine = AlarmEngine("postgresql://unused/db", queue_size=1)
    await engine.submit(batch(1))
    second = asyncio.ensure_future(engine.submit(batch(1)))
    await asyncio.sleep(0.01)
    assert not second.done()  # the queue is full: the feeder waits (stops reading its pipe)
    engine._queue.get_nowait()  # the engine's loop taking a batch
    await asyncio.wait_for(second, 1)
    assert engine.stats.dropped == 0
