"""Plant accounts per day, month and year from point-hour rows.

Everything is built from additive totals (`PointTotals`: volumes, loads, covered and expected
hours), summed over hours, days and points; every ratio (flow-weighted concentration, removal
efficiency, utilisation, coverage) is recomputed from the sums, never averaged. Days are local
calendar days of the plant's time zone, whose offset must be whole hours (China: UTC+8).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from wqmon.balance.records import COD, FLOW, HOUR, PointHour

SHANGHAI = ZoneInfo("Asia/Shanghai")
LOW_INLET_COD_MG_L = 260.0  # below it, the policy asks for a sewer-network rectification plan


class Granularity(StrEnum):
    """Length of an accounting period."""

    DAY = "day"
    MONTH = "month"
    YEAR = "year"


@dataclass(frozen=True, slots=True)
class PointTotals:
    """Additive sums of one point's (or several points') rows of one pollutant over a period.

    Attributes:
        volume_m3: Volume of valid flow (from the flow rows).
        load_kg: Pollutant load.
        load_volume_m3: The volume that carries the load (valid flow and a valid concentration).
        flow_hours: Hours covered by valid flow.
        load_hours: Hours covered by valid flow and a valid concentration.
        expected_hours: Point-hours in the period (hours × points), the coverage denominator.
    """

    volume_m3: float = 0.0
    load_kg: float = 0.0
    load_volume_m3: float = 0.0
    flow_hours: float = 0.0
    load_hours: float = 0.0
    expected_hours: float = 0.0

    def __add__(self, other: PointTotals) -> PointTotals:
        """Sum of two totals (over disjoint hours or distinct points)."""
        return PointTotals(
            self.volume_m3 + other.volume_m3,
            self.load_kg + other.load_kg,
            self.load_volume_m3 + other.load_volume_m3,
            self.flow_hours + other.flow_hours,
            self.load_hours + other.load_hours,
            self.expected_hours + other.expected_hours,
        )

    @property
    def conc_mg_l(self) -> float | None:
        """Flow-weighted concentration, mg/L; None without volume."""
        return _ratio(self.load_kg * 1000.0, self.load_volume_m3)

    @property
    def volume_coverage(self) -> float:
        """Share of the expected point-hours with valid flow."""
        return _ratio(self.flow_hours, self.expected_hours) or 0.0

    @property
    def load_coverage(self) -> float:
        """Share of the expected point-hours with valid flow and concentration."""
        return _ratio(self.load_hours, self.expected_hours) or 0.0


def total(items: Iterable[PointTotals]) -> PointTotals:
    """Sum of any number of totals (the empty sum is all zeros).

    Equal to adding them with `+` in order, without a frozen instance per step (regions and
    plant years sum thousands of these).
    """
    vol = load = lvol = fh = lh = eh = 0.0
    for t in items:
        vol, load, lvol = vol + t.volume_m3, load + t.load_kg, lvol + t.load_volume_m3
        fh, lh, eh = fh + t.flow_hours, lh + t.load_hours, eh + t.expected_hours
    return PointTotals(vol, load, lvol, fh, lh, eh)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC start and end of a local calendar day."""
    start = datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
    return start, end


def daily_totals(
    rows: Iterable[PointHour],
    *,
    start: date,
    end: date,
    parameter: str = COD,
    tz: ZoneInfo = SHANGHAI,
) -> dict[date, PointTotals]:
    """One point's totals per local day in [start, end): what a `point_day` table stores.

    Args:
        rows: The point's hour rows (flow and pollutant; other parameters are ignored).
        start: First local day.
        end: Day after the last (exclusive).
        parameter: The pollutant's HJ 212 code.
        tz: The plant's time zone.
    """
    days = [start + timedelta(days=i) for i in range((end - start).days)]
    sums = {day: [0.0, 0.0, 0.0, 0.0, 0.0] for day in days}
    for row in rows:
        day = row.hour.astimezone(tz).date()
        acc = sums.get(day)
        if acc is None or row.parameter not in {FLOW, parameter}:
            continue
        if row.parameter == FLOW:
            acc[0] += row.volume_m3
            acc[3] += row.coverage
        else:
            acc[1] += row.load_kg or 0.0
            acc[2] += row.volume_m3
            acc[4] += row.coverage
    return {day: _day_totals(day, acc, tz) for day, acc in sums.items()}


def _day_totals(day: date, acc: list[float], tz: ZoneInfo) -> PointTotals:
    day_start, day_end = day_bounds(day, tz)
    hours = (day_end - day_start) / HOUR  # 23 or 25 on a daylight-saving change
    return PointTotals(acc[0], acc[1], acc[2], acc[3], acc[4], hours)


@dataclass(frozen=True, slots=True)
class PlantDays:
    """A plant's daily totals: the input of plant accounts.

    Attributes:
        site: Site code.
        capacity_m3_per_day: Design capacity; None when the registry has none.
        inlet: Per local day, the sum over the plant's inlet points.
        outlet: Per local day, the sum over its outlet points.
        inlet_points: Number of inlet points (for the coverage of days missing from `inlet`).
        outlet_points: Number of outlet points.
    """

    site: str
    capacity_m3_per_day: float | None
    inlet: dict[date, PointTotals]
    outlet: dict[date, PointTotals]
    inlet_points: int = 1
    outlet_points: int = 1


def plant_days(
    site: str,
    capacity_m3_per_day: float | None,
    *,
    inlets: Sequence[dict[date, PointTotals]],
    outlets: Sequence[dict[date, PointTotals]],
) -> PlantDays:
    """Combine per-point daily totals (from `daily_totals`) into a plant's daily totals."""
    return PlantDays(
        site,
        capacity_m3_per_day,
        _sum_points(inlets),
        _sum_points(outlets),
        inlet_points=len(inlets),
        outlet_points=len(outlets),
    )


def _sum_points(points: Sequence[dict[date, PointTotals]]) -> dict[date, PointTotals]:
    days = sorted({day for point in points for day in point})
    return {day: total(point.get(day, _missing_day(1)) for point in points) for day in days}


@dataclass(frozen=True, slots=True)
class PlantAccount:
    """A plant's COD (or other pollutant) account over [start, end).

    Attributes:
        site: Site code.
        start: First local day.
        end: Day after the last.
        days: Number of days.
        inlet: Inlet totals: the load collected.
        outlet: Outlet totals.
        reduced_kg: Inlet load − outlet load.
        reduced_coverage: The smaller of inlet and outlet load coverage.
        removal_efficiency: reduced / inlet load; None without inlet load.
        capacity_m3_per_day: Design capacity, None if unknown.
        capacity_utilisation: Inlet volume / (capacity × days); None without capacity.
        low_conc_days: Days whose flow-weighted inlet concentration is below the threshold.
        evaluated_days: Days with enough inlet data to judge (see `plant_account`).
    """

    site: str
    start: date
    end: date
    days: int
    inlet: PointTotals
    outlet: PointTotals
    reduced_kg: float
    reduced_coverage: float
    removal_efficiency: float | None
    capacity_m3_per_day: float | None
    capacity_utilisation: float | None
    low_conc_days: int
    evaluated_days: int


def plant_account(
    plant: PlantDays,
    *,
    start: date,
    end: date,
    low_conc_mg_l: float = LOW_INLET_COD_MG_L,
    min_day_coverage: float = 0.0,
) -> PlantAccount:
    """A plant's account over the local days [start, end).

    Args:
        plant: The plant's daily totals.
        start: First local day.
        end: Day after the last (exclusive).
        low_conc_mg_l: Threshold for a low-concentration inlet day (260 mg/L COD by policy).
        min_day_coverage: A day counts as evaluated when its inlet load coverage exceeds this
            (default: any valid hour, as HJ 212 Appendix D asks nothing more of water data).
    """
    days = [start + timedelta(days=i) for i in range((end - start).days)]
    inlet = total(plant.inlet.get(d, _missing_day(plant.inlet_points)) for d in days)
    outlet = total(plant.outlet.get(d, _missing_day(plant.outlet_points)) for d in days)
    judged = [plant.inlet[d] for d in days if _judged(plant.inlet.get(d), min_day_coverage)]
    capacity = plant.capacity_m3_per_day
    return PlantAccount(
        site=plant.site,
        start=start,
        end=end,
        days=len(days),
        inlet=inlet,
        outlet=outlet,
        reduced_kg=inlet.load_kg - outlet.load_kg,
        reduced_coverage=min(inlet.load_coverage, outlet.load_coverage),
        removal_efficiency=_ratio(inlet.load_kg - outlet.load_kg, inlet.load_kg),
        capacity_m3_per_day=capacity,
        capacity_utilisation=_ratio(inlet.volume_m3, (capacity or 0.0) * len(days)),
        low_conc_days=sum(1 for t in judged if (t.conc_mg_l or 0.0) < low_conc_mg_l),
        evaluated_days=len(judged),
    )


def _missing_day(points: int) -> PointTotals:
    # A day nobody reported still counts in the coverage denominator.
    return PointTotals(expected_hours=24.0 * points)


def _judged(day: PointTotals | None, min_coverage: float) -> bool:
    return day is not None and day.load_volume_m3 > 0 and day.load_coverage > min_coverage


def period_bounds(start: date, end: date, granularity: Granularity) -> list[tuple[date, date]]:
    """Split the local days [start, end) into calendar days, months or years (edges clipped)."""
    bounds = []
    cursor = start
    while cursor < end:
        following = _next_boundary(cursor, granularity)
        bounds.append((cursor, min(following, end)))
        cursor = following
    return bounds


def _next_boundary(day: date, granularity: Granularity) -> date:
    if granularity is Granularity.DAY:
        return day + timedelta(days=1)
    if granularity is Granularity.MONTH:
        return date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return date(day.year + 1, 1, 1)


def plant_accounts(
    plant: PlantDays,
    *,
    start: date,
    end: date,
    granularity: Granularity,
    low_conc_mg_l: float = LOW_INLET_COD_MG_L,
    min_day_coverage: float = 0.0,
) -> list[PlantAccount]:
    """A plant's accounts for each day, month or year in [start, end)."""
    return [
        plant_account(
            plant,
            start=lo,
            end=hi,
            low_conc_mg_l=low_conc_mg_l,
            min_day_coverage=min_day_coverage,
        )
        for lo, hi in period_bounds(start, end, granularity)
    ]
