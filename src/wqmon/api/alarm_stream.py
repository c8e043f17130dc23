"""Alarm events for server-sent event clients: one LISTEN connection, fanned out per client.

The hub LISTENs on `wqmon_alarms`; a notification carries an event id, and the hub reads every
event after the last one it broadcast (so a burst of notifications costs one query). Each client
has a bounded queue; a client that falls behind gets a `LAGGED` marker instead of more events
and re-reads from the table, like a client that resumes with `Last-Event-ID`. Event ids are in
commit order (see `wqmon.alarms.store`), so "every event after N" is exact.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Final

import psycopg
from psycopg_pool import AsyncConnectionPool

from wqmon.alarms.store import CHANNEL, AlarmEvent, events_after, last_event_id
from wqmon.supervision import backoff

log = logging.getLogger(__name__)

LAGGED: Final = None  # queued to a client that fell behind: re-read from the table
KEEPALIVE_S = 15.0


class AlarmHub:
    """Broadcasts stored alarm events to subscribed queues."""

    def __init__(self, database_url: str, *, client_queue: int = 1000) -> None:
        self.database_url = database_url
        self.client_queue = client_queue
        self.last_id = 0
        self.listening = asyncio.Event()
        self._subscribers: set[asyncio.Queue[AlarmEvent | None]] = set()

    def subscribe(self) -> asyncio.Queue[AlarmEvent | None]:
        queue: asyncio.Queue[AlarmEvent | None] = asyncio.Queue(self.client_queue)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[AlarmEvent | None]) -> None:
        self._subscribers.discard(queue)

    async def run(self) -> None:
        """LISTEN until cancelled; reconnects, catching up from the last broadcast id."""
        attempt = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.database_url, autocommit=True, connect_timeout=5
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if self.last_id == 0:
                        self.last_id = await last_event_id(conn)
                    await self._catch_up(conn)
                    self.listening.set()
                    attempt = 0
                    while True:
                        # Wait for a notification (or a quiet minute), then read what is new
                        # outside the generator: the connection is busy while it waits.
                        async for _ in conn.notifies(timeout=60.0, stop_after=1):
                            pass
                        await self._catch_up(conn)
            except psycopg.OperationalError as exc:
                self.listening.clear()
                attempt += 1
                log.warning("alarm stream: LISTEN connection lost (%s); reconnecting", exc)
                await asyncio.sleep(backoff(attempt, base_s=0.2, cap_s=10.0))

    async def _catch_up(self, conn: psycopg.AsyncConnection[Any]) -> None:
        while events := await events_after(conn, self.last_id):
            for event in events:
                self._broadcast(event)
            self.last_id = events[-1].id

    def _broadcast(self, event: AlarmEvent) -> None:
        for queue in self._subscribers:
            if queue.full():
                continue  # it already holds LAGGED at the end, or will get it below
            if queue.qsize() == queue.maxsize - 1:
                queue.put_nowait(LAGGED)
            else:
                queue.put_nowait(event)


def sse(event: AlarmEvent) -> str:
    """One server-sent event: id (resume point), event type (the kind) and JSON data."""
    data = json.dumps(event.as_json(), ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n"


async def event_stream(
    hub: AlarmHub, pool: AsyncConnectionPool[Any], after: int | None
) -> AsyncIterator[str]:
    """The text of one client's stream: replay after `after` (None: from now), then live."""
    queue = hub.subscribe()
    try:
        yield "retry: 2000\n: wqmon alarm stream\n\n"
        last = hub.last_id if after is None else after
        async for chunk in _replay(pool, last):
            last = chunk[0]
            yield chunk[1]
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if item is LAGGED:
                async for chunk in _replay(pool, last):
                    last = chunk[0]
                    yield chunk[1]
            elif item.id > last:
                last = item.id
                yield sse(item)
    finally:
        hub.unsubscribe(queue)


async def _replay(pool: AsyncConnectionPool[Any], after: int) -> AsyncIterator[tuple[int, str]]:
    while True:
        async with pool.connection() as conn:
            events = await events_after(conn, after)
        if not events:
            return
        for event in events:
            yield event.id, sse(event)
        after = events[-1].id
