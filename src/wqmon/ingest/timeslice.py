"""A cooperative time slice for a task that would otherwise run for long without suspending.

`asyncio.Queue.get()` returns at once while the queue has items, so a consumer draining a
backlog never gives the event loop a turn: measured on the MQTT driver with a backlog, each of
the writer's round trips to PostgreSQL (BEGIN, SAVEPOINT, COPY, COMMIT) waited ≈ 25 ms behind
it, a batch took 146 ms instead of 47 ms, and HJ 212 sessions on the same loop waited as long
(docs/performance-notes.md §7). A checkpoint after each unit of work yields once the slice is
used up, which bounds that wait by the slice instead of by the backlog.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

DEFAULT_SLICE_S = 0.002


class TimeSlice:
    """Yields to the event loop when `slice_s` has passed since the task last gave it a turn."""

    def __init__(
        self, slice_s: float = DEFAULT_SLICE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.slice_s = slice_s
        self._clock = clock
        self._since = clock()
        self.yields = 0

    def restart(self) -> None:
        """The task has just suspended by itself (waited for input): a new slice starts."""
        self._since = self._clock()

    async def checkpoint(self) -> None:
        if self._clock() - self._since < self.slice_s:
            return
        self.yields += 1
        await asyncio.sleep(0)
        self._since = self._clock()
