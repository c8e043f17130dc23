"""`realtime_hours` over numpy columns, for the points and ranges no audit record touches.

The rule is that of `wqmon.balance.hourly` (steps, holds, pieces per hour, flags and counts),
which stays the reference and the only path when marks or corrections apply. Profiled, the
reference spends ≈ 5 µs of Python per reading in the rollup worker (docs/performance-notes.md
§6); here the steps, pieces and per-hour sums are array operations.

The pieces are those of the reference: the hour edges and every step's ends cut the range into
elementary intervals, and an interval where the flow (and, for a pollutant, a held result)
holds is exactly one piece of `split_hours` / `overlay` (a step's end cannot fall inside a
piece of that step). `np.bincount` adds each hour's pieces in time order, as the reference's
loops do, so the sums come out the same to the last bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from wqmon.balance.records import (
    DEFAULT_SETTINGS,
    FLOW,
    HOUR_S,
    PointHour,
    RollupSettings,
    RowSource,
    hour_starts,
)
from wqmon.flags import Flag

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
NORMAL = Flag.NORMAL.value


@dataclass(frozen=True, slots=True)
class Columns:
    """One channel's readings as columns, sorted by time (epoch seconds), no equal times."""

    t: Floats
    value: Floats
    flag: list[str]

    @classmethod
    def empty(cls) -> Columns:
        return cls(np.empty(0), np.empty(0), [])


@dataclass(frozen=True, slots=True)
class _Steps:
    """Non-overlapping steps [start, end) holding `value`, sorted by time."""

    start: Floats
    end: Floats
    value: Floats


@dataclass(frozen=True, slots=True)
class _Counted:
    """Per hour: samples, valid samples, and the time and flag of the first abnormal one."""

    n: Ints
    valid: Ints
    abnormal_t: Floats  # +inf: no abnormal sample in the hour
    abnormal_flag: list[str]


def realtime_hours_columns(
    flow: Columns,
    concentrations: Mapping[str, Columns],
    *,
    start: datetime,
    end: datetime,
    settings: RollupSettings = DEFAULT_SETTINGS,
) -> list[PointHour]:
    """`wqmon.balance.hourly.realtime_hours` without audit, on columns (same arguments)."""
    hours = hour_starts(start, end)
    lo, hi = start.timestamp(), end.timestamp()
    edges = lo + HOUR_S * np.arange(len(hours) + 1, dtype=np.float64)
    valid_flags = settings.valid_flags
    flow_ok = _usable(flow, valid_flags)
    flow_steps = _steps(flow, flow_ok, lo, hi, settings.max_flow_gap.total_seconds(), hold=False)
    flow_counts = _counts(flow, valid_flags, lo, len(hours))
    rows = _flow_rows(hours, edges, flow_steps, flow_counts)
    age = settings.max_hold_age.total_seconds()
    per_code = []
    for code, series in concentrations.items():
        held = _steps(series, _usable(series, valid_flags), lo, hi, age, hold=True)
        counts = _counts(series, valid_flags, lo, len(hours))
        per_code.append(_pollutant_rows(code, hours, edges, flow_steps, held, counts, flow_counts))
    ordered: list[PointHour] = []
    for i, row in enumerate(rows):
        ordered.append(row)
        ordered.extend(code_rows[i] for code_rows in per_code)
    return ordered


def _usable(series: Columns, valid_flags: frozenset[str]) -> Bools:
    # As `segments._usable`: a valid flag, not negative, not NaN (NaN >= 0 is False).
    flag_ok = np.fromiter((f in valid_flags for f in series.flag), np.bool_, len(series.flag))
    return flag_ok & (series.value >= 0)


def _steps(
    series: Columns, usable: Bools, lo: float, hi: float, reach: float, *, hold: bool
) -> _Steps:
    """`segments.flow_steps` (every sample ends the step before it) or, with `hold`,
    `segments.hold_steps` (only usable results do), clipped to [lo, hi)."""
    t = series.t[usable] if hold else series.t
    following = np.append(t[1:], np.inf)
    if not hold:
        t, following = t[usable], following[usable]
    starts = np.maximum(t, lo)
    ends = np.minimum(np.minimum(following, t + reach), hi)
    kept = ends > starts
    return _Steps(starts[kept], ends[kept], series.value[usable][kept])


def _counts(series: Columns, valid_flags: frozenset[str], lo: float, n_hours: int) -> _Counted:
    """`points_by_hour` + `_count_valid` + `first_abnormal`, per hour."""
    index = np.floor((series.t - lo) / HOUR_S)
    inside = (index >= 0) & (index < n_hours)
    hour = index[inside].astype(np.int64)
    flags = [f for f, kept in zip(series.flag, inside.tolist(), strict=True) if kept]
    values = series.value[inside]
    valid = np.fromiter((f in valid_flags for f in flags), np.bool_, len(flags)) & (values >= 0)
    abnormal_t = np.full(n_hours, np.inf)
    abnormal_flag = [NORMAL] * n_hours
    abnormal = [i for i, f in enumerate(flags) if f != NORMAL]
    seen: set[int] = set()
    times = series.t[inside]
    for i in abnormal:  # in time order: the first one of each hour is its earliest
        h = int(hour[i])
        if h not in seen:
            seen.add(h)
            abnormal_t[h], abnormal_flag[h] = times[i], flags[i]
    return _Counted(
        np.bincount(hour, minlength=n_hours),
        np.bincount(hour, weights=valid, minlength=n_hours).astype(np.int64),
        abnormal_t,
        abnormal_flag,
    )


def _intervals(edges: Floats, *steps: _Steps) -> tuple[Floats, Floats, Ints]:
    """Elementary intervals cut by the hour edges and the steps' ends: (start, seconds, hour)."""
    cuts = np.unique(np.concatenate([edges, *(s.start for s in steps), *(s.end for s in steps)]))
    lo, n_hours = edges[0], len(edges) - 1
    starts = cuts[:-1]
    hour = np.minimum(np.floor((starts - lo) / HOUR_S), n_hours - 1).astype(np.int64)
    return starts, np.diff(cuts), hour


def _held(steps: _Steps, starts: Floats, seconds: Floats) -> tuple[Bools, Floats]:
    """Which intervals a step holds over, and its value there."""
    if len(steps.start) == 0:
        return np.zeros(len(starts), np.bool_), np.zeros(len(starts))
    mid = starts + seconds / 2
    index = np.searchsorted(steps.start, mid, side="right") - 1
    safe = np.maximum(index, 0)
    inside = (index >= 0) & (mid < steps.end[safe])
    return inside, steps.value[safe]


def _flow_rows(
    hours: list[datetime], edges: Floats, steps: _Steps, counts: _Counted
) -> list[PointHour]:
    n_hours = len(hours)
    starts, seconds, hour = _intervals(edges, steps)
    inside, q = _held(steps, starts, seconds)
    h, dt = hour[inside], seconds[inside]
    volume = np.bincount(h, weights=q[inside] * dt, minlength=n_hours) / HOUR_S
    covered = np.bincount(h, weights=dt, minlength=n_hours) / HOUR_S
    return [
        PointHour(
            parameter=FLOW,
            hour=hours[i],
            volume_m3=v,
            load_kg=None,
            coverage=min(c, 1.0),
            flag=counts.abnormal_flag[i],
            n_samples=n,
            n_valid=nv,
            source=RowSource.REALTIME,
        )
        for i, (v, c, n, nv) in enumerate(
            zip(
                volume.tolist(),
                covered.tolist(),
                counts.n.tolist(),
                counts.valid.tolist(),
                strict=True,
            )
        )
    ]


def _pollutant_rows(  # noqa: PLR0917 - one code's inputs, used once
    code: str,
    hours: list[datetime],
    edges: Floats,
    flow: _Steps,
    held: _Steps,
    counts: _Counted,
    flow_counts: _Counted,
) -> list[PointHour]:
    n_hours = len(hours)
    starts, seconds, hour = _intervals(edges, flow, held)
    flow_in, q = _held(flow, starts, seconds)
    held_in, c = _held(held, starts, seconds)
    both = flow_in & held_in
    h, dt = hour[both], seconds[both]
    piece_m3 = q[both] * dt / HOUR_S  # the reference's order of operations, for equal bits
    volume = np.bincount(h, weights=piece_m3, minlength=n_hours)
    load_g = np.bincount(h, weights=piece_m3 * c[both], minlength=n_hours)
    covered = np.bincount(h, weights=dt, minlength=n_hours)
    rows = []
    for i, (v, g, s) in enumerate(
        zip(volume.tolist(), load_g.tolist(), covered.tolist(), strict=True)
    ):
        # The load depends on the flow too, so a flagged flow sample makes this row abnormal;
        # of equal times the pollutant's flag comes first, as in the reference's list.
        own = counts.abnormal_t[i] <= flow_counts.abnormal_t[i]
        flag = counts.abnormal_flag[i] if own else flow_counts.abnormal_flag[i]
        rows.append(
            PointHour(
                parameter=code,
                hour=hours[i],
                volume_m3=v,
                load_kg=g / 1000.0,
                coverage=min(s / HOUR_S, 1.0),
                flag=flag,
                n_samples=int(counts.n[i]),
                n_valid=int(counts.valid[i]),
                source=RowSource.REALTIME,
            )
        )
    return rows
