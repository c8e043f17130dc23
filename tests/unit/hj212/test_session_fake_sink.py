"""The HJ 212 driver and its `Session`s over a loopback socket, with a `FakeSink`: no database.

The sink holds every outcome until the test releases it (the "commit"), so the tests show that
a 9014 is written only after the sink resolves, that refused frames are dead letters and never
answered, and that a 1013 gets its 9013 and a 1012 with the server's clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from wqmon.drivers.hj212.config import Hj212Config
from wqmon.drivers.hj212.server import Hj212Driver
from wqmon.ingest.contract import DriverContext
from wqmon.ingest.directory import ChannelInfo, Directory, PointInfo
from wqmon.ingest.fake_sink import FakeSink
from wqmon.parameters import by_code
from wqmon.protocol.hj212 import builder
from wqmon.protocol.hj212.framer import Frame, FrameReader
from wqmon.protocol.hj212.packet import Packet, parse_segment
from wqmon.telemetry import Telemetry

TZ = ZoneInfo("Asia/Shanghai")
MN, PW = "010000A8900016F000169DC0", "123456"
NOW = datetime(2025, 3, 1, 0, 5, 30, tzinfo=UTC)  # 08:05:30 in Asia/Shanghai
DATA_TIME = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
QUIET_S = 0.3  # how long "no answer" is watched for

DIRECTORY = Directory(
    channels={
        ("WWTP-01", "inlet", code): ChannelInfo(n, "WWTP-01", "inlet", "inlet", by_code(code))
        for n, code in enumerate(("w01018", "w00000"), start=1)
    },
    points_by_mn={
        MN: PointInfo("WWTP-01", "inlet", "inlet", TZ, MN, PW, {}, frozenset({"w01018", "w00000"}))
    },
)


@dataclass
class Logger:
    """The test's side of one connection: writes frames, reads and parses the answers."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    frames: FrameReader
    pending: list[Packet] = field(default_factory=list)  # read, not yet looked at

    async def send(self, frame: bytes) -> None:
        self.writer.write(frame)
        await self.writer.drain()

    async def answer(self, timeout_s: float = 5.0) -> Packet:
        async with asyncio.timeout(timeout_s):
            while not self.pending:
                for result in self.frames.feed(await self.reader.read(4096)):
                    assert isinstance(result, Frame), result
                    self.pending.append(parse_segment(result.segment))
        return self.pending.pop(0)

    async def silent(self) -> bool:
        """Nothing arrives within QUIET_S."""
        try:
            async with asyncio.timeout(QUIET_S):
                data = await self.reader.read(4096)
        except TimeoutError:
            return True
        return not data


@dataclass
class Rig:
    sink: FakeSink
    driver: Hj212Driver
    telemetry: Telemetry
    logger: Logger


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    sink = FakeSink(DIRECTORY, clock=lambda: NOW, hold=True)
    telemetry = Telemetry()
    driver = Hj212Driver(Hj212Config(host="127.0.0.1", port=0, gap_fill_after_s=0))
    ctx = DriverContext(sink, lambda: DIRECTORY, lambda: NOW, telemetry)
    task = asyncio.create_task(driver.run(ctx))
    async with asyncio.timeout(5):
        await driver.ready.wait()
    assert driver.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", driver.port)
    try:
        yield Rig(sink, driver, telemetry, Logger(reader, writer, FrameReader()))
    finally:
        writer.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def upload(qn: str, mn: str = MN, cod: float = 312.5) -> bytes:
    objects = {"w01018": {"Rtd": cod, "Flag": "N"}, "w00000": {"Rtd": 450.0, "Flag": "N"}}
    segment = builder.upload_segments(
        cn=builder.CN_REALTIME, mn=mn, pw=PW, data_time=DATA_TIME, tz=TZ, objects=objects,
        qns=[qn], flag=5,
    )[0]  # fmt: skip
    return builder.build_frame(segment)


async def test_9014_is_written_only_after_the_sink_resolves(rig: Rig) -> None:
    await rig.logger.send(upload("20250301080000001"))
    await rig.sink.wait_for(lambda s: len(s.envelopes) == 1)
    assert await rig.logger.silent(), "answered before the envelope was committed"
    assert rig.sink.release() == 1
    answer = await rig.logger.answer()
    assert (answer.cn, answer.qn, answer.mn) == ("9014", "20250301080000001", MN)
    # What the sink validated is what the logger sent, in canonical units and UTC: HJ 212
    # sends flow (w00000) in L/s, stored in m³/h (1 L/s = 3.6 m³/h).
    assert sorted((r.channel_id, r.ts, r.value) for r in rig.sink.readings) == [
        (1, DATA_TIME, 312.5),
        (2, DATA_TIME, pytest.approx(450.0 * 3.6)),
    ]
    assert rig.driver.state.get(MN).acks == 1
    assert rig.telemetry.value("wqmon_hj212_packets_total", component="hj212", outcome="accepted")
    assert rig.telemetry.value("wqmon_hj212_ack_seconds_count", component="hj212") == 1
    assert rig.telemetry.value("wqmon_hj212_connections_open", component="hj212") == 1


async def test_a_rejected_reading_is_still_answered_and_dead_lettered(rig: Rig) -> None:
    # The sink refuses the implausible COD (validation), the flow is stored; the upload as a
    # whole was received, so the logger must not resend it: it gets its 9014.
    await rig.logger.send(upload("20250301080000002", cod=-5.0))
    await rig.sink.wait_for(lambda s: len(s.envelopes) == 1)
    rig.sink.release()
    assert (await rig.logger.answer()).qn == "20250301080000002"
    assert rig.sink.reasons == ["implausible_value"]
    assert [r.channel_id for r in rig.sink.readings] == [2]


async def test_bad_crc_and_unknown_mn_are_dead_letters_and_never_answered(rig: Rig) -> None:
    good = upload("20250301080000003")
    broken = good[:-6] + (b"0000" if good[-6:-2] != b"0000" else b"FFFF") + b"\r\n"
    await rig.logger.send(broken)
    await rig.logger.send(upload("20250301080000004", mn="NOT-REGISTERED"))
    await rig.sink.wait_for(lambda s: len(s.dead_letters) == 2)
    rig.sink.release()
    assert await rig.logger.silent()
    assert rig.sink.reasons == ["bad_crc", "unknown_mn"]
    assert rig.sink.dead_letters[0].raw == broken
    assert rig.sink.envelopes == []
    assert rig.driver.state.faults == {"bad_crc": 1, "unknown_mn": 1}
    for reason in ("bad_crc", "unknown_mn"):
        assert (
            rig.telemetry.value("wqmon_hj212_packets_total", component="hj212", outcome=reason) == 1
        )


async def test_1013_gets_9013_then_1012_with_the_server_clock(rig: Rig) -> None:
    request = builder.build_segment(
        cn=builder.CN_TIME_CALIBRATION, mn=MN, pw=PW, cp="", qn="20250301080000005", flag=5
    )
    await rig.logger.send(builder.build_frame(request))
    notify = await rig.logger.answer()
    assert (notify.cn, notify.qn) == ("9013", "20250301080000005")
    set_time = await rig.logger.answer()
    assert set_time.cn == "1012"
    # SystemTime is the server's clock in the site's zone: 00:05:30 UTC is 08:05:30 at UTC+8.
    assert set_time.cp.fields["SystemTime"] == "20250301080530"
    assert rig.sink.envelopes == []
    assert rig.sink.dead_letters == []
