"""Each rule, table-driven, with readings at controlled times (minutes after T0)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.unit.alarms.helpers import T0, Harness, reading, series, spec
from wqmon.alarms.config import AlarmConfig, ChannelOverride, Rule
from wqmon.alarms.lifecycle import Verdict
from wqmon.alarms.rules import ChannelState, hour_exceedance, low_influent, on_clock


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # One analyser result above 50 repeated by the logger every 5 min: raises after 30 min.
        pytest.param([55] * 8, [(30.0, "raised")], id="held-above-30-min"),
        pytest.param([55] * 6 + [40] * 4, [], id="above-for-25-min-only"),
        # Raised, then below the 5 % band (47.5) for 10 min: cleared.
        pytest.param(
            [55] * 7 + [45] * 4, [(30.0, "raised"), (45.0, "cleared")], id="raise-then-clear"
        ),
        # Flapping inside the band after the raise (48–52): never clears.
        pytest.param([55] * 7 + [49, 52, 48, 51, 49, 48, 49], [(30.0, "raised")], id="flapping"),
    ],
)
def test_exceedance_live(values: list[float], expected: list[tuple[float, str]]) -> None:
    harness = Harness(spec())
    assert harness.feed(series(values, 5), Rule.EXCEEDANCE_LIVE) == expected


def test_exceedance_live_only_at_limited_outlets_and_skips_invalid_flags() -> None:
    assert Harness(spec(role="inlet")).feed(series([500] * 10, 5), Rule.EXCEEDANCE_LIVE) == []
    assert Harness(spec(limit_max=None)).feed(series([500] * 10, 5), Rule.EXCEEDANCE_LIVE) == []
    # Calibration readings (C) say nothing about the water.
    calib = series([500] * 10, 5, flag="C")
    assert Harness(spec()).feed(calib, Rule.EXCEEDANCE_LIVE) == []


def test_exceedance_live_ph_range() -> None:
    ph = spec("ph", limit_max=9.0, limit_min=6.0)
    assert Harness(ph).feed(series([5.5] * 7 + [7.0] * 3, 5), Rule.EXCEEDANCE_LIVE) == [
        (30.0, "raised"),
        (45.0, "cleared"),
    ]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param(["D"] * 7, [(30.0, "raised")], id="fault-30-min"),
        pytest.param(["M"] * 6 + ["N"] * 2, [], id="short-maintenance"),
        pytest.param(
            ["B"] * 7 + ["N"] * 2, [(30.0, "raised"), (40.0, "cleared")], id="comms-then-normal"
        ),
        pytest.param(["C"] * 3 + ["S"] + ["C"] * 4, [(30.0, "raised")], id="set-value-holds"),
    ],
)
def test_instrument_state(flags: list[str], expected: list[tuple[float, str]]) -> None:
    readings = [reading(i * 5, 20.0, flag) for i, flag in enumerate(flags)]
    assert Harness(spec()).feed(readings, Rule.INSTRUMENT_STATE) == expected


def test_instrument_state_set_value_resets_nothing_but_s_is_no_clear() -> None:
    # S between C readings is neither RAISE nor CLEAR: the C run continues from minute 0.
    readings = [reading(0, 1, "C"), reading(20, 1, "S"), reading(30, 1, "C")]
    assert Harness(spec()).feed(readings, Rule.INSTRUMENT_STATE) == [(30.0, "raised")]


def _analyser_cycles(results: list[float], cycle_min: int = 120, repeat_min: int = 5) -> list:
    """The logger repeats each analyser result every `repeat_min` until the next result."""
    out = []
    for i, value in enumerate(results):
        out.extend(
            reading(i * cycle_min + k * repeat_min, value) for k in range(cycle_min // repeat_min)
        )
    return out


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        # Honest analyser: a new result every 2 h, repeated in between: never flat.
        pytest.param([20.1, 19.7, 21.3, 20.9, 18.2], [], id="held-results-are-not-flat"),
        # Tampered: the same result for 4 cycles (8 h > 6 h window); then a real one clears.
        pytest.param(
            [20.0, 20.0, 20.0, 20.0, 22.5],
            [(360.0, "raised"), (480.0, "cleared")],
            id="same-result-for-hours",
        ),
    ],
)
def test_flat_line_analyser(results: list[float], expected: list[tuple[float, str]]) -> None:
    harness = Harness(spec(limit_max=None))
    assert harness.feed(_analyser_cycles(results), Rule.FLAT_LINE) == expected


def test_flat_line_flow_window_and_zero_flow() -> None:
    flow = spec("flow", limit_max=None)
    stuck = series([420.0] * 30, 5)  # 145 min of an identical flow
    assert Harness(flow).feed(stuck, Rule.FLAT_LINE) == [(120.0, "raised")]
    # No discharge at night is flat legitimately.
    assert Harness(flow).feed(series([0.0] * 40, 5), Rule.FLAT_LINE) == []


def test_flat_line_window_override_per_channel() -> None:
    config = AlarmConfig(overrides={"S/p/flow": ChannelOverride(flat_window_s=1800)})
    flow = spec("flow", limit_max=None, config=config)
    assert Harness(flow, config).feed(series([3.0] * 13, 5), Rule.FLAT_LINE) == [(55.0, "raised")]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([20, 22, -1, 21], [(10.0, "raised")], id="negative"),
        pytest.param([20, 22, 95_000], [(10.0, "raised")], id="near-plausible-bound"),
        pytest.param([20, 22, 400, 21], [(10.0, "raised")], id="jump"),
        pytest.param([20, 22, 60, 90], [], id="rise-within-factor"),
        pytest.param([2, 3, 40], [], id="tenfold-but-under-floor"),
    ],
)
def test_implausible(values: list[float], expected: list[tuple[float, str]]) -> None:
    assert Harness(spec(limit_max=None)).feed(series(values, 5), Rule.IMPLAUSIBLE) == expected


def test_implausible_clears_after_an_hour_of_plausible_data() -> None:
    values = [20, -1] + [20] * 14
    got = Harness(spec(limit_max=None)).feed(series(values, 5), Rule.IMPLAUSIBLE)
    assert got == [(5.0, "raised"), (70.0, "cleared")]


@pytest.mark.parametrize(
    ("alias", "silent_min", "verdict"),
    [
        ("flow", 29, Verdict.CLEAR),
        ("flow", 31, Verdict.RAISE),
        ("cod", 31, Verdict.CLEAR),  # analysers: 4 h
        ("cod", 241, Verdict.RAISE),
    ],
)
def test_no_data_by_clock(alias: str, silent_min: int, verdict: Verdict) -> None:
    state = ChannelState(last_ts=T0)
    finding = on_clock(spec(alias), state, T0 + timedelta(minutes=silent_min))
    assert finding is not None
    assert finding.verdict is verdict


def test_no_data_override_and_disable() -> None:
    config = AlarmConfig(
        overrides={
            "S/p": ChannelOverride(no_data_s=600),
            "S/p/ph": ChannelOverride(disabled=("no_data",)),
        }
    )
    now = T0 + timedelta(minutes=11)
    finding = on_clock(spec("cod", config=config), ChannelState(last_ts=T0), now)
    assert finding is not None
    assert finding.verdict is Verdict.RAISE
    assert on_clock(spec("ph", config=config), ChannelState(last_ts=T0), now) is None


@pytest.mark.parametrize(
    ("mean", "coverage", "verdict"),
    [
        (55.0, 1.0, Verdict.RAISE),
        (48.0, 1.0, Verdict.HOLD),
        (44.0, 1.0, Verdict.CLEAR),
        (80.0, 0.3, Verdict.HOLD),  # too little of the hour covered
        (None, 0.0, Verdict.HOLD),
    ],
)
def test_hour_exceedance(mean: float | None, coverage: float, verdict: Verdict) -> None:
    finding = hour_exceedance(spec(), T0, mean, coverage, AlarmConfig())
    assert finding is not None
    assert finding.verdict is verdict
    assert finding.at == T0 + timedelta(hours=1)


def test_hour_exceedance_needs_a_limited_outlet() -> None:
    assert hour_exceedance(spec(role="inlet"), T0, 99.0, 1.0, AlarmConfig()) is None


@pytest.mark.parametrize(
    ("mean", "verdict"),
    [(180.0, Verdict.RAISE), (265.0, Verdict.HOLD), (300.0, Verdict.CLEAR)],
)
def test_low_influent(mean: float, verdict: Verdict) -> None:
    inlet = spec(role="inlet", limit_max=None)
    for rule in (Rule.LOW_INFLUENT_DAY, Rule.LOW_INFLUENT_24H):
        finding = low_influent(inlet, rule, end=T0, mean=mean, coverage=0.9, config=AlarmConfig())
        assert finding is not None
        assert finding.verdict is verdict


def test_low_influent_only_for_inlet_cod_and_threshold_override() -> None:
    config = AlarmConfig(overrides={"S/p": ChannelOverride(low_influent=200)})
    outlet = spec(role="outlet")
    assert (
        low_influent(outlet, Rule.LOW_INFLUENT_DAY, end=T0, mean=100, coverage=1, config=config)
        is None
    )
    inlet = replace(spec(role="inlet", config=config), role="inlet")
    finding = low_influent(
        inlet, Rule.LOW_INFLUENT_DAY, end=T0, mean=220, coverage=1, config=config
    )
    assert finding is not None
    assert finding.verdict is Verdict.CLEAR
