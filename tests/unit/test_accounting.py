"""Pure parts of the accounting cycle: department inputs, differences, targets, deadlines."""

from __future__ import annotations

from datetime import date

import pytest

from wqmon.accounting.actor import Actor
from wqmon.accounting.config import AccountingConfig, parse_month_day
from wqmon.accounting.errors import ForbiddenError
from wqmon.accounting.figures import differences
from wqmon.accounting.inputs import InputKind, check_value, merged_coefficients, sources_from
from wqmon.accounting.publication import target_in_force
from wqmon.accounting.quality import new_records
from wqmon.balance.regions import Coefficients


def test_inputs_replace_the_registry_figures_of_their_year() -> None:
    registry = Coefficients(urban_population=1000, cod_g_per_person_day=65, other_cod_kg_per_day=3)
    values = {"urban_population": 1200.0, "livestock_cod_kg": 365.0}
    merged = merged_coefficients(values, registry, 365)
    # Population from the input, the coefficient from the registry; the department loads
    # replace the registry's lump "other" entirely: 365 kg/a = 1 kg/d.
    assert merged == Coefficients(1200, 65, pytest.approx(1.0))
    assert merged_coefficients({}, None, 365) is None
    assert merged_coefficients({"urban_population": 10.0}, None, 365) == Coefficients(10, 70.0, 0.0)


def test_sources_split_by_department() -> None:
    values = {
        "self_supplied_water_m3": 2000.0,
        "self_supplied_cod_mg_l": 200.0,
        "livestock_cod_kg": 500.0,
        "other_cod_kg": 7.0,
    }
    s = sources_from(values, None, 365)
    assert (s.self_supplied_kg, s.livestock_kg, s.other_kg) == (400.0, 500.0, 7.0)
    lump = sources_from({}, Coefficients(1, 70, 2.0), 365)
    assert (lump.self_supplied_kg, lump.other_kg) == (0.0, 730.0)


def test_input_ranges() -> None:
    check_value(InputKind.URBAN_POPULATION, 350)
    with pytest.raises(ValueError, match="whole number"):
        check_value(InputKind.URBAN_POPULATION, 350.5)
    with pytest.raises(ValueError, match="outside"):
        check_value(InputKind.COD_G_PER_PERSON_DAY, 0)


def test_differences_show_every_moved_figure() -> None:
    frozen = {
        "collected_kg": {"value": 100.0},
        "domestic_kg": {"value": 5.0},
        "actions": {"value": "fix_network"},
        "inlet_conc_mg_l": {"value": None},
    }
    live = {
        "collected_kg": {"value": 125.0},
        "domestic_kg": {"value": 5.0},
        "actions": {"value": "fix_network upgrade_treatment"},
        "inlet_conc_mg_l": {"value": 270.0},
    }
    d = differences(frozen, live)
    assert d["collected_kg"] == {
        "frozen": 100.0,
        "live": 125.0,
        "difference": 25.0,
        "changed": True,
    }
    assert not d["domestic_kg"]["changed"]
    assert d["actions"]["changed"]
    assert d["inlet_conc_mg_l"] == {
        "frozen": None,
        "live": 270.0,
        "difference": None,
        "changed": True,
    }


def test_audit_records_added_or_revoked_after_freezing() -> None:
    frozen = {"marks": [{"id": 1}, {"id": 2}], "corrections": []}
    live = {"marks": [{"id": 2}, {"id": 3}], "corrections": [{"id": 9}]}
    changes = new_records(frozen, live)
    assert [m["id"] for m in changes["added_marks"]] == [3]
    assert [m["id"] for m in changes["revoked_marks"]] == [1]
    assert [m["id"] for m in changes["added_corrections"]] == [9]


@pytest.mark.parametrize(
    ("year", "rate"), [(2023, 0.80), (2025, 0.80), (2029, 0.80), (2030, 0.95), (2031, 0.95)]
)
def test_target_in_force(year: int, rate: float) -> None:
    assert target_in_force(year) == rate


def test_deadline_setting() -> None:
    assert AccountingConfig().default_deadline(2025) == date(2026, 4, 30)
    assert parse_month_day("05-31") == (5, 31)
    with pytest.raises(ValueError, match="MM-DD"):
        parse_month_day("04-31")


def test_actor_scope() -> None:
    county = Actor("hz", "county", frozenset({"HZ"}))
    county.require("county", "HZ")
    with pytest.raises(ForbiddenError, match="does not act for region 'GY'"):
        county.require("county", "GY")
    with pytest.raises(ForbiddenError, match="only a city key"):
        county.require("city", "HZ")
    assert Actor("op", "operator", None).may_read("anything")
