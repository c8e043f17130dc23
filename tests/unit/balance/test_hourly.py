"""Real-time point-hour rollups against an independent second-by-second integration."""

from __future__ import annotations

import bisect
import math
from datetime import UTC, datetime, timedelta

import pytest

from wqmon.balance.hourly import realtime_hours
from wqmon.balance.records import COD, DEFAULT_SETTINGS, FLOW, PointHour, RollupSettings

T0 = datetime(2025, 6, 2, tzinfo=UTC)
VALID = {"N", "T"}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def plant_day_series():
    """Flow every 47 s (a 40-min silence, a 5-min fault), COD every ~90 min (one C, one hole)."""
    flow = []
    for t in range(-300, 86400, 47):
        if 36_000 <= t < 38_400:  # 10:00–10:40 the meter is silent
            continue
        flag = "D" if 50_400 <= t < 50_700 else "N"  # 14:00–14:05 a fault
        value = 800 + 300 * math.sin(t / 86400 * 2 * math.pi) + (t % 7) * 3
        flow.append((at(t), value, flag))
    cod = []
    for k, t in enumerate(range(-3000, 86400, 5400)):
        if 43_000 <= t < 61_000:  # analyser down ~12:00–17:00: the hold expires
            continue
        flag = "C" if k == 5 else ("T" if k == 12 else "N")
        cod.append((at(t), 250 + 40 * math.cos(k), flag))
    return flow, cod


def independent(flow, cod, settings: RollupSettings):
    """Per-hour (volume m³, load kg, covered s), stepping one second at a time."""
    flow_t = [(ts - T0).total_seconds() for ts, _, _ in flow]
    valid_cod = [(ts - T0).total_seconds() for ts, _, f in cod if f in VALID]
    valid_cod_v = [v for _, v, f in cod if f in VALID]
    gap, age = settings.max_flow_gap.total_seconds(), settings.max_hold_age.total_seconds()
    hours = [[0.0, 0.0, 0.0] for _ in range(24)]
    for second in range(86400):
        i = bisect.bisect_right(flow_t, second) - 1
        if i < 0 or flow[i][2] not in VALID or second - flow_t[i] >= gap:
            continue
        q = flow[i][1]
        acc = hours[second // 3600]
        acc[0] += q / 3600
        j = bisect.bisect_right(valid_cod, second) - 1
        if j >= 0 and second - valid_cod[j] < age:
            acc[1] += q / 3600 * valid_cod_v[j] / 1000
            acc[2] += 1
    return hours


def test_plant_day_matches_independent_integration():
    flow, cod = plant_day_series()
    settings = RollupSettings(max_flow_gap=timedelta(minutes=15), max_hold_age=timedelta(hours=2))
    rows = realtime_hours(flow, {COD: cod}, start=T0, end=at(86400), settings=settings)
    expected = independent(flow, cod, settings)
    flow_rows = [r for r in rows if r.parameter == FLOW]
    cod_rows = [r for r in rows if r.parameter == COD]
    for row, (volume, _, _) in zip(flow_rows, expected, strict=True):
        assert row.volume_m3 == pytest.approx(volume, rel=1e-3, abs=1e-9)
    for row, (_, load, covered) in zip(cod_rows, expected, strict=True):
        assert row.load_kg == pytest.approx(load, rel=1e-3, abs=1e-9)
        assert row.coverage == pytest.approx(covered / 3600, abs=1e-3)
    day_load = sum(r.load_kg or 0 for r in cod_rows)
    day_volume = sum(r.volume_m3 for r in cod_rows)
    expected_load = sum(h[1] for h in expected)
    assert day_load == pytest.approx(expected_load, rel=1e-3)
    # The day's flow-weighted concentration: load over the volume that carries a concentration.
    assert day_load / day_volume * 1000 == pytest.approx(
        1000 * expected_load / _load_volume(flow, cod, settings), rel=1e-3
    )
    # The silence: the 09:59:44 sample holds 15 min, the next sample comes at 10:40:28.
    assert flow_rows[10].coverage == pytest.approx(1 - (38_428 - (35_984 + 900)) / 3600)
    assert flow_rows[14].flag == "D"
    assert cod_rows[14].coverage == 0.0  # the hold expired in the analyser's outage
    assert {r.flag for r in cod_rows} >= {"C", "T"}


def _load_volume(flow, cod, settings):
    """Independent volume that carries a concentration, per second."""
    flow_t = [(ts - T0).total_seconds() for ts, _, _ in flow]
    valid_cod = [(ts - T0).total_seconds() for ts, _, f in cod if f in VALID]
    gap, age = settings.max_flow_gap.total_seconds(), settings.max_hold_age.total_seconds()
    volume = 0.0
    for second in range(86400):
        i = bisect.bisect_right(flow_t, second) - 1
        j = bisect.bisect_right(valid_cod, second) - 1
        if i < 0 or flow[i][2] not in VALID or second - flow_t[i] >= gap:
            continue
        if j >= 0 and second - valid_cod[j] < age:
            volume += flow[i][1] / 3600
    return volume


def one_hour(flow, cod, settings=DEFAULT_SETTINGS) -> tuple[PointHour, PointHour]:
    flow_row, cod_row = realtime_hours(flow, {COD: cod}, start=T0, end=at(3600), settings=settings)
    return flow_row, cod_row


def test_lookback_samples_continue_into_the_hour():
    flow_row, cod_row = one_hour([(at(-60), 360.0, "N")], [(at(-3 * 3600), 100.0, "N")])
    assert flow_row.volume_m3 == pytest.approx(360 * 14 / 60)  # held 15 min from -1 min
    assert flow_row.n_samples == 0
    assert cod_row.load_kg == pytest.approx(360 * 14 / 60 * 100 / 1000)


def test_hold_expires_at_max_age():
    settings = RollupSettings(max_hold_age=timedelta(minutes=30))
    flow = [(at(t), 600.0, "N") for t in range(0, 3600, 600)]
    _, cod_row = one_hour(flow, [(at(0), 200.0, "N")], settings)
    assert cod_row.coverage == pytest.approx(0.5)
    assert cod_row.volume_m3 == pytest.approx(300)
    assert cod_row.load_kg == pytest.approx(60)
    assert cod_row.conc_mg_l == pytest.approx(200)


def test_invalid_result_keeps_previous_value_but_flags_the_hour():
    flow = [(at(t), 100.0, "N") for t in range(0, 3600, 600)]
    _, cod_row = one_hour(flow, [(at(0), 200.0, "N"), (at(1800), 999.0, "M")])
    assert cod_row.conc_mg_l == pytest.approx(200)
    assert (cod_row.flag, cod_row.n_samples, cod_row.n_valid) == ("M", 2, 1)


def test_over_range_is_valid_and_marks_the_hour():
    flow = [(at(0), 100.0, "N")]
    _, cod_row = one_hour(
        flow, [(at(0), 500.0, "T")], RollupSettings(max_flow_gap=timedelta(hours=1))
    )
    assert cod_row.load_kg == pytest.approx(50)
    assert cod_row.flag == "T"


def test_first_abnormal_flag_wins():
    flow = [(at(0), 100.0, "N"), (at(600), 100.0, "F"), (at(1200), 100.0, "D")]
    flow_row, cod_row = one_hour(flow, [(at(900), 50.0, "C")])
    assert flow_row.flag == "F"
    assert cod_row.flag == "F"  # the load needs the flow: its abnormal flag comes first in time


def test_invalid_flow_sample_ends_the_previous_hold():
    flow_row, _ = one_hour([(at(0), 100.0, "N"), (at(300), 100.0, "D")], [])
    assert flow_row.coverage == pytest.approx(300 / 3600)
    assert flow_row.mean_flow_m3_h == pytest.approx(100)


def test_negative_values_are_invalid():
    flow_row, cod_row = one_hour([(at(0), -5.0, "N")], [(at(0), 10.0, "N")])
    assert (flow_row.volume_m3, flow_row.coverage, flow_row.n_valid) == (0.0, 0.0, 0)
    assert cod_row.coverage == 0.0


def test_zero_flow_is_covered_and_carries_no_load():
    _, cod_row = one_hour([(at(t), 0.0, "N") for t in range(0, 3600, 300)], [(at(0), 300.0, "N")])
    assert (cod_row.coverage, cod_row.load_kg, cod_row.conc_mg_l) == (1.0, 0.0, None)


def test_rejects_naive_and_unaligned_times():
    with pytest.raises(ValueError, match="timezone-aware"):
        realtime_hours([(datetime(2025, 1, 1), 1.0, "N")], {}, start=T0, end=at(3600))  # noqa: DTZ001
    with pytest.raises(ValueError, match="whole UTC hour"):
        realtime_hours([], {}, start=at(60), end=at(3600))
    with pytest.raises(ValueError, match="after start"):
        realtime_hours([], {}, start=T0, end=T0)


def test_rows_come_flow_first_per_hour():
    rows = realtime_hours([], {COD: [], "w21003": []}, start=T0, end=at(7200))
    assert [(r.parameter, r.hour) for r in rows] == [
        (FLOW, T0),
        (COD, T0),
        ("w21003", T0),
        (FLOW, at(3600)),
        (COD, at(3600)),
        ("w21003", at(3600)),
    ]
