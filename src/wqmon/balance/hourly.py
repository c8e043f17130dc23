"""Point-hour rollups from the real-time readings of one monitoring point.

Flow and concentration are both step functions (see `wqmon.balance.segments`): HJ 212-2017
Appendix D computes a slice volume as Q × T, the flow at the slice times its length, which is the
step (left rectangle) rule; the concentration is the held analyser result. The step rule also
makes volumes and loads exactly additive when a period is cut anywhere, and never interpolates
across a flagged or missing stretch, which the trapezoid rule would. With flow sampled every few
seconds to minutes the two rules differ by far less than meter accuracy.

Load is Σ Q·Δt·C / 1000 over the pieces where valid flow and a valid held concentration overlap,
never mean flow × mean concentration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from wqmon.audit.timeline import NO_AUDIT, ChannelAudit
from wqmon.balance.records import (
    DEFAULT_SETTINGS,
    FLOW,
    HOUR_S,
    PointHour,
    RollupSettings,
    RowSource,
    Series,
    first_abnormal,
    hour_starts,
)
from wqmon.balance.segments import (
    Point,
    Segment,
    flow_steps,
    hold_steps,
    overlay,
    points_by_hour,
    split_hours,
    to_points,
)
from wqmon.flags import is_valid


def realtime_hours(
    flow: Series,
    concentrations: Mapping[str, Series],
    *,
    start: datetime,
    end: datetime,
    settings: RollupSettings = DEFAULT_SETTINGS,
    audit: Mapping[str, ChannelAudit] | None = None,
) -> list[PointHour]:
    """Roll up one point's real-time series into point-hour rows.

    Args:
        flow: Flow samples `(ts, m³/h, flag)`, including the last sample before `start` (and up
            to `settings.max_flow_gap` of lookback) so the flow continues into the first hour.
        concentrations: Per pollutant HJ 212 code, analyser results `(ts, mg/L, flag)`, one per
            result (keyed by sample time, not repeated per packet), including results up to
            `settings.max_hold_age` before `start` so held values continue into the first hour.
        start: First hour, aware, on a whole UTC hour.
        end: End of the last hour (exclusive), aware, on a whole UTC hour.
        settings: Hold age, flow gap and valid flags.
        audit: Per HJ 212 code (flow included), the channel's marks and corrections
            (`wqmon.audit.timeline`); absent codes have none.

    Returns:
        For every hour, the flow row then one row per pollutant (in the mapping's order).
    """
    hours = hour_starts(start, end)
    lo, hi = start.timestamp(), end.timestamp()
    audits = audit or {}
    flow_audit = audits.get(FLOW, NO_AUDIT)
    gap = settings.max_flow_gap.total_seconds()
    flow_steps_of = lambda points: flow_steps(points, lo, hi, gap, settings.valid_flags)  # noqa: E731
    flow_points = to_points(flow_audit.adjust(flow, settings.valid_flags))
    steps = _audited_steps(flow_audit, flow, flow_points, flow_steps_of, settings)
    flow_by_hour = split_hours(flow_audit.apply_steps(*steps, lo, hi), lo, len(hours))
    flow_samples = points_by_hour(flow_points, lo, len(hours))
    rows = [
        _flow_row(hour, flow_by_hour[i], flow_samples[i], settings) for i, hour in enumerate(hours)
    ]
    pollutant_rows = [
        _pollutant_rows(
            code,
            series,
            hours=hours,
            flow_by_hour=flow_by_hour,
            flow_samples=flow_samples,
            settings=settings,
            audit=audits.get(code, NO_AUDIT),
        )
        for code, series in concentrations.items()
    ]
    # Order per hour: flow first, then pollutants, which is how the job writes and reads them.
    ordered: list[PointHour] = []
    for i, row in enumerate(rows):
        ordered.append(row)
        ordered.extend(per_code[i] for per_code in pollutant_rows)
    return ordered


def _flow_row(
    hour: datetime, steps: list[Segment], samples: list[Point], settings: RollupSettings
) -> PointHour:
    volume = sum(q * (e - s) for s, e, q in steps) / HOUR_S
    covered = sum(e - s for s, e, _ in steps) / HOUR_S
    return PointHour(
        parameter=FLOW,
        hour=hour,
        volume_m3=volume,
        load_kg=None,
        coverage=min(covered, 1.0),
        flag=first_abnormal([(p.t, p.flag) for p in samples]),
        n_samples=len(samples),
        n_valid=_count_valid(samples, settings),
        source=RowSource.REALTIME,
    )


def _pollutant_rows(
    code: str,
    series: Series,
    *,
    hours: list[datetime],
    flow_by_hour: list[list[Segment]],
    flow_samples: list[list[Point]],
    settings: RollupSettings,
    audit: ChannelAudit,
) -> list[PointHour]:
    lo, hi = hours[0].timestamp(), hours[-1].timestamp() + HOUR_S
    age = settings.max_hold_age.total_seconds()
    hold_steps_of = lambda pts: hold_steps(pts, lo, hi, age, settings.valid_flags)  # noqa: E731
    points = to_points(audit.adjust(series, settings.valid_flags))
    steps = _audited_steps(audit, series, points, hold_steps_of, settings)
    held_by_hour = split_hours(audit.apply_steps(*steps, lo, hi), lo, len(hours))
    samples = points_by_hour(points, lo, len(hours))
    rows = []
    for i, hour in enumerate(hours):
        volume = load_g = covered = 0.0
        for seconds, q_m3_h, c_mg_l in overlay(flow_by_hour[i], held_by_hour[i]):
            piece_m3 = q_m3_h * seconds / HOUR_S
            volume += piece_m3
            load_g += piece_m3 * c_mg_l  # m³ × mg/L = g
            covered += seconds
        # The load depends on the flow too, so a flagged flow sample makes this row abnormal.
        flags = [(p.t, p.flag) for p in samples[i]] + [(p.t, p.flag) for p in flow_samples[i]]
        rows.append(
            PointHour(
                parameter=code,
                hour=hour,
                volume_m3=volume,
                load_kg=load_g / 1000.0,
                coverage=min(covered / HOUR_S, 1.0),
                flag=first_abnormal(flags),
                n_samples=len(samples[i]),
                n_valid=_count_valid(samples[i], settings),
                source=RowSource.REALTIME,
            )
        )
    return rows


def _audited_steps(
    audit: ChannelAudit,
    series: Series,
    adjusted: list[Point],
    build: Callable[[list[Point]], list[Segment]],
    settings: RollupSettings,
) -> tuple[list[Segment], list[Segment] | None]:
    """Steps of the corrected readings, and (only under a valid mark) those with the marked
    readings counting as valid: `ChannelAudit.apply_steps` takes each range from its own.

    Without an audit the readings are their own adjusted points (`adjusted`, already built for
    the counts): converting them once saves a `timestamp()` per reading, the rollup's hot spot.
    """
    if audit.empty:
        return build(adjusted), None
    corrected = audit.corrected(series)
    validated = (
        build(to_points(audit.validated(corrected, settings.valid_flags)))
        if audit.validates
        else None
    )
    return build(to_points(corrected)), validated


def _count_valid(samples: list[Point], settings: RollupSettings) -> int:
    return sum(1 for p in samples if is_valid(p.flag, settings.valid_flags) and p.value >= 0)
