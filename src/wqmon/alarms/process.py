"""The alarm engine in a child process of `wqmon ingest`, fed with committed readings.

Evaluating rules is CPU-bound Python; inside ingest it competes with the drivers and the writer
for the GIL (ADR 0005). The parent's commit listener encodes each batch (the readings'
arrays, `wqmon.alarms.frames`) and queues it for the child's stdin; the queue is bounded in
readings and drops and counts when full (`wqmon_alarm_dropped_readings_total`; what waits is
`wqmon_alarm_pending_readings`). The child's engine waits for room instead of dropping, so a slow
engine stops the child reading its stdin and the drops happen here, where the metrics see them.
The child (`python -m wqmon.alarms.worker`) runs the unchanged engine, its clock, the push relay
and the webhooks; it stops when its stdin
closes — at the end of `stop()`, or when the parent dies. A child that dies is noticed by its
supervisor (`wqmon.supervision`), logged, counted and started again.
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prometheus_client import Counter
from pydantic import SecretStr

from wqmon.alarms.frames import encode_readings
from wqmon.model import PeriodRecord, Reading
from wqmon.settings import Settings
from wqmon.supervision import PermanentHandler, TaskEnded, start_supervised
from wqmon.telemetry import AlarmCounts

log = logging.getLogger(__name__)
FRAME = struct.Struct(">I")


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
        self._task: asyncio.Task[None] | None = None
        self._spawned = asyncio.Event()
        self.spawned = 0  # children started (1 + restarts)

    async def start(
        self, restarts: Counter | None = None, on_permanent: PermanentHandler | None = None
    ) -> None:
        """Start the child under supervision: one that dies is logged, counted and restarted
        (what it had queued goes to the new child; a frame being written when it died is lost)."""
        self._task = start_supervised(
            "alarms:child", self._run_child, restarts=restarts, on_permanent=on_permanent
        )
        await asyncio.wait(
            [self._task, asyncio.ensure_future(self._spawned.wait())],
            return_when=asyncio.FIRST_COMPLETED,
        )

    @property
    def pid(self) -> int | None:
        """The current child's PID (tests, logs)."""
        return None if self._proc is None else self._proc.pid

    async def _run_child(self) -> None:
        """One child's life: spawn, send the settings, feed it until it exits (an error)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "wqmon.alarms.worker",
            stdin=asyncio.subprocess.PIPE,
            env=dict(os.environ),
            process_group=0,  # a terminal's Ctrl-C reaches only ingest, which stops us in order
        )
        self._proc = proc
        self.spawned += 1
        self._spawned.set()
        try:
            assert proc.stdin is not None  # noqa: S101 - created with a pipe just above
            proc.stdin.write(settings_frame(self.settings))
            await proc.stdin.drain()
            self._ready.set()  # frames queued while no child ran go to this one
            feeder = asyncio.ensure_future(self._feed(proc))
            exited = asyncio.ensure_future(proc.wait())
            try:
                await asyncio.wait([feeder, exited], return_when=asyncio.FIRST_COMPLETED)
            finally:
                feeder.cancel()
                await asyncio.gather(feeder, return_exceptions=True)
            code = await proc.wait()  # a feeder error means a broken pipe: the child is gone
        finally:
            await self._end_child(proc)
        raise TaskEnded(f"alarm worker (PID {proc.pid}) exited with code {code}")

    def on_commit(self, readings: Sequence[Reading], _periods: list[PeriodRecord]) -> None:
        """Pipeline commit listener: never blocks."""
        if not readings:
            return
        if self._pending + len(readings) > self.max_pending:
            self.dropped += len(readings)
            return
        payload = encode_readings(readings)
        self._frames.append((FRAME.pack(len(payload)) + payload, len(readings)))
        self._pending += len(readings)
        self._idle.clear()
        self._ready.set()

    async def _feed(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None  # noqa: S101 - created with a pipe
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._frames:
                frame, count = self._frames[0]
                proc.stdin.write(frame)
                await proc.stdin.drain()
                self._frames.popleft()
                self._pending -= count
                self.handed_over += count
            self._idle.set()

    def counts(self) -> AlarmCounts:
        """Readings handed to the child for evaluation, those dropped and those waiting (for the
        metrics)."""
        return AlarmCounts(self.handed_over, self.dropped, self._pending)

    async def _end_child(self, proc: asyncio.subprocess.Process, timeout_s: float = 15.0) -> None:
        """Close the child's stdin (it drains its engine and exits), kill it if it lingers."""
        if proc.returncode is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), timeout_s)
        except TimeoutError:
            log.warning("alarm worker did not stop in %.0f s; killing it", timeout_s)
            proc.kill()
            await proc.wait()

    async def stop(self, timeout_s: float = 15.0) -> None:
        """Hand over what is queued, then stop the child (cancelling its supervisor closes the
        child's stdin and waits for it to finish)."""
        task = self._task
        if task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if self.dropped:
            log.warning("alarm worker was behind: %d readings not evaluated live", self.dropped)
