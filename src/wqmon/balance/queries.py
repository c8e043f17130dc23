"""Balance queries for the API and the reports: plant accounts and region accounts over periods.

`plant_balance` and `region_balance` return plain dicts ready for JSON; `region_periods` returns
the accounts themselves (the report builds on it). Both read `point_day` sums (see
`wqmon.balance.sums`) and hand them to the pure account code; hourly plant figures come from
`point_hour`. Dates are local calendar days of the sites, [start, end).

A region period that has not ended (the current year) is cut at the start of the sites' current
local day: produced load is computed over the same elapsed days as the collected load (year to
date), the answer says `to_date` and `as_of`, and only an ended period is `final`
(docs/balance.md, "Open periods").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from zoneinfo import ZoneInfo

from wqmon.balance.accounts import Granularity, PlantAccount, PointTotals, day_bounds
from wqmon.balance.records import COD, FLOW
from wqmon.balance.regions import (
    DEFAULT_REGION_SETTINGS,
    RegionAccount,
    RegionSettings,
    region_account,
    region_totals,
)
from wqmon.balance.registry_view import PointRef, RegionRef, Registry, SiteRef, load_registry
from wqmon.balance.store import Conn
from wqmon.balance.sums import (
    NO_SUMS,
    Period,
    PerPeriod,
    PlantSums,
    Sums,
    coarsen,
    coarsen_counts,
    expected_hours,
    low_conc_days,
    periods,
    plant_account_from_sums,
    point_sums,
)


@dataclass(frozen=True, slots=True)
class EnterprisePoint:
    """An enterprise discharge point into the sewer and its totals over a period."""

    site: str
    name: str
    region: str
    point: str
    totals: PointTotals


@dataclass(frozen=True, slots=True)
class RegionPeriod:
    """A region's account over one period, with the plants and enterprises under it."""

    start: date
    end: date
    account: RegionAccount
    plants: tuple[PlantAccount, ...]
    enterprises: tuple[EnterprisePoint, ...]


@dataclass(frozen=True, slots=True)
class _Plant:
    """A plant of the scope with its inlet and outlet point ids (looked up once, not per
    period)."""

    site: SiteRef
    inlets: tuple[int, ...]
    outlets: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Scope:
    """The sites of a region subtree and the points whose sums are needed."""

    plants: list[_Plant]
    enterprises: list[tuple[SiteRef, PointRef]]

    @property
    def point_ids(self) -> list[int]:
        ids = [i for p in self.plants for i in (*p.inlets, *p.outlets)]
        return ids + [p.id for _, p in self.enterprises]

    @property
    def multi_inlet_ids(self) -> list[int]:
        """Inlets of the plants with several: their days are judged on the inlets' sum."""
        return [i for p in self.plants if len(p.inlets) > 1 for i in p.inlets]


def _scope(sites: Sequence[SiteRef]) -> _Scope:
    plants = [_Plant(s, _ids(s, "inlet"), _ids(s, "outlet")) for s in sites if s.kind == "wwtp"]
    enterprises = [(s, p) for s in sites if s.kind == "enterprise" for p in s.sewer_points]
    return _Scope(plants, enterprises)


def _ids(site: SiteRef, role: str) -> tuple[int, ...]:
    return tuple(p.id for p in site.points_with(role))


@dataclass(frozen=True, slots=True)
class _Fetched:
    """The period sums of a scope: per period and point, and per period and site for plants
    with several inlet points (whose days are judged on the sum of their inlets)."""

    points: PerPeriod[Sums]
    multi_inlet: PerPeriod[tuple[int, int]]

    def coarsen(self, whole: Period) -> _Fetched:
        return _Fetched(coarsen(self.points, whole), coarsen_counts(self.multi_inlet, whole))


def _fetch(
    conn: Conn, scope: _Scope, bounds: Sequence[Period], granularity: Granularity | None
) -> _Fetched:
    return _Fetched(
        point_sums(conn, scope.point_ids, bounds, granularity),
        low_conc_days(conn, scope.multi_inlet_ids, bounds, granularity),
    )


def _totals(sums: dict[int, Sums], ids: Sequence[int], hours: float) -> PointTotals:
    """Sum of the points' period totals; every point expects `hours` (hot: plain floats)."""
    vol = load = lvol = fh = lh = 0.0
    for pid in ids:
        s = sums.get(pid)
        if s is not None:
            vol, load, lvol = vol + s.volume_m3, load + s.load_kg, lvol + s.load_volume_m3
            fh, lh = fh + s.flow_hours, lh + s.load_hours
    return PointTotals(vol, load, lvol, fh, lh, hours * len(ids))


def _plant_account(fetched: _Fetched, period: Period, plant: _Plant) -> PlantAccount:
    hours = expected_hours(period, plant.site.tz)
    sums = fetched.points.get(period, {})
    if len(plant.inlets) == 1:
        one = sums.get(plant.inlets[0], NO_SUMS)
        low, evaluated = one.low_days, one.evaluated_days
    else:
        low, evaluated = fetched.multi_inlet.get(period, {}).get(plant.site.id, (0, 0))
    plant_sums = PlantSums(
        plant.site,
        period,
        _totals(sums, plant.inlets, hours),
        _totals(sums, plant.outlets, hours),
        low,
        evaluated,
    )
    return plant_account_from_sums(plant_sums)


def _region_period(
    tree: Sequence[RegionRef],
    scope: _Scope,
    period: Period,
    fetched: _Fetched,
    settings: RegionSettings,
) -> RegionPeriod:
    plants = {p.site.code: _plant_account(fetched, period, p) for p in scope.plants}
    sums = fetched.points.get(period, {})
    ents = {
        p.id: EnterprisePoint(
            s.code, s.name, s.region, p.code, _totals(sums, [p.id], expected_hours(period, s.tz))
        )
        for s, p in scope.enterprises
    }
    accounts: dict[str, RegionAccount] = {}
    for region in tree:  # post-order: children first
        own = region_totals(
            region.code,
            start=period[0],
            end=period[1],
            coefficients=region.coefficients,
            plants=[plants[s.code] for s in region.sites if s.kind == "wwtp"],
            enterprises=[
                ents[p.id].totals
                for s in region.sites
                if s.kind == "enterprise"
                for p in s.sewer_points
            ],
        )
        children = [accounts[c] for c in region.children if c in accounts]
        accounts[region.code] = region_account(
            region.code, own, start=period[0], end=period[1], children=children, settings=settings
        )
    return RegionPeriod(
        period[0],
        period[1],
        accounts[tree[-1].code],
        tuple(plants.values()),
        tuple(ents.values()),
    )


DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")  # the zone of a region without sites (docs/balance.md)


def local_today(registry: Registry, code: str, now: datetime | None = None) -> date:
    """The current local day of a region: in the time zone of its subtree's first site."""
    sites = [s for r in registry.subtree(code) for s in r.sites]
    zone = sites[0].tz if sites else DEFAULT_ZONE
    return (now or datetime.now(UTC)).astimezone(zone).date()


def elapsed(start: date, end: date, today: date) -> date:
    """The end of the elapsed part of [start, end) on `today`: whole local days only."""
    return max(start, min(end, today))


def region_periods(
    conn: Conn,
    registry: Registry,
    code: str,
    start: date,
    end: date,
    *,
    granularity: Granularity | None = None,
    settings: RegionSettings = DEFAULT_REGION_SETTINGS,
) -> list[RegionPeriod]:
    """A region's accounts (children nested) for each period of [start, end)."""
    tree = registry.subtree(code)
    scope = _scope([s for r in tree for s in r.sites])
    bounds = periods(start, end, granularity)
    fetched = _fetch(conn, scope, bounds, granularity)
    return [_region_period(tree, scope, b, fetched, settings) for b in bounds]


def region_year_and_months(
    conn: Conn,
    registry: Registry,
    code: str,
    year: int,
    *,
    today: date | None = None,
    settings: RegionSettings = DEFAULT_REGION_SETTINGS,
) -> tuple[RegionPeriod, list[RegionPeriod]]:
    """A region's year and its months from one pass over `point_day` (months add up).

    A year not yet ended is cut at `today` (default: the region's local day): year to date.

    Raises:
        ValueError: The year has not started on `today`.
    """
    tree = registry.subtree(code)
    scope = _scope([s for r in tree for s in r.sites])
    first = date(year, 1, 1)
    as_of = today or local_today(registry, code)
    whole = (first, elapsed(first, date(year + 1, 1, 1), as_of))
    if whole[1] <= whole[0]:
        raise ValueError(f"{year} has no elapsed day yet (today is {as_of.isoformat()})")
    bounds = periods(*whole, Granularity.MONTH)
    fetched = _fetch(conn, scope, bounds, Granularity.MONTH)
    months = [_region_period(tree, scope, b, fetched, settings) for b in bounds]
    return _region_period(tree, scope, whole, fetched.coarsen(whole), settings), months


def year_bounds(year: int | None, start: date | None, end: date | None) -> tuple[date, date]:
    """[start, end) from a year or explicit dates (exactly one of the two forms)."""
    if year is not None and start is None and end is None:
        return date(year, 1, 1), date(year + 1, 1, 1)
    if year is None and start is not None and end is not None and start < end:
        return start, end
    raise ValueError("give either year, or from and to with from < to")


def region_balance(
    conn: Conn,
    region: str,
    *,
    year: int | None = None,
    start: date | None = None,
    end: date | None = None,
    granularity: Granularity | None = None,
    today: date | None = None,
) -> dict[str, object]:
    """`GET /balance/regions/{region}?year=` (or from/to): the account tree, plants, enterprises.

    With a granularity, `periods` holds one entry per day, month or year. A span reaching past
    `today` (default: the region's local day) is cut there: `status` is `to_date`, `end` the
    cut, `requested_end` what was asked; each period says whether it is `final`.
    """
    lo, hi = year_bounds(year, start, end)
    registry = load_registry(conn)
    ref = registry.region(region)
    as_of = today or local_today(registry, region)
    cut = elapsed(lo, hi, as_of)
    found = (
        region_periods(conn, registry, region, lo, cut, granularity=granularity) if cut > lo else []
    )
    body = [
        {**jsonable(p), "final": p.end < cut or cut == hi}  # type: ignore[dict-item]
        for p in found
    ]
    return {
        "region": ref.code,
        "name": ref.name,
        "kind": ref.kind,
        "start": lo.isoformat(),
        "end": cut.isoformat(),
        "requested_end": hi.isoformat(),
        "status": "final" if cut == hi else "to_date",
        "as_of": as_of.isoformat(),
        "periods": body,
    }


def plant_balance(
    conn: Conn, site: str, start: date, end: date, granularity: str = "day"
) -> dict[str, object]:
    """`GET /balance/plants/{site}?from=&to=&granularity=hour|day|month|year`.

    Hour periods list the plant's inlet and outlet flow and COD sums of each UTC hour with data.
    """
    registry = load_registry(conn)
    ref = registry.site(site)
    head: dict[str, object] = {
        "site": ref.code,
        "name": ref.name,
        "region": ref.region,
        "granularity": granularity,
        "start": start.isoformat(),
        "end": end.isoformat(),
    }
    if granularity == "hour":
        return head | {"periods": _plant_hours(conn, ref, start, end)}
    bounds = periods(start, end, Granularity(granularity))
    scope = _scope([ref])
    fetched = _fetch(conn, scope, bounds, Granularity(granularity))
    accounts = [_plant_account(fetched, b, p) for b in bounds for p in scope.plants]
    return head | {"periods": [jsonable(a) for a in accounts]}


@dataclass(slots=True)
class _HourSum:
    """Sums of one side (inlet or outlet), one parameter and hour over the site's points."""

    volume_m3: float = 0.0
    load_kg: float = 0.0
    coverage: float = 0.0  # point-hours covered
    flag: str = "N"


def _plant_hours(conn: Conn, site: SiteRef, start: date, end: date) -> list[dict[str, object]]:
    lo, hi = day_bounds(start, site.tz)[0], day_bounds(end, site.tz)[0]
    roles = {p.id: p.role for p in site.points if p.role in ("inlet", "outlet")}
    sums: dict[datetime, dict[str, _HourSum]] = {}
    rows = conn.execute(
        "SELECT point_id, parameter, hour, volume_m3, load_kg, coverage, flag FROM point_hour "
        "WHERE point_id = ANY(%s) AND parameter IN (%s, %s) AND hour >= %s AND hour < %s "
        "ORDER BY hour",
        (list(roles), FLOW, COD, lo, hi),
    )
    for pid, parameter, hour, volume, load, coverage, flag in rows:
        key = f"{roles[pid]}_{'flow' if parameter == FLOW else 'cod'}"
        acc = sums.setdefault(hour, {}).setdefault(key, _HourSum())
        acc.volume_m3 += volume
        acc.load_kg += load or 0.0
        acc.coverage += coverage
        acc.flag = flag if acc.flag == "N" else acc.flag
    return [
        {"hour": hour.astimezone(UTC).isoformat()}
        | {key: dataclasses.asdict(acc) for key, acc in sides.items()}
        for hour, sides in sums.items()
    ]


def jsonable(value: object) -> object:
    """Dataclasses, dates, enums and tuples as JSON-ready values; totals with their ratios."""
    if isinstance(value, PointTotals):
        return dataclasses.asdict(value) | {
            "conc_mg_l": value.conc_mg_l,
            "volume_coverage": value.volume_coverage,
            "load_coverage": value.load_coverage,
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return _scalar(value)


def _scalar(value: object) -> object:
    if isinstance(value, date):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value
