"""What one recomputation of a point reads: its samples with lookback, and its logger records.

The lookback is what lets a reading before the range continue into it: a flow sample stands for
at most `max_flow_gap`, a concentration result is held at most `max_hold_age` (4 h by default).
Reading all of the hold's lookback made the rollup worker fetch five hours of results to
recompute one (docs/performance-notes.md §6), yet only one earlier reading per channel can reach
into the range:

- flow: the last sample before `start` within `max_flow_gap`, whatever its flag — every sample
  ends the step of the one before it, so any earlier sample's step stops at or before that one;
- a concentration: the last *usable* result before `start` within `max_hold_age` (valid flag,
  not negative, not NaN) — unusable results are skipped by the hold, and an earlier usable one
  is superseded by it.

That argument holds for readings as stored. A channel whose marks or corrections reach the range
or its lookback can change which reading is usable (an invalid mark over the last result lets an
earlier one hold on), so such a channel is still read over its whole lookback. Channels that are
not rolled up (pH, temperature: judged for validity only) need no lookback at all.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg

from wqmon.audit.timeline import ChannelAudit
from wqmon.balance.hourly_columns import Columns, Floats
from wqmon.balance.records import DEFAULT_SETTINGS, PeriodValue, RollupSettings, Sample

if TYPE_CHECKING:
    from wqmon.balance.store import PointChannels

Conn = psycopg.Connection[Any]

# One row per channel, its readings as arrays: psycopg builds the lists in C, where a row per
# reading cost a Python tuple and a loop step each (the worker's largest item, profiled).
_WINDOW_SQL = (
    "SELECT channel_id, array_agg(ts ORDER BY ts), "
    "array_agg(extract(epoch FROM ts)::float8 ORDER BY ts), array_agg(value ORDER BY ts), "
    "array_agg(flag ORDER BY ts) FROM reading "
    "WHERE channel_id = ANY(%s) AND ts >= %s AND ts < %s GROUP BY channel_id"
)
# Per channel, the one reading that can continue into the range (see the module docstring).
# PostgreSQL sorts NaN above every number, so `value >= 0` alone would let NaN through.
_CARRIED_SQL = (
    "SELECT l.id, r.ts, extract(epoch FROM r.ts)::float8, r.value, r.flag "
    "FROM unnest(%s::int[], %s::timestamptz[], %s::bool[]) AS l(id, since, usable_only) "
    "CROSS JOIN LATERAL (SELECT ts, value, flag FROM reading WHERE channel_id = l.id "
    "AND ts >= l.since AND ts < %s AND (NOT l.usable_only OR (flag = ANY(%s) "
    "AND value >= 0 AND value <> 'NaN'::float8)) ORDER BY ts DESC LIMIT 1) r"
)
_RECORDS_SQL = (
    "SELECT channel_id, period, ts, avg, cou, flag FROM logger_period "
    "WHERE channel_id = ANY(%s) AND period IN ('hour', 'minute') AND ts >= %s AND ts < %s "
    "ORDER BY ts"
)


@dataclass(frozen=True, slots=True)
class ChannelSeries:
    """One channel's readings, sorted by time, kept as the query returned them: the times both
    as datetimes (for `Sample`s) and as epoch seconds (for `Columns`)."""

    ts: list[datetime]
    t: Floats
    value: list[float]
    flag: list[str]

    @classmethod
    def empty(cls) -> ChannelSeries:
        return cls([], np.empty(0), [], [])

    def __len__(self) -> int:
        return len(self.ts)

    def then(self, later: ChannelSeries) -> ChannelSeries:
        """This series followed by a later one."""
        if not self.ts:
            return later
        return ChannelSeries(
            self.ts + later.ts,
            np.concatenate([self.t, later.t]),
            self.value + later.value,
            self.flag + later.flag,
        )

    def bounds(self, start: datetime, end: datetime) -> tuple[int, int]:
        lo = bisect_left(self.ts, start)
        return lo, bisect_left(self.ts, end, lo)


@dataclass(frozen=True, slots=True)
class PointData:
    """Everything one recomputation reads of a point's channels, read once: samples from the
    lookback before `start` to `end` (see the module docstring for which), and the hour and
    minute records of [start, end). The rollup and the validity judgement each take their own
    window of it."""

    series: dict[int, ChannelSeries]
    records: list[tuple[int, str, PeriodValue]]

    def window(self, channel: int, start: datetime, end: datetime) -> list[Sample]:
        """The channel's samples with start <= ts < end (sorted by time)."""
        series = self.series.get(channel)
        if series is None:
            return []
        lo, hi = series.bounds(start, end)
        return list(zip(series.ts[lo:hi], series.value[lo:hi], series.flag[lo:hi], strict=True))

    def columns(self, channel: int | None, start: datetime, end: datetime) -> Columns:
        """The same window as `Columns`, for `realtime_hours_columns`."""
        series = self.series.get(channel) if channel is not None else None
        if series is None:
            return Columns.empty()
        lo, hi = series.bounds(start, end)
        return Columns(
            series.t[lo:hi], np.array(series.value[lo:hi], np.float64), series.flag[lo:hi]
        )

    def count(self) -> int:
        """Readings read (lookback included)."""
        return sum(len(s) for s in self.series.values())


def read_point(
    conn: Conn,
    point: PointChannels,
    start: datetime,
    end: datetime,
    settings: RollupSettings = DEFAULT_SETTINGS,
    *,
    audits: Mapping[str, ChannelAudit] | None = None,
) -> PointData:
    """The samples and period records of a recomputation of [start, end).

    Args:
        audits: The point's marks and corrections by HJ 212 code (`point_audits`); channels
            absent or empty there get only the one carried reading of lookback. `None` reads
            every channel over the whole lookback (the reference the narrow read is tested
            against).
    """
    codes = point.codes
    series = _series(conn, list(codes), start, end)
    lookback = max(settings.max_hold_age, settings.max_flow_gap)
    if audits is None:
        whole = list(codes)
        carried: dict[int, tuple[timedelta, bool]] = {}
    else:
        reach = _reach(point, settings)
        whole = [c for c in reach if _audited(audits, codes[c])]
        carried = {c: r for c, r in reach.items() if c not in whole}
    before = _series(conn, whole, start - lookback, start)
    before.update(_carried(conn, carried, start, settings))
    for cid, earlier in before.items():
        series[cid] = earlier.then(series[cid])
    return PointData(series, _period_records(conn, list(codes), start, end))


def _reach(point: PointChannels, settings: RollupSettings) -> dict[int, tuple[timedelta, bool]]:
    """Per rolled-up channel, how far back its readings reach into a range, and whether only
    usable ones do (a hold skips unusable results; a flow step is ended by any sample)."""
    reach = dict.fromkeys(point.pollutants, (settings.max_hold_age, True))
    if point.flow_channel is not None:
        reach[point.flow_channel] = (settings.max_flow_gap, False)
    return reach


def _audited(audits: Mapping[str, ChannelAudit], code: str) -> bool:
    audit = audits.get(code)
    return audit is not None and not audit.empty


def _series(
    conn: Conn, channels: Sequence[int], start: datetime, end: datetime
) -> dict[int, ChannelSeries]:
    series = {c: ChannelSeries.empty() for c in channels}
    if not channels:
        return series
    rows = conn.cursor(binary=True).execute(_WINDOW_SQL, (list(channels), start, end))
    for cid, ts, epochs, values, flags in rows:
        series[cid] = ChannelSeries(ts, np.array(epochs, np.float64), values, flags)
    return series


def _carried(
    conn: Conn,
    reach: Mapping[int, tuple[timedelta, bool]],
    start: datetime,
    settings: RollupSettings,
) -> dict[int, ChannelSeries]:
    """Per channel of `reach`, its last reading before `start` that can continue into it."""
    if not reach:
        return {}
    ids = list(reach)
    since = [start - reach[c][0] for c in ids]
    usable_only = [reach[c][1] for c in ids]
    rows = conn.execute(
        _CARRIED_SQL, (ids, since, usable_only, start, sorted(settings.valid_flags))
    ).fetchall()
    return {
        cid: ChannelSeries([ts], np.array([epoch], np.float64), [value], [flag])
        for cid, ts, epoch, value, flag in rows
    }


def _period_records(
    conn: Conn, channels: Sequence[int], start: datetime, end: datetime
) -> list[tuple[int, str, PeriodValue]]:
    rows = conn.execute(_RECORDS_SQL, (list(channels), start, end))
    return [(cid, p, PeriodValue(ts, avg, cou, flag)) for cid, p, ts, avg, cou, flag in rows]
