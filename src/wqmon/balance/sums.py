"""Period sums of `point_day` computed in SQL, and plant accounts built from them.

A region-year over hundreds of sites must not move hundreds of thousands of day rows into
Python: the database sums them per point and period (and counts low-concentration days per
plant and period), and the pure account code takes it from there. `plant_account_from_sums`
gives the same result as `accounts.plant_account` over the same days (a tested property).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar
from zoneinfo import ZoneInfo

from wqmon.balance.accounts import (
    LOW_INLET_COD_MG_L,
    Granularity,
    PlantAccount,
    PointTotals,
    day_bounds,
    period_bounds,
)
from wqmon.balance.records import COD, HOUR
from wqmon.balance.registry_view import SiteRef
from wqmon.balance.store import Conn

Period = tuple[date, date]
K = TypeVar("K")
V = TypeVar("V")

_KEY = {
    None: "%(start)s::date",
    Granularity.DAY: "pd.day",
    # Truncating a timestamp without time zone: the date's own calendar, and far cheaper than
    # the implicit cast to timestamptz.
    Granularity.MONTH: "date_trunc('month', pd.day::timestamp)::date",
    Granularity.YEAR: "date_trunc('year', pd.day::timestamp)::date",
}


def periods(start: date, end: date, granularity: Granularity | None) -> list[Period]:
    """The periods of [start, end): one (None) or calendar days, months or years, clipped."""
    return [(start, end)] if granularity is None else period_bounds(start, end, granularity)


def _period_of(key: date, bounds: Sequence[Period]) -> Period:
    # The SQL key is the calendar start; the first period may be clipped to a later day.
    return next(b for b in bounds if b[0] <= max(key, bounds[0][0]) < b[1])


@functools.lru_cache(maxsize=4096)
def expected_hours(period: Period, tz: ZoneInfo) -> float:
    """Hours in the local days of a period (23/25-hour days where the zone has DST)."""
    return (day_bounds(period[1], tz)[0] - day_bounds(period[0], tz)[0]) / HOUR


@dataclass(frozen=True, slots=True)
class Sums:
    """A point's sums over a period, with its own low-concentration and evaluated day counts.

    The day counts are what a plant with a single inlet point needs; plants with several inlet
    points judge a day on the sum of their inlets (`low_conc_days`).
    """

    totals: PointTotals
    low_days: int = 0
    evaluated_days: int = 0

    def __add__(self, other: Sums) -> Sums:
        return Sums(
            self.totals + other.totals,
            self.low_days + other.low_days,
            self.evaluated_days + other.evaluated_days,
        )


def point_sums(
    conn: Conn,
    point_ids: Sequence[int],
    bounds: Sequence[Period],
    granularity: Granularity | None,
    *,
    parameter: str = COD,
    threshold_mg_l: float = LOW_INLET_COD_MG_L,
    min_day_coverage: float = 0.0,
) -> dict[tuple[Period, int], Sums]:
    """Per (period, point): sums of `point_day` (expected hours left 0 for the caller)."""
    if not point_ids or not bounds:
        return {}
    judged = "load_volume_m3 > 0 AND load_hours > %(cov)s * expected_hours"
    sql = (
        f"SELECT {_KEY[granularity]} AS key, pd.point_id, sum(volume_m3), sum(load_kg), "
        "sum(load_volume_m3), sum(flow_hours), sum(load_hours), "
        f"count(*) FILTER (WHERE {judged} AND load_kg * 1000 < %(thr)s * load_volume_m3), "
        f"count(*) FILTER (WHERE {judged}) FROM point_day pd "
        # A hash join on the id list: `= ANY(array)` would scan the array for every row.
        "JOIN unnest(%(ids)s::int[]) AS ids(id) ON ids.id = pd.point_id "
        "WHERE pd.parameter = %(parameter)s "
        "AND pd.day >= %(start)s AND pd.day < %(end)s GROUP BY 1, 2"
    )
    args: dict[str, object] = {"ids": list(point_ids), "parameter": parameter}
    args |= {"start": bounds[0][0], "end": bounds[-1][1]}
    args |= {"cov": min_day_coverage, "thr": threshold_mg_l}
    result: dict[tuple[Period, int], Sums] = {}
    period_of: dict[date, Period] = {}  # a handful of distinct keys, thousands of rows
    for key, pid, vol, load, lvol, fh, lh, low, evaluated in conn.execute(sql, args):
        totals = PointTotals(vol, load, lvol, fh, lh, 0.0)
        period = period_of.get(key)
        if period is None:
            period = period_of[key] = _period_of(key, bounds)
        result[(period, pid)] = Sums(totals, int(low), int(evaluated))
    return result


def coarsen(
    sums: dict[tuple[Period, K], V], whole: Period, add: Callable[[V, V], V]
) -> dict[tuple[Period, K], V]:
    """Add the entries of several periods into one period (months into their year)."""
    result: dict[tuple[Period, K], V] = {}
    for (_, key), value in sums.items():
        prior = result.get((whole, key))
        result[(whole, key)] = value if prior is None else add(prior, value)
    return result


def low_conc_days(
    conn: Conn,
    inlet_ids: Sequence[int],
    bounds: Sequence[Period],
    granularity: Granularity | None,
    *,
    parameter: str = COD,
    threshold_mg_l: float = LOW_INLET_COD_MG_L,
    min_day_coverage: float = 0.0,
) -> dict[tuple[Period, int], tuple[int, int]]:
    """Per (period, site id): (low-concentration days, evaluated days) of the inlets' days.

    A site-day's inlet totals sum its inlet points; a point missing that day counts 24 h in
    the coverage denominator, as in `accounts.plant_account`.
    """
    if not inlet_ids or not bounds:
        return {}
    sql = (
        "WITH inl AS (SELECT id, site_id, count(*) OVER (PARTITION BY site_id) AS n "
        "FROM point WHERE id = ANY(%(ids)s)), "
        "d AS (SELECT inl.site_id, pd.day, sum(pd.load_kg) AS ld, sum(pd.load_volume_m3) AS lv, "
        "sum(pd.load_hours) AS lh, sum(pd.expected_hours) + 24 * (max(inl.n) - count(*)) AS eh "
        "FROM point_day pd JOIN inl ON inl.id = pd.point_id WHERE pd.parameter = %(parameter)s "
        "AND pd.day >= %(start)s AND pd.day < %(end)s GROUP BY 1, 2) "
        f"SELECT {_KEY[granularity].replace('pd.', 'd.')} AS key, d.site_id, "
        "count(*) FILTER (WHERE lv > 0 AND lh > %(cov)s * eh AND ld * 1000 < %(thr)s * lv), "
        "count(*) FILTER (WHERE lv > 0 AND lh > %(cov)s * eh) FROM d GROUP BY 1, 2"
    )
    args: dict[str, object] = {
        "ids": list(inlet_ids),
        "parameter": parameter,
        "cov": min_day_coverage,
    }
    args |= {"start": bounds[0][0], "end": bounds[-1][1], "thr": threshold_mg_l}
    return {
        (_period_of(key, bounds), sid): (int(low), int(evaluated))
        for key, sid, low, evaluated in conn.execute(sql, args)
    }


@dataclass(frozen=True, slots=True)
class PlantSums:
    """What one plant's account over one period is built from."""

    site: SiteRef
    period: Period
    inlet: PointTotals
    outlet: PointTotals
    low_conc_days: int = 0
    evaluated_days: int = 0


def plant_account_from_sums(s: PlantSums) -> PlantAccount:
    """The plant account of `accounts.plant_account`, from period sums."""
    days = (s.period[1] - s.period[0]).days
    reduced = s.inlet.load_kg - s.outlet.load_kg
    capacity = s.site.capacity_m3_per_day
    return PlantAccount(
        site=s.site.code,
        start=s.period[0],
        end=s.period[1],
        days=days,
        inlet=s.inlet,
        outlet=s.outlet,
        reduced_kg=reduced,
        reduced_coverage=min(s.inlet.load_coverage, s.outlet.load_coverage),
        removal_efficiency=reduced / s.inlet.load_kg if s.inlet.load_kg > 0 else None,
        capacity_m3_per_day=capacity,
        capacity_utilisation=(
            s.inlet.volume_m3 / (capacity * days) if capacity and days > 0 else None
        ),
        low_conc_days=s.low_conc_days,
        evaluated_days=s.evaluated_days,
    )
