"""The example driver of docs/drivers.md through the real pipeline into TimescaleDB."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg

from tests.fixtures.gateways import gateway_registry
from wqmon.drivers.line_udp.driver import LineUdpDriver
from wqmon.registry.importer import import_file
from wqmon.services.drivers import build_drivers
from wqmon.services.ingest import IngestService
from wqmon.settings import Settings

LINES = (
    b"ENT-00 outfall cod 2025-05-01T08:00:00+08:00 41.5\n"
    b"ENT-00 outfall ph 2025-05-01T08:00:00+08:00 7.25\n"
    b"ENT-00 outfall cod not-a-time 1\n"
)


class Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answers: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, _addr: tuple[str, int]) -> None:
        self.answers.put_nowait(data)


async def _exchange(port: int, datagram: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
    try:
        transport.sendto(datagram)
        return await asyncio.wait_for(client.answers.get(), 10)
    finally:
        transport.close()


def _rows(db_url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql).fetchall()


async def test_lines_are_stored_once_and_answered_after_commit(db_url: str, tmp_path: Path) -> None:
    registry = tmp_path / "registry.yaml"
    registry.write_text(gateway_registry(1), encoding="utf-8")
    import_file(db_url, registry)
    settings = Settings(
        database_url=db_url,
        hj212_enabled=False,
        modbus_enabled=False,
        alarm_enabled=False,
        rollup_mode="off",
        batch_linger_s=0.02,
        drivers={"line_udp": {"port": 0}},
    )
    service = IngestService(settings, build_drivers(settings))
    await service.start()
    try:
        (driver,) = service.drivers
        assert isinstance(driver, LineUdpDriver)
        await asyncio.wait_for(driver.ready.wait(), 10)
        assert driver.port is not None
        # The answer comes after the commit: the rows are there when it arrives.
        assert await _exchange(driver.port, LINES) == b"ok 2 0 1\n"
        stored = _rows(
            db_url,
            "SELECT c.parameter, r.value, r.source FROM reading r"
            " JOIN channel c ON c.id = r.channel_id ORDER BY c.parameter",
        )
        assert stored == [("w01001", 7.25, "line_udp"), ("w01018", 41.5, "line_udp")]
        dead = _rows(db_url, "SELECT source, reason, raw FROM dead_letter")
        assert dead == [("line_udp", "bad_line", b"ENT-00 outfall cod not-a-time 1")]
        # A resend (the sender missed the answer) is absorbed by the idempotent store.
        assert await _exchange(driver.port, LINES) == b"ok 0 2 1\n"
        assert len(_rows(db_url, "SELECT 1 FROM reading")) == 2
        stored_total = service.telemetry.value(
            "wqmon_ingest_stored_readings_total", source="line_udp"
        )
        assert stored_total == 2
    finally:
        await service.stop()
