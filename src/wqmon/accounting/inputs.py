"""Inputs that other departments supply to a region-year account, and what they make of it.

Population and the per-capita coefficient give the domestic term; self-supplied water (water
resources bureau), livestock wastewater into sewers (agriculture) and other sources are annual
loads. Each value is entered with its source department, document reference and date, and
replaces the registry's hand-edited `regions[].years` figures for that region and year.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from wqmon.balance.regions import Coefficients


class InputKind(StrEnum):
    """What a department input is."""

    URBAN_POPULATION = "urban_population"
    COD_G_PER_PERSON_DAY = "cod_g_per_person_day"
    SELF_SUPPLIED_WATER_M3 = "self_supplied_water_m3"
    SELF_SUPPLIED_COD_MG_L = "self_supplied_cod_mg_l"
    LIVESTOCK_COD_KG = "livestock_cod_kg"
    OTHER_COD_KG = "other_cod_kg"


@dataclass(frozen=True, slots=True)
class InputSpec:
    """Unit, labels, the department that usually supplies it and the allowed range."""

    unit: str
    zh: str
    en: str
    department: str
    low: float
    high: float


INPUTS: dict[InputKind, InputSpec] = {
    InputKind.URBAN_POPULATION: InputSpec(
        "persons", "城镇常住人口", "urban population", "统计局 / 住建局", 0, 1e8
    ),
    InputKind.COD_G_PER_PERSON_DAY: InputSpec(
        "g/(person·d)", "人均COD产生系数", "COD per person and day", "生态环境局", 1, 500
    ),
    InputKind.SELF_SUPPLIED_WATER_M3: InputSpec(
        "m³/a", "自备水源排入管网水量", "self-supplied water into sewers", "水利局", 0, 1e10
    ),
    InputKind.SELF_SUPPLIED_COD_MG_L: InputSpec(
        "mg/L", "自备水源污水COD浓度", "COD of self-supplied wastewater", "水利局", 0, 10000
    ),
    InputKind.LIVESTOCK_COD_KG: InputSpec(
        "kg/a", "畜禽养殖废水纳管COD", "livestock wastewater into sewers", "农业农村局", 0, 1e10
    ),
    InputKind.OTHER_COD_KG: InputSpec("kg/a", "其他来源COD", "other sources", "—", 0, 1e10),
}

# The kinds a submission needs: without them the domestic term, the largest, is unsourced.
REQUIRED: tuple[InputKind, ...] = (InputKind.URBAN_POPULATION, InputKind.COD_G_PER_PERSON_DAY)
_ANNUAL_LOADS = (
    InputKind.SELF_SUPPLIED_WATER_M3,
    InputKind.SELF_SUPPLIED_COD_MG_L,
    InputKind.LIVESTOCK_COD_KG,
    InputKind.OTHER_COD_KG,
)


def check_value(kind: InputKind, value: float) -> None:
    """Raise ValueError when the value is outside the kind's range (or not whole persons)."""
    spec = INPUTS[kind]
    if not spec.low <= value <= spec.high:
        raise ValueError(f"{kind}: {value} is outside {spec.low:g}…{spec.high:g} {spec.unit}")
    if kind is InputKind.URBAN_POPULATION and value != int(value):
        raise ValueError("urban_population: a whole number of persons")


@dataclass(frozen=True, slots=True)
class Sources:
    """The annual loads from department inputs (kg), beside the domestic and industrial terms.

    Attributes:
        self_supplied_kg: Self-supplied water into sewers × its COD / 1000.
        livestock_kg: Livestock wastewater into sewers.
        other_kg: Other sources (or the registry's lump `other_cod_kg_per_day` × days).
    """

    self_supplied_kg: float = 0.0
    livestock_kg: float = 0.0
    other_kg: float = 0.0

    def __add__(self, other: Sources) -> Sources:
        return Sources(
            self.self_supplied_kg + other.self_supplied_kg,
            self.livestock_kg + other.livestock_kg,
            self.other_kg + other.other_kg,
        )

    @property
    def total_kg(self) -> float:
        return self.self_supplied_kg + self.livestock_kg + self.other_kg


def has_annual_loads(values: Mapping[str, float]) -> bool:
    return any(k.value in values for k in _ANNUAL_LOADS)


def sources_from(values: Mapping[str, float], registry: Coefficients | None, days: int) -> Sources:
    """The department loads of one region-year; the registry's lump when none was entered."""
    if not has_annual_loads(values):
        return Sources(other_kg=(registry.other_cod_kg_per_day * days) if registry else 0.0)
    m3 = values.get(InputKind.SELF_SUPPLIED_WATER_M3, 0.0)
    mg_l = values.get(InputKind.SELF_SUPPLIED_COD_MG_L, 0.0)
    return Sources(
        self_supplied_kg=m3 * mg_l / 1000.0,  # m³ × g/m³ = g
        livestock_kg=values.get(InputKind.LIVESTOCK_COD_KG, 0.0),
        other_kg=values.get(InputKind.OTHER_COD_KG, 0.0),
    )


def merged_coefficients(
    values: Mapping[str, float], registry: Coefficients | None, days: int
) -> Coefficients | None:
    """A region-year's coefficients: department inputs first, the registry's for the rest.

    None when neither gives a population (the region's population lies in its children).
    """
    population = values.get(InputKind.URBAN_POPULATION)
    if population is None and registry is None:
        return None
    base = registry or Coefficients(urban_population=0)
    other_per_day = sources_from(values, registry, days).total_kg / days
    return Coefficients(
        urban_population=int(population if population is not None else base.urban_population),
        cod_g_per_person_day=values.get(InputKind.COD_G_PER_PERSON_DAY, base.cod_g_per_person_day),
        other_cod_kg_per_day=other_per_day,
    )
