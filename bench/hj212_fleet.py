"""One load-generator process of `bench.hj212_province`: a share of the province's loggers.

Each logger is a raw asyncio `Protocol` (no StreamReader, no per-logger lists of everything
sent): it connects, uploads on the HJ 212 schedule and waits for each upload's `9014` before the
next one, as field loggers do. Frames are built here with a table-driven CRC, so the generator
stays cheaper per packet than the server it measures (that is the point of this module).

Timeline, shared by every process through wall-clock instants in the `FleetPlan`:

    connect (spread)  ─▶ live: 2011 every 30 s, 2051 after each 10-min boundary, 2061 after
    the hour ─▶ outage: every socket aborted at once ─▶ reconnect (spread over a window) ─▶
    back-fill of the hour before the outage (2011/2051/2061, oldest first), then stay connected

Times are in a *virtual* clock (`virtual = real - plan.clock_offset_s`), so an hour boundary
falls inside a short live phase; the DataTimes are those virtual instants.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import time
from array import array
from dataclasses import dataclass, field, fields
from multiprocessing.connection import Connection
from typing import Any

from wqmon.protocol.hj212.encryption import encrypt_segment

REALTIME_S = 30
MINUTE_S = 600
HOUR_S = 3600
CNS = ("2011", "2051", "2061")
_TZ_OFFSET_S = 8 * 3600  # the bench's sites are in Asia/Shanghai (no DST)
_CONNECT_RETRY_S = 1.0
_ATTEMPTS = 5  # sends of one upload over lost connections before the logger gives up on it
_LIVE_MARGIN_S = 3.0  # no live upload this close to the outage: each gets its answer first


def _crc_table() -> list[int]:
    # HJ 212 Appendix A: crc = shift_out((crc >> 8) ^ byte), so one lookup per byte.
    table = []
    for value in range(256):
        crc = value
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC = _crc_table()


def crc16(data: bytes) -> int:
    """The HJ 212 CRC of `data` (same result as `wqmon.protocol.hj212.crc.hj212_crc16`)."""
    crc = 0xFFFF
    for byte in data:
        crc = _CRC[(crc >> 8) ^ byte]
    return crc


def local_time(epoch_s: int) -> str:
    """`YYYYMMDDhhmmss` of a virtual epoch second in the sites' zone."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(epoch_s + _TZ_OFFSET_S))


@dataclass(frozen=True, slots=True)
class LoggerSpec:
    """One logger: its number, MN, edition and key (None: plain text)."""

    n: int
    mn: str
    edition: int  # 2017 | 2025
    key: bytes | None


@dataclass(frozen=True, slots=True)
class FleetPlan:
    """The shared timeline (wall-clock epoch seconds) and the schedule's parameters."""

    port: int
    password: str
    loggers_total: int
    connect_at: float
    live_at: float
    outage_at: float
    reconnect_at: float  # outage end: reconnects are spread over [reconnect_at, +window)
    reconnect_window_s: float
    clock_offset_s: int  # virtual = real - offset
    boundary_jitter_s: float  # 2051/2061 are sent this long (at most) after their boundary
    ack_timeout_s: float
    backfill_s: int = HOUR_S


def virtual(plan: FleetPlan, real: float) -> float:
    return real - plan.clock_offset_s


def real_of(plan: FleetPlan, virtual_s: float) -> float:
    return virtual_s + plan.clock_offset_s


def phase_of(spec: LoggerSpec, plan: FleetPlan) -> int:
    """The logger's second within each 30 s real-time period (spread over the fleet)."""
    return spec.n * REALTIME_S // plan.loggers_total


def jitter_of(spec: LoggerSpec, plan: FleetPlan) -> float:
    """How long after a 10-min boundary the logger sends its period data (spread)."""
    return plan.boundary_jitter_s * ((spec.n * 7919) % plan.loggers_total) / plan.loggers_total


@dataclass(slots=True)
class Stats:
    """What one process saw, per phase; latencies in seconds."""

    live_latencies: array[float] = field(default_factory=lambda: array("d"))
    storm_latencies: array[float] = field(default_factory=lambda: array("d"))
    live_sent: int = 0
    live_answered: int = 0
    storm_sent: int = 0
    storm_answered: int = 0
    timeouts: int = 0
    resends: int = 0  # uploads sent again after their connection was lost
    dropped: int = 0  # connections closed by the server or lost, not by us
    drop_reasons: dict[str, int] = field(default_factory=dict)
    connect_failures: int = 0  # refused / reset while connecting (each retried)
    reconnect_done_at: float = 0.0  # wall clock of the last storm reconnect
    storm_done_at: float = 0.0  # wall clock of the last back-fill answer
    keys: set[tuple[int, str, int]] = field(default_factory=set)  # (logger, CN, DataTime)
    keys_live: dict[str, int] = field(default_factory=dict)  # distinct keys by CN, pre-outage
    cut_by_outage: int = 0  # live uploads still waiting for their 9014 at the outage
    cpu_at_live_s: float = 0.0  # this process's CPU seconds when the live phase began
    cpu_at_outage_s: float = 0.0
    cpu_at_end_s: float = 0.0
    by_group: dict[str, array[float]] = field(default_factory=dict)  # live latency per edition

    def record(self, group: str, latency: float, *, storm: bool) -> None:
        if storm:
            self.storm_latencies.append(latency)
            self.storm_answered += 1
            return
        self.live_latencies.append(latency)
        self.live_answered += 1
        self.by_group.setdefault(group, array("d")).append(latency)


def objects_cp(cn: str, n: int, data_time: int) -> str:
    """The CP of an upload; values are a function of (logger, DataTime), so a resend is equal."""
    seed = (n * 2654435761 + data_time) & 0xFFFF
    flow = 5 + seed % 1500 / 100
    cod = 20 + seed % 2800 / 10
    nh3n = 0.5 + seed % 2950 / 100
    ph = 6 + seed % 300 / 100
    stamp = f"DataTime={local_time(data_time)}"
    if cn == "2011":
        return (
            f"{stamp};w00000-Rtd={flow:.2f},w00000-Flag=N;w01018-Rtd={cod:.1f},w01018-Flag=N;"
            f"w21003-Rtd={nh3n:.2f},w21003-Flag=N;w01001-Rtd={ph:.2f},w01001-Flag=N"
        )
    volume = flow * (MINUTE_S if cn == "2051" else HOUR_S) / 1000
    parts = [
        f"w00000-Avg={flow:.2f},w00000-Min={flow:.2f},w00000-Max={flow:.2f},w00000-Cou={volume:.3f},w00000-Flag=N"
    ]
    for code, avg in (("w01018", cod), ("w21003", nh3n)):
        cou = avg * volume / 1000
        parts.append(
            f"{code}-Avg={avg:.2f},{code}-Min={avg:.2f},{code}-Max={avg:.2f},{code}-Cou={cou:.6f},{code}-Flag=N"
        )
    parts.append(f"w01001-Avg={ph:.2f},w01001-Min={ph:.2f},w01001-Max={ph:.2f},w01001-Flag=N")
    return f"{stamp};" + ";".join(parts)


class Logger(asyncio.Protocol):
    """One simulated logger connection; `upload()` sends a frame and waits for its 9014."""

    def __init__(self, spec: LoggerSpec, plan: FleetPlan, stats: Stats) -> None:
        self.spec, self.plan, self.stats = spec, plan, stats
        self.group = "2017" if spec.edition == 2017 else ("2025-sm4" if spec.key else "2025")
        self.flag = 5 if spec.edition == 2017 else 9
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] | None = None
        self.waiting: tuple[bytes, asyncio.Future[None]] | None = None
        self.buffer = b""
        self.aborting = False
        self.last_qn = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.lost = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.aborting:
            self.stats.dropped += 1
            reason = type(exc).__name__ if exc is not None else "closed by the server"
            self.stats.drop_reasons[reason] = self.stats.drop_reasons.get(reason, 0) + 1
        self.transport = None
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)
        if self.waiting is not None and not self.waiting[1].done():
            self.waiting[1].set_exception(ConnectionError("connection lost"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n")) >= 0:
            frame, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            # A 9014 carries the upload's QN in its plain header; nothing else is expected.
            start = frame.find(b"QN=")
            if start < 0 or b"CN=9014" not in frame or self.waiting is None:
                continue
            qn = frame[start + 3 : frame.find(b";", start)]
            if qn == self.waiting[0] and not self.waiting[1].done():
                self.waiting[1].set_result(None)

    def next_qn(self) -> int:
        now = int(time.time() * 1000)
        self.last_qn = max(now, self.last_qn + 1)
        return self.last_qn

    def frame(self, cn: str, data_time: int, *, resent: bool) -> tuple[bytes, bytes]:
        ms = self.next_qn()
        qn = f"{local_time(ms // 1000)}{ms % 1000:03d}"
        rf = "RF=1;" if resent and self.spec.edition == 2025 else ""
        segment = (
            f"QN={qn};ST=32;CN={cn};PW={self.plan.password};MN={self.spec.mn};Flag={self.flag};"
            f"{rf}CP=&&{objects_cp(cn, self.spec.n, data_time)}&&"
        ).encode()
        body = segment if self.spec.key is None else encrypt_segment(segment, self.spec.key)
        return qn.encode(), b"##%04d%s%04X\r\n" % (len(segment), body, crc16(segment))

    async def upload(self, cn: str, data_time: int, *, storm: bool, first: bool = True) -> None:
        """Send one upload and wait for its 9014 (a timeout is counted, not resent)."""
        if self.transport is None:
            raise ConnectionError("not connected")
        qn, frame = self.frame(cn, data_time, resent=storm)
        waiter = asyncio.get_running_loop().create_future()
        self.waiting = (qn, waiter)
        self.stats.keys.add((self.spec.n, cn, data_time))
        if not first:
            self.stats.resends += 1
        elif storm:
            self.stats.storm_sent += 1
        else:
            self.stats.live_sent += 1
        started = time.monotonic()
        self.transport.write(frame)
        try:
            async with asyncio.timeout(self.plan.ack_timeout_s):
                await waiter
        except TimeoutError:
            self.stats.timeouts += 1
            return
        finally:
            self.waiting = None
        self.stats.record(self.group, time.monotonic() - started, storm=storm)

    def abort(self) -> None:
        """The network outage: the socket goes away without a goodbye."""
        self.aborting = True
        if self.transport is not None:
            self.transport.abort()


async def sleep_until(wall: float) -> None:
    await asyncio.sleep(max(0.0, wall - time.time()))


def live_schedule(spec: LoggerSpec, plan: FleetPlan) -> list[tuple[float, str, int]]:
    """(wall-clock send time, CN, DataTime) of the live phase, in sending order."""
    v_start, v_end = int(virtual(plan, plan.live_at)), int(virtual(plan, plan.outage_at))
    events: list[tuple[float, str, int]] = []
    phase = phase_of(spec, plan)
    first = v_start - (v_start - phase) % REALTIME_S + REALTIME_S
    events += [(real_of(plan, s), "2011", s) for s in range(first, v_end, REALTIME_S)]
    jitter = jitter_of(spec, plan)
    for boundary in range(v_start - v_start % MINUTE_S + MINUTE_S, v_end, MINUTE_S):
        at = real_of(plan, boundary) + jitter
        if at < plan.outage_at - 1:
            events.append((at, "2051", boundary - MINUTE_S))
            if boundary % HOUR_S == 0:
                events.append((at + 0.001, "2061", boundary - HOUR_S))
    return sorted(events)


def backfill_schedule(spec: LoggerSpec, plan: FleetPlan) -> list[tuple[str, int]]:
    """(CN, DataTime) of the hour before the outage, oldest first (ties: 2011 before periods)."""
    v_out = int(virtual(plan, plan.outage_at))
    since = v_out - plan.backfill_s
    phase = phase_of(spec, plan)
    first = since + (phase - since) % REALTIME_S
    items = [(s, 0, "2011") for s in range(first, v_out, REALTIME_S)]
    minute_start = since + (-since) % MINUTE_S
    items += [(s, 1, "2051") for s in range(minute_start, v_out - MINUTE_S + 1, MINUTE_S)]
    hour_start = since + (-since) % HOUR_S
    items += [(s, 2, "2061") for s in range(hour_start, v_out - HOUR_S + 1, HOUR_S)]
    # The hour that ended last before the outage, even if it began before `since`.
    last_hour = v_out - v_out % HOUR_S - HOUR_S
    if last_hour < since:
        items.append((last_hour, 2, "2061"))
    return [(cn, s) for s, _, cn in sorted(items)]


async def connect(logger: Logger) -> None:
    """Connect, retrying after a refusal (counted) as a logger does."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            await loop.create_connection(lambda: logger, "127.0.0.1", logger.plan.port)
        except OSError:
            logger.stats.connect_failures += 1
            await asyncio.sleep(_CONNECT_RETRY_S)
        else:
            logger.aborting = False
            return


async def send(logger: Logger, cn: str, data_time: int, *, storm: bool) -> None:
    """Upload; after a lost connection reconnect and send it again, as a logger does."""
    for attempt in range(_ATTEMPTS):
        if logger.transport is None:
            await connect(logger)
        with contextlib.suppress(ConnectionError):
            await logger.upload(cn, data_time, storm=storm, first=attempt == 0)
            return


async def run_live(logger: Logger) -> None:
    for at, cn, data_time in live_schedule(logger.spec, logger.plan):
        await sleep_until(at)
        if time.time() >= logger.plan.outage_at - _LIVE_MARGIN_S:
            return
        await send(logger, cn, data_time, storm=False)


async def run_storm(logger: Logger, spread: float) -> None:
    plan = logger.plan
    await sleep_until(plan.reconnect_at + spread * plan.reconnect_window_s)
    await connect(logger)
    logger.stats.reconnect_done_at = max(logger.stats.reconnect_done_at, time.time())
    for cn, data_time in backfill_schedule(logger.spec, plan):
        await send(logger, cn, data_time, storm=True)
    logger.stats.storm_done_at = max(logger.stats.storm_done_at, time.time())


async def run_fleet(specs: list[LoggerSpec], plan: FleetPlan) -> Stats:
    stats = Stats()
    loggers = [Logger(spec, plan, stats) for spec in specs]
    rng = random.Random(specs[0].n if specs else 0)
    await sleep_until(plan.connect_at)
    gate = asyncio.Semaphore(100)  # connects in flight per process

    async def first_connect(logger: Logger) -> None:
        async with gate:
            await connect(logger)

    await asyncio.gather(*(first_connect(lg) for lg in loggers))
    await sleep_until(plan.live_at)
    stats.cpu_at_live_s = cpu_seconds()
    live = [asyncio.create_task(run_live(lg)) for lg in loggers]
    await sleep_until(plan.outage_at)
    stats.cut_by_outage = sum(1 for lg in loggers if lg.waiting is not None)
    stats.keys_live = count_by_cn(stats.keys)
    for task in live:
        task.cancel()
    for logger in loggers:
        logger.abort()
    await asyncio.gather(*live, return_exceptions=True)
    stats.cpu_at_outage_s = cpu_seconds()
    await asyncio.gather(*(run_storm(lg, rng.random()) for lg in loggers))
    stats.cpu_at_end_s = cpu_seconds()
    for logger in loggers:
        logger.abort()
    return stats


def count_by_cn(keys: set[tuple[int, str, int]]) -> dict[str, int]:
    return {cn: sum(1 for _, c, _ in keys if c == cn) for cn in CNS}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_main(pipe: Connection) -> None:
    """One generator process: receive (specs, plan), run, send the `Stats` back as a dict.

    The plan comes through the pipe after the process started, so its instants are set once
    every generator is up (starting an interpreter takes seconds on a loaded machine).
    """
    specs, plan = pipe.recv()
    stats = asyncio.run(run_fleet(specs, plan))
    result: dict[str, Any] = {f.name: getattr(stats, f.name) for f in fields(stats)}
    # Loggers are disjoint between processes: the number of distinct keys is enough.
    result["keys"] = count_by_cn(stats.keys)
    pipe.send(result)
    pipe.close()
