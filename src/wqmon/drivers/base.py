"""The driver supervisor; the contract itself lives in `wqmon.ingest.contract` (re-exported here).

A driver is an object with a `name` and an `async run(ctx)` that runs until cancelled (see
docs/drivers.md). An exception other than cancellation makes the supervisor
(`wqmon.supervision`) restart it with capped backoff; a `PermanentError` (bad configuration)
stops the service instead.
"""

from __future__ import annotations

from prometheus_client import Counter

from wqmon import supervision
from wqmon.ingest.contract import Driver, DriverContext, Sink
from wqmon.supervision import PermanentHandler

__all__ = ["Driver", "DriverContext", "Sink", "supervise"]


async def supervise(
    driver: Driver,
    ctx: DriverContext,
    *,
    base_s: float = 0.5,
    cap_s: float = 30.0,
    restarts: Counter | None = None,
    on_permanent: PermanentHandler | None = None,
) -> None:
    """Run a driver under `wqmon.supervision.supervise` (kept here for existing imports).

    A driver that returns is done; one that raises is restarted with capped full-jitter
    backoff; a permanent error (bad configuration) goes to `on_permanent`.
    """
    await supervision.supervise(
        f"driver:{driver.name}",
        lambda: driver.run(ctx),
        restarts=restarts,
        base_s=base_s,
        cap_s=cap_s,
        on_permanent=on_permanent,
        restart_on_return=False,
    )
