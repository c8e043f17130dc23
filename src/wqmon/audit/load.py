"""Read the marks and corrections in force for a point's channels over a range (rollup side)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg

from wqmon.audit.model import Correction, Mark, Reason, Validity
from wqmon.audit.timeline import ChannelAudit

Conn = psycopg.Connection[Any]

_MARKS = (
    'SELECT id, point_id, channel_id, start, "end", validity, reason, created_at '
    'FROM audit_mark WHERE point_id = %s AND revoked_at IS NULL AND start < %s AND "end" > %s'
)
_CORRECTIONS = (
    'SELECT c.id, c.channel_id, c.kind, c.start, c."end", c.reason, c.created_at, '
    "array_agg(v.ts ORDER BY v.ts), array_agg(v.value ORDER BY v.ts) "
    "FROM audit_correction c JOIN audit_correction_value v ON v.correction_id = c.id "
    'WHERE c.channel_id = ANY(%s) AND c.revoked_at IS NULL AND c.start < %s AND c."end" >= %s '
    "GROUP BY c.id"
)


def load_marks(conn: Conn, point_id: int, start: datetime, end: datetime) -> list[Mark]:
    """The point's marks in force that overlap [start, end)."""
    return [
        Mark(i, p, c, s, e, Validity(v), Reason(r), at)
        for i, p, c, s, e, v, r, at in conn.execute(_MARKS, (point_id, end, start))
    ]


def load_corrections(
    conn: Conn, channel_ids: list[int], start: datetime, end: datetime
) -> list[Correction]:
    """The channels' corrections in force that overlap [start, end) (a value: its time)."""
    if not channel_ids:
        return []
    return [
        Correction(i, c, k, s, e, tuple(zip(ts, vs, strict=True)), Reason(r), at)
        for i, c, k, s, e, r, at, ts, vs in conn.execute(_CORRECTIONS, (channel_ids, end, start))
    ]


def channel_audits(
    conn: Conn, point_id: int, channels: Mapping[int, str], start: datetime, end: datetime
) -> dict[str, ChannelAudit]:
    """Per HJ 212 code of the given channels (id → code): its marks and corrections."""
    marks = load_marks(conn, point_id, start, end)
    corrections = load_corrections(conn, list(channels), start, end)
    if not marks and not corrections:
        return {}
    result = {}
    for cid, code in channels.items():
        own = tuple(m for m in marks if m.channel_id in (None, cid))
        fixes = tuple(c for c in corrections if c.channel_id == cid)
        if own or fixes:
            result[code] = ChannelAudit(own, fixes)
    return result


# -- the alarm engine's side (async connections) ----------------------------------------------

AsyncConn = psycopg.AsyncConnection[Any]

_INVALID_SPANS = (
    'SELECT c.id, m.start, m."end" FROM audit_mark m JOIN channel c ON c.point_id = m.point_id '
    "AND (m.channel_id IS NULL OR m.channel_id = c.id) WHERE m.revoked_at IS NULL "
    "AND m.validity = 'invalid' ORDER BY c.id, m.start"
)


async def invalid_spans(conn: AsyncConn) -> dict[int, list[tuple[datetime, datetime]]]:
    """Per channel: the ranges of the invalid marks in force (live alarms leave readings inside
    them alone; a backfill can be old, so old marks count too — marks are few)."""
    spans: dict[int, list[tuple[datetime, datetime]]] = {}
    for cid, start, end in await (await conn.execute(_INVALID_SPANS)).fetchall():
        spans.setdefault(cid, []).append((start, end))
    return spans


async def channel_audits_async(
    conn: AsyncConn, channels: Mapping[int, str], start: datetime, end: datetime
) -> dict[str, ChannelAudit]:
    """`channel_audits` for channels of one point, on an async connection (the alarm engine)."""
    ids = list(channels)
    marks = [
        Mark(i, p, c, s, e, Validity(v), Reason(r), at)
        for i, p, c, s, e, v, r, at in await (
            await conn.execute(
                'SELECT id, point_id, channel_id, start, "end", validity, reason, created_at '
                "FROM audit_mark WHERE point_id IN (SELECT point_id FROM channel WHERE id = "
                'ANY(%s)) AND revoked_at IS NULL AND start < %s AND "end" > %s',
                (ids, end, start),
            )
        ).fetchall()
    ]
    corrections = [
        Correction(i, c, k, s, e, tuple(zip(ts, vs, strict=True)), Reason(r), at)
        for i, c, k, s, e, r, at, ts, vs in await (
            await conn.execute(_CORRECTIONS, (ids, end, start))
        ).fetchall()
    ]
    result = {}
    for cid, code in channels.items():
        own = tuple(m for m in marks if m.channel_id in (None, cid))
        fixes = tuple(c for c in corrections if c.channel_id == cid)
        if own or fixes:
            result[code] = ChannelAudit(own, fixes)
    return result
