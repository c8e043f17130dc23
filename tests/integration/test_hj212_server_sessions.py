"""The HJ 212 server's sessions: history pulls (CLI and gap fill), time calibration, hostile
clients, idle timeout and the per-peer connection limit, over real loopback TCP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.hj212_harness import (
    ENT06,
    PERIODS_SQL,
    T0,
    running_server,
)
from wqmon import cli
from wqmon.protocol.hj212.builder import CpObjects

HOURLY: CpObjects = {"w00000": {"Avg": 17.5, "Cou": 63.0}, "w01018": {"Avg": 30.0, "Cou": 1.89}}
PROBE: CpObjects = {"w01018": {"Rtd": 40.0, "Flag": "N"}}


def hourly_history(cn: str, begin: datetime, end: datetime) -> Iterable[tuple[datetime, CpObjects]]:
    """A logger's stored hourly data: one record per hour from begin to end inclusive."""
    assert cn == "2061"
    hour = begin
    while hour <= end:
        yield hour, HOURLY
        hour += timedelta(hours=1)


async def test_backfill_from_the_cli_reaches_the_logger_and_lands(
    registry_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WQMON_DATABASE_URL", registry_db_url)
    argv = ["hj212", "backfill", "--mn", ENT06[0], "--from", "2025-03-01T08:00"]
    argv += ["--to", "2025-03-01T10:00", "--cn", "2061", "--wait", "60"]
    async with running_server(registry_db_url) as server:
        # The command is queued before the logger connects: it waits for the logger.
        cli_run = asyncio.create_task(asyncio.to_thread(cli.main, argv))
        await server.wait_rows("SELECT 1 FROM hj212_command", 1)
        async with server.logger(ENT06, history=hourly_history) as logger:
            [probe] = await logger.send_realtime(datetime.now(UTC), PROBE)
            assert probe.acked
            assert await cli_run == 0
        [request] = logger.history_requests
        assert request.cp.fields == {"BeginTime": "20250301080000", "EndTime": "20250301100000"}
        rows = await server.rows(PERIODS_SQL)
        [(state, detail)] = await server.rows("SELECT state, detail FROM hj212_command")
    assert {(r[2], r[4]) for r in rows} == {
        (code, T0 + timedelta(hours=h)) for code in HOURLY for h in range(3)
    }
    assert state == "done"
    assert "QnRtn=1 ExeRtn=1, 3 uploads" in detail


async def test_a_logger_back_after_a_long_silence_is_asked_for_the_missed_hours(
    registry_db_url: str,
) -> None:
    async with running_server(registry_db_url, hj212_gap_fill_after_s=1800) as server:
        async with server.logger(ENT06, history=hourly_history) as logger:
            await logger.send_realtime(datetime.now(UTC), PROBE)
        assert logger.history_requests == []  # first contact: nothing to fill
        # As if the logger had been silent for three hours.
        silent_since = datetime.now(UTC) - timedelta(hours=3)
        server.driver.state.get(ENT06[0]).last_packet_at = silent_since
        async with server.logger(ENT06, history=hourly_history) as logger:
            await logger.send_realtime(datetime.now(UTC), PROBE)
            await logger.wait_for(lambda lg: len(lg.history_requests) == 1, timeout_s=20)
            rows = await server.wait_rows(PERIODS_SQL, 2 * 3)
    first_hour = silent_since.replace(minute=0, second=0, microsecond=0)
    assert sorted({r[4] for r in rows}) == [first_hour + timedelta(hours=h) for h in range(3)]


async def test_time_calibration_is_answered_and_the_clock_set_in_site_time(
    registry_db_url: str,
) -> None:
    async with running_server(registry_db_url) as server, server.logger(ENT06) as logger:
        assert await logger.request_time_calibration()
        await logger.wait_for(lambda lg: bool(lg.time_settings), timeout_s=20)
        [system_time] = logger.time_settings
    assert abs(system_time - datetime.now(UTC)) < timedelta(seconds=60)
    assert [p.cn for p in logger.received] == ["9013", "1012"]


async def test_hostile_clients_do_not_stall_a_good_logger(registry_db_url: str) -> None:
    async with running_server(registry_db_url, hj212_max_faults_per_connection=20) as server:
        _, stalled = await asyncio.open_connection("127.0.0.1", server.port)
        stalled.write(b"##0300QN=20250301080000001;ST=32;CN=2011;PW=")  # half a frame, then stop
        await stalled.drain()
        flood_reader, flood = await asyncio.open_connection("127.0.0.1", server.port)
        with contextlib.suppress(ConnectionError):
            for _ in range(200):
                flood.write(b"\xff" * 4096)
                await flood.drain()
        async with server.logger(ENT06) as logger:
            [result] = await logger.send_realtime(datetime.now(UTC), PROBE)
        assert result.acked
        async with asyncio.timeout(20):
            with contextlib.suppress(ConnectionError):
                while await flood_reader.read(4096):
                    pass  # the server closes the flooding connection after 20 faults
        assert server.driver.state.faults["garbage"] >= 20
        for writer in (stalled, flood):
            writer.close()


async def test_idle_connections_are_closed(registry_db_url: str) -> None:
    # 1.5 s: longer than an acknowledgement takes on a loaded machine, so only the silent one idles.
    async with running_server(registry_db_url, hj212_idle_timeout_s=1.5) as server:
        async with server.logger(ENT06) as logger:
            await logger.send_realtime(datetime.now(UTC), PROBE)
            state = server.driver.state.loggers[ENT06[0]]
            assert state.connected
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            async with asyncio.timeout(20):
                assert await reader.read(100) == b""  # closed by the server
                while state.connected:
                    await asyncio.sleep(0.01)
            writer.close()
        assert server.driver.state.connections == 0


async def test_connections_beyond_the_per_peer_limit_are_refused(registry_db_url: str) -> None:
    async with running_server(registry_db_url, hj212_max_connections_per_peer=2) as server:
        async with server.logger(ENT06) as logger:
            await logger.send_realtime(datetime.now(UTC), PROBE)
            _, second = await asyncio.open_connection("127.0.0.1", server.port)
            third_reader, third = await asyncio.open_connection("127.0.0.1", server.port)
            async with asyncio.timeout(20):
                assert await third_reader.read(100) == b""
            [result] = await logger.send_realtime(datetime.now(UTC), PROBE)
            assert result.acked  # the first connection still works
        for writer in (second, third):
            writer.close()
    assert server.driver.state.refused_connections == 1
