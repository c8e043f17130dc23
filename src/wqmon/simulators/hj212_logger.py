"""An HJ 212 data-logger simulator: a real asyncio TCP client, as a field logger behaves.

It uploads real-time (2011), minute (2051), hour (2061) and day (2031) data with Flag 4/5/6/7,
waits for the host's `9014` when it asked for one and resends (same QN) when none arrives,
answers a `1012` set-time command (9011 then 9012) and records the time, serves history pulls
(9011, the uploads from a supplied callback, then 9012), sends `1013` time-calibration
requests, and can send garbage, a bad CRC or a wrong password on purpose.

With `edition=2025` it speaks HJ 212-2025: the version bits of Flag are 2, data packets are
SM4-encrypted when a `key` is set, it sends 9015 heartbeats, RF=1 re-sent uploads, 2062 check
results and 1014 key requests (adopting the `NewSK` of the answer).

    async with LoggerSimulator("127.0.0.1", 9212, mn="010000A8900016F000169DC0") as logger:
        await logger.send_realtime(now, {"w01018": {"Rtd": 35.2, "Flag": "N"}})
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from types import TracebackType
from typing import Any, Self
from zoneinfo import ZoneInfo

from wqmon.errors import DeviceUnavailable, FrameError
from wqmon.protocol.hj212 import builder
from wqmon.protocol.hj212.builder import CpObjects
from wqmon.protocol.hj212.encryption import DecryptError, encrypts, open_segment
from wqmon.protocol.hj212.framer import Frame, FrameReader
from wqmon.protocol.hj212.packet import FLAG_ACK, FLAG_SPLIT, Packet, parse_segment, parse_time
from wqmon.protocol.hj212.version import Version, make_flag

log = logging.getLogger(__name__)

# (cn, begin, end) -> the uploads to send back: (DataTime, objects) pairs.
HistoryCallback = Callable[[str, datetime, datetime], Iterable[tuple[datetime, CpObjects]]]
_READ_SIZE = 4096


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one uploaded packet."""

    qn: str
    attempts: int  # 1 + resends
    acked: bool  # a 9014 with this QN arrived (always False when none was asked for)


class LoggerSimulator:
    """A simulated HJ 212 data logger connected to a host over TCP."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        mn: str,
        pw: str = "123456",
        st: str = "32",
        tz: tzinfo | None = None,
        ack_timeout_s: float = 10.0,
        retries: int = 3,
        history: HistoryCallback | None = None,
        edition: int = 2017,
        key: bytes | None = None,
    ) -> None:
        """Configure the logger; `connect()` (or `async with`) opens the connection.

        Args:
            host: Host (data platform) address.
            port: Host port.
            mn: The logger's MN.
            pw: The logger's password.
            st: System code sent in uploads (32 wastewater source).
            tz: The site's zone for DataTime and QN (default Asia/Shanghai).
            ack_timeout_s: How long to wait for each `9014` (the standard's OverTime).
            retries: Resends after a missing `9014` (the standard's ReCount).
            history: Supplies the uploads for a host history pull; none means no data.
            edition: 2017 (Flag 4-7) or 2025 (Flag 8-11).
            key: SM4 key of an encrypting 2025 logger (16 bytes); None sends plain text.
        """
        self.host, self.port = host, port
        self.mn, self.pw, self.st = mn, pw, st
        self.tz = tz or ZoneInfo("Asia/Shanghai")
        self.ack_timeout_s = ack_timeout_s
        self.retries = retries
        self.history = history
        if edition not in (2017, 2025):
            raise ValueError(f"edition {edition}: the simulator speaks 2017 or 2025")
        self.edition = edition
        self.key = key if edition == 2025 else None  # noqa: PLR2004 - the edition's year
        self.received: list[Packet] = []  # every packet from the host, in arrival order
        self.sent: list[bytes] = []  # every frame written, resends included
        self.time_settings: list[datetime] = []  # SystemTime of each 1012, in UTC
        self.history_requests: list[Packet] = []
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiters: dict[tuple[str, str], asyncio.Future[Packet]] = {}
        self._write_lock = asyncio.Lock()
        self._last_qn = ""
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> Self:
        """Connect."""
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close."""
        await self.close()

    async def connect(self) -> None:
        """Open the TCP connection and start reading the host's packets."""
        try:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise DeviceUnavailable(str(exc), endpoint=f"{self.host}:{self.port}") from exc
        self._read_task = asyncio.create_task(self._read_loop(), name=f"hj212-logger:{self.mn}")

    async def close(self) -> None:
        """Stop every task and close the connection."""
        tasks = [*self._tasks, *([self._read_task] if self._read_task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._read_task = None
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None

    def next_qn(self) -> str:
        """A fresh QN from the local clock, strictly increasing."""
        qn = builder.format_qn(datetime.now(UTC), self.tz)
        if qn <= self._last_qn:
            last = parse_time(self._last_qn, self.tz) + timedelta(milliseconds=1)
            qn = builder.format_qn(last, self.tz)
        self._last_qn = qn
        return qn

    def flag(self, flag: int) -> int:
        """`flag`'s answer and split bits with this logger's version bits."""
        if self.edition == 2017:  # noqa: PLR2004
            return flag
        return make_flag(
            Version.HJ212_2025, ack=bool(flag & FLAG_ACK), split=bool(flag & FLAG_SPLIT)
        )

    def frame(self, cn: str, segment: str) -> bytes:
        """A frame of `segment`, encrypted when this logger has a key and `cn` is encrypted."""
        return builder.build_frame(segment, self.key if encrypts(cn) else None)

    async def send_heartbeat(self) -> Packet | None:
        """A 2025 `9015` heartbeat; the host's 9013, or None."""
        qn = self.next_qn()
        frame = builder.heartbeat(qn=qn, mn=self.mn, pw=self.pw, st=self.st)
        return await self._send_and_wait(
            parse_segment(frame[6:-6]), frame, builder.CN_NOTIFY_ANSWER
        )

    async def send_standard_check(
        self, data_time: datetime, results: dict[str, tuple[float, float, bool]]
    ) -> SendResult:
        """A 2025 `2062`: per code (measured, nominal, passed)."""
        cp = builder.cp_text(
            {"DataTime": builder.format_time(data_time, self.tz)},
            {
                code: {"SampleRd": measured, "StandardValue": nominal, "ResultType": int(passed)}
                for code, (measured, nominal, passed) in results.items()
            },
        )
        segment = builder.build_segment(
            cn=builder.CN_STANDARD_CHECK, mn=self.mn, pw=self.pw, cp=cp, qn=self.next_qn(),
            st=self.st, flag=self.flag(5),
        )  # fmt: skip
        return await self._send_until_acked(parse_segment(segment), self.frame("2062", segment))

    async def request_new_key(self) -> bytes | None:
        """A 2025 `1014`: ask for a new key; adopt and return the host's `NewSK`, or None."""
        created = builder.format_time(datetime.now(UTC), self.tz)
        qn = self.next_qn()
        frame = builder.new_key_request(
            qn=qn, mn=self.mn, pw=self.pw, created=created, key=self.key, st=self.st
        )
        packet = Packet(cn=builder.CN_NEW_KEY, mn=self.mn, qn=qn, flag=self.flag(5))
        answer = await self._send_and_wait(packet, frame, builder.CN_NEW_KEY)
        new = answer.cp.fields.get("NewSK") if answer is not None else None
        if new:
            self.key = bytes.fromhex(new)
        return self.key if new else None

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (garbage, hand-made frames)."""
        if self._writer is None:
            raise DeviceUnavailable("not connected", endpoint=f"{self.host}:{self.port}")
        async with self._write_lock:
            self.sent.append(data)
            self._writer.write(data)
            await self._writer.drain()

    async def send_realtime(
        self,
        data_time: datetime,
        objects: CpObjects,
        *,
        flag: int = 5,
        codes_per_packet: int | None = None,
    ) -> list[SendResult]:
        """Upload real-time data (2011); flag and split as for `send_upload`."""
        return await self.send_upload(
            builder.CN_REALTIME, data_time, objects, flag=flag, codes_per_packet=codes_per_packet
        )

    async def send_minute(
        self,
        data_time: datetime,
        objects: CpObjects,
        *,
        flag: int = 5,
        codes_per_packet: int | None = None,
    ) -> list[SendResult]:
        """Upload minute data (2051); `data_time` is the period start."""
        return await self.send_upload(
            builder.CN_MINUTE, data_time, objects, flag=flag, codes_per_packet=codes_per_packet
        )

    async def send_hour(
        self,
        data_time: datetime,
        objects: CpObjects,
        *,
        flag: int = 5,
        codes_per_packet: int | None = None,
    ) -> list[SendResult]:
        """Upload hourly data (2061); `data_time` is the period start."""
        return await self.send_upload(
            builder.CN_HOUR, data_time, objects, flag=flag, codes_per_packet=codes_per_packet
        )

    async def send_day(
        self,
        data_time: datetime,
        objects: CpObjects,
        *,
        flag: int = 5,
        codes_per_packet: int | None = None,
    ) -> list[SendResult]:
        """Upload daily data (2031); `data_time` is the period start."""
        return await self.send_upload(
            builder.CN_DAY, data_time, objects, flag=flag, codes_per_packet=codes_per_packet
        )

    async def send_upload(
        self,
        cn: str,
        data_time: datetime,
        objects: CpObjects,
        *,
        flag: int = 5,
        codes_per_packet: int | None = None,
        pw: str | None = None,
        corrupt_crc: bool = False,
        resent: bool = False,
    ) -> list[SendResult]:
        """Upload one data record, split into several packets when asked.

        Args:
            cn: 2011, 2051, 2061 or 2031.
            data_time: Acquisition instant or period start (aware).
            objects: Code → attributes, e.g. `{"w01018": {"Avg": 30.1, "Cou": 4.2}}`.
            flag: 4 no ack, 5 ack; the split bit is added when the upload is split.
            codes_per_packet: Split into packets of at most this many codes (PNUM/PNO).
            pw: Send this password instead of the configured one (wrong-PW injection).
            corrupt_crc: Send a wrong CRC (bad-CRC injection).
            resent: Mark the packets `RF=1` (re-sent late data, 2025 only).

        Returns:
            One result per packet, in PNO order.
        """
        count = builder.split_count(objects, codes_per_packet)
        segments = builder.upload_segments(
            cn=cn,
            mn=self.mn,
            pw=self.pw if pw is None else pw,
            data_time=data_time,
            tz=self.tz,
            objects=objects,
            qns=[self.next_qn() for _ in range(count)],
            flag=self.flag(flag),
            st=self.st,
            codes_per_packet=codes_per_packet,
        )
        results = []
        for segment in segments:
            if resent and self.edition == 2025:  # noqa: PLR2004
                segment = segment.replace(";CP=&&", ";RF=1;CP=&&", 1)  # noqa: PLW2901
            frame = self.frame(cn, segment)
            if corrupt_crc:
                frame = _corrupt_crc(frame)
            results.append(await self._send_until_acked(parse_segment(segment), frame))
        return results

    async def run_periodic(
        self,
        interval_s: float,
        objects: Callable[[datetime], CpObjects],
        *,
        cn: str = builder.CN_REALTIME,
        flag: int = 5,
        count: int | None = None,
        on_sent: Callable[[SendResult, float], None] | None = None,
    ) -> int:
        """Upload `objects(now)` every `interval_s` (a field logger's RtdInterval loop).

        Ticks are kept on a fixed schedule; a tick missed while waiting for a `9014` is
        skipped, not bunched. `on_sent(result, seconds)` gets each packet's time to its answer
        (to the send, without an ack). Runs `count` times, or until cancelled.

        Returns:
            The number of uploads sent.
        """
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        sent = 0
        while count is None or sent < count:
            now = datetime.now(UTC)
            started = loop.time()
            results = await self.send_upload(cn, now, objects(now), flag=flag)
            elapsed = loop.time() - started
            sent += 1
            if on_sent is not None:
                for result in results:
                    on_sent(result, elapsed)
            next_tick += interval_s
            if next_tick < loop.time():  # fell behind: skip the missed ticks
                next_tick += interval_s * ((loop.time() - next_tick) // interval_s + 1)
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
        return sent

    async def request_time_calibration(self, *, pol_id: str | None = None) -> bool:
        """Send a `1013` time-calibration request; True when the host answered `9013`."""
        fields = {"PolId": pol_id} if pol_id else {}
        segment = builder.build_segment(
            cn=builder.CN_TIME_CALIBRATION,
            mn=self.mn,
            pw=self.pw,
            cp=builder.cp_text(fields),
            qn=self.next_qn(),
            st=self.st,
            flag=self.flag(5),
        )
        packet = parse_segment(segment)
        answer = await self._send_and_wait(packet, builder.build_frame(segment), "9013")
        return answer is not None

    async def wait_for(
        self, predicate: Callable[[LoggerSimulator], bool], timeout_s: float
    ) -> None:
        """Wait until `predicate(self)` holds (re-checked after each host packet).

        Raises:
            TimeoutError: It did not hold within `timeout_s`.
        """
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    async def _send_until_acked(self, packet: Packet, frame: bytes) -> SendResult:
        qn = packet.qn or ""
        if packet.flag is not None and not packet.flag & FLAG_ACK:
            await self.send_raw(frame)
            return SendResult(qn, 1, acked=False)
        for attempt in range(1, self.retries + 2):
            if await self._send_and_wait(packet, frame, builder.CN_DATA_ANSWER) is not None:
                return SendResult(qn, attempt, acked=True)
            log.info("no 9014 for QN %s (attempt %d), resending", qn, attempt)
        return SendResult(qn, self.retries + 1, acked=False)

    async def _send_and_wait(self, packet: Packet, frame: bytes, answer_cn: str) -> Packet | None:
        key = (answer_cn, packet.qn or "")
        waiter: asyncio.Future[Packet] = asyncio.get_running_loop().create_future()
        self._waiters[key] = waiter
        try:
            await self.send_raw(frame)
            async with asyncio.timeout(self.ack_timeout_s):
                return await waiter
        except TimeoutError:
            return None
        finally:
            self._waiters.pop(key, None)

    async def _read_loop(self) -> None:
        assert self._reader is not None  # noqa: S101 - set by connect() before the task starts
        frames = FrameReader()
        while data := await self._reader.read(_READ_SIZE):
            for result in frames.feed(data):
                if isinstance(result, Frame):
                    await self._handle_frame(result)
                else:
                    log.warning("logger %s: bad frame from host: %s", self.mn, result.reason)

    async def _handle_frame(self, frame: Frame) -> None:
        try:
            segment = frame.segment
            if frame.encrypted:
                keys = [self.key] if self.key is not None else []
                segment = open_segment(segment, frame.declared_length, frame.crc_text, keys).segment
            packet = parse_segment(segment)
        except (FrameError, DecryptError) as exc:
            log.warning("logger %s: unparsable packet from host: %s", self.mn, exc)
            return
        self.received.append(packet)
        waiter = self._waiters.get((packet.cn, packet.qn or ""))
        if waiter is not None and not waiter.done():
            waiter.set_result(packet)
        elif packet.cn == builder.CN_SET_TIME:
            await self._handle_set_time(packet)
        elif packet.cn in builder.HISTORY_CNS and "BeginTime" in packet.cp.fields:
            self.history_requests.append(packet)
            self._spawn(self._serve_history(packet))
        async with self._changed:
            self._changed.notify_all()

    async def _handle_set_time(self, packet: Packet) -> None:
        text = packet.cp.fields.get("SystemTime", "")
        try:
            system_time = parse_time(text, self.tz).astimezone(UTC)
        except ValueError:
            await self.send_raw(builder.request_answer(packet, qn_rtn=2))
            return
        self.time_settings.append(system_time)
        await self.send_raw(builder.request_answer(packet, qn_rtn=1))
        await self.send_raw(builder.execution_result(packet, exe_rtn=1))

    async def _serve_history(self, request: Packet) -> None:
        fields = request.cp.fields
        try:
            begin = parse_time(fields["BeginTime"], self.tz)
            end = parse_time(fields.get("EndTime", fields["BeginTime"]), self.tz)
        except ValueError:
            await self.send_raw(builder.request_answer(request, qn_rtn=2))
            return
        await self.send_raw(builder.request_answer(request, qn_rtn=1))
        records = list(self.history(request.cn, begin, end)) if self.history else []
        for data_time, objects in records:
            await self.send_upload(request.cn, data_time, objects, flag=5)
        await self.send_raw(builder.execution_result(request, exe_rtn=1 if records else 100))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro, name=f"hj212-logger:{self.mn}:history")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _corrupt_crc(frame: bytes) -> bytes:
    """The same frame with its 4 CRC digits replaced by a wrong value."""
    body = frame.rstrip(b"\r\n")
    crc = int(body[-4:], 16)
    return body[:-4] + f"{crc ^ 0x5A5A:04X}".encode() + b"\r\n"
