"""The HJ 212 logger simulator against a tiny host on a real loopback TCP socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from wqmon.protocol.hj212 import builder
from wqmon.protocol.hj212.framer import BadFrame, FrameReader
from wqmon.protocol.hj212.packet import Packet, parse_segment
from wqmon.simulators.hj212_logger import LoggerSimulator

MN = "010000A8900016F000169DC0"
TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)


class Host:
    """A minimal host: records what arrives, answers 9014 (unless told to withhold) and 9013."""

    def __init__(self) -> None:
        self.packets: list[Packet] = []
        self.faults: list[BadFrame] = []
        self.withhold = 0  # how many 9014 answers to swallow
        self.writer: asyncio.StreamWriter | None = None
        self.server: asyncio.Server | None = None
        self.arrived = asyncio.Event()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        frames = FrameReader()
        while data := await reader.read(4096):
            for result in frames.feed(data):
                if isinstance(result, BadFrame):
                    self.faults.append(result)
                else:
                    self._answer(parse_segment(result.segment), writer)
            self.arrived.set()
        writer.close()

    def _answer(self, packet: Packet, writer: asyncio.StreamWriter) -> None:
        self.packets.append(packet)
        if packet.cn == builder.CN_TIME_CALIBRATION:
            writer.write(builder.notify_answer(packet))
        elif packet.cn.startswith("20") and packet.ack_requested:
            if self.withhold > 0:
                self.withhold -= 1
            else:
                writer.write(builder.data_answer(packet))

    def of_cn(self, cn: str) -> list[Packet]:
        return [p for p in self.packets if p.cn == cn]


@pytest.fixture
async def host() -> AsyncIterator[Host]:
    host = Host()
    host.server = await asyncio.start_server(host.handle, "127.0.0.1", 0)
    async with host.server:
        yield host
        host.server.close()
        if host.writer is not None:
            host.writer.close()


@pytest.fixture
async def logger(host: Host) -> AsyncIterator[LoggerSimulator]:
    sim = LoggerSimulator("127.0.0.1", host.port, mn=MN, tz=TZ, ack_timeout_s=0.3, retries=2)
    async with sim:
        yield sim


async def _until(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_upload_with_ack_gets_its_9014(host: Host, logger: LoggerSimulator) -> None:
    (result,) = await logger.send_realtime(T0, {"w01018": {"Rtd": 35.2, "Flag": "N"}})
    assert result.acked
    assert result.attempts == 1
    (packet,) = host.of_cn("2011")
    assert packet.qn == result.qn
    assert packet.cp.items == {"w01018": {"Rtd": "35.2", "Flag": "N"}}
    assert packet.cp.fields == {"DataTime": "20240501080000"}
    assert [p.cn for p in logger.received] == ["9014"]


async def test_missing_9014_is_retried_with_the_same_qn(
    host: Host, logger: LoggerSimulator
) -> None:
    host.withhold = 2
    (result,) = await logger.send_hour(T0, {"w01018": {"Avg": 30.0, "Cou": 1.9}})
    assert result.acked
    assert result.attempts == 3
    assert [p.qn for p in host.of_cn("2061")] == [result.qn] * 3


async def test_gives_up_after_the_configured_retries(host: Host, logger: LoggerSimulator) -> None:
    host.withhold = 10
    (result,) = await logger.send_minute(T0, {"w01018": {"Avg": 30.0}})
    assert not result.acked
    assert result.attempts == 3
    assert len(host.of_cn("2051")) == 3


async def test_flag_4_waits_for_nothing(host: Host, logger: LoggerSimulator) -> None:
    (result,) = await logger.send_day(T0, {"w00000": {"Cou": 1512.0}}, flag=4)
    assert not result.acked
    await _until(lambda: len(host.of_cn("2031")) == 1)
    assert logger.received == []


async def test_split_upload_sends_numbered_pieces_each_acked(
    host: Host, logger: LoggerSimulator
) -> None:
    objects = {code: {"Rtd": 1.0} for code in ("w00000", "w01018", "w21003", "w21011", "w21001")}
    results = await logger.send_realtime(T0, objects, codes_per_packet=2)
    assert [r.acked for r in results] == [True, True, True]
    pieces = host.of_cn("2011")
    assert [(p.flag, p.pnum, p.pno) for p in pieces] == [(7, 3, 1), (7, 3, 2), (7, 3, 3)]
    assert len({p.qn for p in pieces}) == 3


async def test_set_time_is_answered_and_recorded(host: Host, logger: LoggerSimulator) -> None:
    await _until(lambda: host.writer is not None)
    assert host.writer is not None
    command = builder.set_time_command(
        qn="20240501080000123", mn=MN, pw="123456", system_time=T0, tz=TZ
    )
    host.writer.write(command)
    await logger.wait_for(lambda sim: bool(sim.time_settings), timeout_s=5)
    assert logger.time_settings == [T0]
    await _until(lambda: len(host.of_cn("9012")) == 1)
    assert [(p.cn, p.qn, p.cp.fields) for p in host.packets] == [
        ("9011", "20240501080000123", {"QnRtn": "1"}),
        ("9012", "20240501080000123", {"ExeRtn": "1"}),
    ]


async def test_time_calibration_request_gets_9013(host: Host, logger: LoggerSimulator) -> None:
    assert await logger.request_time_calibration(pol_id="w01018")
    (request,) = host.of_cn("1013")
    assert request.cp.fields == {"PolId": "w01018"}


async def test_history_request_is_served(host: Host) -> None:
    def history(cn: str, begin: datetime, end: datetime):
        assert cn == "2061"
        hour = begin
        while hour <= end:
            yield hour, {"w01018": {"Avg": 31.5, "Flag": "N"}}
            hour += timedelta(hours=1)

    sim = LoggerSimulator("127.0.0.1", host.port, mn=MN, tz=TZ, history=history)
    async with sim:
        await _until(lambda: host.writer is not None)
        assert host.writer is not None
        host.writer.write(
            builder.history_request(
                cn="2061", qn="99", mn=MN, pw="123456", begin=T0, end=T0 + timedelta(hours=1), tz=TZ
            )
        )
        await _until(lambda: len(host.of_cn("9012")) == 1)
    assert [p.cn for p in host.packets] == ["9011", "2061", "2061", "9012"]
    assert host.packets[0].qn == host.packets[-1].qn == "99"
    assert host.packets[-1].cp.fields == {"ExeRtn": "1"}
    assert [p.data_time for p in host.of_cn("2061")] == ["20240501080000", "20240501090000"]
    assert len(sim.history_requests) == 1


async def test_fault_injection(host: Host, logger: LoggerSimulator) -> None:
    await logger.send_raw(b"garbage!")
    (bad,) = await logger.send_realtime(T0, {"w01018": {"Rtd": 1.0}}, flag=4)
    results = await logger.send_upload(
        "2011", T0, {"w01018": {"Rtd": 2.0}}, flag=4, corrupt_crc=True
    )
    await logger.send_upload("2011", T0, {"w01018": {"Rtd": 3.0}}, flag=4, pw="wrong!")
    await _until(lambda: len(host.of_cn("2011")) == 2 and len(host.faults) == 2)
    assert [f.reason for f in host.faults] == ["garbage", "bad_crc"]
    assert [p.pw for p in host.of_cn("2011")] == ["123456", "wrong!"]
    assert not results[0].acked
    assert bad.qn
