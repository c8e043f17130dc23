"""Fallback to logger period records and the precedence between sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wqmon.balance.records import COD, FLOW, PeriodValue, RowSource
from wqmon.balance.rollup import LoggerRecords, rollup_point

T0 = datetime(2025, 6, 2, 8, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)


def run(flow=(), cod=(), logger=None):
    flow_row, cod_row = rollup_point(list(flow), {COD: list(cod)}, start=T0, end=T1, logger=logger)
    return flow_row, cod_row


def minutes(every_min: int, value: float):
    return [(T0 + timedelta(minutes=m), value, "N") for m in range(0, 60, every_min)]


def test_hour_record_cou_fills_a_missing_hour():
    logger = LoggerRecords(
        hour={FLOW: [PeriodValue(T0, avg=990.0, cou=1000.0)], COD: [PeriodValue(T0, 280.0, 250.0)]}
    )
    flow_row, cod_row = run(logger=logger)
    assert (flow_row.source, flow_row.volume_m3, flow_row.coverage) == (RowSource.HOUR, 1000, 1.0)
    assert (cod_row.source, cod_row.load_kg, cod_row.volume_m3) == (RowSource.HOUR, 250, 1000)
    assert cod_row.conc_mg_l == pytest.approx(250)  # Cou wins over Avg: C = Cou / volume


def test_hour_record_avg_when_cou_is_absent():
    logger = LoggerRecords(
        hour={FLOW: [PeriodValue(T0, avg=500.0, cou=None)], COD: [PeriodValue(T0, 300.0, None)]}
    )
    flow_row, cod_row = run(logger=logger)
    assert flow_row.volume_m3 == pytest.approx(500)
    assert cod_row.load_kg == pytest.approx(150)


def test_minute_records_sum_and_skip_invalid_ones():
    flow = [PeriodValue(T0 + timedelta(minutes=m), 600.0, None) for m in range(0, 60, 10)]
    cod = [
        PeriodValue(T0 + timedelta(minutes=m), 200.0, None, "D" if m == 30 else "N")
        for m in range(0, 60, 10)
    ]
    flow_row, cod_row = run(logger=LoggerRecords(minute={FLOW: flow, COD: cod}))
    assert (flow_row.source, flow_row.volume_m3, flow_row.coverage) == (RowSource.MINUTE, 600, 1)
    assert cod_row.load_kg == pytest.approx(5 * 100 * 200 / 1000)
    assert cod_row.coverage == pytest.approx(5 / 6)
    assert (cod_row.flag, cod_row.n_samples, cod_row.n_valid) == ("D", 6, 5)


def test_hour_record_precedes_minute_records_at_equal_coverage():
    flow = [PeriodValue(T0 + timedelta(minutes=m), 600.0, None) for m in range(0, 60, 10)]
    logger = LoggerRecords(hour={FLOW: [PeriodValue(T0, 590.0, None)]}, minute={FLOW: flow})
    flow_row, _ = run(logger=logger)
    assert (flow_row.source, flow_row.volume_m3) == (RowSource.HOUR, 590)


def test_realtime_wins_when_it_covers_enough():
    logger = LoggerRecords(hour={FLOW: [PeriodValue(T0, 1.0, 1.0)], COD: [PeriodValue(T0, 1, 1)]})
    flow_row, cod_row = run(minutes(5, 400.0)[:8], [(T0, 100.0, "N")], logger)  # 0–50 min
    assert flow_row.coverage == pytest.approx(50 / 60)
    assert (flow_row.source, cod_row.source) == (RowSource.REALTIME, RowSource.REALTIME)


def test_partial_realtime_loses_to_a_complete_hour_record():
    logger = LoggerRecords(
        hour={FLOW: [PeriodValue(T0, 410.0, None)], COD: [PeriodValue(T0, 120.0, None)]}
    )
    flow_row, cod_row = run(minutes(5, 400.0)[:4], [(T0, 100.0, "N")], logger)  # 0–30 min
    assert (flow_row.source, flow_row.volume_m3) == (RowSource.HOUR, 410)
    assert (cod_row.source, cod_row.load_kg) == (RowSource.HOUR, pytest.approx(49.2))


def test_pollutant_record_needs_a_valid_flow_record():
    logger = LoggerRecords(
        hour={FLOW: [PeriodValue(T0, 500.0, None, "D")], COD: [PeriodValue(T0, 300.0, 150.0)]}
    )
    flow_row, cod_row = run(logger=logger)
    # Nothing covers the hour; the rows that saw records win, so the logger's D shows.
    assert (flow_row.coverage, flow_row.flag, flow_row.source) == (0.0, "D", RowSource.HOUR)
    assert (cod_row.coverage, cod_row.load_kg, cod_row.flag) == (0.0, 0.0, "D")


def test_records_of_other_hours_are_ignored():
    logger = LoggerRecords(hour={FLOW: [PeriodValue(T1, 500.0, None)]})
    flow_row, _ = run(logger=logger)
    assert (flow_row.source, flow_row.coverage) == (RowSource.REALTIME, 0.0)
