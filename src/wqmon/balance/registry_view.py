"""The registry as the balance queries need it: regions (a tree), sites and their points."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from wqmon.accounting.inputs import merged_coefficients
from wqmon.balance.regions import Coefficients
from wqmon.balance.store import Conn
from wqmon.errors import ConfigError


@dataclass(frozen=True, slots=True)
class PointRef:
    """A monitoring point of a site, with what the balance needs of it."""

    id: int
    code: str
    role: str  # inlet | outlet | discharge
    discharges_to: str | None


@dataclass(frozen=True, slots=True)
class SiteRef:
    """A plant or an enterprise, with its points."""

    id: int
    code: str
    name: str
    kind: str  # wwtp | enterprise
    region: str
    capacity_m3_per_day: float | None
    tz: ZoneInfo
    points: tuple[PointRef, ...] = ()

    def points_with(self, role: str) -> list[PointRef]:
        return [p for p in self.points if p.role == role]

    @property
    def sewer_points(self) -> list[PointRef]:
        """Enterprise discharge points into the sewer: the industrial term of production."""
        return [p for p in self.points if p.role == "discharge" and p.discharges_to == "sewer"]


@dataclass(slots=True)
class RegionRef:
    """An accounting region, its coefficients and its place in the tree."""

    code: str
    name: str
    kind: str
    parent: str | None
    coefficients: dict[int, Coefficients] = field(default_factory=dict)
    # Department inputs of its accounts per year (docs/accounting.md), already merged into
    # `coefficients`; `registry_coefficients` keeps what the registry alone says.
    inputs: dict[int, dict[str, float]] = field(default_factory=dict)
    registry_coefficients: dict[int, Coefficients] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    sites: list[SiteRef] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Registry:
    """Regions by code and sites by code."""

    regions: dict[str, RegionRef]
    sites: dict[str, SiteRef]

    def region(self, code: str) -> RegionRef:
        if code not in self.regions:
            raise ConfigError(f"unknown region {code!r}")
        return self.regions[code]

    def site(self, code: str) -> SiteRef:
        if code not in self.sites:
            raise ConfigError(f"unknown site {code!r}")
        return self.sites[code]

    def subtree(self, code: str) -> list[RegionRef]:
        """The region and all its descendants, children before parents (post-order)."""
        result: list[RegionRef] = []
        seen: set[str] = set()

        def visit(c: str) -> None:
            if c in seen:  # the importer forbids cycles; stay safe anyway
                return
            seen.add(c)
            for child in self.regions[c].children:
                visit(child)
            result.append(self.regions[c])

        visit(self.region(code).code)
        return result


def load_registry(conn: Conn) -> Registry:
    """Read regions, coefficients, active sites and their points in four queries."""
    regions = {
        code: RegionRef(code, name, kind, parent)
        for code, name, kind, parent in conn.execute(
            "SELECT code, name, kind, parent_code FROM region ORDER BY code"
        )
    }
    for region in regions.values():
        if region.parent in regions:
            regions[region.parent].children.append(region.code)
    for code, year, pop, g, other in conn.execute(
        "SELECT region_code, year, urban_population, cod_g_per_person_day, "
        "other_cod_kg_per_day FROM region_year"
    ):
        regions[code].coefficients[int(year)] = Coefficients(int(pop), float(g), float(other))
    _merge_inputs(conn, regions)
    points: dict[int, list[PointRef]] = {}
    for pid, site_id, code, role, to in conn.execute(
        "SELECT id, site_id, code, role, discharges_to FROM point ORDER BY id"
    ):
        points.setdefault(site_id, []).append(PointRef(pid, code, role, to))
    sites: dict[str, SiteRef] = {}
    for sid, code, name, kind, region, capacity, tz in conn.execute(
        "SELECT id, code, name, kind, region_code, capacity_m3_per_day, timezone FROM site "
        "WHERE active ORDER BY code"
    ):
        site = SiteRef(
            sid, code, name, kind, region, capacity, ZoneInfo(tz), tuple(points.get(sid, []))
        )
        sites[code] = site
        regions[region].sites.append(site)
    return Registry(regions, sites)


def _merge_inputs(conn: Conn, regions: dict[str, RegionRef]) -> None:
    """Department inputs of the accounts replace the registry's figures of their region-year."""
    for code, year, kind, value in conn.execute(
        "SELECT region_code, year, kind, value FROM account_input WHERE replaced_at IS NULL"
    ):
        if code in regions:
            regions[code].inputs.setdefault(int(year), {})[str(kind)] = float(value)
    for region in regions.values():
        region.registry_coefficients = dict(region.coefficients)
        for year, values in region.inputs.items():
            days = (date(year + 1, 1, 1) - date(year, 1, 1)).days
            merged = merged_coefficients(values, region.coefficients.get(year), days)
            if merged is not None:
                region.coefficients[year] = merged
