"""The report's levels (region, child regions, plants, enterprise points, months) as rows.

Each `Level` is a table: identity columns, then figures (each followed by its coverage). The
XLSX writer makes one sheet per level, the HTML writer one table, the CSV writer one long list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wqmon.balance.report.build import RegionReport
from wqmon.balance.report.figures import ENTERPRISE, MONTH, PLANT, REGION, Figure


@dataclass(frozen=True, slots=True)
class Level:
    """One level of the report.

    Attributes:
        key: Short name (sheet name, CSV `level`).
        zh: Chinese title.
        en: English title.
        ident: Labels of the identity columns.
        figures: The figures of each row.
        rows: (period, identity values, the object the figures read).
    """

    key: str
    zh: str
    en: str
    ident: tuple[str, ...]
    figures: tuple[Figure, ...]
    rows: tuple[tuple[str, tuple[str, ...], Any], ...]

    @property
    def title(self) -> str:
        return f"{self.zh} {self.en}"


def levels(report: RegionReport) -> list[Level]:
    """The report's levels, in reading order."""
    year = report.period_label
    regions = report.regions()
    region_ident = ("代码 code", "名称 name", "层级 depth")
    site_ident = ("代码 code", "名称 name", "区域 region")
    return [
        Level(
            "region",
            "区域汇总",
            "region summary",
            region_ident,
            REGION,
            ((year, (report.code, report.region_name(report.code), "0"), report.account),),
        ),
        Level(
            "children",
            "下级区域",
            "child regions",
            region_ident,
            REGION,
            tuple(
                (year, (a.code, report.region_name(a.code), str(depth)), a)
                for depth, a in regions[1:]
            ),
        ),
        Level(
            "plants",
            "污水处理厂",
            "wastewater plants",
            site_ident,
            PLANT,
            tuple(
                (year, (p.site, report.site_name(p.site), report.site_region(p.site)), p)
                for p in report.plants
            ),
        ),
        Level(
            "enterprises",
            "纳管企业排口",
            "enterprise discharge points",
            (*site_ident, "排口 point"),
            ENTERPRISE,
            tuple((year, (e.site, e.name, e.region, e.point), e) for e in report.enterprises),
        ),
        Level(
            "monthly",
            "逐月",
            "monthly",
            ("月份 month",),
            MONTH,
            tuple(
                (m.start.strftime("%Y-%m"), (m.start.strftime("%Y-%m"),), m.account)
                for m in report.months
            ),
        ),
    ]
