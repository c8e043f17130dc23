"""The example driver of docs/drivers.md (reading lines over UDP) with a FakeSink."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from wqmon.drivers.line_udp.driver import LineUdpConfig, LineUdpDriver
from wqmon.ingest.contract import DriverContext
from wqmon.ingest.directory import ChannelInfo, Directory
from wqmon.ingest.fake_sink import FakeSink
from wqmon.parameters import by_code
from wqmon.protocol.line import BadLine, parse_datagram
from wqmon.services.drivers import build_drivers
from wqmon.settings import Settings
from wqmon.telemetry import Telemetry

NOW = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
DIRECTORY = Directory(
    channels={("S1", "inlet", "w01018"): ChannelInfo(7, "S1", "inlet", "inlet", by_code("w01018"))}
)
DATAGRAM = (
    b"S1 inlet cod 2025-03-01T08:00:00+08:00 312.5\n"
    b"\n"
    b"S1 inlet cod 2025-03-01T08:10:00+08:00 298 T\n"
    b"S1 inlet cod yesterday 1\n"
    b"S1 inlet chlorophyll 2025-03-01T08:00:00+08:00 1\n"
)


def test_lines_parse_into_readings_and_refusals() -> None:
    readings, bad = parse_datagram(DATAGRAM)
    assert [(r.parameter, r.ts, r.value, r.flag) for r in readings] == [
        ("cod", datetime(2025, 3, 1, 0, 0, tzinfo=UTC), 312.5, "N"),
        ("cod", datetime(2025, 3, 1, 0, 10, tzinfo=UTC), 298.0, "T"),
        ("chlorophyll", datetime(2025, 3, 1, 0, 0, tzinfo=UTC), 1.0, "N"),
    ]
    assert bad == [BadLine("S1 inlet cod yesterday 1", "Invalid isoformat string: 'yesterday'")]
    assert parse_datagram(b"S1 inlet cod")[1][0].detail.startswith("3 fields")


class Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answers: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, _addr: tuple[str, int]) -> None:
        self.answers.put_nowait(data)


@pytest.fixture
async def running() -> AsyncIterator[tuple[FakeSink, LineUdpDriver]]:
    sink = FakeSink(DIRECTORY, clock=lambda: NOW, hold=True)
    driver = LineUdpDriver(LineUdpConfig(port=0))
    task = asyncio.create_task(
        driver.run(DriverContext(sink, lambda: DIRECTORY, lambda: NOW, Telemetry()))
    )
    async with asyncio.timeout(5):
        await driver.ready.wait()
    yield sink, driver
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_the_sender_is_answered_only_after_the_sink_resolves(
    running: tuple[FakeSink, LineUdpDriver],
) -> None:
    sink, driver = running
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(
        Client, remote_addr=("127.0.0.1", driver.port or 0)
    )
    try:
        transport.sendto(DATAGRAM)
        await sink.wait_for(lambda s: len(s.envelopes) == 1)
        await asyncio.sleep(0.2)
        assert client.answers.empty(), "answered before the envelope was committed"
        sink.release()
        answer = await asyncio.wait_for(client.answers.get(), 5)
    finally:
        transport.close()
    # Stored: the two COD lines. Rejected: the bad time (by the driver), chlorophyll (by
    # validation: not a parameter of the catalogue).
    assert answer == b"ok 2 0 2\n"
    assert [(r.channel_id, r.value) for r in sink.readings] == [(7, 312.5), (7, 298.0)]
    assert sink.reasons == ["bad_line", "unknown_parameter"]
    assert sink.dead_letters[0].raw == b"S1 inlet cod yesterday 1"


def test_one_registration_line_builds_it_from_the_settings() -> None:
    settings = Settings(
        hj212_enabled=False, modbus_enabled=False, drivers={"line_udp": {"port": 9999}}
    )
    (driver,) = build_drivers(settings)
    assert isinstance(driver, LineUdpDriver)
    assert driver.config == LineUdpConfig(port=9999)
