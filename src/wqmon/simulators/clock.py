"""The simulation clock: wall time for timestamps, accelerated model time for the field.

Readings always carry wall-clock timestamps (ingest refuses the future), but with `speed` X the
field's model time runs X times faster from the start of the live phase (the
backfilled history before it runs at 1×): at X = 60 a simulated
hour of diurnal flow, analyser cycles and episodes passes in a real minute. An analyser's sample
instant, which lives in model time, is mapped back to the wall clock for its `SampleTime`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SimClock:
    """Maps wall time to model time: model = start + (wall − start) × speed after the start.

    Before the start (the backfilled history) model time is wall time.
    """

    start: datetime
    speed: float = 1.0
    now: Callable[[], datetime] = field(default=utcnow)

    def model(self, wall: datetime) -> datetime:
        if wall <= self.start:
            return wall
        return self.start + (wall - self.start) * self.speed

    def wall(self, model: datetime) -> datetime:
        if model <= self.start:
            return model
        return self.start + (model - self.start) / self.speed

    def model_now(self) -> datetime:
        return self.model(self.now())
