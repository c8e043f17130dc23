"""The rollup entry point: real-time rows, logger-record fallbacks, and the choice between them.

Precedence per (parameter, hour): the real-time row when it covers at least
`RollupSettings.realtime_min_coverage` of the hour (default 0.75, the share of valid minutes
HJ 212 Appendix D asks of an hourly flue-gas value); otherwise whichever of real-time, the
logger's hour record and the sum of its minute records covers the most, ties going first to a row
that saw any data, then to the earlier of that list. A source is chosen per row, so an hour can take flow from real-time and COD from the
hour record; each row's load and volume still come from one source together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from wqmon.audit.timeline import NO_AUDIT, ChannelAudit
from wqmon.balance.hourly import realtime_hours
from wqmon.balance.hourly_columns import Columns, realtime_hours_columns
from wqmon.balance.periods import Records, period_rows
from wqmon.balance.records import (
    DEFAULT_SETTINGS,
    FLOW,
    HOUR,
    PeriodValue,
    PointHour,
    RollupSettings,
    RowSource,
    Series,
)


@dataclass(frozen=True, slots=True)
class LoggerRecords:
    """The logger's period records of one point over the rolled-up range.

    Attributes:
        hour: Hour records (HJ 212 CN 2061) by HJ 212 code, flow included.
        minute: Minute records (HJ 212 CN 2051) by HJ 212 code, flow included.
    """

    hour: Records = field(default_factory=dict)
    minute: Records = field(default_factory=dict)


def rollup_point(
    flow: Series,
    concentrations: Mapping[str, Series],
    *,
    start: datetime,
    end: datetime,
    logger: LoggerRecords | None = None,
    settings: RollupSettings = DEFAULT_SETTINGS,
    audit: Mapping[str, ChannelAudit] | None = None,
) -> list[PointHour]:
    """Point-hour rows of one monitoring point: what the rollup job stores.

    Args:
        flow: Real-time flow `(ts, m³/h, flag)` with lookback (see `realtime_hours`).
        concentrations: Real-time results `(ts, mg/L, flag)` per pollutant code, with lookback.
        start: First hour, aware, on a whole UTC hour.
        end: End of the last hour (exclusive), on a whole UTC hour.
        logger: The logger's hour and minute records for the range, if any.
        settings: Hold, gap, flag and precedence settings.
        audit: Per HJ 212 code, the channel's marks and corrections (docs/audit.md); each row
            lists the ids of those that can change it.

    Returns:
        Per hour, the flow row and one row per pollutant of `concentrations` (pollutants that
        only the logger records carry are not added: the channel list comes from the caller).
    """
    audits = audit or {}
    rows = realtime_hours(
        flow, concentrations, start=start, end=end, settings=settings, audit=audits
    )
    rows = _with_fallbacks(rows, logger, audits, settings)
    return _traced(rows, audits, settings) if audits else rows


def rollup_columns(
    flow: Columns,
    concentrations: Mapping[str, Columns],
    *,
    start: datetime,
    end: datetime,
    logger: LoggerRecords | None = None,
    settings: RollupSettings = DEFAULT_SETTINGS,
) -> list[PointHour]:
    """`rollup_point` for a point and range no mark or correction touches, on columns
    (`wqmon.balance.hourly_columns`): the same rows, a fraction of the CPU."""
    rows = realtime_hours_columns(flow, concentrations, start=start, end=end, settings=settings)
    return _with_fallbacks(rows, logger, {}, settings)


def _with_fallbacks(
    rows: list[PointHour],
    logger: LoggerRecords | None,
    audits: Mapping[str, ChannelAudit],
    settings: RollupSettings,
) -> list[PointHour]:
    """The real-time rows, each replaced by a logger-record row where precedence says so."""
    if logger is None or not (logger.hour or logger.minute):
        return rows
    fallbacks: dict[tuple[str, datetime], list[PointHour]] = {}
    for records, source in (
        (_audited(logger.hour, HOUR, audits, settings), RowSource.HOUR),
        (_audited(logger.minute, settings.minute_period, audits, settings), RowSource.MINUTE),
    ):
        for hour, in_hour in _by_hour(records).items():
            for row in period_rows(in_hour, hour, source=source, settings=settings):
                fallbacks.setdefault((row.parameter, row.hour), []).append(row)
    return [choose(r, fallbacks.get((r.parameter, r.hour), []), settings) for r in rows]


def _audited(
    records: Records,
    length: timedelta,
    audits: Mapping[str, ChannelAudit],
    settings: RollupSettings,
) -> Records:
    return {
        code: audits.get(code, NO_AUDIT).adjust_records(recs, length, settings.valid_flags)
        for code, recs in records.items()
    }


def _traced(
    rows: list[PointHour], audits: Mapping[str, ChannelAudit], settings: RollupSettings
) -> list[PointHour]:
    """Rows with the ids of the marks and corrections that can change them: a flow row its
    flow channel's, a pollutant row its own and the flow channel's (its load needs both)."""
    flow_extent = settings.max_flow_gap.total_seconds()
    hold_extent = settings.max_hold_age.total_seconds()
    flow_audit = audits.get(FLOW, NO_AUDIT)
    traced = []
    for row in rows:
        lo = row.hour.timestamp()
        marks, corrections = flow_audit.touching(lo, lo + 3600.0, flow_extent)
        if row.parameter != FLOW:
            more = audits.get(row.parameter, NO_AUDIT).touching(lo, lo + 3600.0, hold_extent)
            marks, corrections = marks | more[0], corrections | more[1]
        traced.append(
            dataclasses.replace(
                row, marks=tuple(sorted(marks)), corrections=tuple(sorted(corrections))
            )
            if marks or corrections
            else row
        )
    return traced


def _by_hour(records: Records) -> dict[datetime, dict[str, list[PeriodValue]]]:
    """Regroup records by the UTC hour they fall in, so each hour reads only its own."""
    grouped: dict[datetime, dict[str, list[PeriodValue]]] = {}
    for code, recs in records.items():
        for record in recs:
            hour = record.ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
            grouped.setdefault(hour, {}).setdefault(code, []).append(record)
    return grouped


def choose(
    realtime: PointHour, fallbacks: list[PointHour], settings: RollupSettings = DEFAULT_SETTINGS
) -> PointHour:
    """Pick one row for an hour by the precedence rule of this module.

    Args:
        realtime: The row integrated from real-time readings.
        fallbacks: Rows from logger records, in precedence order (hour records, then minutes).
        settings: Holds `realtime_min_coverage`.
    """
    if realtime.coverage > 0 and realtime.coverage >= settings.realtime_min_coverage:
        return realtime
    candidates = [realtime, *fallbacks]
    # Of equal coverage, a row that saw any data (so its flag says why nothing is covered) beats
    # an empty one; max() keeps the first of equal keys, so remaining ties go to the earlier.
    return max(candidates, key=lambda row: (row.coverage, row.n_samples > 0))
