"""Region accounts: COD produced, collected and reduced, the policy's rates, targets and actions.

A region's own figures come from its own plants, enterprise discharge points and per-year
population coefficients; a parent region (county → city) adds its children's totals to its own.
Only additive totals are summed; every rate is recomputed from the sums, never averaged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum

from wqmon.balance.accounts import LOW_INLET_COD_MG_L, PlantAccount, PointTotals, total
from wqmon.errors import ConfigError


class Action(StrEnum):
    """The policy's kinds of action for a region."""

    FIX_NETWORK = "fix_network"  # capacity matches production: the sewage does not arrive
    BUILD_CAPACITY = "build_capacity"  # capacity short of what the target needs
    UPGRADE_TREATMENT = "upgrade_treatment"  # plants remove too little of what they collect
    INSUFFICIENT_DATA = "insufficient_data"  # coverage too low to judge


@dataclass(frozen=True, slots=True)
class Coefficients:
    """A region's per-year configuration (registry `regions[].years`), for its own area only.

    Attributes:
        urban_population: Urban (served) resident population, persons.
        cod_g_per_person_day: Domestic generation coefficient, g/(person·day).
        other_cod_kg_per_day: Livestock and other sources connected to sewers, kg/day.
    """

    urban_population: int
    cod_g_per_person_day: float = 70.0
    other_cod_kg_per_day: float = 0.0


@dataclass(frozen=True, slots=True)
class RegionSettings:
    """Targets and thresholds of the action categories.

    Attributes:
        targets: (year, collection rate) pairs reported as distances.
        action_target_rate: The collection rate actions are judged against.
        min_removal_efficiency: Below it (reduced / collected) treatment needs upgrading.
        reference_conc_mg_l: Lowest inlet concentration used to turn a load into a volume of
            wastewater to treat: diluted influent is a network problem, not a capacity need.
        min_coverage: Below this inlet load coverage no action is inferred.
    """

    targets: tuple[tuple[int, float], ...] = ((2025, 0.80), (2030, 0.95))
    action_target_rate: float = 0.80
    min_removal_efficiency: float = 0.80
    reference_conc_mg_l: float = LOW_INLET_COD_MG_L
    min_coverage: float = 0.5


DEFAULT_REGION_SETTINGS = RegionSettings()


@dataclass(frozen=True, slots=True)
class RegionTotals:
    """Additive figures of a region over a period; children add into parents.

    Attributes:
        domestic_kg: Population × coefficient × days / 1000.
        other_kg: Configured other sources × days.
        industrial: Enterprise discharge points into sewers.
        inlet: Plant inlets (the load collected).
        outlet: Plant outlets.
        capacity_m3_per_day: Σ plant design capacity (unknown counts as 0).
    """

    domestic_kg: float = 0.0
    other_kg: float = 0.0
    industrial: PointTotals = field(default_factory=PointTotals)
    inlet: PointTotals = field(default_factory=PointTotals)
    outlet: PointTotals = field(default_factory=PointTotals)
    capacity_m3_per_day: float = 0.0

    def __add__(self, other: RegionTotals) -> RegionTotals:
        """Sum of two regions' totals over the same period."""
        return RegionTotals(
            self.domestic_kg + other.domestic_kg,
            self.other_kg + other.other_kg,
            self.industrial + other.industrial,
            self.inlet + other.inlet,
            self.outlet + other.outlet,
            self.capacity_m3_per_day + other.capacity_m3_per_day,
        )

    @property
    def produced_kg(self) -> float:
        """Domestic + industrial + other."""
        return self.domestic_kg + self.industrial.load_kg + self.other_kg


def region_totals(
    code: str,
    *,
    start: date,
    end: date,
    coefficients: Mapping[int, Coefficients],
    plants: Sequence[PlantAccount] = (),
    enterprises: Sequence[PointTotals] = (),
) -> RegionTotals:
    """A region's own totals over the local days [start, end), without its children.

    Args:
        code: Region code (for error messages).
        start: First day.
        end: Day after the last.
        coefficients: Per-year coefficients of the region's own area; empty when all of its
            population lies in child regions. Otherwise every year of the period must be there.
        plants: Accounts of the region's plants over the same period.
        enterprises: Totals of its enterprises' discharge points into sewers, same period.
    """
    domestic = other = 0.0
    for year, days in _days_per_year(start, end).items():
        if not coefficients:
            break
        if year not in coefficients:
            raise ConfigError(f"region {code}: no population coefficients for {year}")
        c = coefficients[year]
        domestic += c.urban_population * c.cod_g_per_person_day * days / 1000.0
        other += c.other_cod_kg_per_day * days
    return RegionTotals(
        domestic_kg=domestic,
        other_kg=other,
        industrial=total(enterprises),
        inlet=total(p.inlet for p in plants),
        outlet=total(p.outlet for p in plants),
        capacity_m3_per_day=sum(p.capacity_m3_per_day or 0.0 for p in plants),
    )


def _days_per_year(start: date, end: date) -> dict[int, int]:
    counts: dict[int, int] = {}
    day = start
    while day < end:
        year_end = min(date(day.year + 1, 1, 1), end)
        counts[day.year] = (year_end - day).days
        day = year_end
    return counts


@dataclass(frozen=True, slots=True)
class TargetDistance:
    """How far the collection rate is from a target.

    Attributes:
        year: The target's year.
        rate: The target collection rate.
        shortfall_rate: Target − actual rate (≤ 0 when met); None without production.
        shortfall_kg: Target × produced − collected, floored at 0.
    """

    year: int
    rate: float
    shortfall_rate: float | None
    shortfall_kg: float


@dataclass(frozen=True, slots=True)
class RegionAccount:
    """A region's balance over [start, end); every figure next to its coverage.

    Attributes:
        code: Region code.
        start: First day.
        end: Day after the last.
        days: Number of days.
        totals: The additive figures (own + children), what a parent sums.
        produced_kg: Domestic + industrial + other.
        industrial_coverage: Load coverage of the enterprise points.
        collected_kg: Σ plant inlet loads.
        collected_coverage: Load coverage of the inlets.
        reduced_kg: Σ (inlet − outlet).
        reduced_coverage: The smaller of inlet and outlet load coverage.
        collection_rate: Collected / produced; None without production.
        collection_reduction_rate: Reduced / produced.
        removal_efficiency: Reduced / collected.
        inlet_conc_mg_l: Flow-weighted inlet concentration of all plants.
        capacity_utilisation: Inlet volume / (capacity × days).
        required_capacity_m3_per_day: Wastewater to treat at the action target (see docs).
        capacity_gap_m3_per_day: Required − installed capacity; positive means short.
        targets: Distance to each target.
        actions: The policy's actions that apply, in priority order; empty when none.
        children: Accounts of the child regions.
    """

    code: str
    start: date
    end: date
    days: int
    totals: RegionTotals
    produced_kg: float
    industrial_coverage: float
    collected_kg: float
    collected_coverage: float
    reduced_kg: float
    reduced_coverage: float
    collection_rate: float | None
    collection_reduction_rate: float | None
    removal_efficiency: float | None
    inlet_conc_mg_l: float | None
    capacity_utilisation: float | None
    required_capacity_m3_per_day: float | None
    capacity_gap_m3_per_day: float | None
    targets: tuple[TargetDistance, ...]
    actions: tuple[Action, ...]
    children: tuple[RegionAccount, ...] = ()


def region_account(
    code: str,
    own: RegionTotals,
    *,
    start: date,
    end: date,
    children: Sequence[RegionAccount] = (),
    settings: RegionSettings = DEFAULT_REGION_SETTINGS,
) -> RegionAccount:
    """A region's account: its own totals plus its children's, with rates and actions.

    Args:
        code: Region code.
        own: The region's own totals (`region_totals`).
        start: First day.
        end: Day after the last.
        children: Accounts of the child regions over the same period.
        settings: Targets and action thresholds.
    """
    for child in children:
        if (child.start, child.end) != (start, end):
            raise ValueError(f"child region {child.code} covers another period than {code}")
    totals = own
    for child in children:
        totals += child.totals
    days = (end - start).days
    produced = totals.produced_kg
    collected, outlet = totals.inlet.load_kg, totals.outlet.load_kg
    reduced = collected - outlet
    required = _required_capacity(totals, days, settings)
    gap = None if required is None else required - totals.capacity_m3_per_day
    account = RegionAccount(
        code=code,
        start=start,
        end=end,
        days=days,
        totals=totals,
        produced_kg=produced,
        industrial_coverage=totals.industrial.load_coverage,
        collected_kg=collected,
        collected_coverage=totals.inlet.load_coverage,
        reduced_kg=reduced,
        reduced_coverage=min(totals.inlet.load_coverage, totals.outlet.load_coverage),
        collection_rate=_ratio(collected, produced),
        collection_reduction_rate=_ratio(reduced, produced),
        removal_efficiency=_ratio(reduced, collected),
        inlet_conc_mg_l=totals.inlet.conc_mg_l,
        capacity_utilisation=_ratio(totals.inlet.volume_m3, totals.capacity_m3_per_day * days),
        required_capacity_m3_per_day=required,
        capacity_gap_m3_per_day=gap,
        targets=tuple(_distance(y, r, collected, produced) for y, r in settings.targets),
        actions=(),
        children=tuple(children),
    )
    return replace(account, actions=actions_for(account, settings))


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def _required_capacity(totals: RegionTotals, days: int, settings: RegionSettings) -> float | None:
    """Daily wastewater volume that carries the target share of the produced load (m³/d).

    The volume is not measured for produced sewage, so it is the target load divided by the
    region's flow-weighted inlet concentration, floored at the reference concentration.
    """
    if days <= 0 or totals.produced_kg <= 0:
        return None
    conc = max(totals.inlet.conc_mg_l or 0.0, settings.reference_conc_mg_l)
    target_load_g = settings.action_target_rate * totals.produced_kg * 1000.0
    return target_load_g / conc / days  # g ÷ (g/m³) = m³


def _distance(year: int, rate: float, collected: float, produced: float) -> TargetDistance:
    actual = _ratio(collected, produced)
    return TargetDistance(
        year=year,
        rate=rate,
        shortfall_rate=None if actual is None else rate - actual,
        shortfall_kg=max(0.0, rate * produced - collected),
    )


def actions_for(
    account: RegionAccount, settings: RegionSettings = DEFAULT_REGION_SETTINGS
) -> tuple[Action, ...]:
    """The policy's actions for a region account (see docs/balance.md, "Action categories").

    Collection below the target: capacity short of the required capacity → build capacity,
    otherwise → fix the sewer network. Removal efficiency below the threshold → upgrade
    treatment. Nothing is inferred from an inlet load coverage below `min_coverage`.
    """
    if account.collection_rate is None:
        return ()
    # A region without plants has nothing to cover: its zero collection is a real figure.
    if (
        account.collected_coverage < settings.min_coverage
        and account.totals.capacity_m3_per_day > 0
    ):
        return (Action.INSUFFICIENT_DATA,)
    actions = []
    if account.collection_rate < settings.action_target_rate:
        short = account.capacity_gap_m3_per_day is not None and account.capacity_gap_m3_per_day > 0
        actions.append(Action.BUILD_CAPACITY if short else Action.FIX_NETWORK)
    efficiency = account.removal_efficiency
    if efficiency is not None and efficiency < settings.min_removal_efficiency:
        actions.append(Action.UPGRADE_TREATMENT)
    return tuple(actions)
