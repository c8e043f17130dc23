"""RF=1 (late, re-sent) readings stay out of the live rules; their hours are evaluated again."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.alarms.helpers import T0, spec
from wqmon.alarms.channels import AlarmRegistry
from wqmon.alarms.config import Rule
from wqmon.alarms.engine import AlarmEngine
from wqmon.alarms.hours import HourBook
from wqmon.model import Reading


def _engine() -> AlarmEngine:
    engine = AlarmEngine("postgresql://unused")
    engine.registry = AlarmRegistry({1: spec("cod", limit_max=50.0)}, {})
    return engine


def _reading(minute: float, value: float, source: str) -> Reading:
    ts = T0 + timedelta(minutes=minute)
    # Received at once: only the RF=1 marker (not the age) makes the first one late.
    return Reading(1, ts, value, "N", source, ts)


def test_a_late_exceedance_starts_no_live_alarm_and_does_not_feed_no_data() -> None:
    engine = _engine()
    assert engine._evaluate_live([_reading(0, 80.0, "hj212-late")]) == []
    assert not engine.trackers
    state = engine.states.get(1)
    assert state is None or state.last_ts is None  # no-data still sees the channel as silent


def test_the_same_value_live_starts_the_live_exceedance() -> None:
    engine = _engine()
    engine._evaluate_live([_reading(0, 80.0, "hj212")])
    assert (Rule.EXCEEDANCE_LIVE, "S/p/cod") in engine.trackers
    assert engine.states[1].last_ts == T0


def test_late_data_for_an_evaluated_hour_revisits_it() -> None:
    book = HourBook(grace=timedelta(minutes=2))
    key = ("S", "p")
    book.note(key, T0 + timedelta(minutes=10))
    list(book.take())
    book.note(key, T0 + timedelta(hours=3, minutes=5))
    assert list(book.take()) == [(key, [T0 + timedelta(hours=h) for h in range(3)])]
    book.revisit(key, T0 + timedelta(hours=1, minutes=20))  # RF=1 data of 01:20
    book.revisit(key, T0 + timedelta(hours=9))  # not evaluated yet: the normal path covers it
    assert list(book.take()) == [(key, [T0 + timedelta(hours=1)])]
    assert list(book.take()) == []
