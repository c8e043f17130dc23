"""The cooperative time slice: a long-running consumer gives other tasks a turn."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from wqmon.ingest.timeslice import TimeSlice


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run_beside(consumer: Callable[[list[str]], Awaitable[None]]) -> list[str]:
    """Run `consumer` with another task scheduled beside it; the order things happened in."""
    order: list[str] = []

    async def other() -> None:
        order.append("other ran")

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(other())
        await consumer(order)
        await task

    asyncio.run(main())
    return order


def test_no_yield_within_the_slice() -> None:
    clock = Clock()
    share = TimeSlice(0.002, clock)

    async def consumer(order: list[str]) -> None:
        for _ in range(3):
            clock.now += 0.0005  # three units of work, 1.5 ms in all
            await share.checkpoint()
        order.append("consumer done")

    assert run_beside(consumer) == ["consumer done", "other ran"]
    assert share.yields == 0


def test_yields_once_the_slice_is_used_up() -> None:
    clock = Clock()
    share = TimeSlice(0.002, clock)

    async def consumer(order: list[str]) -> None:
        for i in range(4):
            clock.now += 0.001
            order.append(f"unit {i}")
            await share.checkpoint()

    # 2 ms are used up after the second unit: the other task runs before the third.
    assert run_beside(consumer) == ["unit 0", "unit 1", "other ran", "unit 2", "unit 3"]
    assert share.yields == 2  # after units 1 and 3


def test_restart_begins_a_new_slice() -> None:
    clock = Clock()
    share = TimeSlice(0.002, clock)

    async def main() -> None:
        clock.now += 0.0015
        share.restart()  # the task waited for input: the 1.5 ms before do not count
        clock.now += 0.0015
        await share.checkpoint()

    asyncio.run(main())
    assert share.yields == 0
