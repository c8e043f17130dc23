"""The data of a region-year report: accounts of the year and of each month, names, plants.

One call, `build_report(conn, region, year)`, does all the reading (three aggregate queries per
granularity over `point_day`); the writers (CSV, XLSX, HTML) only format what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from wqmon.balance.accounts import PlantAccount
from wqmon.balance.queries import EnterprisePoint, RegionPeriod, region_year_and_months
from wqmon.balance.regions import RegionAccount
from wqmon.balance.registry_view import Registry, load_registry
from wqmon.balance.store import Conn


@dataclass(frozen=True, slots=True)
class RegionReport:
    """Everything a report shows for one region and year.

    Attributes:
        code: The region reported on.
        year: The calendar year (local days of the sites).
        registry: Names, kinds and the tree of regions, sites and points.
        year_period: The account of the year, with plants and enterprises of the subtree.
        months: The region's account of each month (children nested as well).
        generated_at: When the report was made, UTC.
        to_date: The end of the figures when the year has not ended (year to date:
            1 January up to this local day, excluded); None when the year is final.
    """

    code: str
    year: int
    registry: Registry
    year_period: RegionPeriod
    months: tuple[RegionPeriod, ...]
    generated_at: datetime
    to_date: date | None = None

    @property
    def period_label(self) -> str:
        """The year, or the ISO 8601 interval of a year to date (CSV and XLSX period column)."""
        if self.to_date is None:
            return str(self.year)
        return f"{self.year}-01-01/{self.to_date.isoformat()}"

    @property
    def account(self) -> RegionAccount:
        return self.year_period.account

    @property
    def plants(self) -> tuple[PlantAccount, ...]:
        return self.year_period.plants

    @property
    def enterprises(self) -> tuple[EnterprisePoint, ...]:
        return self.year_period.enterprises

    def regions(self) -> list[tuple[int, RegionAccount]]:
        """The region and its descendants, parents first, with their depth."""
        result: list[tuple[int, RegionAccount]] = []

        def walk(account: RegionAccount, depth: int) -> None:
            result.append((depth, account))
            for child in account.children:
                walk(child, depth + 1)

        walk(self.account, 0)
        return result

    def region_name(self, code: str) -> str:
        return self.registry.regions[code].name

    def site_name(self, code: str) -> str:
        return self.registry.sites[code].name

    def site_region(self, code: str) -> str:
        return self.registry.sites[code].region


def build_report(conn: Conn, region: str, year: int, today: date | None = None) -> RegionReport:
    """Read and compute everything a region-year report needs (a year not ended: to date)."""
    registry = load_registry(conn)
    whole, months = region_year_and_months(conn, registry, region, year, today=today)
    return RegionReport(
        code=registry.region(region).code,
        year=year,
        registry=registry,
        year_period=whole,
        months=tuple(months),
        generated_at=datetime.now(UTC),
        to_date=None if whole.end == date(year + 1, 1, 1) else whole.end,
    )
