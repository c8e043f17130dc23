"""Audit records in the database: create, revoke, list; the hours they make dirty; histories.

Every write happens in one transaction with the `rollup_dirty` marks of the hours it can
change, so the rollup maintainer (docs/balance.md §6) recomputes them like late data: the
range itself plus `max(max_hold_age, max_flow_gap)` after it (a reading the record validated
or invalidated holds or steps on that far). Nothing here updates or deletes a reading.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from wqmon.audit.load import load_corrections, load_marks
from wqmon.audit.model import REASONS, Validity
from wqmon.audit.timeline import ChannelAudit
from wqmon.balance.records import DEFAULT_SETTINGS, FLOW, RollupSettings
from wqmon.errors import ConfigError
from wqmon.parameters import lookup

Conn = psycopg.Connection[Any]
MAX_RANGE_DAYS = 400  # a mark or a replacement longer than this is almost certainly a typo
MAX_SERIES_POINTS = 10_000


class AuditError(ValueError):
    """A mark or correction that cannot be recorded (the message says why)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A point, or one channel of it, named the way users name them."""

    site: str
    point: str
    parameter: str | None = None  # alias or HJ 212 code; None = the whole point


def _locate(conn: Conn, target: Target) -> tuple[int, int | None]:
    """(point id, channel id or None) of a target; ConfigError when it does not exist."""
    row = conn.execute(
        "SELECT p.id FROM point p JOIN site s ON s.id = p.site_id "
        "WHERE s.code = %s AND p.code = %s",
        (target.site, target.point),
    ).fetchone()
    if row is None:
        raise ConfigError(f"unknown point {target.site}/{target.point}")
    if target.parameter is None:
        return int(row[0]), None
    parameter = lookup(target.parameter)
    found = None
    if parameter is not None:
        found = conn.execute(
            "SELECT id FROM channel WHERE point_id = %s AND parameter = %s",
            (row[0], parameter.code),
        ).fetchone()
    if found is None:
        raise ConfigError(f"{target.site}/{target.point} has no channel {target.parameter!r}")
    return int(row[0]), int(found[0])


def _check_range(start: datetime, end: datetime, *, allow_equal: bool = False) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise AuditError("times must carry an offset (e.g. +08:00 or Z)")
    if end < start or (end == start and not allow_equal):
        raise AuditError("end must be after start")
    if (end - start).days > MAX_RANGE_DAYS:
        raise AuditError(f"a range of at most {MAX_RANGE_DAYS} days")


def _check_reason(reason: str, comment: str) -> None:
    if reason not in REASONS:
        raise AuditError(f"unknown reason {reason!r} (one of {', '.join(REASONS)})")
    if reason == "other" and not comment.strip():
        raise AuditError("reason 'other' needs a comment saying what")


def mark_dirty(
    conn: Conn,
    point_id: int,
    start: datetime,
    end: datetime,
    settings: RollupSettings = DEFAULT_SETTINGS,
) -> None:
    """Queue the point-hours an audit record over [start, end] can change for recomputation."""
    reach = max(settings.max_hold_age, settings.max_flow_gap)
    conn.execute(
        "INSERT INTO rollup_dirty (point_id, hour) SELECT %s, h FROM generate_series("
        "date_trunc('hour', %s::timestamptz, 'UTC'), %s::timestamptz, interval '1 hour') h "
        "ON CONFLICT DO NOTHING",
        (point_id, start, end + reach),
    )


def create_mark(
    conn: Conn,
    target: Target,
    *,
    start: datetime,
    end: datetime,
    validity: str,
    reason: str,
    comment: str,
    user: str,
) -> int:
    """Record a mark and queue its hours; the caller commits. Returns the mark's id."""
    _check_range(start, end)
    _check_reason(reason, comment)
    if validity not in (Validity.INVALID.value, Validity.VALID.value):
        raise AuditError("validity is 'invalid' or 'valid'")
    point_id, channel_id = _locate(conn, target)
    row = conn.execute(
        'INSERT INTO audit_mark (point_id, channel_id, start, "end", validity, reason, comment, '
        "created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (point_id, channel_id, start, end, validity, reason, comment, user),
    ).fetchone()
    assert row is not None  # noqa: S101 - RETURNING always returns the row
    mark_dirty(conn, point_id, start, end)
    return int(row[0])


def create_correction(
    conn: Conn,
    target: Target,
    *,
    points: Sequence[tuple[datetime, float]],
    reason: str,
    comment: str,
    user: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> int:
    """Record a correction and queue its hours; the caller commits.

    Without `start`/`end` it corrects the reading at the one point's time (which must exist);
    with them it replaces the channel's series over [start, end) by `points` (all inside).
    """
    _check_reason(reason, comment)
    if target.parameter is None:
        raise AuditError("a correction names a channel (parameter)")
    if not points or len(points) > MAX_SERIES_POINTS:
        raise AuditError(f"between 1 and {MAX_SERIES_POINTS} values")
    point_id, channel_id = _locate(conn, target)
    assert channel_id is not None  # noqa: S101 - a parameter was given
    ordered = sorted(points)
    if start is None and end is None:
        kind, start, end = "value", ordered[0][0], ordered[0][0]
        _check_value(conn, channel_id, ordered)
    elif start is not None and end is not None:
        kind = "series"
        _check_range(start, end)
        if any(not start <= ts < end for ts, _ in ordered):
            raise AuditError("every replacement value must lie in [start, end)")
        if ordered[0][0] != start:
            raise AuditError("a replacement series starts with a value at its start")
    else:
        raise AuditError("give both start and end (a series), or neither (one reading)")
    if len({ts for ts, _ in ordered}) != len(ordered):
        raise AuditError("two values at the same time")
    if any(not math.isfinite(v) or v < 0 for _, v in ordered):
        raise AuditError("values must be numbers ≥ 0")
    row = conn.execute(
        'INSERT INTO audit_correction (channel_id, kind, start, "end", reason, comment, '
        "created_by) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (channel_id, kind, start, end, reason, comment, user),
    ).fetchone()
    assert row is not None  # noqa: S101
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO audit_correction_value (correction_id, ts, value) VALUES (%s, %s, %s)",
            [(row[0], ts, v) for ts, v in ordered],
        )
    mark_dirty(conn, point_id, start, end)
    return int(row[0])


def _check_value(conn: Conn, channel_id: int, points: Sequence[tuple[datetime, float]]) -> None:
    if len(points) != 1:
        raise AuditError("a value correction has exactly one value (give start/end for a series)")
    if points[0][0].tzinfo is None:
        raise AuditError("times must carry an offset (e.g. +08:00 or Z)")
    found = conn.execute(
        "SELECT 1 FROM reading WHERE channel_id = %s AND ts = %s", (channel_id, points[0][0])
    ).fetchone()
    if found is None:
        raise AuditError(f"no reading at {points[0][0].isoformat()} to correct")


def _revoke(conn: Conn, table: str, record_id: int, user: str, comment: str) -> tuple[Any, ...]:
    row = conn.execute(
        f"UPDATE {table} SET revoked_at = now(), revoked_by = %s, revoke_comment = %s "
        "WHERE id = %s AND revoked_at IS NULL RETURNING id",
        (user, comment, record_id),
    ).fetchone()
    if row is None:
        exists = conn.execute(f"SELECT 1 FROM {table} WHERE id = %s", (record_id,)).fetchone()
        if exists is None:
            raise LookupError(f"no {table.removeprefix('audit_')} {record_id}")
        raise AuditError(f"{table.removeprefix('audit_')} {record_id} is already revoked")
    return tuple(row)


def revoke_mark(conn: Conn, mark_id: int, *, user: str, comment: str) -> None:
    """Take a mark out of force (the record stays, with who and why) and queue its hours."""
    _revoke(conn, "audit_mark", mark_id, user, comment)
    row = conn.execute(
        'SELECT point_id, start, "end" FROM audit_mark WHERE id = %s', (mark_id,)
    ).fetchone()
    assert row is not None  # noqa: S101
    mark_dirty(conn, row[0], row[1], row[2])


def revoke_correction(conn: Conn, correction_id: int, *, user: str, comment: str) -> None:
    """Take a correction out of force and queue its hours."""
    _revoke(conn, "audit_correction", correction_id, user, comment)
    row = conn.execute(
        'SELECT ch.point_id, c.start, c."end" FROM audit_correction c '
        "JOIN channel ch ON ch.id = c.channel_id WHERE c.id = %s",
        (correction_id,),
    ).fetchone()
    assert row is not None  # noqa: S101
    mark_dirty(conn, row[0], row[1], row[2])


@dataclass(frozen=True, slots=True)
class Scope:
    """Which records a listing returns; every field narrows it."""

    region: str | None = None  # this region and its descendants
    site: str | None = None
    point: str | None = None
    parameter: str | None = None
    start: datetime | None = None  # records overlapping [start, end)
    end: datetime | None = None
    revoked: bool = False  # include revoked records


_SCOPE_SITES = """
WITH RECURSIVE tree AS (
    SELECT code FROM region WHERE code = %(region)s
    UNION ALL SELECT r.code FROM region r JOIN tree t ON r.parent_code = t.code)
"""


def _where(scope: Scope, alias: str, channel: str) -> tuple[str, dict[str, Any]]:
    clauses = ["true"]
    args: dict[str, Any] = {}
    if scope.region is not None:
        clauses.append("s.region_code IN (SELECT code FROM tree)")
        args["region"] = scope.region
    if scope.site is not None:
        clauses.append("s.code = %(site)s")
        args["site"] = scope.site
    if scope.point is not None:
        clauses.append("p.code = %(point)s")
        args["point"] = scope.point
    if scope.parameter is not None:
        parameter = lookup(scope.parameter)
        clauses.append(f"({channel}.parameter = %(parameter)s OR {alias}.channel_id IS NULL)")
        args["parameter"] = parameter.code if parameter else scope.parameter
    if scope.start is not None:
        clauses.append(f'{alias}."end" >= %(start)s')
        args["start"] = scope.start
    if scope.end is not None:
        clauses.append(f"{alias}.start < %(end)s")
        args["end"] = scope.end
    if not scope.revoked:
        clauses.append(f"{alias}.revoked_at IS NULL")
    return " AND ".join(clauses), args


_WHO = "created_by, created_at, revoked_at, revoked_by, revoke_comment"
WHO_KEYS: tuple[str, ...] = tuple(_WHO.split(", "))


def list_marks(conn: Conn, scope: Scope, limit: int = 1000) -> list[dict[str, Any]]:
    """Marks in a scope, newest first, with the names users know."""
    where, args = _where(scope, "m", "c")
    prefix = _SCOPE_SITES if scope.region is not None else ""
    sql = (
        f'{prefix}SELECT m.id, s.code, p.code, c.parameter, m.start, m."end", m.validity, '
        f"m.reason, m.comment, m.{_WHO.replace(', ', ', m.')} FROM audit_mark m "
        "JOIN point p ON p.id = m.point_id JOIN site s ON s.id = p.site_id "
        f"LEFT JOIN channel c ON c.id = m.channel_id WHERE {where} "
        "ORDER BY m.created_at DESC, m.id DESC LIMIT %(limit)s"
    )
    keys: tuple[str, ...] = (
        "id",
        "site",
        "point",
        "parameter",
        "start",
        "end",
        "validity",
        "reason",
        "comment",
    )
    keys += WHO_KEYS
    rows = conn.execute(sql, args | {"limit": limit}).fetchall()
    return [_with_alias(dict(zip(keys, r, strict=True))) for r in rows]


def list_corrections(conn: Conn, scope: Scope, limit: int = 1000) -> list[dict[str, Any]]:
    """Corrections in a scope, newest first, each with its values."""
    where, args = _where(scope, "k", "c")
    prefix = _SCOPE_SITES if scope.region is not None else ""
    sql = (
        f'{prefix}SELECT k.id, s.code, p.code, c.parameter, k.kind, k.start, k."end", '
        f"k.reason, k.comment, k.{_WHO.replace(', ', ', k.')}, "
        "(SELECT array_agg(v.ts ORDER BY v.ts) FROM audit_correction_value v "
        "WHERE v.correction_id = k.id), (SELECT array_agg(v.value ORDER BY v.ts) "
        "FROM audit_correction_value v WHERE v.correction_id = k.id) FROM audit_correction k "
        "JOIN channel c ON c.id = k.channel_id JOIN point p ON p.id = c.point_id "
        f"JOIN site s ON s.id = p.site_id WHERE {where} "
        "ORDER BY k.created_at DESC, k.id DESC LIMIT %(limit)s"
    )
    keys: tuple[str, ...] = (
        "id",
        "site",
        "point",
        "parameter",
        "kind",
        "start",
        "end",
        "reason",
        "comment",
    )
    keys += WHO_KEYS
    result = []
    for *head, times, values in conn.execute(sql, args | {"limit": limit}).fetchall():
        item = _with_alias(dict(zip(keys, head, strict=True)))
        item["values"] = [{"ts": t, "value": v} for t, v in zip(times, values, strict=True)]
        result.append(item)
    return result


def _with_alias(item: dict[str, Any]) -> dict[str, Any]:
    code = item["parameter"]
    parameter = lookup(code) if code else None
    item["alias"] = parameter.alias if parameter else None
    return item


def reading_history(
    conn: Conn, target: Target, start: datetime, end: datetime, settings: RollupSettings
) -> dict[str, Any]:
    """Each reading of a channel over [start, end): original, effective value and flag, and the
    marks and corrections in force over it (plus replacement values without an original)."""
    point_id, channel_id = _locate(conn, target)
    if channel_id is None:
        raise AuditError("a history names a channel (parameter)")
    code = conn.execute("SELECT parameter FROM channel WHERE id = %s", (channel_id,)).fetchone()
    assert code is not None  # noqa: S101
    marks = tuple(
        m for m in load_marks(conn, point_id, start, end) if m.channel_id in (None, channel_id)
    )
    corrections = tuple(load_corrections(conn, [channel_id], start, end))
    audit = ChannelAudit(marks, corrections)
    rows = conn.execute(
        "SELECT ts, value, flag, source, received_at FROM reading "
        "WHERE channel_id = %s AND ts >= %s AND ts < %s ORDER BY ts LIMIT 100000",
        (channel_id, start, end),
    ).fetchall()
    originals = {ts: (v, f, src, rec) for ts, v, f, src, rec in rows}
    effective = {
        ts: (v, f)
        for ts, v, f in audit.adjust([(t, v, f) for t, v, f, _, _ in rows], settings.valid_flags)
    }
    readings = []
    for ts in sorted(set(originals) | set(effective)):
        original = originals.get(ts)
        value, flag = effective.get(ts, (None, None))
        t = ts.timestamp()
        mark = audit.mark_at(t)
        replaced = audit.replacement_at(t)
        fixes = [c.id for c in corrections if c.kind == "value" and c.start == ts]
        readings.append(
            {
                "ts": ts,
                "original": None
                if original is None
                else {
                    "value": original[0],
                    "flag": original[1],
                    "source": original[2],
                    "received_at": original[3],
                },
                "value": value,
                "flag": flag,
                "counts": value is not None and flag in settings.valid_flags,
                "mark": None if mark is None else mark.id,
                "corrections": fixes + ([replaced.id] if replaced else []),
            }
        )
    scope = Scope(
        site=target.site,
        point=target.point,
        parameter=target.parameter,
        start=start,
        end=end,
        revoked=True,
    )
    parameter = lookup(code[0])
    return {
        "site": target.site,
        "point": target.point,
        "parameter": code[0],
        "alias": parameter.alias if parameter else None,
        "flow": code[0] == FLOW,
        "readings": readings,
        "marks": list_marks(conn, scope),
        "corrections": list_corrections(conn, scope),
    }
