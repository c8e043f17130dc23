"""The lifecycle state machine: delays, hysteresis (HOLD), one open alarm, re-arming."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.alarms.helpers import T0
from wqmon.alarms.config import Policy
from wqmon.alarms.lifecycle import Tracker, Verdict, above, below, within

R, C, H = Verdict.RAISE, Verdict.CLEAR, Verdict.HOLD
POLICY = Policy(delay=timedelta(minutes=10), clear_delay=timedelta(minutes=5))


def run(steps: list[tuple[int, Verdict]], policy: Policy = POLICY) -> list[tuple[int, str]]:
    tracker = Tracker()
    out = []
    for minute, verdict in steps:
        transition = tracker.observe(verdict, T0 + timedelta(minutes=minute), policy)
        if transition is not None:
            out.append((minute, transition.value))
    return out


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param([(0, R), (5, R), (10, R)], [(10, "raised")], id="raise-after-delay"),
        pytest.param([(0, R), (5, R), (9, R)], [], id="delay-not-reached"),
        pytest.param([(0, R), (5, C), (10, R), (15, R)], [], id="clear-resets-pending"),
        pytest.param([(0, R), (5, H), (10, R), (19, R)], [], id="hold-resets-pending"),
        pytest.param(
            [(0, R), (10, R), (20, R), (30, R)], [(10, "raised")], id="one-open-alarm-only"
        ),
        pytest.param(
            [(0, R), (10, R), (12, C), (16, C), (17, C)],
            [(10, "raised"), (17, "cleared")],
            id="clear-after-clear-delay",
        ),
        pytest.param(
            [(0, R), (10, R), (12, C), (14, H), (16, C), (20, C), (21, C)],
            [(10, "raised"), (21, "cleared")],
            id="hold-resets-clearing",
        ),
        pytest.param(
            [(0, R), (10, R), (12, C), (17, C), (20, R), (30, R)],
            [(10, "raised"), (17, "cleared"), (30, "raised")],
            id="re-arms-after-clear",
        ),
        pytest.param([(10, R), (0, R), (10, R)], [(10, "raised")], id="late-data-starts-run"),
    ],
)
def test_transitions(steps: list[tuple[int, Verdict]], expected: list[tuple[int, str]]) -> None:
    assert run(steps) == expected


def test_zero_delays_raise_and_clear_at_once() -> None:
    assert run([(0, R), (1, C)], Policy()) == [(0, "raised"), (1, "cleared")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(51, R), (50, H), (45.1, H), (45, C), (10, C)],
)
def test_above_with_ten_percent_band(value: float, expected: Verdict) -> None:
    assert above(value, 50, 0.1) is expected


@pytest.mark.parametrize(("value", "expected"), [(259, R), (260, H), (272, H), (273, C)])
def test_below_with_five_percent_band(value: float, expected: Verdict) -> None:
    assert below(value, 260, 0.05) is expected


@pytest.mark.parametrize(
    ("value", "expected"), [(5.9, R), (9.1, R), (6.1, H), (8.9, H), (7.0, C), (6.5, C)]
)
def test_within_a_range(value: float, expected: Verdict) -> None:
    assert within(value, 6.0, 9.0, 0.05) is expected


def test_flapping_around_a_limit_raises_once_and_never_clears_inside_the_band() -> None:
    # Hourly means alternate just above and just under a 50 mg/L limit (10 % band).
    tracker = Tracker()
    policy = Policy(hysteresis=0.1)
    transitions = []
    for hour, mean in enumerate([49, 51, 48, 52, 47, 51, 49, 50.5, 46]):
        verdict = above(mean, 50, policy.hysteresis)
        t = tracker.observe(verdict, T0 + timedelta(hours=hour), policy)
        if t is not None:
            transitions.append((hour, t.value))
    assert transitions == [(1, "raised")]
    assert tracker.is_open
    assert tracker.observe(above(44, 50, 0.1), T0 + timedelta(hours=9), policy) is not None
    assert not tracker.is_open
