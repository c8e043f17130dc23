"""The report's figures per level, with Chinese and English labels, units and coverage.

A `Figure` names one number of a row (a region, a plant, an enterprise point, a month) and says
which coverage stands next to it; the CSV, XLSX and HTML writers all read these lists, so the
three formats show the same figures under the same labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wqmon.balance.accounts import PlantAccount
from wqmon.balance.queries import EnterprisePoint
from wqmon.balance.regions import RegionAccount

Value = float | int | str | None


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure of a row: labels, unit, how to read it, and its coverage (if any)."""

    key: str
    zh: str
    en: str
    unit: str
    value: Callable[[Any], Value]
    coverage: Callable[[Any], float] | None = None

    @property
    def label(self) -> str:
        return f"{self.zh} {self.en}" + (f" ({self.unit})" if self.unit else "")


@dataclass(frozen=True, slots=True)
class ActionText:
    """An action category in words: a short name and what it means, in both languages."""

    zh: str
    en: str
    zh_why: str
    en_why: str


# The categories of docs/balance.md §3.2, for people: never the raw code.
ACTIONS: dict[str, ActionText] = {
    "fix_network": ActionText(
        "完善管网",
        "fix the sewer network",
        "处理能力足以覆盖产生量，但污水未能收集进厂：排查管网错接、渗漏和溢流。",
        "Plant capacity matches the load produced, but the sewage does not arrive: find "
        "misconnections, leaks and overflows in the sewers.",
    ),
    "build_capacity": ActionText(
        "新建处理能力",
        "build treatment capacity",
        "达到收集目标所需的处理能力不足：新建或扩建污水处理厂。",
        "The plants cannot treat what the collection target needs: build or extend plants.",
    ),
    "upgrade_treatment": ActionText(
        "提标改造",
        "upgrade treatment",
        "污水处理厂的 COD 去除效率偏低：提标改造处理工艺。",
        "The plants remove too little of the COD they collect: upgrade the treatment.",
    ),
    "insufficient_data": ActionText(
        "数据不足",
        "insufficient data",
        "进水负荷的数据覆盖率过低，无法判断整治方向：先保证在线监测数据完整。",
        "Too little inlet data to judge: make the online monitoring complete first.",
    ),
}
NO_ACTION = ActionText(
    "无需整治",
    "none needed",
    "收集率与去除效率均达到目标。",
    "Collection and removal meet the targets.",
)


def action_text(code: str) -> ActionText:
    """The words of an action code (an unknown code stands for itself)."""
    return ACTIONS.get(code) or ActionText(code, code, "", "")


def action_words(codes: tuple[str, ...] | list[str]) -> str:
    """Action codes in words, both languages (CSV and XLSX carry both): `完善管网 fix …`."""
    if not codes:
        return f"{NO_ACTION.zh} {NO_ACTION.en}"
    return "; ".join(f"{action_text(c).zh} {action_text(c).en}" for c in codes)


def _target_kg(year: int) -> Callable[[RegionAccount], Value]:
    def read(a: RegionAccount) -> Value:
        return next((t.shortfall_kg for t in a.targets if t.year == year), None)

    return read


def _industrial_cov(a: RegionAccount) -> float:
    return a.industrial_coverage


def _collected_cov(a: RegionAccount) -> float:
    return a.collected_coverage


def _reduced_cov(a: RegionAccount) -> float:
    return a.reduced_coverage


REGION: tuple[Figure, ...] = (
    Figure("produced_kg", "产生量", "produced", "kg", lambda a: a.produced_kg, _industrial_cov),
    Figure("domestic_kg", "生活源", "domestic", "kg", lambda a: a.totals.domestic_kg),
    Figure(
        "industrial_kg",
        "工业源(纳管)",
        "industrial into sewers",
        "kg",
        lambda a: a.totals.industrial.load_kg,
        _industrial_cov,
    ),
    Figure("other_kg", "其他", "other", "kg", lambda a: a.totals.other_kg),
    Figure(
        "collected_kg", "集中收集量", "collected", "kg", lambda a: a.collected_kg, _collected_cov
    ),
    Figure("reduced_kg", "削减量", "reduced", "kg", lambda a: a.reduced_kg, _reduced_cov),
    Figure(
        "collection_rate",
        "集中收集率",
        "collection rate",
        "",
        lambda a: a.collection_rate,
        _collected_cov,
    ),
    Figure(
        "collection_reduction_rate",
        "集中收集削减率",
        "collection-reduction rate",
        "",
        lambda a: a.collection_reduction_rate,
        _reduced_cov,
    ),
    Figure(
        "removal_efficiency",
        "处理效率",
        "removal efficiency",
        "",
        lambda a: a.removal_efficiency,
        _reduced_cov,
    ),
    Figure(
        "inlet_conc_mg_l",
        "进水COD浓度",
        "inlet COD (flow-weighted)",
        "mg/L",
        lambda a: a.inlet_conc_mg_l,
        _collected_cov,
    ),
    Figure(
        "capacity_m3_per_day",
        "处理能力",
        "capacity",
        "m³/d",
        lambda a: a.totals.capacity_m3_per_day,
    ),
    Figure(
        "capacity_utilisation",
        "负荷率",
        "capacity utilisation",
        "",
        lambda a: a.capacity_utilisation,
        lambda a: a.totals.inlet.volume_coverage,
    ),
    Figure(
        "capacity_gap_m3_per_day",
        "能力缺口",
        "capacity gap",
        "m³/d",
        lambda a: a.capacity_gap_m3_per_day,
        _collected_cov,
    ),
    Figure("shortfall_2025_kg", "距2025目标(80%)", "short of 2025 target", "kg", _target_kg(2025)),
    Figure("shortfall_2030_kg", "距2030目标(95%)", "short of 2030 target", "kg", _target_kg(2030)),
    Figure("actions", "整治方向", "actions", "", lambda a: action_words(a.actions)),
)


PLANT: tuple[Figure, ...] = (
    Figure(
        "inlet_volume_m3",
        "进水水量",
        "inlet volume",
        "m³",
        lambda p: p.inlet.volume_m3,
        lambda p: p.inlet.volume_coverage,
    ),
    Figure(
        "collected_kg",
        "进水负荷(收集量)",
        "inlet load (collected)",
        "kg",
        lambda p: p.inlet.load_kg,
        lambda p: p.inlet.load_coverage,
    ),
    Figure(
        "outlet_kg",
        "出水负荷",
        "outlet load",
        "kg",
        lambda p: p.outlet.load_kg,
        lambda p: p.outlet.load_coverage,
    ),
    Figure(
        "reduced_kg",
        "削减量",
        "reduced",
        "kg",
        lambda p: p.reduced_kg,
        lambda p: p.reduced_coverage,
    ),
    Figure(
        "removal_efficiency",
        "处理效率",
        "removal efficiency",
        "",
        lambda p: p.removal_efficiency,
        lambda p: p.reduced_coverage,
    ),
    Figure(
        "inlet_conc_mg_l",
        "进水COD浓度",
        "inlet COD (flow-weighted)",
        "mg/L",
        lambda p: p.inlet.conc_mg_l,
        lambda p: p.inlet.load_coverage,
    ),
    Figure("low_conc_days", "低浓度天数(<260)", "days < 260 mg/L", "d", lambda p: p.low_conc_days),
    Figure("evaluated_days", "有效天数", "days evaluated", "d", lambda p: p.evaluated_days),
    Figure("capacity_m3_per_day", "处理能力", "capacity", "m³/d", lambda p: p.capacity_m3_per_day),
    Figure(
        "capacity_utilisation",
        "负荷率",
        "capacity utilisation",
        "",
        lambda p: p.capacity_utilisation,
        lambda p: p.inlet.volume_coverage,
    ),
)


ENTERPRISE: tuple[Figure, ...] = (
    Figure(
        "volume_m3",
        "排水量",
        "discharge volume",
        "m³",
        lambda e: e.totals.volume_m3,
        lambda e: e.totals.volume_coverage,
    ),
    Figure(
        "load_kg",
        "纳管负荷",
        "load into sewer",
        "kg",
        lambda e: e.totals.load_kg,
        lambda e: e.totals.load_coverage,
    ),
    Figure(
        "conc_mg_l",
        "COD浓度",
        "COD (flow-weighted)",
        "mg/L",
        lambda e: e.totals.conc_mg_l,
        lambda e: e.totals.load_coverage,
    ),
)

MONTH: tuple[Figure, ...] = tuple(
    f
    for f in REGION
    if f.key
    in (
        "produced_kg",
        "collected_kg",
        "reduced_kg",
        "collection_rate",
        "collection_reduction_rate",
        "inlet_conc_mg_l",
    )
)

RATES = {
    "collection_rate",
    "collection_reduction_rate",
    "removal_efficiency",
    "capacity_utilisation",
}

__all__ = [
    "ACTIONS",
    "ENTERPRISE",
    "MONTH",
    "NO_ACTION",
    "PLANT",
    "RATES",
    "REGION",
    "ActionText",
    "EnterprisePoint",
    "PlantAccount",
    "action_text",
    "action_words",
]
