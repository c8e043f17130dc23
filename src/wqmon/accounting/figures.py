"""An account's figures as frozen data: what a submission keeps and what the live view shows.

A snapshot is plain JSON (it is stored in `account_version.snapshot`): the figures with their
coverage, the additive totals a city report sums, the department inputs with provenance, the
figures that decided the region's action category, its plants and enterprises, and the data
audit behind the coverage. The same builder makes the live view, so the two compare key by key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wqmon.accounting.inputs import Sources
from wqmon.balance.accounts import LOW_INLET_COD_MG_L, PlantAccount, PointTotals
from wqmon.balance.queries import RegionPeriod, jsonable
from wqmon.balance.regions import RegionAccount, RegionSettings, RegionTotals
from wqmon.balance.registry_view import Registry
from wqmon.balance.report.figures import PLANT, RATES, REGION

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Label:
    zh: str
    en: str
    unit: str


_SOURCE_LABELS = {
    "self_supplied_kg": Label("自备水源", "self-supplied water", "kg"),
    "livestock_kg": Label("畜禽养殖废水纳管", "livestock wastewater into sewers", "kg"),
    "other_kg": Label("其他", "other", "kg"),
}
# Every figure of an account, in report order; "other_kg" is split by source department.
LABELS: dict[str, Label] = {}
for _f in REGION:
    if _f.key == "other_kg":
        LABELS.update(_SOURCE_LABELS)
    else:
        LABELS[_f.key] = Label(_f.zh, _f.en, _f.unit)


def figure_labels() -> Json:
    """Labels of every figure for the page: Chinese, English, unit, and whether it is a rate."""
    return {
        k: {"zh": v.zh, "en": v.en, "unit": v.unit, "rate": k in RATES} for k, v in LABELS.items()
    }


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def account_figures(account: RegionAccount, sources: Sources) -> Json:
    """{key: {"value", "coverage"}} of a region account, department sources split out."""
    out: Json = {}
    for f in REGION:
        if f.key == "other_kg":
            out["self_supplied_kg"] = {"value": sources.self_supplied_kg, "coverage": None}
            out["livestock_kg"] = {"value": sources.livestock_kg, "coverage": None}
            out["other_kg"] = {"value": sources.other_kg, "coverage": None}
            continue
        coverage = f.coverage(account) if f.coverage else None
        out[f.key] = {"value": _finite(f.value(account)), "coverage": coverage}
    return out


def decision(account: RegionAccount, settings: RegionSettings) -> Json:
    """The action categories and the figures (with thresholds) that decided them."""
    return {
        "actions": [a.value for a in account.actions],
        "collection_rate": account.collection_rate,
        "action_target_rate": settings.action_target_rate,
        "required_capacity_m3_per_day": account.required_capacity_m3_per_day,
        "capacity_m3_per_day": account.totals.capacity_m3_per_day,
        "capacity_gap_m3_per_day": account.capacity_gap_m3_per_day,
        "removal_efficiency": account.removal_efficiency,
        "min_removal_efficiency": settings.min_removal_efficiency,
        "inlet_conc_mg_l": account.inlet_conc_mg_l,
        "reference_conc_mg_l": settings.reference_conc_mg_l,
        "collected_coverage": account.collected_coverage,
        "min_coverage": settings.min_coverage,
    }


def _plant(p: PlantAccount, registry: Registry) -> Json:
    site = registry.sites.get(p.site)
    row: Json = {
        "site": p.site,
        "name": site.name if site else p.site,
        "region": site.region if site else None,
    }
    for f in PLANT:
        row[f.key] = {
            "value": _finite(f.value(p)),
            "coverage": f.coverage(p) if f.coverage else None,
        }
    conc = p.inlet.conc_mg_l
    row["below_260"] = conc is not None and conc < LOW_INLET_COD_MG_L
    return row


def build_snapshot(
    period: RegionPeriod,
    registry: Registry,
    *,
    year: int,
    sources: Sources,
    inputs: Sequence[Mapping[str, Any]],
    quality: Json,
    settings: RegionSettings,
) -> Json:
    """The whole account of a region-year as JSON-ready data."""
    account = period.account
    ref = registry.region(account.code)
    return {
        "region": account.code,
        "name": ref.name,
        "kind": ref.kind,
        "year": year,
        "start": account.start.isoformat(),
        "end": account.end.isoformat(),
        "figures": account_figures(account, sources),
        "totals": jsonable(account.totals),
        "sources": {
            "domestic_kg": account.totals.domestic_kg,
            "industrial_kg": account.totals.industrial.load_kg,
            "self_supplied_kg": sources.self_supplied_kg,
            "livestock_kg": sources.livestock_kg,
            "other_kg": sources.other_kg,
        },
        "inputs": [dict(i) for i in inputs],
        "decision": decision(account, settings),
        "targets": jsonable(account.targets),
        "children": [c.code for c in account.children],
        "plants": [_plant(p, registry) for p in period.plants],
        "enterprises": [
            {
                "site": e.site,
                "name": e.name,
                "region": e.region,
                "point": e.point,
                "load_kg": e.totals.load_kg,
                "coverage": e.totals.load_coverage,
            }
            for e in period.enterprises
        ],
        "quality": quality,
    }


def _point_totals(data: Mapping[str, Any]) -> PointTotals:
    return PointTotals(
        float(data["volume_m3"]),
        float(data["load_kg"]),
        float(data["load_volume_m3"]),
        float(data["flow_hours"]),
        float(data["load_hours"]),
        float(data["expected_hours"]),
    )


def totals_of(snapshot: Mapping[str, Any]) -> RegionTotals:
    """The additive totals a snapshot froze (what a parent adds up)."""
    t = snapshot["totals"]
    return RegionTotals(
        domestic_kg=float(t["domestic_kg"]),
        other_kg=float(t["other_kg"]),
        industrial=_point_totals(t["industrial"]),
        inlet=_point_totals(t["inlet"]),
        outlet=_point_totals(t["outlet"]),
        capacity_m3_per_day=float(t["capacity_m3_per_day"]),
    )


def sources_of(snapshot: Mapping[str, Any]) -> Sources:
    s = snapshot["sources"]
    return Sources(float(s["self_supplied_kg"]), float(s["livestock_kg"]), float(s["other_kg"]))


def differences(frozen: Mapping[str, Any], live: Mapping[str, Any]) -> Json:
    """Per numeric figure: the frozen value, the live one, live − frozen and whether it moved."""
    out: Json = {}
    for key, was in frozen.items():
        now = live.get(key, {})
        a, b = was.get("value"), now.get("value")
        if not isinstance(a, int | float) and not isinstance(b, int | float):
            if a != b:  # a text figure (the actions) that changed
                out[key] = {"frozen": a, "live": b, "difference": None, "changed": True}
            continue
        diff = b - a if isinstance(a, int | float) and isinstance(b, int | float) else None
        moved = diff is None or abs(diff) > 1e-9 * max(1.0, abs(a or 0.0))
        out[key] = {"frozen": a, "live": b, "difference": diff, "changed": moved}
    return out
