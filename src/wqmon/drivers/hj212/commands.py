"""HJ 212 commands from other processes: the `hj212_command` table plus `NOTIFY wqmon_hj212`.

`wqmon hj212 backfill` inserts a pending row and notifies; the ingest process that holds the
logger's connection claims it (`FOR UPDATE SKIP LOCKED`, so replicas never run one twice), runs
the history pull and writes the outcome back. Rows for loggers not connected stay pending until
their logger connects; a poll every `command_poll_s` covers a missed notification.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg

from wqmon.errors import DeviceUnavailable
from wqmon.settings import libpq_url
from wqmon.store.hj212_commands import CHANNEL
from wqmon.supervision import backoff

if TYPE_CHECKING:
    from wqmon.drivers.hj212.server import Hj212Driver

log = logging.getLogger(__name__)

_CLAIM_SQL = """
UPDATE hj212_command SET state = 'running'
WHERE id IN (SELECT id FROM hj212_command WHERE state = 'pending' AND mn = ANY(%s)
             ORDER BY id FOR UPDATE SKIP LOCKED)
RETURNING id, mn, cn, begin, "end"
"""
# The MNs with pending commands, usually none: the claim then names only those of them that are
# connected, not every connected MN (10,000 of them in an array, at every logger's connect,
# was 18 % of the ingest process's CPU during a reconnect storm, docs/scaling.md §1.4).
_PENDING_SQL = "SELECT DISTINCT mn FROM hj212_command WHERE state = 'pending'"
_FINISH_SQL = "UPDATE hj212_command SET state = %s, done_at = now(), detail = %s WHERE id = %s"
_RETRY_CAP_S = 30.0
_MIN_INTERVAL_S = 0.5  # wakes closer than this (a wave of connects) are served together


class CommandWorker:
    """Listens for commands and runs them against the driver's connected loggers."""

    def __init__(self, driver: Hj212Driver, database_url: str) -> None:
        self.driver = driver
        self._url = libpq_url(database_url)
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """Look for claimable commands now (a logger connected, or a notification came)."""
        self._wake.set()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self._url, autocommit=True, connect_timeout=5)

    async def run(self) -> None:
        """Listen and dispatch until cancelled, reconnecting with backoff after failures."""
        try:
            await self._serve()
        finally:
            for task in list(self._running):
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _serve(self) -> None:
        failures = 0
        while True:
            try:
                async with await self._connect() as listener, await self._connect() as conn:
                    await listener.execute(f"LISTEN {CHANNEL}")
                    failures = 0
                    async with asyncio.TaskGroup() as group:
                        group.create_task(self._listen(listener))
                        group.create_task(self._dispatch_loop(conn))
            except* (psycopg.Error, OSError) as exc:
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(level, "hj212 commands: database unavailable (%s)", exc.exceptions[0])
                await asyncio.sleep(backoff(failures, base_s=0.5, cap_s=_RETRY_CAP_S))

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        async for _ in conn.notifies():
            self._wake.set()

    async def _dispatch_loop(self, conn: psycopg.AsyncConnection[Any]) -> None:
        poll = self.driver.config.command_poll_s
        while True:
            self._wake.clear()
            await self._claim(conn)
            try:
                async with asyncio.timeout(poll):
                    await self._wake.wait()
            except TimeoutError:
                pass
            await asyncio.sleep(_MIN_INTERVAL_S)

    async def _claim(self, conn: psycopg.AsyncConnection[Any]) -> None:
        pending = await (await conn.execute(_PENDING_SQL)).fetchall()
        mns = [mn for (mn,) in pending if self.driver.is_connected(mn)]
        if not mns:
            return
        cursor = await conn.execute(_CLAIM_SQL, (mns,))
        for row in await cursor.fetchall():
            # One command, short-lived and ending in a state row: not supervised.
            task = asyncio.create_task(self._execute(*row), name=f"hj212:cmd:{row[0]}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _execute(
        self,
        command_id: int,
        mn: str,
        cn: str,
        begin: datetime,
        end: datetime,
    ) -> None:
        try:
            result = await self.driver.request_history(mn, cn, begin, end)
        except (DeviceUnavailable, ValueError) as exc:
            state, detail = "failed", str(exc)
        else:
            state, detail = ("done" if result.ok else "failed"), result.describe()
        log.info("hj212 command %d (%s %s): %s %s", command_id, mn, cn, state, detail)
        try:
            # Its own connection: the dispatcher's may have been replaced meanwhile.
            async with await self._connect() as conn:
                await conn.execute(_FINISH_SQL, (state, detail, command_id))
        except psycopg.OperationalError as exc:
            log.warning("hj212 command %d: outcome not recorded (%s)", command_id, exc)
