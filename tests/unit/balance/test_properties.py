"""Properties of the hourly rollup and of totals: additivity, linearity, bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wqmon.balance.accounts import PointTotals, total
from wqmon.balance.hourly import realtime_hours
from wqmon.balance.records import COD, FLOW

T0 = datetime(2025, 6, 2, tzinfo=UTC)
HOURS = 6


def series(values, flags):
    return st.lists(
        st.tuples(st.integers(-3600, HOURS * 3600), values, st.sampled_from(flags)), max_size=40
    ).map(lambda items: [(T0 + timedelta(seconds=t), v, f) for t, v, f in items])


flows = series(st.floats(0, 5000, allow_subnormal=False), ["N", "N", "N", "D", "T"])
concs = series(st.floats(0, 2000, allow_subnormal=False), ["N", "N", "C", "T"])


def roll(flow, cod, start=0, end=HOURS):
    return realtime_hours(
        flow, {COD: cod}, start=T0 + timedelta(hours=start), end=T0 + timedelta(hours=end)
    )


@settings(max_examples=60, deadline=None)
@given(flows, concs, st.integers(1, HOURS - 1))
def test_splitting_the_range_changes_nothing(flow, cod, cut):
    whole = roll(flow, cod)
    assert whole == roll(flow, cod, 0, cut) + roll(flow, cod, cut, HOURS)


@settings(max_examples=60, deadline=None)
@given(flows, concs, st.floats(0.01, 100))
def test_scaling_flow_scales_volume_and_load(flow, cod, factor):
    base = roll(flow, cod)
    scaled = roll([(t, v * factor, f) for t, v, f in flow], cod)
    for a, b in zip(base, scaled, strict=True):
        assert b.volume_m3 == pytest.approx(a.volume_m3 * factor, rel=1e-9, abs=1e-9)
        if a.load_kg is not None:
            assert b.load_kg == pytest.approx(a.load_kg * factor, rel=1e-9, abs=1e-9)
        assert b.coverage == a.coverage


@settings(max_examples=60, deadline=None)
@given(flows, concs)
def test_bounds(flow, cod):
    valid = [c for _, c, f in cod if f in {"N", "T"}]
    for row in roll(flow, cod):
        assert 0.0 <= row.coverage <= 1.0
        assert row.volume_m3 >= 0
        if row.parameter == COD and row.conc_mg_l is not None:
            assert min(valid) * (1 - 1e-9) - 1e-9 <= row.conc_mg_l <= max(valid) * (1 + 1e-9) + 1e-9
    flow_rows = [r for r in roll(flow, cod) if r.parameter == FLOW]
    cod_rows = [r for r in roll(flow, cod) if r.parameter == COD]
    for f_row, c_row in zip(flow_rows, cod_rows, strict=True):
        assert c_row.volume_m3 <= f_row.volume_m3 * (1 + 1e-9) + 1e-9
        assert c_row.coverage <= f_row.coverage + 1e-12


totals = st.builds(PointTotals, *[st.floats(0, 1e6, allow_nan=False) for _ in range(6)])


@given(st.lists(totals, max_size=8))
def test_totals_sum_in_any_order(items):
    forward, backward = total(items), total(reversed(items))
    for name in PointTotals.__slots__:
        assert getattr(forward, name) == pytest.approx(getattr(backward, name))
