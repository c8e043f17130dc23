"""Validity figures per channel and day, month or year, for a site or a region subtree.

From `channel_day` (kept by the rollup, docs/audit.md §4): expected hours are the period's
local hours; received hours give the transmission rate; valid hours over (expected − shutdown)
give the valid-data rate, i.e. the capture rate (hours − shutdown − invalid) / (hours −
shutdown) where "invalid" includes the hours nothing was received. `causes` says how many
hours each mark reason or flag made invalid; `missing` how many nothing arrived for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from wqmon.balance.accounts import Granularity
from wqmon.balance.sums import Period, _key, _period_of, expected_hours, periods
from wqmon.parameters import lookup

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class ChannelRef:
    id: int
    site: str
    point: str
    role: str
    parameter: str
    tz: ZoneInfo


@dataclass(slots=True)
class ChannelValidity:
    """One channel's figures over one period."""

    channel: ChannelRef
    period: Period
    expected_hours: float
    received_hours: int = 0
    valid_hours: int = 0
    invalid_hours: int = 0
    shutdown_hours: int = 0
    causes: dict[str, int] = field(default_factory=dict)
    marks: list[int] = field(default_factory=list)

    @property
    def missing_hours(self) -> float:
        """Hours neither valid, invalid nor shut down: nothing arrived."""
        return max(
            0.0, self.expected_hours - self.valid_hours - self.invalid_hours - self.shutdown_hours
        )

    @property
    def transmission_rate(self) -> float | None:
        return self.received_hours / self.expected_hours if self.expected_hours > 0 else None

    @property
    def valid_rate(self) -> float | None:
        base = self.expected_hours - self.shutdown_hours
        return self.valid_hours / base if base > 0 else None

    def as_dict(self) -> dict[str, Any]:
        c = self.channel
        parameter = lookup(c.parameter)
        return {
            "site": c.site,
            "point": c.point,
            "role": c.role,
            "parameter": c.parameter,
            "alias": parameter.alias if parameter else None,
            "start": self.period[0].isoformat(),
            "end": self.period[1].isoformat(),
            "expected_hours": self.expected_hours,
            "received_hours": self.received_hours,
            "valid_hours": self.valid_hours,
            "invalid_hours": self.invalid_hours,
            "shutdown_hours": self.shutdown_hours,
            "missing_hours": self.missing_hours,
            "transmission_rate": self.transmission_rate,
            "valid_rate": self.valid_rate,
            "causes": self.causes | ({"missing": self.missing_hours} if self.missing_hours else {}),
            "marks": self.marks,
        }


_CHANNELS = """
WITH RECURSIVE tree AS (
    SELECT code FROM region WHERE code = %(region)s
    UNION ALL SELECT r.code FROM region r JOIN tree t ON r.parent_code = t.code)
SELECT c.id, s.code, p.code, p.role, c.parameter, s.timezone FROM channel c
JOIN point p ON p.id = c.point_id JOIN site s ON s.id = p.site_id
WHERE c.active AND s.active AND (%(site)s::text IS NULL OR s.code = %(site)s)
  AND (%(region)s::text IS NULL OR s.region_code IN (SELECT code FROM tree))
ORDER BY s.code, p.code, c.parameter
"""


def scope_channels(conn: Conn, *, site: str | None, region: str | None) -> list[ChannelRef]:
    """Active channels of a site or a region subtree (or everything)."""
    rows = conn.execute(_CHANNELS, {"site": site, "region": region}).fetchall()
    return [ChannelRef(i, s, p, role, code, ZoneInfo(tz)) for i, s, p, role, code, tz in rows]


def channel_validity(
    conn: Conn,
    channels: Sequence[ChannelRef],
    start: date,
    end: date,
    granularity: Granularity | None = None,
) -> list[ChannelValidity]:
    """Figures per channel and period of [start, end) (one period without granularity)."""
    bounds = periods(start, end, granularity)
    if not channels or not bounds:
        return []
    key = _key(granularity, "d.day")
    args = {"ids": [c.id for c in channels], "start": start, "end": end}
    base = (
        "FROM channel_day d JOIN unnest(%(ids)s::int[]) AS ids(id) ON ids.id = d.channel_id "
        "WHERE d.day >= %(start)s AND d.day < %(end)s"
    )
    result: dict[tuple[Period, int], ChannelValidity] = {}
    by_id = {c.id: c for c in channels}
    for b in bounds:
        for c in channels:
            result[(b, c.id)] = ChannelValidity(c, b, expected_hours(b, c.tz))
    for k, cid, rec, val, inv, down in conn.execute(
        f"SELECT {key}, d.channel_id, sum(received_hours), sum(valid_hours), "
        f"sum(invalid_hours), sum(shutdown_hours) {base} GROUP BY 1, 2",
        args,
    ):
        v = result[(_period_of(k, bounds), cid)]
        v.received_hours, v.valid_hours = int(rec), int(val)
        v.invalid_hours, v.shutdown_hours = int(inv), int(down)
    for k, cid, cause, hours in conn.execute(
        f"SELECT {key}, d.channel_id, e.key, sum(e.value::int) {base.replace('FROM channel_day d', 'FROM channel_day d CROSS JOIN LATERAL jsonb_each_text(d.causes) e')} "
        "GROUP BY 1, 2, 3",
        args,
    ):
        result[(_period_of(k, bounds), cid)].causes[cause] = int(hours)
    for k, cid, marks in conn.execute(
        f"SELECT {key}, d.channel_id, array_agg(DISTINCT m ORDER BY m) "
        f"{base.replace('FROM channel_day d', 'FROM channel_day d CROSS JOIN LATERAL unnest(d.marks) m')} "
        "GROUP BY 1, 2",
        args,
    ):
        result[(_period_of(k, bounds), cid)].marks = list(marks)
    del by_id
    return list(result.values())


def validity_report(
    conn: Conn,
    *,
    site: str | None,
    region: str | None,
    start: date,
    end: date,
    granularity: Granularity | None = None,
) -> dict[str, Any]:
    """`GET /api/v1/validity`: the figures of every channel of the scope, per period."""
    channels = scope_channels(conn, site=site, region=region)
    figures = channel_validity(conn, channels, start, end, granularity)
    return {
        "site": site,
        "region": region,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "granularity": granularity.value if granularity else None,
        "channels": [f.as_dict() for f in figures],
    }
