"""Ingest's side of the push relay: read back what the API process committed, for the engine.

HTTP pushes are stored by the API process's own pipeline (ADR 0001), so ingest's alarm engine
would never see them. The API sends `NOTIFY wqmon_pushed` after each commit, naming channels,
the time range and the receipt times (never the values: a payload is limited to 8000 bytes);
this module listens, reads exactly those rows back and hands them to the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg

from wqmon.model import PeriodRecord, Reading

log = logging.getLogger(__name__)
CHANNEL = "wqmon_pushed"

_FETCH = (
    "SELECT channel_id, ts, value, flag, source, received_at FROM reading "
    "WHERE channel_id = ANY(%s) AND ts BETWEEN %s AND %s AND received_at = ANY(%s) AND source = 'http'"
)


async def listen_for_pushes(
    url: str, evaluate: Callable[[list[Reading], list[PeriodRecord]], None]
) -> None:
    """Forever: LISTEN, read back each pushed commit, hand it to `evaluate` (the engine)."""
    while True:
        try:
            async with (
                await psycopg.AsyncConnection.connect(url, autocommit=True) as listen,
                await psycopg.AsyncConnection.connect(url, autocommit=True) as fetch,
            ):
                await listen.execute(f"LISTEN {CHANNEL}")
                async for notify in listen.notifies():
                    rows = await _read_back(fetch, notify.payload)
                    if rows:
                        evaluate(rows, [])
        except psycopg.OperationalError as exc:
            log.debug("push listener reconnecting: %s", exc)
            await asyncio.sleep(1.0)


async def _read_back(conn: psycopg.AsyncConnection[Any], payload: str) -> list[Reading]:
    with contextlib.suppress(ValueError, KeyError, TypeError):
        note = json.loads(payload)
        args = (
            note["c"],
            datetime.fromisoformat(note["f"]),
            datetime.fromisoformat(note["t"]),
            [datetime.fromisoformat(r) for r in note["r"]],
        )
        return [Reading(*row) for row in await (await conn.execute(_FETCH, args)).fetchall()]
    log.warning("ignored a malformed %s notification", CHANNEL)
    return []
