"""The data audit behind an account's coverage: the marks and corrections on its sites' data.

The account shows its coverage next to each figure, and the rollups it sums already honour the
audit records (docs/audit.md); this lists which records were in force, so a reviewer sees why
data is missing or replaced. A submission freezes the list with the figures: a mark recorded
later shows in the account as a new record, beside the difference it makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from wqmon.balance.store import Conn

LOCAL = ZoneInfo("Asia/Shanghai")  # the bounds only select records; the figures use site zones
LIMIT = 500

_MARKS = """
SELECT m.id, s.code, p.code, c.parameter, m.start, m."end", m.validity, m.reason, m.comment,
       m.created_by, m.created_at
FROM audit_mark m JOIN point p ON p.id = m.point_id JOIN site s ON s.id = p.site_id
LEFT JOIN channel c ON c.id = m.channel_id
WHERE s.code = ANY(%s) AND m.revoked_at IS NULL AND m.start < %s AND m."end" > %s
ORDER BY m.start, m.id LIMIT %s
"""
_CORRECTIONS = """
SELECT k.id, s.code, p.code, c.parameter, k.kind, k.start, k."end", k.reason, k.comment,
       k.created_by, k.created_at
FROM audit_correction k JOIN channel c ON c.id = k.channel_id
JOIN point p ON p.id = c.point_id JOIN site s ON s.id = p.site_id
WHERE s.code = ANY(%s) AND k.revoked_at IS NULL AND k.start < %s AND k."end" > %s
ORDER BY k.start, k.id LIMIT %s
"""
_MARK_KEYS = (
    "id",
    "site",
    "point",
    "parameter",
    "start",
    "end",
    "validity",
    "reason",
    "comment",
    "created_by",
    "created_at",
)
_CORRECTION_KEYS = (
    "id",
    "site",
    "point",
    "parameter",
    "kind",
    "start",
    "end",
    "reason",
    "comment",
    "created_by",
    "created_at",
)


def _rows(conn: Conn, sql: str, keys: Sequence[str], args: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [
        {k: v.isoformat() if isinstance(v, datetime) else v for k, v in zip(keys, row, strict=True)}
        for row in conn.execute(sql, args)
    ]


def audit_summary(conn: Conn, sites: Sequence[str], start: date, end: date) -> dict[str, Any]:
    """The audit records in force on the sites' data over the days [start, end), with counts
    of marks by validity and reason."""
    lo = datetime.combine(start, time(), LOCAL)
    hi = datetime.combine(end, time(), LOCAL)
    marks = _rows(conn, _MARKS, _MARK_KEYS, (list(sites), hi, lo, LIMIT))
    corrections = _rows(conn, _CORRECTIONS, _CORRECTION_KEYS, (list(sites), hi, lo, LIMIT))
    counts: dict[str, int] = {}
    for m in marks:
        key = f"{m['validity']}:{m['reason']}"
        counts[key] = counts.get(key, 0) + 1
    return {
        "available": True,
        "marks": marks,
        "corrections": corrections,
        "mark_counts": counts,
        "truncated": len(marks) == LIMIT or len(corrections) == LIMIT,
    }


def new_records(frozen: dict[str, Any], live: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Audit records in force now that the frozen account did not have, and those it had that
    were revoked since."""
    out: dict[str, list[dict[str, Any]]] = {}
    for kind in ("marks", "corrections"):
        was = {r["id"] for r in frozen.get(kind, [])}
        now = {r["id"] for r in live.get(kind, [])}
        out[f"added_{kind}"] = [r for r in live.get(kind, []) if r["id"] not in was]
        out[f"revoked_{kind}"] = [r for r in frozen.get(kind, []) if r["id"] not in now]
    return out
