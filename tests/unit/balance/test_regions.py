"""Region accounts: produced, rates, nesting, targets and action categories."""

from __future__ import annotations

from datetime import date

import pytest

from wqmon.balance.accounts import PlantAccount, PointTotals
from wqmon.balance.regions import (
    Action,
    Coefficients,
    RegionSettings,
    region_account,
    region_totals,
)
from wqmon.errors import ConfigError

Y0, Y1 = date(2025, 1, 1), date(2026, 1, 1)


def plant(inlet_kg: float, outlet_kg: float, *, volume: float, capacity: float, cover=1.0):
    hours = 365 * 24
    inlet = PointTotals(volume, inlet_kg, volume, hours * cover, hours * cover, hours)
    outlet = PointTotals(volume, outlet_kg, volume, hours, hours, hours)
    return PlantAccount(
        site="P",
        start=Y0,
        end=Y1,
        days=365,
        inlet=inlet,
        outlet=outlet,
        reduced_kg=inlet_kg - outlet_kg,
        reduced_coverage=cover,
        removal_efficiency=None,
        capacity_m3_per_day=capacity,
        capacity_utilisation=None,
        low_conc_days=0,
        evaluated_days=365,
    )


def county(code: str, population: int, plants, enterprises=(), **settings):
    own = region_totals(
        code,
        start=Y0,
        end=Y1,
        coefficients={2025: Coefficients(population)},
        plants=plants,
        enterprises=enterprises,
    )
    return region_account(code, own, start=Y0, end=Y1, settings=RegionSettings(**settings))


# 100 000 people × 70 g × 365 d = 2 555 000 kg produced a year.
PRODUCED = 2_555_000.0


def test_produced_collected_reduced_and_rates():
    enterprise = PointTotals(1e5, 445_000, 1e5, 8760, 8760, 8760)
    account = county(
        "A", 100_000, [plant(2_400_000, 300_000, volume=7e6, capacity=30_000)], [enterprise]
    )
    assert account.produced_kg == pytest.approx(PRODUCED + 445_000)
    assert account.collection_rate == pytest.approx(0.8)
    assert account.collection_reduction_rate == pytest.approx(0.7)
    assert account.removal_efficiency == pytest.approx(0.875)
    assert account.targets[0].shortfall_kg == 0.0
    assert account.targets[0].shortfall_rate == pytest.approx(0.0)
    assert account.targets[1].shortfall_kg == pytest.approx(0.15 * 3_000_000)
    assert account.capacity_utilisation == pytest.approx(7e6 / (30_000 * 365))
    assert account.actions == ()


def test_capacity_short_means_build():
    # Inlet at 400 mg/L: 80 % of 2 555 000 kg needs 5.11 M m³ a year = 14 000 m³/d > 10 000.
    account = county("A", 100_000, [plant(1_000_000, 100_000, volume=2.5e6, capacity=10_000)])
    assert account.inlet_conc_mg_l == pytest.approx(400)
    assert account.required_capacity_m3_per_day == pytest.approx(14_000)
    assert account.capacity_gap_m3_per_day == pytest.approx(4_000)
    assert account.actions == (Action.BUILD_CAPACITY,)


def test_capacity_matching_production_means_fix_network():
    account = county("A", 100_000, [plant(1_000_000, 100_000, volume=2.5e6, capacity=20_000)])
    assert account.capacity_gap_m3_per_day == pytest.approx(-6_000)
    assert account.actions == (Action.FIX_NETWORK,)


def test_diluted_inlet_does_not_inflate_required_capacity():
    # 100 mg/L inlet: the required volume is computed at the 260 mg/L floor, not at 100.
    account = county("A", 100_000, [plant(1_000_000, 100_000, volume=1e7, capacity=30_000)])
    assert account.required_capacity_m3_per_day == pytest.approx(0.8 * PRODUCED * 1000 / 260 / 365)
    assert account.actions == (Action.FIX_NETWORK,)


def test_low_removal_means_upgrade_treatment():
    account = county("A", 100_000, [plant(2_200_000, 800_000, volume=5e6, capacity=20_000)])
    assert account.collection_rate == pytest.approx(2_200_000 / PRODUCED)
    assert account.actions == (Action.UPGRADE_TREATMENT,)


def test_low_coverage_means_no_conclusion():
    account = county("A", 100_000, [plant(1_000_000, 100_000, volume=2.5e6, capacity=1, cover=0.3)])
    assert account.collected_coverage == pytest.approx(0.3)
    assert account.actions == (Action.INSUFFICIENT_DATA,)


def test_no_plants_means_build():
    account = county("A", 100_000, [])
    assert account.collection_rate == 0.0
    assert account.capacity_utilisation is None
    assert account.actions == (Action.BUILD_CAPACITY,)


def test_no_production_means_no_rates():
    own = region_totals("P", start=Y0, end=Y1, coefficients={})
    account = region_account("P", own, start=Y0, end=Y1)
    assert (account.collection_rate, account.required_capacity_m3_per_day) == (None, None)
    assert account.actions == ()
    assert account.targets[0].shortfall_rate is None


def test_city_recomputes_rates_from_summed_loads():
    small = county("A", 10_000, [plant(255_500, 25_000, volume=1e6, capacity=5_000)])  # 100 %
    large = county("B", 100_000, [plant(1_277_500, 100_000, volume=4e6, capacity=20_000)])  # 50 %
    own = region_totals("CITY", start=Y0, end=Y1, coefficients={})
    city = region_account("CITY", own, start=Y0, end=Y1, children=[small, large])
    assert city.produced_kg == pytest.approx(small.produced_kg + large.produced_kg)
    assert city.collected_kg == pytest.approx(255_500 + 1_277_500)
    assert city.collection_rate == pytest.approx(1_533_000 / (1.1 * PRODUCED))
    # Not the mean of the children's rates (0.75):
    assert city.collection_rate != pytest.approx(0.75, abs=0.01)
    assert city.totals.capacity_m3_per_day == 25_000
    assert [c.code for c in city.children] == ["A", "B"]


def test_parent_own_population_adds_to_children():
    child = county("A", 10_000, [])
    own = region_totals(
        "CITY", start=Y0, end=Y1, coefficients={2025: Coefficients(5_000, 60.0, 2.0)}
    )
    city = region_account("CITY", own, start=Y0, end=Y1, children=[child])
    assert city.totals.domestic_kg == pytest.approx((10_000 * 70 + 5_000 * 60) * 365 / 1000)
    assert city.totals.other_kg == pytest.approx(2.0 * 365)


def test_period_across_years_uses_each_years_coefficients():
    own = region_totals(
        "A",
        start=date(2025, 12, 31),
        end=date(2026, 1, 3),
        coefficients={2025: Coefficients(1000), 2026: Coefficients(2000, 80.0)},
    )
    assert own.domestic_kg == pytest.approx(1000 * 70 / 1000 + 2 * 2000 * 80 / 1000)


def test_missing_year_is_a_config_error():
    with pytest.raises(ConfigError, match="region A: no population coefficients for 2026"):
        region_totals("A", start=Y0, end=date(2026, 2, 1), coefficients={2025: Coefficients(1)})


def test_children_must_cover_the_same_period():
    child = county("A", 10_000, [])
    own = region_totals("CITY", start=Y0, end=date(2025, 2, 1), coefficients={})
    with pytest.raises(ValueError, match="another period"):
        region_account("CITY", own, start=Y0, end=date(2025, 2, 1), children=[child])
