"""Response models of the balance routes: the JSON of `wqmon.balance.queries`, typed.

The balance engine returns plain dicts (shared with the reports); these models validate them on
the way out and give the OpenAPI spec their full shape. Field meanings: docs/balance.md.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field


class TotalsOut(BaseModel):
    """Additive sums of one side (inlet, outlet, enterprise points) over a period."""

    volume_m3: float
    load_kg: float
    load_volume_m3: float
    flow_hours: float
    load_hours: float
    expected_hours: float
    conc_mg_l: float | None = Field(description="flow-weighted concentration")
    volume_coverage: float
    load_coverage: float


class PlantAccountOut(BaseModel):
    """A plant's COD account over one period (day, month or year)."""

    site: str
    start: date
    end: date
    days: int
    inlet: TotalsOut
    outlet: TotalsOut
    reduced_kg: float
    reduced_coverage: float
    removal_efficiency: float | None
    capacity_m3_per_day: float | None
    capacity_utilisation: float | None
    low_conc_days: int = Field(description="days with flow-weighted inlet COD below 260 mg/L")
    evaluated_days: int


class HourSumOut(BaseModel):
    """One side and parameter of a plant-hour."""

    volume_m3: float
    load_kg: float
    coverage: float
    flag: str


class PlantHourOut(BaseModel):
    """A plant's inlet and outlet flow and COD sums of one UTC hour with data."""

    hour: datetime
    inlet_flow: HourSumOut | None = None
    inlet_cod: HourSumOut | None = None
    outlet_flow: HourSumOut | None = None
    outlet_cod: HourSumOut | None = None


class PlantBalanceOut(BaseModel):
    """`GET /balance/plants/{site}`: one entry per period (hour rows for `hour`)."""

    site: str
    name: str
    region: str
    granularity: Literal["hour", "day", "month", "year"]
    start: date
    end: date
    periods: list[PlantAccountOut] | list[PlantHourOut]


class RegionTotalsOut(BaseModel):
    """A region's additive figures (own sites plus children)."""

    domestic_kg: float
    other_kg: float
    industrial: TotalsOut
    inlet: TotalsOut
    outlet: TotalsOut
    capacity_m3_per_day: float


class TargetOut(BaseModel):
    """Distance of the collection rate to a policy target (80 % by 2025, 95 % by 2030)."""

    year: int
    rate: float
    shortfall_rate: float | None
    shortfall_kg: float


class RegionAccountOut(BaseModel):
    """A region's balance over a period, children nested."""

    code: str
    start: date
    end: date
    days: int
    totals: RegionTotalsOut
    produced_kg: float
    industrial_coverage: float
    collected_kg: float
    collected_coverage: float
    reduced_kg: float
    reduced_coverage: float
    collection_rate: float | None = Field(description="collected / produced (集中收集率)")
    collection_reduction_rate: float | None = Field(
        description="reduced / produced (集中收集削减率)"
    )
    removal_efficiency: float | None
    inlet_conc_mg_l: float | None
    capacity_utilisation: float | None
    required_capacity_m3_per_day: float | None
    capacity_gap_m3_per_day: float | None
    targets: list[TargetOut]
    actions: list[
        Literal["fix_network", "build_capacity", "upgrade_treatment", "insufficient_data"]
    ]
    children: list[RegionAccountOut] = []


class EnterpriseOut(BaseModel):
    """An enterprise discharge point into the sewer and its totals."""

    site: str
    name: str
    region: str
    point: str
    totals: TotalsOut


class RegionPeriodOut(BaseModel):
    """A region's account over one period, with the plants and enterprises under it."""

    start: date
    end: date
    final: bool = Field(description="false for the elapsed part of a period not yet ended")
    account: RegionAccountOut
    plants: list[PlantAccountOut]
    enterprises: list[EnterpriseOut]


class RegionBalanceOut(BaseModel):
    """`GET /balance/regions/{region}`."""

    region: str
    name: str
    kind: str
    start: date
    end: date = Field(description="end of the figures: requested_end, or as_of when cut")
    requested_end: date
    status: Literal["final", "to_date"] = Field(
        description="to_date: the span has not ended; figures cover [start, as_of) only"
    )
    as_of: date = Field(description="the region's current local day when answered")
    periods: list[RegionPeriodOut]
