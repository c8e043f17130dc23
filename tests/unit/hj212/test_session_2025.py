"""HJ 212-2025 in the server, over a loopback socket with a `FakeSink` and an in-memory book.

Encrypted uploads are opened with the MN's keys (both keys during a rotation), answered in plain
text with the 2025 version bits; a wrong key or a plain packet from an MN that must encrypt is a
dead letter and never answered; 9015, 1001/1002, 1014, 2062 and RF=1 do what docs/hj212.md says.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from wqmon.drivers.hj212.config import Hj212Config
from wqmon.drivers.hj212.server import Hj212Driver
from wqmon.ingest.contract import DriverContext
from wqmon.ingest.directory import ChannelInfo, Directory, PointInfo
from wqmon.ingest.fake_sink import FakeSink
from wqmon.parameters import by_code
from wqmon.protocol.hj212 import builder
from wqmon.protocol.hj212.convert import PointBinding, convert_packet
from wqmon.protocol.hj212.encryption import open_segment
from wqmon.protocol.hj212.framer import Frame, FrameReader
from wqmon.protocol.hj212.packet import Packet, parse_segment
from wqmon.protocol.hj212.sm4 import key_id
from wqmon.protocol.hj212.version import Version, make_flag
from wqmon.store.hj212_book import MemoryHj212Book
from wqmon.telemetry import Telemetry

TZ = ZoneInfo("Asia/Shanghai")
MN, PW = "010000A8900016F000202501", "123456"
STRICT_MN = "010000A8900016F000202502"  # require_encryption
KEY_A, KEY_B, WRONG = b"0" * 16, bytes(range(16)), b"\xaa" * 16
T0 = datetime(2026, 3, 1, 0, 5, 30, tzinfo=UTC)
DATA_TIME = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
QUIET_S = 0.3
FLAG_2025_ACK = make_flag(Version.HJ212_2025, ack=True)  # 9


def _point(mn: str, options: dict[str, object]) -> PointInfo:
    return PointInfo(
        "WWTP-25", "inlet" if mn == MN else "outlet", "inlet" if mn == MN else "outlet",
        TZ, mn, PW, options, frozenset({"w01018", "w00000"}),
    )  # fmt: skip


DIRECTORY = Directory(
    channels={
        ("WWTP-25", point, code): ChannelInfo(n, "WWTP-25", point, point, by_code(code))
        for n, (point, code) in enumerate(
            [(p, c) for p in ("inlet", "outlet") for c in ("w01018", "w00000")], start=1
        )
    },
    points_by_mn={MN: _point(MN, {}), STRICT_MN: _point(STRICT_MN, {"require_encryption": True})},
)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Logger:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    frames: FrameReader = field(default_factory=FrameReader)
    pending: list[Frame] = field(default_factory=list)

    async def send(self, frame: bytes) -> None:
        self.writer.write(frame)
        await self.writer.drain()

    async def frame(self, timeout_s: float = 5.0) -> Frame:
        async with asyncio.timeout(timeout_s):
            while not self.pending:
                for result in self.frames.feed(await self.reader.read(65536)):
                    assert isinstance(result, Frame), result
                    self.pending.append(result)
        return self.pending.pop(0)

    async def answer(self) -> Packet:
        frame = await self.frame()
        assert not frame.encrypted
        return parse_segment(frame.segment)

    async def silent(self) -> bool:
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
    book: MemoryHj212Book
    clock: Clock
    logger: Logger


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = Clock()
    sink = FakeSink(DIRECTORY, clock=clock)
    book = MemoryHj212Book(grace=timedelta(days=7), clock=clock)
    config = Hj212Config(host="127.0.0.1", port=0, gap_fill_after_s=0, logger_flush_s=0.1)
    driver = Hj212Driver(config, book)
    task = asyncio.create_task(
        driver.run(DriverContext(sink, lambda: DIRECTORY, clock, Telemetry()))
    )
    async with asyncio.timeout(5):
        await driver.ready.wait()
    assert driver.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", driver.port)
    try:
        yield Rig(sink, driver, book, clock, Logger(reader, writer))
    finally:
        writer.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def upload(
    qn: str, key: bytes | None, *, mn: str = MN, cod: float = 312.5, flag: int = FLAG_2025_ACK,
    resent: bool = False,
) -> bytes:  # fmt: skip
    objects = {"w01018": {"Rtd": cod, "Flag": "N"}, "w00000": {"Rtd": 450.0, "Flag": "N"}}
    segment = builder.upload_segments(
        cn=builder.CN_REALTIME, mn=mn, pw=PW, data_time=DATA_TIME, tz=TZ, objects=objects,
        qns=[qn], flag=flag,
    )[0]  # fmt: skip
    if resent:
        segment = segment.replace(";CP=&&", ";RF=1;CP=&&")
    return builder.build_frame(segment, key)


async def test_encrypted_upload_is_decrypted_stored_and_answered_in_plain_2025(rig: Rig) -> None:
    rig.book.set_key(MN, KEY_A)
    frame = upload("20260301080000001", KEY_A)
    assert b"{0x" in frame
    await rig.logger.send(frame)
    answer = await rig.logger.answer()
    assert (answer.cn, answer.qn, answer.flag) == ("9014", "20260301080000001", 8)
    assert sorted((r.channel_id, r.value) for r in rig.sink.readings) == [
        (1, 312.5),
        (2, pytest.approx(450.0 * 3.6)),
    ]
    state = rig.driver.state.get(MN)
    assert (state.version, state.encrypted, state.key_id) == ("2025", True, key_id(KEY_A))
    await rig.driver.flush_loggers()
    seen = rig.book.seen[MN]
    assert (seen.version, seen.encrypted) == ("2025", True)


async def test_one_listener_takes_2017_plain_2025_and_encrypted_2025(rig: Rig) -> None:
    rig.book.set_key(MN, KEY_A)
    for n, (flag, key) in enumerate([(5, None), (FLAG_2025_ACK, None), (FLAG_2025_ACK, KEY_A)]):
        await rig.logger.send(upload(f"2026030108000001{n}", key, flag=flag, cod=300.0 + n))
        answer = await rig.logger.answer()
        assert answer.flag == (4 if flag == 5 else 8)
        version = rig.driver.state.get(MN)
        assert (version.version, version.encrypted) == (
            ("2017", False),
            ("2025", False),
            ("2025", True),
        )[n]
    assert [r.value for r in rig.sink.readings if r.channel_id == 1] == [300.0, 301.0, 302.0]


async def test_wrong_key_is_dead_lettered_as_decrypt_failed_and_not_answered(rig: Rig) -> None:
    rig.book.set_key(MN, KEY_A)
    frame = upload("20260301080000002", WRONG)
    await rig.logger.send(frame)
    await rig.sink.wait_for(lambda s: len(s.dead_letters) == 1)
    assert await rig.logger.silent()
    (letter,) = rig.sink.dead_letters
    assert letter.reason == "decrypt_failed"
    assert "does not decrypt to a valid data segment" in letter.detail
    assert letter.raw == frame
    assert KEY_A.hex() not in letter.detail.lower()
    assert rig.sink.envelopes == []


async def test_encrypted_packet_from_an_mn_without_a_key_is_refused(rig: Rig) -> None:
    await rig.logger.send(upload("20260301080000003", KEY_A))
    await rig.sink.wait_for(lambda s: len(s.dead_letters) == 1)
    assert "no key set" in rig.sink.dead_letters[0].detail
    assert await rig.logger.silent()


async def test_rotation_accepts_both_keys_in_flight_until_the_grace_ends(rig: Rig) -> None:
    rig.book.set_key(MN, KEY_A)
    await rig.logger.send(upload("20260301080000010", KEY_A, cod=310.0))
    assert (await rig.logger.answer()).qn == "20260301080000010"
    rig.book.set_key(MN, KEY_B)  # `wqmon hj212 key set` again: A is superseded now
    # The logger switches over while packets under the old key are still in flight.
    await rig.logger.send(upload("20260301080000011", KEY_B, cod=311.0))
    await rig.logger.send(upload("20260301080000012", KEY_A, cod=312.0))
    answered = {(await rig.logger.answer()).qn for _ in range(2)}
    assert answered == {"20260301080000011", "20260301080000012"}
    rig.clock.now = T0 + timedelta(days=7, seconds=1)  # grace over: A is retired
    await rig.logger.send(upload("20260301080000013", KEY_A, cod=313.0))
    await rig.sink.wait_for(lambda s: len(s.dead_letters) == 1)
    assert rig.sink.reasons == ["decrypt_failed"]
    assert sorted(r.value for r in rig.sink.readings if r.channel_id == 1) == [310.0, 311.0, 312.0]


async def test_plain_2025_refused_only_where_encryption_is_required(rig: Rig) -> None:
    rig.book.set_key(STRICT_MN, KEY_A)
    await rig.logger.send(upload("20260301080000020", None, mn=STRICT_MN))
    await rig.sink.wait_for(lambda s: len(s.dead_letters) == 1)
    assert rig.sink.reasons == ["plain_refused"]
    assert await rig.logger.silent()
    await rig.logger.send(upload("20260301080000021", KEY_A, mn=STRICT_MN))
    assert (await rig.logger.answer()).qn == "20260301080000021"


async def test_heartbeat_answered_when_asked_keeps_online_state_and_is_not_a_reading(
    rig: Rig,
) -> None:
    rig.clock.now = T0 + timedelta(minutes=3)
    await rig.logger.send(builder.heartbeat(qn="20260301080830000", mn=MN, pw=PW))
    answer = await rig.logger.answer()
    assert (answer.cn, answer.qn, answer.flag) == ("9013", "20260301080830000", 8)
    state = rig.driver.state.get(MN)
    assert state.last_heartbeat_at == state.last_packet_at == rig.clock.now
    assert state.heartbeats == 1
    assert rig.sink.envelopes == []
    await rig.driver.flush_loggers()
    assert rig.book.seen[MN].last_heartbeat_at == rig.clock.now


async def test_unknown_logger_1001_is_pending_then_gets_its_mn_with_1002(rig: Rig) -> None:
    hello = builder.hardware_upload(
        qn="20260301080000030", mn="000000000000000000000000", pw="",
        identity=["DL-7788", "CPU-1", "00:11:22:33:44:55", "00:11:22:33:44:56"],
    )  # fmt: skip
    await rig.logger.send(hello)
    assert (await rig.logger.answer()).cn == "9014"
    device, peer, mn, sent = rig.book.devices["DL-7788"]
    assert (device.cpu_id, device.mac1, mn, sent) == ("CPU-1", "00:11:22:33:44:55", None, False)
    assert peer.startswith("127.0.0.1:")
    rig.book.assign("DL-7788", MN)  # `wqmon hj212 activate --hardware DL-7788 --mn MN`
    await rig.logger.send(hello)
    assert (await rig.logger.answer()).cn == "9014"
    set_mn = await rig.logger.answer()
    assert (set_mn.cn, set_mn.mn) == ("1002", MN)
    assert set_mn.cp.items["i23005"]["Info"] == "DL-7788"
    assert rig.book.devices["DL-7788"][3] is True
    await rig.logger.send(hello)  # activated: no second 1002
    assert (await rig.logger.answer()).cn == "9014"
    assert await rig.logger.silent()


async def test_1014_issues_a_new_key_under_the_old_one_and_records_it(rig: Rig) -> None:
    rig.book.set_key(MN, KEY_A)
    request = builder.new_key_request(
        qn="20260301080000040", mn=MN, pw=PW, created="20260301080000", key=KEY_A
    )
    await rig.logger.send(request)
    frame = await rig.logger.frame()
    assert frame.encrypted, "the new key must not travel in plain text"
    plain = open_segment(frame.segment, frame.declared_length, frame.crc_text, [KEY_A]).segment
    reply = parse_segment(plain)
    assert (reply.cn, reply.qn) == ("1014", "20260301080000040")
    assert reply.cp.fields["SKCreateTime"] == "20260301080000"
    new_key = bytes.fromhex(reply.cp.fields["NewSK"])
    history = rig.book.history[MN]
    assert [(k, origin) for k, origin, _ in history] == [(new_key, "platform"), (KEY_A, "cli")]
    await rig.logger.send(upload("20260301080000041", new_key))
    assert (await rig.logger.answer()).qn == "20260301080000041"
    await rig.logger.send(upload("20260301080000042", KEY_A))  # still in grace
    assert (await rig.logger.answer()).qn == "20260301080000042"


async def test_plain_1014_is_refused(rig: Rig) -> None:
    request = builder.new_key_request(
        qn="20260301080000043", mn=MN, pw=PW, created="20260301080000", key=None
    )
    await rig.logger.send(request)
    await rig.sink.wait_for(lambda s: len(s.dead_letters) == 1)
    assert rig.sink.reasons == ["plain_refused"]
    assert MN not in rig.book.history


async def test_2062_standard_checks_are_stored_per_channel(rig: Rig) -> None:
    rig.book.set_key(MN, KEY_A)
    cp = "DataTime=20260301080000;w01018-SampleRd=98.6,w01018-StandardValue=100,w01018-ResultType=1"
    segment = builder.build_segment(
        cn="2062", mn=MN, pw=PW, cp=cp, qn="20260301080000050", flag=FLAG_2025_ACK
    )
    await rig.logger.send(builder.build_frame(segment, KEY_A))
    assert (await rig.logger.answer()).cn == "9014"
    (check,) = rig.book.checks
    assert (check.channel_id, check.ts, check.measured, check.standard, check.passed) == (
        1, DATA_TIME, 98.6, 100.0, True,
    )  # fmt: skip
    assert rig.sink.envelopes == []


async def test_rf1_uploads_are_stored_as_late(rig: Rig) -> None:
    await rig.logger.send(upload("20260301080000060", None, resent=True))
    assert (await rig.logger.answer()).cn == "9014"
    (envelope,) = rig.sink.envelopes
    assert envelope.source == "hj212-late"
    assert {r.source for r in rig.sink.readings} == {"hj212-late"}


async def test_next_qn_across_zones_keeps_instants_not_texts(rig: Rig) -> None:
    # Shanghai is UTC+8, Urumqi UTC+6: the Urumqi QN text of the same instant is 2 h "earlier".
    started = time.perf_counter()
    shanghai = rig.driver.next_qn(ZoneInfo("Asia/Shanghai"))
    urumqi = rig.driver.next_qn(ZoneInfo("Asia/Urumqi"))
    again = rig.driver.next_qn(ZoneInfo("Asia/Shanghai"))
    assert time.perf_counter() - started < 0.05
    assert shanghai == "20260301080530000"
    assert urumqi == "20260301060530001"  # 1 ms later as an instant, not 2 h of 1 ms steps
    assert again == "20260301080530002"


def test_st44_electricity_items_become_readings_of_their_own_parameters() -> None:
    segment = (
        "QN=20260301080000070;ST=44;CN=2011;PW=123456;MN=" + MN + ";Flag=9;CP=&&"
        "DataTime=20260301080000;sb1-Rtd=37.5,sb1-Flag=N;sb2-Rtd=12.0,sb2-Flag=N;sb9-Rtd=1&&"
    )
    binding = PointBinding(
        "WWTP-25", "inlet", "inlet", TZ, code_map={"sb1": "power", "sb2": "current"}
    )
    conversion = convert_packet(parse_segment(segment), binding)
    assert sorted((r.parameter, r.value) for r in conversion.readings) == [
        ("g44001", 37.5),
        ("g44002", 12.0),
    ]
    assert [(r.code, r.reason) for r in conversion.rejected] == [("sb9", "unknown_parameter")]
