"""The worked example of docs/balance.md, figure by figure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from wqmon.balance.accounts import daily_totals, plant_account, plant_days
from wqmon.balance.records import COD, FLOW, RollupSettings
from wqmon.balance.regions import Action, Coefficients, region_account, region_totals
from wqmon.balance.rollup import rollup_point

DAY = date(2025, 3, 1)
T0 = datetime(2025, 3, 1, tzinfo=UTC)
SETTINGS = RollupSettings(max_flow_gap=timedelta(hours=3), max_hold_age=timedelta(hours=4))


def at(hour: int) -> datetime:
    return T0 + timedelta(hours=hour)


INLET_FLOW = [
    (at(0), 400.0, "N"),
    (at(3), 500.0, "N"),
    (at(6), 600.0, "N"),
    (at(9), 600.0, "D"),
    (at(12), 500.0, "N"),
    (at(18), 450.0, "N"),
    (at(21), 400.0, "N"),
]
INLET_COD = [
    (at(0), 300.0, "N"),
    (at(2), 280.0, "N"),
    (at(4), 250.0, "C"),
    (at(8), 240.0, "N"),
    (at(12), 220.0, "N"),
    (at(16), 260.0, "N"),
    (at(20), 300.0, "N"),
]
OUTLET_FLOW = [(at(h), 360.0, "N") for h in range(0, 24, 3)]
OUTLET_COD = [
    (at(h), c, "N") for h, c in zip(range(0, 24, 4), [30, 25, 35, 30, 20, 40], strict=True)
]
ENTERPRISE_FLOW = [(at(h), 50.0, "N") for h in range(24)]
ENTERPRISE_COD = [(at(h), 400.0, "N") for h in range(0, 24, 2)]


def rows(flow, cod):
    return rollup_point(flow, {COD: cod}, start=T0, end=at(24), settings=SETTINGS)


def by(rows_, parameter, hour):
    return next(r for r in rows_ if r.parameter == parameter and r.hour == at(hour))


def test_inlet_hours_show_hold_expiry_and_flags():
    inlet = rows(INLET_FLOW, INLET_COD)
    h04 = by(inlet, COD, 4)  # 500 m³/h × 280 mg/L held; the C result is skipped but flags the hour
    assert (h04.volume_m3, h04.load_kg, h04.conc_mg_l) == pytest.approx((500, 140, 280))
    assert (h04.coverage, h04.flag, h04.n_samples, h04.n_valid) == (1.0, "C", 1, 0)
    h06 = by(inlet, COD, 6)  # the 02:00 result is 4 h old: no concentration until 08:00
    assert (h06.load_kg, h06.coverage, h06.conc_mg_l) == (0.0, 0.0, None)
    assert by(inlet, FLOW, 6).volume_m3 == pytest.approx(600)
    h09 = by(inlet, FLOW, 9)  # the D flow sample: no valid flow until 12:00
    assert (h09.volume_m3, h09.coverage, h09.flag) == (0.0, 0.0, "D")
    assert by(inlet, COD, 9).flag == "D"
    assert by(inlet, FLOW, 15).coverage == 0.0  # the 12:00 sample is older than the 3 h gap


def plant():
    inlet = daily_totals(rows(INLET_FLOW, INLET_COD), start=DAY, end=DAY + timedelta(1), tz=UTC)
    outlet = daily_totals(rows(OUTLET_FLOW, OUTLET_COD), start=DAY, end=DAY + timedelta(1), tz=UTC)
    days = plant_days("WWTP-A", 12_000.0, inlets=[inlet], outlets=[outlet])
    return plant_account(days, start=DAY, end=DAY + timedelta(1))


def test_plant_day():
    account = plant()
    assert account.inlet.volume_m3 == pytest.approx(8550)
    assert account.inlet.volume_coverage == pytest.approx(0.75)
    assert account.inlet.load_kg == pytest.approx(1975)
    assert account.inlet.load_volume_m3 == pytest.approx(7350)
    assert account.inlet.load_coverage == pytest.approx(16 / 24)
    assert account.inlet.conc_mg_l == pytest.approx(268.707, abs=5e-4)
    assert account.outlet.volume_m3 == pytest.approx(8640)
    assert account.outlet.load_kg == pytest.approx(259.2)
    assert account.outlet.conc_mg_l == pytest.approx(30)
    assert account.reduced_kg == pytest.approx(1715.8)
    assert account.removal_efficiency == pytest.approx(0.86876, abs=5e-6)
    assert account.reduced_coverage == pytest.approx(16 / 24)
    assert account.capacity_utilisation == pytest.approx(0.7125)
    assert (account.low_conc_days, account.evaluated_days) == (0, 1)


def region():
    enterprise = daily_totals(
        rows(ENTERPRISE_FLOW, ENTERPRISE_COD), start=DAY, end=DAY + timedelta(1), tz=UTC
    )[DAY]
    own = region_totals(
        "HZ",
        start=DAY,
        end=DAY + timedelta(1),
        coefficients={2025: Coefficients(30_000, 70.0, 20.0)},
        plants=[plant()],
        enterprises=[enterprise],
    )
    return region_account("HZ", own, start=DAY, end=DAY + timedelta(1))


def test_region_day():
    account = region()
    assert account.totals.domestic_kg == pytest.approx(2100)
    assert account.totals.industrial.load_kg == pytest.approx(480)
    assert account.totals.other_kg == pytest.approx(20)
    assert account.produced_kg == pytest.approx(2600)
    assert account.industrial_coverage == pytest.approx(1.0)
    assert account.collected_kg == pytest.approx(1975)
    assert account.collection_rate == pytest.approx(0.75962, abs=5e-6)
    assert account.collection_reduction_rate == pytest.approx(0.65992, abs=5e-6)
    first, second = account.targets
    assert (first.year, first.shortfall_kg) == (2025, pytest.approx(105))
    assert first.shortfall_rate == pytest.approx(0.04038, abs=5e-6)
    assert (second.year, second.shortfall_kg) == (2030, pytest.approx(495))
    assert account.required_capacity_m3_per_day == pytest.approx(7740.76, abs=5e-3)
    assert account.capacity_gap_m3_per_day == pytest.approx(-4259.24, abs=5e-3)
    assert account.actions == (Action.FIX_NETWORK,)


def test_city_aggregates_its_county():
    county = region()
    city_own = region_totals("LYG", start=DAY, end=DAY + timedelta(1), coefficients={})
    city = region_account("LYG", city_own, start=DAY, end=DAY + timedelta(1), children=[county])
    assert city.collection_rate == pytest.approx(county.collection_rate)
    assert city.produced_kg == pytest.approx(2600)
    assert city.children == (county,)
    assert city.actions == (Action.FIX_NETWORK,)
