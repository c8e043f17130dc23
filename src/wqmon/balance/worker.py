"""`python -m wqmon.balance.worker`: recompute dirty rollup hours in a process of its own.

`wqmon ingest` only marks dirty hours (cheap, in the writer's commit listener) and starts this
worker as a child: recomputing rollups is CPU-bound pure Python, and in the ingest process it
would compete with the drivers and the writer for the GIL (profiled: a third of ingest's CPU at
20k readings/s). The worker exits when its parent dies, so a SIGKILLed ingest leaves nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from types import FrameType

import psycopg

from wqmon.balance.job import RollupMaintainer
from wqmon.settings import Settings, libpq_url

log = logging.getLogger("wqmon.balance.worker")
PARENT_PID_ENV = "WQMON_WORKER_PARENT_PID"


def run(database_url: str, interval_s: float = 1.0) -> None:
    """Recompute due hours until the parent process goes away or SIGTERM arrives."""
    # The spawner passes its PID: had it died while this process was still starting, getppid()
    # would already name init, and the worker would wait for init to die instead.
    parent = int(os.environ.get(PARENT_PID_ENV) or os.getppid())
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    maintainer = RollupMaintainer(database_url)
    while not stopping and os.getppid() == parent:
        try:
            with psycopg.connect(libpq_url(database_url), connect_timeout=5) as conn:
                while not stopping and os.getppid() == parent and maintainer.process(conn) > 0:
                    pass
        except (psycopg.Error, OSError) as exc:
            log.debug("rollup worker waiting for the database: %s", exc)
        time.sleep(interval_s)


def main() -> int:
    # A terminal's Ctrl-C signals the whole process group: the parent (ingest, the demo) stops
    # this worker with SIGTERM after its own drain, so SIGINT here would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run(settings.database_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
