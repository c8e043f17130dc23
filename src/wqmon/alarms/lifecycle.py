"""The alarm lifecycle of one (rule, target): a pure state machine driven by observations.

    normal ──RAISE held for `delay`──▶ open ──CLEAR held for `clear_delay`──▶ normal

A rule turns what it sees into a `Verdict`: RAISE (the condition holds), CLEAR (it clearly does
not: past the hysteresis band) or HOLD (inside the band, or not enough data to judge). HOLD resets
both timers and keeps the state, which is what stops a value flapping around a limit from raising
and clearing in turn. Acknowledgement and re-notification live in the database (any process may
acknowledge), so the tracker only knows open or not, and which alarm row is open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from wqmon.alarms.config import Policy


class Verdict(Enum):
    RAISE = "raise"
    CLEAR = "clear"
    HOLD = "hold"


class Transition(Enum):
    RAISED = "raised"
    CLEARED = "cleared"


@dataclass(slots=True)
class Tracker:
    """The state of one rule for one target.

    Attributes:
        alarm_id: The open alarm's row, None when normal (or open but not yet stored).
        is_open: Whether an alarm is open.
        pending_since: When the current unbroken run of RAISE began (normal state only).
        clearing_since: When the current unbroken run of CLEAR began (open state only).
    """

    alarm_id: int | None = None
    is_open: bool = False
    pending_since: datetime | None = None
    clearing_since: datetime | None = None

    def observe(self, verdict: Verdict, at: datetime, policy: Policy) -> Transition | None:
        """Take one observation at `at`; return the transition it completes, if any.

        Observations of one target arrive in time order; an older one than the run's start
        (late data) counts as the run's start, so the delay is never shortened by it.
        """
        if verdict is Verdict.HOLD:
            self.pending_since = self.clearing_since = None
            return None
        if self.is_open:
            return self._while_open(verdict, at, policy)
        return self._while_normal(verdict, at, policy)

    def _while_normal(self, verdict: Verdict, at: datetime, policy: Policy) -> Transition | None:
        self.clearing_since = None
        if verdict is Verdict.CLEAR:
            self.pending_since = None
            return None
        self.pending_since = _earliest(self.pending_since, at)
        if at - self.pending_since < policy.delay:
            return None
        self.is_open, self.pending_since = True, None
        return Transition.RAISED

    def _while_open(self, verdict: Verdict, at: datetime, policy: Policy) -> Transition | None:
        self.pending_since = None
        if verdict is Verdict.RAISE:
            self.clearing_since = None
            return None
        self.clearing_since = _earliest(self.clearing_since, at)
        if at - self.clearing_since < policy.clear_delay:
            return None
        self.is_open, self.clearing_since, self.alarm_id = False, None, None
        return Transition.CLEARED


def _earliest(since: datetime | None, at: datetime) -> datetime:
    return at if since is None else min(since, at)


def above(value: float, limit: float, hysteresis: float) -> Verdict:
    """Upper-limit verdict: RAISE above `limit`, CLEAR at or below `limit × (1 − h)`."""
    if value > limit:
        return Verdict.RAISE
    if value <= limit * (1.0 - hysteresis):
        return Verdict.CLEAR
    return Verdict.HOLD


def below(value: float, limit: float, hysteresis: float) -> Verdict:
    """Lower-limit verdict: RAISE below `limit`, CLEAR at or above `limit × (1 + h)`."""
    if value < limit:
        return Verdict.RAISE
    if value >= limit * (1.0 + hysteresis):
        return Verdict.CLEAR
    return Verdict.HOLD


def within(value: float, low: float | None, high: float | None, hysteresis: float) -> Verdict:
    """Range verdict (pH 6–9): RAISE outside, CLEAR inside by the band on the violated side."""
    # No list per call: this runs for every reading of a limited channel.
    up = None if high is None else above(value, high, hysteresis)
    down = None if low is None else below(value, low, hysteresis)
    if up is Verdict.RAISE or down is Verdict.RAISE:
        return Verdict.RAISE
    if up is None and down is None:
        return Verdict.HOLD
    if up in {None, Verdict.CLEAR} and down in {None, Verdict.CLEAR}:
        return Verdict.CLEAR
    return Verdict.HOLD
