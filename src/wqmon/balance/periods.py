"""Point-hour rows derived from the logger's own period records (HJ 212 hour and minute data).

Used where the real-time stream is missing: a logger that lost its link resends its hour and
minute records, computed on the logger from its 5-second samples. In wqmon's store a flow
record's `avg` is m³/h and its `cou` m³; a pollutant record's `avg` is mg/L and its `cou` kg.

Per record: volume = flow `cou`, else flow `avg` × period length; load = pollutant `cou`, else
pollutant `avg` × that volume / 1000. A pollutant record is used only together with a valid flow
record of the same period, so that a row's load and volume always describe the same water.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from wqmon.balance.records import (
    DEFAULT_SETTINGS,
    FLOW,
    HOUR,
    PeriodValue,
    PointHour,
    RollupSettings,
    RowSource,
    first_abnormal,
)
from wqmon.flags import is_valid

Records = Mapping[str, Sequence[PeriodValue]]  # by HJ 212 code, flow included


def record_volume_m3(flow: PeriodValue, length: timedelta) -> float | None:
    """Volume of one flow record: its `cou` (m³), else `avg` (m³/h) × the period length."""
    if flow.cou is not None:
        return flow.cou
    if flow.avg is not None:
        return flow.avg * (length / HOUR)
    return None


def record_load_kg(pollutant: PeriodValue, volume_m3: float) -> float | None:
    """Load of one pollutant record: its `cou` (kg), else `avg` (mg/L) × volume (m³) / 1000."""
    if pollutant.cou is not None:
        return pollutant.cou
    if pollutant.avg is not None:
        return pollutant.avg * volume_m3 / 1000.0
    return None


def period_rows(
    records: Records,
    hour: datetime,
    *,
    source: RowSource,
    settings: RollupSettings = DEFAULT_SETTINGS,
) -> list[PointHour]:
    """Rows for one hour from hour records (`source=HOUR`) or minute records (`source=MINUTE`).

    Args:
        records: Period records by HJ 212 code; the flow (`w00000`) entry carries the volume.
            Records outside the hour are ignored.
        hour: Start of the hour, UTC.
        source: Which kind of records these are; decides the record length.
        settings: Valid flags and the minute record length.

    Returns:
        The flow row, then one row per pollutant code present in `records`.
    """
    length = HOUR if source is RowSource.HOUR else settings.minute_period
    in_hour = {
        code: {r.ts: r for r in recs if hour <= r.ts < hour + HOUR}
        for code, recs in records.items()
    }
    volumes = _volumes(in_hour.get(FLOW, {}), length, settings)
    flow = in_hour.get(FLOW, {})
    rows = [_flow_row(hour, flow, volumes=volumes, length=length, source=source)]
    rows.extend(
        _pollutant_row(
            code,
            hour,
            recs,
            flow=flow,
            volumes=volumes,
            length=length,
            source=source,
            settings=settings,
        )
        for code, recs in in_hour.items()
        if code != FLOW
    )
    return rows


def _volumes(
    flow: dict[datetime, PeriodValue], length: timedelta, settings: RollupSettings
) -> dict[datetime, float]:
    volumes = {}
    for ts, record in flow.items():
        volume = record_volume_m3(record, length)
        if is_valid(record.flag, settings.valid_flags) and volume is not None and volume >= 0:
            volumes[ts] = volume
    return volumes


def _flow_row(
    hour: datetime,
    flow: dict[datetime, PeriodValue],
    *,
    volumes: dict[datetime, float],
    length: timedelta,
    source: RowSource,
) -> PointHour:
    return PointHour(
        parameter=FLOW,
        hour=hour,
        volume_m3=sum(volumes.values()),
        load_kg=None,
        coverage=min(len(volumes) * (length / HOUR), 1.0),
        flag=_flag(flow.values()),
        n_samples=len(flow),
        n_valid=len(volumes),
        source=source,
    )


def _pollutant_row(
    code: str,
    hour: datetime,
    records: dict[datetime, PeriodValue],
    *,
    flow: dict[datetime, PeriodValue],
    volumes: dict[datetime, float],
    length: timedelta,
    source: RowSource,
    settings: RollupSettings,
) -> PointHour:
    volume = load = 0.0
    used = 0
    for ts, record in records.items():
        if ts not in volumes or not is_valid(record.flag, settings.valid_flags):
            continue
        record_load = record_load_kg(record, volumes[ts])
        if record_load is None or record_load < 0:
            continue
        volume, load, used = volume + volumes[ts], load + record_load, used + 1
    return PointHour(
        parameter=code,
        hour=hour,
        volume_m3=volume,
        load_kg=load,
        coverage=min(used * (length / HOUR), 1.0),
        flag=_flag([*records.values(), *flow.values()]),
        n_samples=len(records),
        n_valid=used,
        source=source,
    )


def _flag(records: Iterable[PeriodValue]) -> str:
    return first_abnormal([(r.ts.timestamp(), r.flag) for r in records])
