"""Alarms in the database: raise, clear, acknowledge, re-notify, and read them back.

Every change writes an `alarm_event` row holding a snapshot of the alarm and sends
`NOTIFY wqmon_alarms, '<event id>'` in the same transaction (delivered at commit). Writers take
one transaction-level advisory lock before their events, so event ids are allocated in commit
order: a client that saw event N has seen every event below N, which makes `Last-Event-ID`
resumption exact. Both processes write here (ingest raises and clears, the API acknowledges).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from wqmon.alarms.rules import Finding

CHANNEL = "wqmon_alarms"
_EVENT_LOCK = 0x77716D6F6E414C  # "wqmonAL": one lock id for all alarm event writers

Conn = psycopg.AsyncConnection[Any]


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """One row of the alarm history, as SSE and webhooks deliver it."""

    id: int
    alarm_id: int
    kind: str
    at: datetime
    alarm: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "at": self.at.isoformat(), "alarm": self.alarm}


class AlarmNotFound(LookupError):
    pass


class AlreadyAcknowledged(RuntimeError):
    pass


_EVENT = """
INSERT INTO alarm_event (alarm_id, kind, at, alarm)
SELECT a.id, %s, %s, to_jsonb(a) FROM alarm a WHERE a.id = %s
RETURNING id, alarm_id, kind, at, alarm
"""
_RAISE = """
INSERT INTO alarm (rule, target, channel_id, severity, state, value, threshold, message,
                   raised_at, last_notified_at)
VALUES (%s, %s, %s, %s, 'active', %s, %s, %s, %s, %s)
ON CONFLICT (rule, target) WHERE cleared_at IS NULL DO NOTHING
RETURNING id
"""
_CLEAR = """
UPDATE alarm SET state = 'cleared', cleared_at = %s
WHERE rule = %s AND target = %s AND cleared_at IS NULL
RETURNING id
"""
_ACK = """
UPDATE alarm SET acked_at = %s, acked_by = %s, ack_comment = %s,
       state = CASE WHEN cleared_at IS NULL THEN 'acknowledged' ELSE state END
WHERE id = %s AND acked_at IS NULL
RETURNING id
"""
_RENOTIFY = """
UPDATE alarm SET last_notified_at = %s, notify_count = notify_count + 1
WHERE cleared_at IS NULL AND acked_at IS NULL AND last_notified_at <= %s
RETURNING id
"""


async def _lock(conn: Conn) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_EVENT_LOCK,))


async def _event(conn: Conn, alarm_id: int, kind: str, at: datetime) -> AlarmEvent:
    row = await (await conn.execute(_EVENT, (kind, at, alarm_id))).fetchone()
    assert row is not None  # noqa: S101 - the alarm row was written in this transaction
    event = AlarmEvent(int(row[0]), int(row[1]), str(row[2]), row[3], dict(row[4]))
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(event.id)))
    return event


@dataclass(frozen=True, slots=True)
class Change:
    """A transition to store: a finding that raised (with its severity) or cleared."""

    finding: Finding
    raised: bool
    severity: str


async def apply_changes(conn: Conn, changes: list[Change], now: datetime) -> list[AlarmEvent]:
    """Store raises and clears in one transaction; the events written, in order.

    A raise whose (rule, target) already has an open alarm (a restart that re-raised it) writes
    nothing, and so does a clear with none open: the database, not memory, has the last word.
    """
    events: list[AlarmEvent] = []
    async with conn.transaction():
        await _lock(conn)
        for change in changes:
            f = change.finding
            if change.raised:
                row = await (
                    await conn.execute(
                        _RAISE,
                        (
                            f.rule.value,
                            f.target,
                            f.channel_id,
                            change.severity,
                            f.value,
                            f.threshold,
                            f.message(),
                            f.at,
                            now,
                        ),
                    )
                ).fetchone()
                kind = "raised"
            else:
                row = await (await conn.execute(_CLEAR, (f.at, f.rule.value, f.target))).fetchone()
                kind = "cleared"
            if row is not None:
                events.append(await _event(conn, int(row[0]), kind, f.at))
    return events


async def acknowledge(
    conn: Conn, alarm_id: int, user: str, comment: str, now: datetime
) -> AlarmEvent:
    """Acknowledge an alarm (open or cleared) once; raises AlarmNotFound/AlreadyAcknowledged."""
    async with conn.transaction():
        await _lock(conn)
        row = await (await conn.execute(_ACK, (now, user, comment, alarm_id))).fetchone()
        if row is None:
            found = await (
                await conn.execute("SELECT 1 FROM alarm WHERE id = %s", (alarm_id,))
            ).fetchone()
            if found is None:
                raise AlarmNotFound(alarm_id)
            raise AlreadyAcknowledged(alarm_id)
        return await _event(conn, alarm_id, "acknowledged", now)


async def renotify_due(conn: Conn, now: datetime, every: timedelta) -> list[AlarmEvent]:
    """A `renotified` event for each open, unacknowledged alarm last notified `every` ago."""
    async with conn.transaction():
        await _lock(conn)
        rows = await (await conn.execute(_RENOTIFY, (now, now - every))).fetchall()
        return [await _event(conn, int(r[0]), "renotified", now) for r in rows]


async def open_alarms(conn: Conn) -> list[tuple[int, str, str]]:
    """(id, rule, target) of every alarm not cleared: the engine's state after a restart."""
    cur = await conn.execute("SELECT id, rule, target FROM alarm WHERE cleared_at IS NULL")
    return [(int(r[0]), str(r[1]), str(r[2])) for r in await cur.fetchall()]


async def events_after(conn: Conn, after: int, limit: int = 1000) -> list[AlarmEvent]:
    cur = await conn.execute(
        "SELECT id, alarm_id, kind, at, alarm FROM alarm_event WHERE id > %s ORDER BY id LIMIT %s",
        (after, limit),
    )
    return [
        AlarmEvent(int(r[0]), int(r[1]), str(r[2]), r[3], dict(r[4])) for r in await cur.fetchall()
    ]


async def last_event_id(conn: Conn) -> int:
    row = await (await conn.execute("SELECT coalesce(max(id), 0) FROM alarm_event")).fetchone()
    return int(row[0]) if row is not None else 0


STATES = {
    "open": "cleared_at IS NULL",
    "active": "state = 'active'",
    "acknowledged": "state = 'acknowledged'",
    "cleared": "state = 'cleared'",
    "unacknowledged": "acked_at IS NULL",
    "all": "true",
}


async def list_alarms(conn: Conn, state: str, limit: int) -> list[dict[str, Any]]:
    """Alarms in a state (a key of STATES), newest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT * FROM alarm WHERE {STATES[state]} ORDER BY raised_at DESC, id DESC LIMIT %s",
            (limit,),
        )
        return list(await cur.fetchall())


async def get_alarm(conn: Conn, alarm_id: int) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM alarm WHERE id = %s", (alarm_id,))
        return await cur.fetchone()
