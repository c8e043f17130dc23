"""The pipeline's use of the spool: take batches while the database is down, replay them after.

While `active`, writers hand every batch to `take()` (in order, so replay keeps arrival order);
the replayer commits the oldest segment's batches and removes the segment, and when the spool is
empty it switches the writers back to the database.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import psycopg
from prometheus_client import Counter, Gauge

from wqmon.ingest.metrics import IngestMetrics
from wqmon.ingest.spool_segments import Spool, SpooledBatch, SpoolFull
from wqmon.supervision import backoff

if TYPE_CHECKING:
    from wqmon.ingest.envelope import Prepared
    from wqmon.ingest.pipeline import Pipeline

log = logging.getLogger(__name__)


class Spooler:
    """Moves batches between the pipeline, the spool folder and the database."""

    def __init__(self, spool: Spool, pipeline: Pipeline, metrics: IngestMetrics) -> None:
        self.spool = spool
        self._pipeline = pipeline
        self._lock = asyncio.Lock()
        self.full = False
        # Left over from a previous run (a crash while the database was down): replay first.
        self.active = not spool.empty
        r = metrics.registry
        self._appended = Counter(
            "wqmon_spool_appended_batches", "Batches written to the spool", registry=r
        )
        self._replayed = Counter(
            "wqmon_spool_replayed_batches", "Spooled batches committed", registry=r
        )
        self._bytes = Gauge("wqmon_spool_bytes", "Bytes in the spool", registry=r)
        self._full = Gauge("wqmon_spool_full", "1 while the spool is at its size bound", registry=r)
        self._bytes.set(spool.size_bytes)

    async def take(self, batch: list[Prepared]) -> bool:
        """Append a batch durably and acknowledge it; False when the spool is full."""
        rows = SpooledBatch(
            [r for p in batch for r in p.readings],
            [r for p in batch for r in p.periods],
            [d for p in batch for d in p.dead_letters],
        )
        async with self._lock:
            try:
                await asyncio.to_thread(self.spool.append, rows)
            except SpoolFull as exc:
                problem = str(exc)
            else:
                problem = ""
        if problem:
            if not self.full:
                log.error("%s: holding sources back until the database returns", problem)
            self.full = True
            self._full.set(1)
            return False
        self._appended.inc()
        self._bytes.set(self.spool.size_bytes)
        self._pipeline.settle_spooled(batch)
        return True

    async def replay_loop(self) -> None:
        """Forever: when active, commit the spool's segments oldest first."""
        attempt = 0
        while True:
            if not self.active:
                await asyncio.sleep(0.2)
                continue
            try:
                await self._replay_all()
                attempt = 0
            except psycopg.OperationalError as exc:
                attempt += 1
                log.debug("spool replay waiting for the database: %s", exc)
                await asyncio.sleep(backoff(attempt, base_s=0.2, cap_s=5.0))

    async def _replay_all(self) -> None:
        conn: psycopg.AsyncConnection[Any] = await self._pipeline.connect_store()
        try:
            while True:
                async with self._lock:
                    oldest = await asyncio.to_thread(self.spool.oldest)
                    if oldest is None:
                        self.active = False
                        self.full = False
                        self._full.set(0)
                        log.info("spool replayed: writing to the database again")
                        return
                path, batches = oldest
                for rows in batches:
                    await self._pipeline.write_rows(
                        conn, rows.readings, rows.periods, rows.dead_letters
                    )
                    self._replayed.inc()
                await asyncio.to_thread(self.spool.remove, path)
                self._bytes.set(self.spool.size_bytes)
        finally:
            await conn.close()
