"""A `Sink` without a database, for unit tests of drivers (docs/drivers.md).

    sink = FakeSink(directory)                  # the registry the driver's input is checked against
    ctx = DriverContext(sink, lambda: directory, clock, Telemetry())
    ...                                          # run the driver, feed it input
    sink.release()                               # "commit": resolve every pending future
    sink.envelopes, sink.dead_letters, sink.outcomes

Outcomes are computed by the real validation (`wqmon.ingest.validate`), so a driver test sees
the rejections the pipeline would give. Nothing is de-duplicated (there is no store): every
valid reading counts as stored. With `hold=True` futures stay pending until `release()`, so a
test can show that a driver acknowledges nothing before its envelope is committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from wqmon.errors import RejectedReading
from wqmon.ingest.directory import Directory
from wqmon.ingest.envelope import (
    Envelope,
    Outcome,
    Rejection,
    period_as_raw,
    reading_as_raw,
    utcnow,
)
from wqmon.ingest.validate import Context, Limits, validate_period, validate_reading
from wqmon.model import DeadLetter, PeriodRecord, RawPeriodRecord, RawReading, Reading


class FakeSink:
    """Records what a driver hands over and resolves it as the pipeline would."""

    def __init__(
        self,
        directory: Directory,
        *,
        clock: Callable[[], datetime] = utcnow,
        hold: bool = False,
        future_tolerance_s: float = 300.0,
    ) -> None:
        self.directory = directory
        self.clock = clock
        self.hold = hold
        self.limits = Limits(future_tolerance=timedelta(seconds=future_tolerance_s))
        self.envelopes: list[Envelope] = []
        self.dead_letters: list[DeadLetter] = []  # refused before or inside envelopes
        self.readings: list[Reading] = []  # what a commit would have stored
        self.periods: list[PeriodRecord] = []
        self.outcomes: list[Outcome] = []
        self._pending: list[tuple[asyncio.Future[Outcome], Outcome]] = []
        self.changed = asyncio.Event()  # set after every put and dead letter

    async def put(self, envelope: Envelope) -> asyncio.Future[Outcome]:
        self.envelopes.append(envelope)
        return self._resolve(self.outcome_of(envelope))

    async def submit(self, envelope: Envelope) -> Outcome:
        return await (await self.put(envelope))

    def dead_letter(self, letter: DeadLetter) -> asyncio.Future[Outcome]:
        self.dead_letters.append(letter)
        return self._resolve(Outcome(rejected=[Rejection(-1, letter.reason, letter.detail)]))

    def release(self) -> int:
        """Resolve every held future (the "commit"); returns how many."""
        pending, self._pending = self._pending, []
        for future, outcome in pending:
            if not future.done():
                future.set_result(outcome)
        return len(pending)

    @property
    def reasons(self) -> list[str]:
        """The reasons of every dead letter so far, in order."""
        return [d.reason for d in self.dead_letters]

    async def wait_for(self, predicate: Callable[[FakeSink], bool], timeout_s: float = 5.0) -> None:
        """Wait until `predicate(self)` holds after some put or dead letter."""
        async with asyncio.timeout(timeout_s):
            while not predicate(self):
                self.changed.clear()
                await self.changed.wait()

    def outcome_of(self, envelope: Envelope) -> Outcome:
        """Validate an envelope like the pipeline does; keep what would be stored."""
        ctx = Context(
            self.directory,
            self.clock(),
            envelope.source,
            envelope.received_at,
            self.limits,
            envelope.allowed_sites,
        )
        outcome = Outcome(rejected=[Rejection(-1, d.reason, d.detail) for d in envelope.rejected])
        self.dead_letters.extend(envelope.rejected)
        for index, raw in enumerate(envelope.readings):
            self._take_reading(envelope, index, raw, ctx, outcome)
        for raw_period in envelope.periods:
            self._take_period(envelope, raw_period, ctx, outcome)
        return outcome

    def _take_reading(
        self, envelope: Envelope, index: int, raw: RawReading, ctx: Context, outcome: Outcome
    ) -> None:
        try:
            self.readings.append(validate_reading(raw, ctx))
        except RejectedReading as exc:
            outcome.rejected.append(Rejection(index, exc.reason, exc.detail))
            self._refused(envelope, reading_as_raw(raw), exc)
        else:
            outcome.stored += 1

    def _take_period(
        self, envelope: Envelope, raw: RawPeriodRecord, ctx: Context, outcome: Outcome
    ) -> None:
        try:
            self.periods.append(validate_period(raw, ctx))
        except RejectedReading as exc:
            outcome.rejected.append(Rejection(-1, exc.reason, exc.detail))
            self._refused(envelope, period_as_raw(raw), exc)
        else:
            outcome.periods_stored += 1

    def _refused(self, envelope: Envelope, raw: bytes, exc: RejectedReading) -> None:
        self.dead_letters.append(
            DeadLetter(
                envelope.source, envelope.peer, raw, exc.reason, exc.detail, envelope.received_at
            )
        )

    def _resolve(self, outcome: Outcome) -> asyncio.Future[Outcome]:
        self.outcomes.append(outcome)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        if self.hold:
            self._pending.append((future, outcome))
        else:
            future.set_result(outcome)
        self.changed.set()
        return future
