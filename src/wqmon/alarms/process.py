"""The alarm engine in a child process of `wqmon ingest`, fed with committed readings.

Evaluating rules is CPU-bound Python; inside ingest it competes with the drivers and the writer
for the GIL (ADR 0005). The parent's commit listener encodes each batch (msgpack of the reading
tuples) and queues it for the child's stdin; the queue is bounded in readings and drops and counts
when full, the same policy as the engine's own queue. The child (`python -m wqmon.alarms.worker`)
runs the unchanged engine, its clock, the push relay and the webhooks; it stops when its stdin
closes — at the end of `stop()`, or when the parent dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import struct
import sys
from collections import deque
from pathlib import Path
from typing import Any

import msgspec
from pydantic import SecretStr

from wqmon.model import PeriodRecord, Reading
from wqmon.settings import Settings
from wqmon.telemetry import AlarmCounts

log = logging.getLogger(__name__)
FRAME = struct.Struct(">I")
_encoder = msgspec.msgpack.Encoder()


def settings_frame(settings: Settings) -> bytes:
    """The parent's settings, secrets included, as the child's first frame."""
    data: dict[str, Any] = {name: _plain(value) for name, value in settings.model_dump().items()}
    payload = json.dumps(data).encode()
    return FRAME.pack(len(payload)) + payload


def _plain(value: object) -> object:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    return value


class AlarmProcess:
    """Owns the child process and the bounded hand-over queue."""

    def __init__(self, settings: Settings, max_pending_readings: int = 500_000) -> None:
        self.settings = settings
        self.max_pending = max_pending_readings
        self.dropped = 0
        self.handed_over = 0  # readings written to the child (which evaluates them)
        self._frames: deque[tuple[bytes, int]] = deque()
        self._pending = 0
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._proc: asyncio.subprocess.Process | None = None
        self._feeder: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "wqmon.alarms.worker",
            stdin=asyncio.subprocess.PIPE,
            env=dict(os.environ),
        )
        assert self._proc.stdin is not None  # noqa: S101 - created with a pipe just above
        self._proc.stdin.write(settings_frame(self.settings))
        await self._proc.stdin.drain()
        self._feeder = asyncio.create_task(self._feed(), name="alarms:feed-child")

    def on_commit(self, readings: list[Reading], _periods: list[PeriodRecord]) -> None:
        """Pipeline commit listener: never blocks."""
        if not readings:
            return
        if self._pending + len(readings) > self.max_pending:
            self.dropped += len(readings)
            return
        payload = _encoder.encode(readings)  # tuples: msgpack arrays
        self._frames.append((FRAME.pack(len(payload)) + payload, len(readings)))
        self._pending += len(readings)
        self._idle.clear()
        self._ready.set()

    async def _feed(self) -> None:
        proc = self._proc
        assert proc is not None  # noqa: S101 - started in start()
        assert proc.stdin is not None  # noqa: S101
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._frames:
                frame, count = self._frames.popleft()
                proc.stdin.write(frame)
                await proc.stdin.drain()
                self._pending -= count
                self.handed_over += count
            self._idle.set()

    def counts(self) -> AlarmCounts:
        """Readings handed to the child for evaluation, and those dropped (for the metrics)."""
        return AlarmCounts(self.handed_over, self.dropped)

    async def stop(self, timeout_s: float = 15.0) -> None:
        """Hand over what is queued, close the child's stdin and wait for it to finish."""
        proc, feeder = self._proc, self._feeder
        if proc is None or feeder is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), timeout_s)
        except TimeoutError:
            log.warning("alarm worker did not stop in %.0f s; killing it", timeout_s)
            proc.kill()
            await proc.wait()
        if self.dropped:
            log.warning("alarm worker was behind: %d readings not evaluated live", self.dropped)
