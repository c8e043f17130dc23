"""The HJ 212 TCP server driver: accepts data loggers and runs one `Session` per connection.

    driver = Hj212Driver(Hj212Config.from_settings(settings))
    # as a driver of `wqmon ingest`: supervise(driver, ctx) calls driver.run(ctx)
    await driver.ready.wait(); driver.port           # the bound port (0 in the config = any)
    await driver.request_history(mn, "2061", begin, end)   # a 补数 pull from a connected logger
    driver.state.snapshot()                          # per-MN state for the API

Connections beyond `max_connections_per_peer` from one IP are closed at once. A timer
expires incomplete split uploads. History pulls send 2051/2061/2031 with BeginTime/EndTime in the
site's zone and return after the logger's 9012, once everything it uploaded is committed. A
logger that reconnects after more than `gap_fill_after_s` of silence is asked for the hours
it missed. Pulls requested by other processes arrive through `hj212_command` (`commands.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from wqmon.drivers.hj212.commands import CommandWorker
from wqmon.drivers.hj212.config import Hj212Config
from wqmon.drivers.hj212.session import Session
from wqmon.drivers.hj212.state import LoggerStates
from wqmon.errors import DeviceUnavailable
from wqmon.ingest.contract import DriverContext
from wqmon.ingest.directory import Directory, PointInfo
from wqmon.protocol.hj212 import builder
from wqmon.protocol.hj212.convert import PointBinding
from wqmon.protocol.hj212.packet import Packet
from wqmon.settings import Settings
from wqmon.store.hj212_book import Hj212Book, LoggerSeen, MemoryHj212Book, PgHj212Book
from wqmon.supervision import supervise

log = logging.getLogger(__name__)

_HOUSEKEEPING_S = 1.0
_NOFILE_WITHOUT_HARD_LIMIT = 1_048_576  # when the hard limit is "unlimited"
_ReplyKey = tuple[str, str, str]  # (MN, QN, CN)


@dataclass(frozen=True, slots=True)
class HistoryResult:
    """What a history pull gave: the logger's answers and the uploads it sent meanwhile."""

    qn: str
    qn_rtn: int | None  # 9011 QnRtn: 1 ready, 2 rejected, ... None: no answer
    exe_rtn: int | None  # 9012 ExeRtn: 1 success, 100 no data, ... None: no answer
    uploads: int

    @property
    def ok(self) -> bool:
        """The logger accepted the request and reported success or no data."""
        return self.qn_rtn == 1 and self.exe_rtn in (1, 100)

    def describe(self) -> str:
        """One line for logs and the command table."""
        return f"QN {self.qn}: QnRtn={self.qn_rtn} ExeRtn={self.exe_rtn}, {self.uploads} uploads"


class Hj212Driver:
    """An asyncio TCP server for HJ 212 data loggers, feeding the ingest pipeline."""

    name = "hj212"

    def __init__(self, config: Hj212Config, book: Hj212Book | None = None) -> None:
        self.config = config
        # Keys, devices, 2062 results, editions (HJ 212-2025); in memory without a database.
        self.book: Hj212Book = book if book is not None else MemoryHj212Book()
        self._changed: set[str] = set()  # MNs whose edition or last-heard time changed
        self._flushed_at = 0.0
        self.state = LoggerStates()
        self.ready = asyncio.Event()
        self.port: int | None = None
        self._ctx: DriverContext | None = None
        self._sessions: set[Session] = set()
        self._by_mn: dict[str, Session] = {}
        self._per_ip: Counter[str] = Counter()
        self._replies: dict[_ReplyKey, asyncio.Future[Packet]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._bindings: tuple[Directory | None, dict[str, dict[str, str]]] = (None, {})
        self._last_qn_at: datetime | None = None
        self.commands: CommandWorker | None = None

    @property
    def ctx(self) -> DriverContext:
        """The context of the running driver."""
        if self._ctx is None:
            raise RuntimeError("the HJ 212 driver is not running")
        return self._ctx

    async def run(self, ctx: DriverContext) -> None:
        """Serve until cancelled; then close every connection."""
        self._ctx = ctx
        config = self.config
        raise_open_files()
        server = await asyncio.start_server(
            self._accept, config.host, config.port, backlog=config.backlog
        )
        self.port = int(server.sockets[0].getsockname()[1])
        # Long-running: supervised, so a failure restarts them instead of ending them quietly.
        self._spawn(supervise("hj212:housekeeping", self._housekeeping), "hj212:housekeeping")
        if config.command_database_url is not None:
            self.commands = CommandWorker(self, config.command_database_url)
            self._spawn(supervise("hj212:commands", self.commands.run), "hj212:commands")
        log.info("hj212 listening on %s:%d", config.host, self.port)
        self.ready.set()
        try:
            async with server:
                await server.serve_forever()
        finally:
            self.ready.clear()
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await asyncio.gather(*(s.close() for s in list(self._sessions)))
            with contextlib.suppress(Exception):
                await self.flush_loggers()
            await self.book.close()

    # -- connections ---------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port, *_ = writer.get_extra_info("peername") or ("?", 0)
        if self._per_ip[host] >= self.config.max_connections_per_peer:
            self.state.refused_connections += 1
            log.warning("hj212: too many connections from %s, refusing", host)
            writer.transport.abort()
            return
        session = Session(self, reader, writer, f"{host}:{port}")
        self._per_ip[host] += 1
        self._sessions.add(session)
        self.state.connections += 1
        self.ctx.telemetry.hj212.connections.labels(self.name).inc()
        try:
            await session.run()
        finally:
            self._per_ip[host] -= 1
            if self._per_ip[host] <= 0:
                del self._per_ip[host]

    def session_closed(self, session: Session) -> None:
        """Called once by a closing session: forget it and mark its loggers disconnected."""
        if session not in self._sessions:
            return
        self._sessions.discard(session)
        self.state.connections -= 1
        self.ctx.telemetry.hj212.connections.labels(self.name).dec()
        for mn in session.mns:
            if self._by_mn.get(mn) is session:
                del self._by_mn[mn]
                self.state.get(mn).connected = False

    def logger_connected(
        self, session: Session, mn: str, point: PointInfo, last_seen: datetime | None
    ) -> None:
        """A logger's first packet on a connection: route requests to it, fill a gap."""
        self._by_mn[mn] = session
        if self.commands is not None:
            self.commands.wake()
        gap_after = self.config.gap_fill_after_s
        now = self.ctx.clock()
        if gap_after <= 0 or last_seen is None or now - last_seen <= timedelta(seconds=gap_after):
            return
        begin = _hour_start(last_seen, point.timezone)
        end = _hour_start(now, point.timezone) - timedelta(hours=1)
        if end >= begin:
            log.info(
                "hj212 MN %s back after %s: pulling hours %s..%s", mn, now - last_seen, begin, end
            )
            self._spawn(self._fill_gap(mn, begin, end), f"hj212:gap-fill:{mn}")

    async def _fill_gap(self, mn: str, begin: datetime, end: datetime) -> None:
        try:
            result = await self.request_history(mn, builder.CN_HOUR, begin, end)
        except (DeviceUnavailable, TimeoutError) as exc:
            self.state.get(mn).error(self.ctx.clock(), f"gap fill failed: {exc}")
            return
        log.info("hj212 MN %s gap fill: %s", mn, result.describe())

    # -- services for sessions -----------------------------------------------------------------

    def binding_for(self, point: PointInfo) -> PointBinding:
        """How to convert the uploads of `point` (its site's points by role, code map)."""
        directory = self.ctx.directory()
        cached_for, roles = self._bindings
        if cached_for is not directory:
            roles = _points_by_role(directory)
            self._bindings = (directory, roles)
        return PointBinding(
            site=point.site,
            point=point.point,
            role=point.role,
            tz=point.timezone,
            code_map=point.hj212_options.get("codes") or {},
            role_points=roles.get(point.site, {}),
        )

    def next_qn(self, tz: tzinfo) -> str:
        """A fresh QN from the server clock: a new millisecond for every QN of this driver.

        The last *instant* is kept, not the last QN text: QNs are written in each site's local
        time, so comparing the texts of two zones stepped forward 1 ms at a time through the
        zones' offset (about 7 million steps from Asia/Shanghai to Asia/Urumqi).
        """
        moment = self.ctx.clock().astimezone(UTC)
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        if self._last_qn_at is not None and moment <= self._last_qn_at:
            moment = self._last_qn_at + timedelta(milliseconds=1)
        self._last_qn_at = moment
        return builder.format_qn(moment, tz)

    def logger_changed(self, mn: str) -> None:
        """A logger was heard (edition, key, heartbeat): written to the book by housekeeping."""
        self._changed.add(mn)

    async def flush_loggers(self) -> None:
        """Write the editions and last-heard times of the loggers heard since the last flush."""
        changed, self._changed = self._changed, set()
        rows = []
        for mn in changed:
            state = self.state.get(mn)
            if state.last_packet_at is None or not state.version:
                continue
            rows.append(
                LoggerSeen(
                    mn,
                    state.version,
                    state.encrypted,
                    state.key_id or None,
                    state.peer,
                    state.last_packet_at,
                    state.last_heartbeat_at,
                )
            )
        if not rows:
            return
        try:
            await self.book.loggers_seen(rows)
        except Exception as exc:
            self._changed |= changed  # try again at the next flush
            log.warning("hj212: logger editions not recorded (%s)", exc)

    def reply_received(self, packet: Packet) -> None:
        """A 9011/9012 from a logger: wake whoever waits for it."""
        waiter = self._replies.pop((packet.mn, packet.qn or "", packet.cn), None)
        if waiter is None:
            log.debug("hj212 MN %s: unsolicited %s QN %s", packet.mn, packet.cn, packet.qn)
        elif not waiter.done():
            waiter.set_result(packet)

    # -- history -------------------------------------------------------------------------------

    async def request_history(
        self, mn: str, cn: str, begin: datetime, end: datetime
    ) -> HistoryResult:
        """Ask a connected logger for minute (2051), hour (2061) or day (2031) data.

        Returns after the logger's 9012 (or when it refused the request), when every upload it
        sent in between is committed.

        Raises:
            DeviceUnavailable: The logger is not connected (or not registered).
            ValueError: `cn` is not a history data command.
        """
        session = self._by_mn.get(mn)
        point = self.ctx.directory().point_for_mn(mn)
        if session is None or session.closed or point is None:
            raise DeviceUnavailable("logger not connected", endpoint=f"MN {mn}")
        config = self.config
        qn = self.next_qn(point.timezone)
        frame = builder.history_request(
            cn=cn,
            qn=qn,
            mn=mn,
            pw=point.hj212_password or "",
            begin=begin,
            end=end,
            tz=point.timezone,
        )
        state = self.state.get(mn)
        uploads_before = state.uploads
        loop = asyncio.get_running_loop()
        keys = [(mn, qn, c) for c in (builder.CN_REQUEST_ANSWER, builder.CN_EXECUTION_RESULT)]
        answer, result = (self._replies.setdefault(k, loop.create_future()) for k in keys)
        try:
            await session.write(frame)
            qn_rtn = _code(await _wait(answer, config.reply_timeout_s), "QnRtn")
            exe_rtn = None
            if qn_rtn == 1:
                exe_rtn = _code(await _wait(result, config.history_timeout_s), "ExeRtn")
            await session.settle()
        finally:
            for key in keys:
                self._replies.pop(key, None)
        return HistoryResult(qn, qn_rtn, exe_rtn, state.uploads - uploads_before)

    # -- background ----------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(_HOUSEKEEPING_S)
            # Only sessions holding split pieces: a sweep of every connection each second is
            # 10,000 coroutine calls a second at a province's scale, for nothing.
            for session in [s for s in self._sessions if s.holds_splits]:
                await session.expire_splits()
            if loop.time() - self._flushed_at >= self.config.logger_flush_s:
                self._flushed_at = loop.time()
                await self.flush_loggers()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        # Owned and cancelled by run(); a one-off (gap fill) that fails is logged in _task_done.
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("hj212: task %s failed", task.get_name(), exc_info=task.exception())

    def is_connected(self, mn: str) -> bool:
        """Whether `mn` has a live session on this driver."""
        session = self._by_mn.get(mn)
        return session is not None and not session.closed

    def connected_mns(self) -> list[str]:
        """MNs with a live session on this driver."""
        return [mn for mn, s in self._by_mn.items() if not s.closed]


async def _wait(future: asyncio.Future[Packet], timeout_s: float) -> Packet | None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            return await future
    return None


def _code(packet: Packet | None, name: str) -> int | None:
    if packet is None:
        return None
    text = packet.cp.fields.get(name, "")
    return int(text) if text.isdigit() else None


def raise_open_files() -> int:
    """Raise this process's open-file limit to its hard limit; return the limit in force.

    Every logger connection is a file descriptor; the usual soft limit of 1,024 would refuse
    the thousand-and-first logger with EMFILE. The hard limit is the administrator's (systemd
    `LimitNOFILE=`, docs/scaling.md): it is not raised here.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _NOFILE_WITHOUT_HARD_LIMIT if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("hj212: open-file limit stays %d (%s)", soft, exc)
    log.info("hj212: open-file limit %d (about that many logger connections)", soft)
    return soft


def _hour_start(moment: datetime, tz: tzinfo) -> datetime:
    """The start of the site-local hour containing `moment`, in UTC."""
    local = moment.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    return local.astimezone(UTC)


def _points_by_role(directory: Directory) -> dict[str, dict[str, str]]:
    """site -> {role: point}; the first point of a role wins (sites have one inlet/outlet)."""
    roles: dict[str, dict[str, str]] = {}
    for info in directory.channels.values():
        roles.setdefault(info.site, {}).setdefault(info.role, info.point)
    return roles


def from_settings(settings: Settings) -> Hj212Driver:
    """The driver `wqmon ingest` runs (registered in `wqmon.services.drivers`)."""
    config = Hj212Config.from_settings(settings)
    book = PgHj212Book(
        settings.database_url,
        grace=timedelta(days=config.key_grace_days),
        refresh_s=config.key_refresh_s,
    )
    return Hj212Driver(config, book)
