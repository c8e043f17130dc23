"""The balance engine's database side: read series, store point-hour and point-day rows.

`recompute(conn, point, start, end)` is the one operation the maintainer and `wqmon balance
rebuild` share: read one point's readings and logger records for [start, end) with lookback,
roll them up with the pure `rollup_point`, replace that range of `point_hour`, then recompute
the local days it touches into `point_day` and their calendar months into `point_month`.
Replacing (delete + insert) rather than upserting also removes rows whose data has gone. Hours
nobody reported (no sample, no coverage) are not stored: a missing row reads as zero, which is
what the sums need.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from wqmon.audit.hours import channel_hours
from wqmon.audit.load import channel_audits
from wqmon.audit.timeline import NO_AUDIT, ChannelAudit
from wqmon.balance.accounts import LOW_INLET_COD_MG_L, PointTotals, daily_totals, day_bounds
from wqmon.balance.point_data import PointData, read_point
from wqmon.balance.records import (
    DEFAULT_SETTINGS,
    FLOW,
    HOUR,
    PeriodValue,
    PointHour,
    RollupSettings,
    RowSource,
    Sample,
)
from wqmon.balance.rollup import LoggerRecords, rollup_columns, rollup_point
from wqmon.parameters import Kind, lookup

Conn = psycopg.Connection[Any]

HOUR_COLUMNS = (
    "point_id, parameter, hour, volume_m3, load_kg, conc_mg_l, coverage, flag, "
    "n_samples, n_valid, source, marks, corrections"
)
CHANNEL_HOUR_COLUMNS = "channel_id, hour, received, n_samples, n_valid, state, cause, mark_id"
DAY_COLUMNS = (
    "point_id, parameter, day, volume_m3, load_kg, load_volume_m3, flow_hours, load_hours, "
    "expected_hours"
)

# A day counts for the low-concentration rule when it has inlet load volume and load hours above
# `cov` × its expected hours, and is low when its flow-weighted concentration is below `thr`.
# `point_month` keeps these counts at the policy's defaults (MONTH_RULE); the readers use the
# same expressions on `point_day` for any other rule, so both paths count alike.
JUDGED_DAY = "load_volume_m3 > 0 AND load_hours > %(cov)s * expected_hours"
LOW_DAY = f"{JUDGED_DAY} AND load_kg * 1000 < %(thr)s * load_volume_m3"
MONTH_RULE = {"thr": LOW_INLET_COD_MG_L, "cov": 0.0}
_MONTH_FILL = (
    "INSERT INTO point_month (point_id, parameter, month, volume_m3, load_kg, load_volume_m3, "
    "flow_hours, load_hours, low_days, evaluated_days) "
    "SELECT point_id, parameter, date_trunc('month', day::timestamp)::date, sum(volume_m3), "
    "sum(load_kg), sum(load_volume_m3), sum(flow_hours), sum(load_hours), "
    f"count(*) FILTER (WHERE {LOW_DAY}), count(*) FILTER (WHERE {JUDGED_DAY}) FROM point_day "
    "WHERE day >= %(lo)s AND day < %(hi)s{points} GROUP BY 1, 2, 3"  # {points}: str.format
)


@dataclass(frozen=True, slots=True)
class PointChannels:
    """A monitoring point as the rollup sees it.

    Attributes:
        point_id: `point.id`.
        tz: The site's time zone (local days of `point_day`).
        flow_channel: The flow channel's id, None if the point has no flow meter.
        pollutants: Channel id → HJ 212 code, for the concentration channels only (loads of
            pH or temperature mean nothing).
        others: Channel id → HJ 212 code of the other channels (pH, temperature ...): no load,
            but validity figures (docs/audit.md).
    """

    point_id: int
    tz: ZoneInfo
    flow_channel: int | None
    pollutants: dict[int, str] = field(default_factory=dict)
    others: dict[int, str] = field(default_factory=dict)

    @property
    def channel_ids(self) -> list[int]:
        ids = list(self.pollutants)
        return ids if self.flow_channel is None else [self.flow_channel, *ids]

    @property
    def codes(self) -> dict[int, str]:
        """Every channel of the point: id → HJ 212 code."""
        flow = {} if self.flow_channel is None else {self.flow_channel: FLOW}
        return flow | self.pollutants | self.others

    def code_of(self, channel_id: int) -> str:
        return FLOW if channel_id == self.flow_channel else self.pollutants[channel_id]


def is_load_parameter(code: str) -> bool:
    """Whether a parameter has a load (a concentration in mg/L)."""
    parameter = lookup(code)
    return parameter is not None and parameter.kind is Kind.CONCENTRATION


def load_points(conn: Conn, point_ids: Iterable[int] | None = None) -> dict[int, PointChannels]:
    """Rollup view of the points (all, or the given ids) that have at least one channel."""
    sql = (
        "SELECT p.id, s.timezone, c.id, c.parameter FROM point p JOIN site s ON s.id = p.site_id "
        "JOIN channel c ON c.point_id = p.id"
    )
    params: tuple[object, ...] = ()
    if point_ids is not None:
        sql += " WHERE p.id = ANY(%s)"
        params = (list(point_ids),)
    flows: dict[int, int] = {}
    pollutants: dict[int, dict[int, str]] = {}
    others: dict[int, dict[int, str]] = {}
    zones: dict[int, str] = {}
    for pid, tz, cid, code in conn.execute(sql, params):
        zones[pid] = tz
        if code == FLOW:
            flows[pid] = cid
        elif is_load_parameter(code):
            pollutants.setdefault(pid, {})[cid] = code
        else:
            others.setdefault(pid, {})[cid] = code
    return {
        pid: PointChannels(
            pid, ZoneInfo(tz), flows.get(pid), pollutants.get(pid, {}), others.get(pid, {})
        )
        for pid, tz in zones.items()
    }


def _logger_records(point: PointChannels, data: PointData) -> LoggerRecords:
    hour: dict[str, list[PeriodValue]] = {}
    minute: dict[str, list[PeriodValue]] = {}
    rolled = set(point.channel_ids)
    for cid, period, record in data.records:
        if cid not in rolled:
            continue  # pH, temperature: judged for validity, not rolled up
        target = hour if period == "hour" else minute
        target.setdefault(point.code_of(cid), []).append(record)
    return LoggerRecords(hour=hour, minute=minute)


def point_audits(
    conn: Conn,
    point: PointChannels,
    start: datetime,
    end: datetime,
    settings: RollupSettings = DEFAULT_SETTINGS,
) -> dict[str, ChannelAudit]:
    """The marks and corrections of the point's channels that reach [start, end) or the
    lookback before it (a lookback reading inside an invalid mark must not hold on)."""
    lookback = max(settings.max_hold_age, settings.max_flow_gap)
    return channel_audits(conn, point.point_id, point.codes, start - lookback, end)


def compute_hours(
    conn: Conn,
    point: PointChannels,
    start: datetime,
    end: datetime,
    settings: RollupSettings = DEFAULT_SETTINGS,
    *,
    audits: dict[str, ChannelAudit] | None = None,
    data: PointData | None = None,
) -> list[PointHour]:
    """Point-hour rows of [start, end) (whole UTC hours) from the stored data, with lookback,
    honouring the audit marks and corrections (both read here unless given)."""
    if audits is None:
        audits = point_audits(conn, point, start, end, settings)
    if data is None:
        data = read_point(conn, point, start, end, settings, audits=audits)
    logger = _logger_records(point, data)
    flow_from, held_from = start - settings.max_flow_gap, start - settings.max_hold_age
    if not any(not a.empty for a in audits.values()):
        return rollup_columns(
            data.columns(point.flow_channel, flow_from, end),
            {code: data.columns(cid, held_from, end) for cid, code in point.pollutants.items()},
            start=start,
            end=end,
            logger=logger,
            settings=settings,
        )
    flow: list[Sample] = []
    if point.flow_channel is not None:
        flow = data.window(point.flow_channel, flow_from, end)
    concentrations = {
        code: data.window(cid, held_from, end) for cid, code in point.pollutants.items()
    }
    return rollup_point(
        flow, concentrations, start=start, end=end, logger=logger, settings=settings, audit=audits
    )


def store_channel_hours(
    conn: Conn,
    point: PointChannels,
    start: datetime,
    end: datetime,
    *,
    settings: RollupSettings = DEFAULT_SETTINGS,
    audits: dict[str, ChannelAudit] | None = None,
    data: PointData | None = None,
) -> int:
    """Judge and replace the validity rows (`channel_hour`) of every channel of the point."""
    if audits is None:
        audits = point_audits(conn, point, start, end, settings)
    if data is None:
        data = read_point(conn, point, start, end, settings, audits=audits)
    codes = point.codes
    samples: Mapping[int, list[Sample]] = {cid: data.window(cid, start, end) for cid in codes}
    records: dict[int, list[PeriodValue]] = {cid: [] for cid in codes}
    for cid, _period, record in data.records:
        records[cid].append(record)
    conn.execute(
        "DELETE FROM channel_hour WHERE channel_id = ANY(%s) AND hour >= %s AND hour < %s",
        (list(codes), start, end),
    )
    written = 0
    copy_sql = f"COPY channel_hour ({CHANNEL_HOUR_COLUMNS}) FROM STDIN"
    with conn.cursor() as cur, cur.copy(copy_sql) as copy:
        for cid, code in codes.items():
            for h in channel_hours(
                samples[cid],
                records[cid],
                audits.get(code, NO_AUDIT),
                start=start,
                end=end,
                valid_flags=settings.valid_flags,
                rule=settings.validity,
            ):
                state = h.state.value
                copy.write_row(
                    (cid, h.hour, h.received, h.n_samples, h.n_valid, state, h.cause, h.mark_id)
                )
                written += 1
    return written


def store_hours(
    conn: Conn, point_id: int, start: datetime, end: datetime, rows: Sequence[PointHour]
) -> int:
    """Replace the point's `point_hour` rows in [start, end); returns the rows written."""
    conn.execute(
        "DELETE FROM point_hour WHERE point_id = %s AND hour >= %s AND hour < %s",
        (point_id, start, end),
    )
    # An hour is kept whole when any of its rows saw data, so a zero-coverage COD row beside a
    # covered flow row says "no concentration" explicitly; empty hours are not stored at all.
    seen = {r.hour for r in rows if r.n_samples > 0 or r.coverage > 0}
    kept = [r for r in rows if r.hour in seen]
    with conn.cursor() as cur, cur.copy(f"COPY point_hour ({HOUR_COLUMNS}) FROM STDIN") as copy:
        for r in kept:
            copy.write_row(
                (
                    point_id,
                    r.parameter,
                    r.hour,
                    r.volume_m3,
                    r.load_kg,
                    r.conc_mg_l,
                    min(max(r.coverage, 0.0), 1.0),
                    r.flag,
                    r.n_samples,
                    r.n_valid,
                    r.source.value,
                    list(r.marks),
                    list(r.corrections),
                )
            )
    return len(kept)


def local_days(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[date, date]:
    """The local days [first, after last) that the UTC range [start, end) touches."""
    first = start.astimezone(tz).date()
    last = (end - timedelta(microseconds=1)).astimezone(tz).date()
    return first, last + timedelta(days=1)


def _stored_hours(conn: Conn, point_id: int, start: datetime, end: datetime) -> list[PointHour]:
    rows = conn.execute(
        "SELECT parameter, hour, volume_m3, load_kg, coverage, flag, n_samples, n_valid, source "
        "FROM point_hour WHERE point_id = %s AND hour >= %s AND hour < %s",
        (point_id, start, end),
    )
    return [
        PointHour(p, h, v, ld, c, f, n, nv, RowSource(s)) for p, h, v, ld, c, f, n, nv, s in rows
    ]


def refresh_days(conn: Conn, point: PointChannels, first: date, end: date) -> int:
    """Recompute the point's `point_day` rows for the local days [first, end) from its hours."""
    lo, _ = day_bounds(first, point.tz)
    hi, _ = day_bounds(end, point.tz)
    hours = _stored_hours(conn, point.point_id, lo, hi)
    conn.execute(
        "DELETE FROM point_day WHERE point_id = %s AND day >= %s AND day < %s",
        (point.point_id, first, end),
    )
    written = 0
    with conn.cursor() as cur, cur.copy(f"COPY point_day ({DAY_COLUMNS}) FROM STDIN") as copy:
        for code in sorted(set(point.pollutants.values())):
            days = daily_totals(hours, start=first, end=end, parameter=code, tz=point.tz)
            for day, t in days.items():
                if _empty(t):
                    continue  # a day nobody reported: the readers count it as missing
                copy.write_row((point.point_id, code, day, *_day_values(t)))
                written += 1
    refresh_months(conn, first, end, [point.point_id])
    refresh_channel_days(conn, point, first, end)
    return written


# Per channel and local day: the channel_hour counts, the hours per cause, the marks seen.
_CHANNEL_DAY_FILL = """
WITH h AS (
    SELECT channel_id, (hour AT TIME ZONE %(tz)s)::date AS day, received, state, cause, mark_id
    FROM channel_hour WHERE channel_id = ANY(%(ids)s) AND hour >= %(lo)s AND hour < %(hi)s),
c AS (
    SELECT channel_id, day, jsonb_object_agg(cause, n) AS causes FROM (
        SELECT channel_id, day, cause, count(*) AS n FROM h WHERE cause IS NOT NULL
        GROUP BY 1, 2, 3) x
    GROUP BY 1, 2)
INSERT INTO channel_day (channel_id, day, received_hours, valid_hours, invalid_hours,
                         shutdown_hours, causes, marks)
SELECT h.channel_id, h.day, count(*) FILTER (WHERE received),
       count(*) FILTER (WHERE state = 'valid'), count(*) FILTER (WHERE state = 'invalid'),
       count(*) FILTER (WHERE state = 'shutdown'), coalesce(c.causes, '{}'::jsonb),
       coalesce(array_agg(DISTINCT mark_id) FILTER (WHERE mark_id IS NOT NULL), '{}')
FROM h LEFT JOIN c ON c.channel_id = h.channel_id AND c.day = h.day
GROUP BY h.channel_id, h.day, c.causes
"""


def refresh_channel_days(conn: Conn, point: PointChannels, first: date, end: date) -> None:
    """Recompute `channel_day` of the point's channels for the local days [first, end)."""
    lo, _ = day_bounds(first, point.tz)
    hi, _ = day_bounds(end, point.tz)
    ids = list(point.codes)
    conn.execute(
        "DELETE FROM channel_day WHERE channel_id = ANY(%s) AND day >= %s AND day < %s",
        (ids, first, end),
    )
    conn.execute(_CHANNEL_DAY_FILL, {"tz": point.tz.key, "ids": ids, "lo": lo, "hi": hi})


def refresh_months(
    conn: Conn, first: date, end: date, point_ids: Sequence[int] | None = None
) -> None:
    """Recompute `point_month` for the calendar months the local days [first, end) touch.

    Whole months are summed again from `point_day` (the points given, or all), so the caller
    must have stored those days first; a month left without day rows loses its row.
    """
    if end <= first:
        return
    lo = first.replace(day=1)
    last = end - timedelta(days=1)
    hi = date(last.year + last.month // 12, last.month % 12 + 1, 1)
    args: dict[str, object] = MONTH_RULE | {"lo": lo, "hi": hi, "ids": point_ids}
    points = "" if point_ids is None else " AND point_id = ANY(%(ids)s)"
    conn.execute(f"DELETE FROM point_month WHERE month >= %(lo)s AND month < %(hi)s{points}", args)
    conn.execute(_MONTH_FILL.format(points=points), args)


def _empty(t: PointTotals) -> bool:
    return t.flow_hours <= 0 and t.load_hours <= 0 and t.volume_m3 <= 0 and t.load_kg <= 0


def _day_values(t: PointTotals) -> tuple[float, ...]:
    return (
        t.volume_m3,
        t.load_kg,
        t.load_volume_m3,
        t.flow_hours,
        t.load_hours,
        t.expected_hours,
    )


def floor_hour(ts: datetime) -> datetime:
    """Start of the UTC hour containing ts."""
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(ts: datetime) -> datetime:
    """The first whole UTC hour at or after ts."""
    floor = floor_hour(ts)
    return floor if floor == ts else floor + HOUR


def recompute(
    conn: Conn,
    point: PointChannels,
    start: datetime,
    end: datetime,
    settings: RollupSettings = DEFAULT_SETTINGS,
) -> int:
    """Recompute the point's hours [start, end) and the local days they touch.

    The caller owns the transaction. Returns the number of hours recomputed.
    """
    start, end = floor_hour(start), ceil_hour(end)
    audits = point_audits(conn, point, start, end, settings)
    data = read_point(conn, point, start, end, settings, audits=audits)
    rows = compute_hours(conn, point, start, end, settings, audits=audits, data=data)
    store_hours(conn, point.point_id, start, end, rows)
    store_channel_hours(conn, point, start, end, settings=settings, audits=audits, data=data)
    first, after = local_days(start, end, point.tz)
    refresh_days(conn, point, first, after)
    return int((end - start) / HOUR)
