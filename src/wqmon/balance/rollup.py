"""The rollup entry point: real-time rows, logger-record fallbacks, and the choice between them.

Precedence per (parameter, hour): the real-time row when it covers at least
`RollupSettings.realtime_min_coverage` of the hour (default 0.75, the share of valid minutes
HJ 212 Appendix D asks of an hourly flue-gas value); otherwise whichever of real-time, the
logger's hour record and the sum of its minute records covers the most, ties going first to a row
that saw any data, then to the earlier of that list. A source is chosen per row, so an hour can take flow from real-time and COD from the
hour record; each row's load and volume still come from one source together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from wqmon.balance.hourly import realtime_hours
from wqmon.balance.periods import Records, period_rows
from wqmon.balance.records import (
    DEFAULT_SETTINGS,
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
) -> list[PointHour]:
    """Point-hour rows of one monitoring point: what the rollup job stores.

    Args:
        flow: Real-time flow `(ts, m³/h, flag)` with lookback (see `realtime_hours`).
        concentrations: Real-time results `(ts, mg/L, flag)` per pollutant code, with lookback.
        start: First hour, aware, on a whole UTC hour.
        end: End of the last hour (exclusive), on a whole UTC hour.
        logger: The logger's hour and minute records for the range, if any.
        settings: Hold, gap, flag and precedence settings.

    Returns:
        Per hour, the flow row and one row per pollutant of `concentrations` (pollutants that
        only the logger records carry are not added: the channel list comes from the caller).
    """
    rows = realtime_hours(flow, concentrations, start=start, end=end, settings=settings)
    if logger is None or not (logger.hour or logger.minute):
        return rows
    fallbacks: dict[tuple[str, datetime], list[PointHour]] = {}
    for records, source in ((logger.hour, RowSource.HOUR), (logger.minute, RowSource.MINUTE)):
        for hour, in_hour in _by_hour(records).items():
            for row in period_rows(in_hour, hour, source=source, settings=settings):
                fallbacks.setdefault((row.parameter, row.hour), []).append(row)
    return [choose(row, fallbacks.get((row.parameter, row.hour), []), settings) for row in rows]


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
