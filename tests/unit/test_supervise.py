"""The driver supervisor: restarts failures, but a cancellation always ends it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wqmon.drivers.base import DriverContext, supervise


class SwallowsCancellation:
    """Like pymodbus: a cancelled request comes back as an I/O error."""

    name = "swallower"

    def __init__(self) -> None:
        self.runs = 0
        self.started = asyncio.Event()

    async def run(self, _ctx: DriverContext) -> None:
        self.runs += 1
        self.started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError as exc:
            raise OSError("request cancelled") from exc


class FailsTwice:
    name = "flaky"

    def __init__(self) -> None:
        self.runs = 0

    async def run(self, _ctx: DriverContext) -> None:
        self.runs += 1
        if self.runs <= 2:
            raise OSError("device gone")


async def test_cancellation_turned_into_an_error_still_stops_the_driver() -> None:
    driver = SwallowsCancellation()
    ctx: Any = None
    task = asyncio.create_task(supervise(driver, ctx, base_s=0.001))
    await driver.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)
    assert driver.runs == 1


async def test_failures_are_restarted_until_the_driver_returns() -> None:
    driver = FailsTwice()
    ctx: Any = None
    await asyncio.wait_for(supervise(driver, ctx, base_s=0.001), 30)
    assert driver.runs == 3
