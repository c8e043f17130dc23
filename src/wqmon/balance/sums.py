"""Period sums of `point_day` computed in SQL, and plant accounts built from them.

A region-year over hundreds of sites must not move hundreds of thousands of day rows into
Python: the database sums them per point and period (and counts low-concentration days per
plant and period), and the pure account code takes it from there. `plant_account_from_sums`
gives the same result as `accounts.plant_account` over the same days (a tested property).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple, TypeVar
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
from wqmon.balance.store import JUDGED_DAY, LOW_DAY, MONTH_RULE, Conn

Period = tuple[date, date]
V = TypeVar("V")


def _key(granularity: Granularity | None, column: str) -> str:
    """SQL for the calendar start of a row's period (None: the whole range, keyed by start)."""
    if granularity is None:
        return "%(start)s::date"
    if granularity is Granularity.DAY:
        return column
    # Truncating a timestamp without time zone: the date's own calendar, and far cheaper than
    # the implicit cast to timestamptz.
    return f"date_trunc('{granularity.value}', {column}::timestamp)::date"


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


class Sums(NamedTuple):
    """A point's sums over a period, with its own low-concentration and evaluated day counts.

    A plain tuple (not `PointTotals`): a region-year reads thousands and only adds them up.
    Expected hours are the caller's (they depend on the period, not on the rows). The day
    counts are what a plant with a single inlet point needs; plants with several inlet points
    judge a day on the sum of their inlets (`low_conc_days`).
    """

    volume_m3: float = 0.0
    load_kg: float = 0.0
    load_volume_m3: float = 0.0
    flow_hours: float = 0.0
    load_hours: float = 0.0
    low_days: int = 0
    evaluated_days: int = 0


NO_SUMS = Sums()
PerPeriod = dict[Period, dict[int, V]]  # period → id (point or site) → value

# A hash join on the id list: `= ANY(array)` would scan the array for every row.
_DAY_SUMS = (
    "SELECT {key} AS key, pd.point_id, sum(volume_m3), sum(load_kg), sum(load_volume_m3), "
    f"sum(flow_hours), sum(load_hours), count(*) FILTER (WHERE {LOW_DAY}), "
    f"count(*) FILTER (WHERE {JUDGED_DAY}) FROM point_day pd "
    "JOIN unnest(%(ids)s::int[]) AS ids(id) ON ids.id = pd.point_id "
    "WHERE pd.parameter = %(parameter)s AND pd.day >= %(start)s AND pd.day < %(end)s "
    "GROUP BY 1, 2"
)
_MONTH_SUMS = (
    "SELECT {key} AS key, pm.point_id, sum(volume_m3), sum(load_kg), sum(load_volume_m3), "
    "sum(flow_hours), sum(load_hours), sum(low_days), sum(evaluated_days) FROM point_month pm "
    "JOIN unnest(%(ids)s::int[]) AS ids(id) ON ids.id = pm.point_id "
    "WHERE pm.parameter = %(parameter)s AND pm.month >= %(start)s AND pm.month < %(end)s "
    "GROUP BY 1, 2"
)


def _from_months(
    granularity: Granularity | None, start: date, end: date, rule: dict[str, float]
) -> bool:
    """Whether `point_month` answers: whole calendar months, counted by its rule."""
    whole = start.day == 1 and end.day == 1
    return granularity is not Granularity.DAY and whole and rule == MONTH_RULE


def point_sums(
    conn: Conn,
    point_ids: Sequence[int],
    bounds: Sequence[Period],
    granularity: Granularity | None,
    *,
    parameter: str = COD,
    threshold_mg_l: float = LOW_INLET_COD_MG_L,
    min_day_coverage: float = 0.0,
) -> PerPeriod[Sums]:
    """Per period and point: the sums of its `point_day` rows (periods without rows absent).

    Whole calendar months at the default rule are read from `point_month` (12 rows per point
    and year instead of 365); anything else (days, clipped months, another threshold) from
    `point_day`. Both give the same sums (`point_month` is `point_day` summed per month).
    """
    if not point_ids or not bounds:
        return {}
    start, end = bounds[0][0], bounds[-1][1]
    rule = {"thr": threshold_mg_l, "cov": min_day_coverage}
    monthly = _from_months(granularity, start, end, rule)
    sql = _MONTH_SUMS if monthly else _DAY_SUMS
    sql = sql.format(key=_key(granularity, "pm.month" if monthly else "pd.day"))
    args = rule | {"ids": list(point_ids), "parameter": parameter, "start": start, "end": end}
    result: dict[date, dict[int, Sums]] = {}
    # Thousands of rows of floats: binary is cheaper to load than text, and fetchall() than
    # iterating the cursor row by row.
    with conn.cursor(binary=True) as cur:
        rows = cur.execute(sql, args).fetchall()
    for key, pid, *sums in rows:
        per_point = result.get(key)
        if per_point is None:  # a handful of distinct keys, thousands of rows
            per_point = result[key] = {}
        per_point[pid] = Sums(*sums)
    return {_period_of(key, bounds): per_point for key, per_point in result.items()}


def coarsen(sums: PerPeriod[Sums], whole: Period) -> PerPeriod[Sums]:
    """Add several periods' sums into one period (months into their year), point by point."""
    result: dict[int, Sums] = {}
    for per_point in sums.values():
        for pid, s in per_point.items():
            prior = result.get(pid)
            result[pid] = s if prior is None else _add(prior, s)
    return {whole: result}


def _add(a: Sums, b: Sums) -> Sums:
    # Field by field in one constructor call: ~10,000 of these per region-year.
    vol, load, lvol, fh, lh, low, evaluated = a
    vol2, load2, lvol2, fh2, lh2, low2, evaluated2 = b
    return Sums(
        vol + vol2,
        load + load2,
        lvol + lvol2,
        fh + fh2,
        lh + lh2,
        low + low2,
        evaluated + evaluated2,
    )


def coarsen_counts(counts: PerPeriod[tuple[int, int]], whole: Period) -> PerPeriod[tuple[int, int]]:
    """Add several periods' (low, evaluated) day counts into one period, site by site."""
    result: dict[int, tuple[int, int]] = {}
    for per_site in counts.values():
        for sid, (low, evaluated) in per_site.items():
            prior_low, prior_evaluated = result.get(sid, (0, 0))
            result[sid] = (prior_low + low, prior_evaluated + evaluated)
    return {whole: result}


def low_conc_days(
    conn: Conn,
    inlet_ids: Sequence[int],
    bounds: Sequence[Period],
    granularity: Granularity | None,
    *,
    parameter: str = COD,
    threshold_mg_l: float = LOW_INLET_COD_MG_L,
    min_day_coverage: float = 0.0,
) -> PerPeriod[tuple[int, int]]:
    """Per period and site id: (low-concentration days, evaluated days) of the inlets' days.

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
        f"SELECT {_key(granularity, 'd.day')} AS key, d.site_id, "
        "count(*) FILTER (WHERE lv > 0 AND lh > %(cov)s * eh AND ld * 1000 < %(thr)s * lv), "
        "count(*) FILTER (WHERE lv > 0 AND lh > %(cov)s * eh) FROM d GROUP BY 1, 2"
    )
    args: dict[str, object] = {
        "ids": list(inlet_ids),
        "parameter": parameter,
        "cov": min_day_coverage,
    }
    args |= {"start": bounds[0][0], "end": bounds[-1][1], "thr": threshold_mg_l}
    result: PerPeriod[tuple[int, int]] = {}
    for key, sid, low, evaluated in conn.execute(sql, args):
        result.setdefault(_period_of(key, bounds), {})[sid] = (int(low), int(evaluated))
    return result


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
