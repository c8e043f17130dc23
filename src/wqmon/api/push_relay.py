"""The API's side of the push relay: after each commit, NOTIFY what the HTTP pushes stored.

HTTP pushes are stored by the API process's own pipeline (ADR 0001: the API answers after its
own commit), so ingest's engine would never see them. After each commit the API sends
`NOTIFY wqmon_pushed` naming what it stored — channels, the time range and the receipt times,
never the values (a NOTIFY payload is limited to 8000 bytes) — and ingest's engine, listening,
reads exactly those rows back (`wqmon.alarms.pushed`) and evaluates them like its own commits.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from wqmon.alarms.pushed import CHANNEL
from wqmon.ingest.stored import StoredReadings
from wqmon.model import PeriodRecord, Reading
from wqmon.store.copybin import PG_EPOCH

log = logging.getLogger(__name__)
_MAX_CHANNELS_PER_NOTE = 400  # keeps each payload well under PostgreSQL's 8000-byte limit


def notes_for(readings: Sequence[Reading]) -> list[str]:
    """NOTIFY payloads describing a commit: channel ids, ts range, receipt times."""
    if not readings:
        return []
    channels, first, last, received_at = _summary(readings)
    start, end = first.isoformat(), last.isoformat()
    received = sorted({r.isoformat() for r in received_at})[:50]
    return [
        json.dumps(
            {"c": channels[i : i + _MAX_CHANNELS_PER_NOTE], "f": start, "t": end, "r": received}
        )
        for i in range(0, len(channels), _MAX_CHANNELS_PER_NOTE)
    ]


def _summary(readings: Sequence[Reading]) -> tuple[list[int], datetime, datetime, set[datetime]]:
    """Channels (sorted), first and last time, receipt times: from the columns when given
    the pipeline's `StoredReadings` (a tuple per reading cost the API 16 % of its time)."""
    if isinstance(readings, StoredReadings):
        blocks = [b for b in readings.blocks() if len(b)]
        channels = np.unique(np.concatenate([b.channel_id for b in blocks])).tolist()
        first = min(int(b.ts_us.min()) for b in blocks)
        last = max(int(b.ts_us.max()) for b in blocks)
        return channels, _moment(first), _moment(last), {b.received_at for b in blocks}
    return (
        sorted({r.channel_id for r in readings}),
        min(r.ts for r in readings),
        max(r.ts for r in readings),
        {r.received_at for r in readings},
    )


def _moment(us: int) -> datetime:
    return PG_EPOCH + timedelta(microseconds=us)


class PushNotifier:
    """Commit listener of the API's pipeline: queue the notes, send them from a task."""

    def __init__(self, url: str, queue_size: int = 1000) -> None:
        self._url = url
        self._queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self.dropped = 0

    def on_commit(self, readings: Sequence[Reading], _periods: list[PeriodRecord]) -> None:
        for note in notes_for(readings):
            try:
                self._queue.put_nowait(note)
            except asyncio.QueueFull:
                self.dropped += 1  # the hourly evaluations still see these rows

    async def run(self) -> None:
        """Send the notes on one connection, kept open (one per burst cost 9 % of the API)."""
        conn: psycopg.AsyncConnection[Any] | None = None
        try:
            while True:
                note = await self._queue.get()
                try:
                    if conn is None or conn.closed:
                        conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
                    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, note))
                    while not self._queue.empty():
                        await conn.execute(
                            "SELECT pg_notify(%s, %s)", (CHANNEL, self._queue.get_nowait())
                        )
                except psycopg.OperationalError as exc:
                    log.debug("push notification not sent: %s", exc)
                    if conn is not None:
                        await conn.close()
                    conn = None
        finally:
            if conn is not None:
                await conn.close()
