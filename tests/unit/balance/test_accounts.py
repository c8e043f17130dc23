"""Plant accounts: local days, several points, periods, low-concentration days, coverage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from wqmon.balance.accounts import (
    SHANGHAI,
    Granularity,
    PointTotals,
    daily_totals,
    period_bounds,
    plant_account,
    plant_accounts,
    plant_days,
)
from wqmon.balance.records import COD, FLOW, PointHour, RowSource


def hour_rows(hour: datetime, volume: float, conc: float, coverage: float = 1.0):
    """A flow row and a COD row of one hour."""
    load = volume * conc / 1000
    common = {"hour": hour, "flag": "N", "n_samples": 1, "n_valid": 1}
    return [
        PointHour(
            FLOW,
            volume_m3=volume,
            load_kg=None,
            coverage=coverage,
            source=RowSource.REALTIME,
            **common,
        ),
        PointHour(
            COD,
            volume_m3=volume,
            load_kg=load,
            coverage=coverage,
            source=RowSource.REALTIME,
            **common,
        ),
    ]


def day_rows(day: date, volume: float, conc: float, tz=SHANGHAI, hours=range(24)):
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    return [r for h in hours for r in hour_rows(start + timedelta(hours=h), volume, conc)]


D1 = date(2025, 1, 30)


def test_daily_totals_use_local_days():
    # 2025-01-30 in Shanghai is 2025-01-29T16:00Z to 2025-01-30T16:00Z.
    rows = hour_rows(datetime(2025, 1, 29, 16, tzinfo=UTC), 100, 300) + hour_rows(
        datetime(2025, 1, 29, 15, tzinfo=UTC), 999, 999
    )
    totals = daily_totals(rows, start=D1, end=D1 + timedelta(1))
    assert totals[D1] == PointTotals(100, 30, 100, 1, 1, 24)
    assert totals[D1].conc_mg_l == pytest.approx(300)
    assert totals[D1].load_coverage == pytest.approx(1 / 24)


def test_daily_totals_ignore_other_parameters():
    rows = hour_rows(datetime(2025, 1, 30, 1, tzinfo=UTC), 100, 300)
    other = PointHour(
        "w21003", datetime(2025, 1, 30, 1, tzinfo=UTC), 100, 5, 1, "N", 1, 1, RowSource.REALTIME
    )
    totals = daily_totals([*rows, other], start=D1, end=D1 + timedelta(1), tz=UTC)
    assert totals[D1].load_kg == pytest.approx(30)


def test_daylight_saving_day_has_23_hours():
    berlin = ZoneInfo("Europe/Berlin")
    totals = daily_totals([], start=date(2025, 3, 30), end=date(2025, 3, 31), tz=berlin)
    assert totals[date(2025, 3, 30)].expected_hours == 23


def test_plant_sums_points_and_counts_missing_days_in_coverage():
    days = [D1 + timedelta(i) for i in range(3)]
    inlet_a = daily_totals(
        [r for d in days[:2] for r in day_rows(d, 100, 200)],
        start=days[0],
        end=days[-1] + timedelta(1),
    )
    inlet_b = daily_totals(day_rows(days[0], 50, 500), start=days[0], end=days[0] + timedelta(1))
    outlet = daily_totals(
        [r for d in days for r in day_rows(d, 140, 20)], start=days[0], end=days[-1] + timedelta(1)
    )
    plant = plant_days("P", 10_000, inlets=[inlet_a, inlet_b], outlets=[outlet])
    account = plant_account(plant, start=days[0], end=days[-1] + timedelta(1))
    assert account.inlet.volume_m3 == pytest.approx(24 * (100 + 100 + 50))
    assert account.inlet.load_kg == pytest.approx(24 * (20 + 20 + 25))
    # Two inlet points × 3 days = 144 point-hours expected; 72 covered.
    assert account.inlet.volume_coverage == pytest.approx(72 / 144)
    assert account.outlet.load_coverage == pytest.approx(1.0)
    assert account.reduced_kg == pytest.approx(24 * 65 - 3 * 24 * 2.8)
    assert account.reduced_coverage == pytest.approx(0.5)
    assert account.capacity_utilisation == pytest.approx(24 * 250 / 30_000)
    # Day 1: (20 + 25) / (100 + 50) × 1000 = 300 mg/L; day 2: 200 mg/L; day 3: no inlet data.
    assert (account.low_conc_days, account.evaluated_days) == (1, 2)


def test_min_day_coverage_excludes_thin_days():
    rows = day_rows(D1, 100, 100, hours=range(3))
    plant = plant_days(
        "P", None, inlets=[daily_totals(rows, start=D1, end=D1 + timedelta(1))], outlets=[]
    )
    thin = plant_account(plant, start=D1, end=D1 + timedelta(1), min_day_coverage=0.5)
    assert (thin.low_conc_days, thin.evaluated_days) == (0, 0)
    assert thin.capacity_utilisation is None
    assert thin.outlet.expected_hours == 0  # no outlet points: nothing expected


def test_removal_efficiency_is_none_without_inlet_load():
    plant = plant_days("P", 100, inlets=[], outlets=[])
    account = plant_account(plant, start=D1, end=D1 + timedelta(1))
    assert account.removal_efficiency is None
    assert account.inlet.conc_mg_l is None


def test_period_bounds():
    assert period_bounds(date(2025, 11, 15), date(2026, 2, 3), Granularity.MONTH) == [
        (date(2025, 11, 15), date(2025, 12, 1)),
        (date(2025, 12, 1), date(2026, 1, 1)),
        (date(2026, 1, 1), date(2026, 2, 1)),
        (date(2026, 2, 1), date(2026, 2, 3)),
    ]
    assert period_bounds(date(2024, 12, 31), date(2026, 1, 2), Granularity.YEAR) == [
        (date(2024, 12, 31), date(2025, 1, 1)),
        (date(2025, 1, 1), date(2026, 1, 1)),
        (date(2026, 1, 1), date(2026, 1, 2)),
    ]
    assert len(period_bounds(date(2024, 1, 1), date(2025, 1, 1), Granularity.DAY)) == 366


def test_monthly_accounts_add_up_to_the_year():
    start, end = date(2025, 1, 1), date(2026, 1, 1)
    inlet = {
        start + timedelta(i): PointTotals(100 + i, i % 50 + 1, 90, 24, 20, 24) for i in range(365)
    }
    outlet = {d: PointTotals(t.volume_m3, t.load_kg / 10, 80, 24, 24, 24) for d, t in inlet.items()}
    plant = plant_days("P", 500, inlets=[inlet], outlets=[outlet])
    months = plant_accounts(plant, start=start, end=end, granularity=Granularity.MONTH)
    (year,) = plant_accounts(plant, start=start, end=end, granularity=Granularity.YEAR)
    assert len(months) == 12
    assert sum(m.inlet.load_kg for m in months) == pytest.approx(year.inlet.load_kg)
    assert sum(m.reduced_kg for m in months) == pytest.approx(year.reduced_kg)
    assert sum(m.days for m in months) == year.days == 365
    assert sum(m.low_conc_days for m in months) == year.low_conc_days
    assert year.removal_efficiency == pytest.approx(0.9)
