"""`realtime_hours_columns` gives the rows of the reference `realtime_hours` (pure code).

Random irregular series: samples seconds to hours apart, silent stretches beyond the hold and the
flow gap, every flag, negative values, NaN, samples exactly on hour edges, lookback before the
range, and a point without a flow channel.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wqmon.balance.hourly import realtime_hours
from wqmon.balance.hourly_columns import Columns, realtime_hours_columns
from wqmon.balance.records import COD, FLOW, PointHour, RollupSettings

START = datetime(2025, 3, 1, 4, tzinfo=UTC)
FLAGS = "NNNNNNTDCMFB"
Sample = tuple[datetime, float, str]


def _series(rng: random.Random, hours: int, step_s: tuple[int, int]) -> list[Sample]:
    samples: list[Sample] = []
    t = START - timedelta(hours=5) + timedelta(seconds=rng.randint(0, 3600))
    while t < START + timedelta(hours=hours + 1):
        roll = rng.random()
        if roll < 0.03:
            t += timedelta(hours=rng.uniform(0.3, 6))  # the link is down
        elif roll < 0.06:
            t = t.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)  # on an edge
        value = rng.uniform(0, 800)
        if rng.random() < 0.04:
            value = -rng.uniform(0.1, 5)
        elif rng.random() < 0.02:
            value = math.nan
        elif rng.random() < 0.03:
            value = 0.0
        samples.append((t, value, rng.choice(FLAGS)))
        t += timedelta(seconds=rng.randint(*step_s), microseconds=rng.randint(0, 999_999))
    return samples


def _columns(samples: list[Sample]) -> Columns:
    return Columns(
        np.array([s[0].timestamp() for s in samples], np.float64),
        np.array([s[1] for s in samples], np.float64),
        [s[2] for s in samples],
    )


def _assert_same(got: list[PointHour], want: list[PointHour]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert (g.parameter, g.hour, g.flag, g.n_samples, g.n_valid, g.source) == (
            w.parameter,
            w.hour,
            w.flag,
            w.n_samples,
            w.n_valid,
            w.source,
        )
        # Same pieces added in the same order: equal to the last bit on CPython ≤ 3.11, whose
        # sum() adds in order; 3.12's compensated sum() may differ in the last bits.
        for name in ("volume_m3", "load_kg", "coverage"):
            a, b = getattr(g, name), getattr(w, name)
            assert (a is None) == (b is None), name
            if a is not None:
                assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9), (name, g, w)


def _both(flow: list[Sample], cods: dict[str, list[Sample]], hours: int, rules: RollupSettings):
    end = START + timedelta(hours=hours)
    want = realtime_hours(flow, cods, start=START, end=end, settings=rules)
    got = realtime_hours_columns(
        _columns(flow),
        {code: _columns(s) for code, s in cods.items()},
        start=START,
        end=end,
        settings=rules,
    )
    return got, want


@given(seed=st.integers(0, 2**32 - 1), hours=st.integers(1, 30))
@settings(max_examples=150, deadline=None)
def test_columns_roll_up_like_the_reference(seed: int, hours: int) -> None:
    rng = random.Random(seed)
    flow = _series(rng, hours, (1, 1200))
    cods = {COD: _series(rng, hours, (60, 9000)), "w21003": _series(rng, hours, (5, 600))}
    got, want = _both(flow, cods, hours, RollupSettings())
    _assert_same(got, want)
    assert {r.parameter for r in got} == {FLOW, COD, "w21003"}


@pytest.mark.parametrize(
    "rules",
    [
        RollupSettings(max_hold_age=timedelta(minutes=20), max_flow_gap=timedelta(minutes=20)),
        RollupSettings(max_hold_age=timedelta(hours=12), valid_flags=frozenset({"N"})),
    ],
)
def test_columns_follow_the_settings(rules: RollupSettings) -> None:
    rng = random.Random(7)
    flow = _series(rng, 48, (30, 1800))
    cods = {COD: _series(rng, 48, (600, 14_400))}
    got, want = _both(flow, cods, 48, rules)
    _assert_same(got, want)
    assert any(r.load_kg for r in got if r.parameter == COD)


def test_a_point_without_flow_and_a_channel_without_readings() -> None:
    rng = random.Random(11)
    got, want = _both([], {COD: _series(rng, 6, (60, 900)), "w21003": []}, 6, RollupSettings())
    _assert_same(got, want)
    assert all(r.volume_m3 == 0 for r in got)
    assert any(r.n_samples for r in got if r.parameter == COD)


def test_a_worked_hour() -> None:
    """Flow 100 m³/h from 04:00, 200 from 04:30; COD 50 mg/L held from 03:50 (lookback), an
    invalid C result at 04:15 is skipped, 80 mg/L from 04:45."""
    at = lambda m: START + timedelta(minutes=m)  # noqa: E731
    flow = [(at(m), 100.0, "N") for m in (-5, 0, 10, 20)]
    flow += [(at(m), 200.0, "N") for m in range(30, 61, 10)]  # 10 min apart: within the gap
    cod = [(at(-10), 50.0, "N"), (at(15), 10.0, "C"), (at(45), 80.0, "N")]
    rows = realtime_hours_columns(_columns(flow), {COD: _columns(cod)}, start=START, end=at(60))
    flow_row, cod_row = rows
    assert flow_row.volume_m3 == pytest.approx(100 * 0.5 + 200 * 0.5)
    assert flow_row.coverage == 1.0
    # 50 mg/L over 100 m³/h × 0.5 h + 200 m³/h × 0.25 h; 80 mg/L over 200 m³/h × 0.25 h.
    assert cod_row.load_kg == pytest.approx((50 * (50 + 50) + 80 * 50) / 1000)
    assert cod_row.volume_m3 == pytest.approx(150.0)
    assert (cod_row.flag, cod_row.n_samples, cod_row.n_valid) == ("C", 2, 1)
