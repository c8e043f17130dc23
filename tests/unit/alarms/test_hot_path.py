"""The engine's cheap paths: CLEAR findings only for tracked rules, hours coalesced per point."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.alarms.helpers import T0, reading, spec
from wqmon.alarms.config import AlarmConfig, Rule
from wqmon.alarms.hours import HourBook
from wqmon.alarms.lifecycle import Verdict
from wqmon.alarms.rules import ChannelState, on_reading


def _verdicts(state: ChannelState, value: float) -> set[tuple[Rule, Verdict]]:
    findings = on_reading(spec("cod"), state, reading(0, value), AlarmConfig())
    return {(f.rule, f.verdict) for f in findings}


def test_untracked_rules_report_no_clear_but_still_raise() -> None:
    state = ChannelState(tracked=set())
    assert _verdicts(state, 30.0) == {(Rule.FLAT_LINE, Verdict.HOLD)}  # first of a run
    assert _verdicts(state, 31.0) == set()  # all normal, nothing tracked: nothing built
    assert (Rule.EXCEEDANCE_LIVE, Verdict.RAISE) in _verdicts(state, 60.0)


def test_tracked_rules_and_the_default_report_clear() -> None:
    tracked = ChannelState(
        tracked={Rule.EXCEEDANCE_LIVE}, flat_value=1.0, flat_since=T0, flat_count=1
    )
    assert _verdicts(tracked, 30.0) == {(Rule.EXCEEDANCE_LIVE, Verdict.CLEAR)}
    everything = ChannelState(flat_value=1.0, flat_since=T0, flat_count=1)
    assert (Rule.IMPLAUSIBLE, Verdict.CLEAR) in _verdicts(everything, 30.0)


def test_hour_book_coalesces_batches_and_evaluates_each_hour_once() -> None:
    book = HourBook(grace=timedelta(minutes=2))
    key = ("S", "p")
    book.note(key, T0 + timedelta(minutes=10))
    assert list(book.take()) == []  # first sight: the record starts at the current hour
    for minute in (70, 130, 185):  # three batches; the last is 03:05, past 03:00 + grace
        book.note(key, T0 + timedelta(minutes=minute))
    assert list(book.take()) == [(key, [T0 + timedelta(hours=h) for h in range(3)])]
    assert list(book.take()) == []
    book.note_clock(T0 + timedelta(hours=5))  # quiet since 03:05: the hour to 04:00 ends
    assert list(book.take()) == [(key, [T0 + timedelta(hours=3)])]
