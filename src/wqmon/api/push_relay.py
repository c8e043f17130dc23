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

import psycopg

from wqmon.alarms.pushed import CHANNEL
from wqmon.model import PeriodRecord, Reading

log = logging.getLogger(__name__)
_MAX_CHANNELS_PER_NOTE = 400  # keeps each payload well under PostgreSQL's 8000-byte limit


def notes_for(readings: Sequence[Reading]) -> list[str]:
    """NOTIFY payloads describing a commit: channel ids, ts range, receipt times."""
    if not readings:
        return []
    channels = sorted({r.channel_id for r in readings})
    start = min(r.ts for r in readings).isoformat()
    end = max(r.ts for r in readings).isoformat()
    received = sorted({r.received_at.isoformat() for r in readings})[:50]
    return [
        json.dumps(
            {"c": channels[i : i + _MAX_CHANNELS_PER_NOTE], "f": start, "t": end, "r": received}
        )
        for i in range(0, len(channels), _MAX_CHANNELS_PER_NOTE)
    ]


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
        while True:
            note = await self._queue.get()
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True
                ) as conn:
                    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, note))
                    while not self._queue.empty():
                        await conn.execute(
                            "SELECT pg_notify(%s, %s)", (CHANNEL, self._queue.get_nowait())
                        )
            except psycopg.OperationalError as exc:
                log.debug("push notification not sent: %s", exc)
