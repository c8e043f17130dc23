"""The records of the balance engine's hourly layer: input samples, settings and point-hour rows.

A point-hour row (`PointHour`) is the unit the rollup job stores and everything above it (plant,
region, report) sums. Its fields are additive numerators (volume, load, covered time); ratios such
as the flow-weighted concentration are derived from them, never stored as the thing to average.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from wqmon.audit.rule import DEFAULT_RULE, ValidityRule
from wqmon.flags import DEFAULT_VALID_FLAGS, Flag

FLOW = "w00000"  # HJ 212-2017 code of wastewater flow: the row that carries a point's volume
COD = "w01018"  # HJ 212-2017 code of COD, the pollutant the regional balance accounts

HOUR = timedelta(hours=1)
HOUR_S = 3600.0

# One sample as the store holds it: (ts aware, value in canonical units, HJ 212 flag).
Sample = tuple[datetime, float, str]
Series = Sequence[Sample]


class RowSource(StrEnum):
    """Where a point-hour row's figures come from, in order of precedence."""

    REALTIME = "realtime"  # integrated from the real-time readings
    HOUR = "hour"  # the logger's hour record (HJ 212 CN 2061)
    MINUTE = "minute"  # the sum of the logger's minute records (HJ 212 CN 2051)


@dataclass(frozen=True, slots=True)
class RollupSettings:
    """How raw series become point-hour rows.

    Attributes:
        max_hold_age: A concentration result is held at most this long after its sample time;
            beyond it the concentration is missing rather than silently held.
        max_flow_gap: A flow sample stands for the flow at most this long after its time; beyond
            it (a silent meter or link) the interval counts as missing flow.
        valid_flags: Flags whose values enter volumes and loads.
        realtime_min_coverage: Real-time figures win when they cover at least this fraction of
            the hour; below it the source (real-time, hour record, minute records) with the
            highest coverage wins.
        minute_period: Length of the logger's minute records (HJ 212 minute data, often 10 min).
        validity: How each channel-hour is judged valid, invalid or shutdown (docs/audit.md).
    """

    max_hold_age: timedelta = timedelta(hours=4)
    max_flow_gap: timedelta = timedelta(minutes=15)
    valid_flags: frozenset[str] = DEFAULT_VALID_FLAGS
    realtime_min_coverage: float = 0.75
    minute_period: timedelta = timedelta(minutes=10)
    validity: ValidityRule = DEFAULT_RULE


DEFAULT_SETTINGS = RollupSettings()


@dataclass(frozen=True, slots=True)
class PeriodValue:
    """One logger period record of one parameter (canonical units: flow avg m³/h, cou m³/kg).

    Attributes:
        ts: Start of the period, aware.
        avg: Mean over the period: m³/h for flow, mg/L for a pollutant.
        cou: Total over the period: m³ for flow, kg for a pollutant.
        flag: The record's HJ 212 flag.
    """

    ts: datetime
    avg: float | None
    cou: float | None
    flag: str = Flag.NORMAL.value


@dataclass(frozen=True, slots=True)
class PointHour:
    """One monitoring point, one parameter, one UTC hour.

    For the flow row (`parameter == FLOW`), `volume_m3` is the volume of valid flow and `load_kg`
    is None. For a pollutant row, `volume_m3` is the volume that carries a valid concentration
    (the water the load refers to) and `load_kg` = Σ C × V / 1000.

    Attributes:
        parameter: HJ 212-2017 code.
        hour: Start of the hour, UTC.
        volume_m3: Volume (see above), m³.
        load_kg: Pollutant load, kg; None for the flow row.
        coverage: Fraction of the hour covered: valid flow (flow row), valid flow and a valid
            held concentration (pollutant row).
        flag: `N`, or the first abnormal flag seen in the hour (HJ 212: one abnormal value makes
            the period abnormal).
        n_samples: Samples (or logger records) of the hour that were considered.
        n_valid: Of those, the ones with a valid flag that entered the figures.
        source: Where the figures come from.
        marks: Ids of the audit marks that can change this row (docs/audit.md).
        corrections: Ids of the corrections that can change this row.
    """

    parameter: str
    hour: datetime
    volume_m3: float
    load_kg: float | None
    coverage: float
    flag: str
    n_samples: int
    n_valid: int
    source: RowSource
    marks: tuple[int, ...] = ()
    corrections: tuple[int, ...] = ()

    @property
    def conc_mg_l(self) -> float | None:
        """Flow-weighted mean concentration, mg/L (load / volume × 1000); None without volume."""
        if self.load_kg is None or self.volume_m3 <= 0:
            return None
        return self.load_kg / self.volume_m3 * 1000.0

    @property
    def covered_hours(self) -> float:
        """Covered time in hours (coverage × 1 h); additive over hours and points."""
        return self.coverage

    @property
    def mean_flow_m3_h(self) -> float | None:
        """Mean flow over the covered part of the hour, m³/h; None when nothing is covered."""
        if self.coverage <= 0:
            return None
        return self.volume_m3 / self.coverage


def hour_starts(start: datetime, end: datetime) -> list[datetime]:
    """The UTC hour starts in [start, end); both ends must be aware and on whole hours."""
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware")
        if value.astimezone(UTC).replace(minute=0, second=0, microsecond=0) != value:
            raise ValueError(f"{name} must be on a whole UTC hour, got {value.isoformat()}")
    if end <= start:
        raise ValueError("end must be after start")
    first = start.astimezone(UTC)
    count = int((end - start) / HOUR)
    return [first + i * HOUR for i in range(count)]


def first_abnormal(flags: Sequence[tuple[float, str]]) -> str:
    """HJ 212 flag rule: `N` unless some flag is not `N`; then the earliest such flag.

    `T` (over range) is valid data but still abnormal here: the hour's mean is a lower bound.
    """
    abnormal = [(t, flag) for t, flag in flags if flag != Flag.NORMAL.value]
    if not abnormal:
        return Flag.NORMAL.value
    return min(abnormal, key=lambda item: item[0])[1]
