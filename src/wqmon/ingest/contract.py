"""The source contract: what a driver is, and what it is given (docs/drivers.md).

A driver is an object with a `name` and an `async run(ctx)` that runs until cancelled. It gets
its own configuration when it is constructed and a `DriverContext` when it runs: the `Sink` it
hands envelopes to, the newest registry snapshot, a clock and the process's `Telemetry` — never
the whole `Settings`. It acknowledges its source only when the future from `sink.put()`
resolves. `put()` blocks while the pipeline is full: that is backpressure, not an error.

`Pipeline` is the sink of `wqmon ingest` and the API; `FakeSink` (`fake_sink.py`) is the sink of
a driver's unit tests. Only the composition root (`wqmon.services`) imports `wqmon.drivers`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from wqmon.ingest.directory import Directory
from wqmon.ingest.envelope import Envelope, Outcome
from wqmon.model import DeadLetter
from wqmon.telemetry import Telemetry


class Sink(Protocol):
    """Where a source's envelopes go: validated, committed, and their outcome resolved."""

    async def put(self, envelope: Envelope) -> asyncio.Future[Outcome]:
        """Accept an envelope (blocking while full); the future resolves after its commit."""
        ...

    async def submit(self, envelope: Envelope) -> Outcome:
        """Put an envelope and wait for its outcome."""
        ...

    def dead_letter(self, letter: DeadLetter) -> asyncio.Future[Outcome]:
        """Record input refused before it became an envelope; never blocks."""
        ...


@dataclass(frozen=True, slots=True)
class DriverContext:
    """What every running driver gets besides its own configuration."""

    sink: Sink
    directory: Callable[[], Directory]  # the newest snapshot; the service reloads it
    clock: Callable[[], datetime]
    telemetry: Telemetry


class Driver(Protocol):
    """A source of readings. Runs until cancelled; an exception gets it restarted."""

    name: str

    async def run(self, ctx: DriverContext) -> None: ...
