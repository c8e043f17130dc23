"""The driver supervisor; the contract itself lives in `wqmon.ingest.contract` (re-exported here).

A driver is an object with a `name` and an `async run(ctx)` that runs until cancelled (see
docs/drivers.md). An exception other than cancellation makes the supervisor restart it with
jittered backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random

from wqmon.ingest.contract import Driver, DriverContext, Sink

__all__ = ["Driver", "DriverContext", "Sink", "supervise"]

log = logging.getLogger(__name__)


async def supervise(
    driver: Driver, ctx: DriverContext, *, base_s: float = 0.5, cap_s: float = 30.0
) -> None:
    """Run a driver forever, restarting it after failures with full-jitter backoff.

    The first failure is logged as a warning, repeats at debug level until the driver has run
    cleanly for a while (Home Assistant's log-once-while-unavailable).
    """
    failures = 0
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            await driver.run(ctx)
        except Exception as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # A library turned our cancellation into an error (pymodbus does, into an I/O
                # error): stopping wins, or the driver would be restarted and never end.
                raise asyncio.CancelledError from exc
            if loop.time() - started > cap_s:
                failures = 0
            failures += 1
            level = logging.WARNING if failures == 1 else logging.DEBUG
            log.log(
                level, "driver %s failed (%s); restarting", driver.name, exc, exc_info=failures == 1
            )
            delay = random.uniform(0, min(cap_s, base_s * 2**failures))  # noqa: S311 - jitter
            await asyncio.sleep(delay)
        else:
            return
