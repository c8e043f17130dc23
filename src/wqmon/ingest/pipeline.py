"""The ingest pipeline: drivers put envelopes, a batcher groups them, writers commit them.

    driver ──put()──▶ validate (in the caller) ──▶ Queue[Prepared] (bounded: blocks) ──▶ batcher
        ──▶ Queue[batch] (bounded: blocks) ──▶ writer × N ──commit──▶ outcome futures ──▶ ack

The storage path blocks when full, so backpressure reaches the sources (MQTT reads stop, HJ 212
replies wait, HTTP requests wait). A writer that loses the database retries the same batch with
jittered backoff until it commits; nothing accepted is dropped, and nothing is acknowledged
before its commit. Shutdown is ordered: stop the sources, drain the queues, stop the writers.

The batcher, the writers and the spool replayer run under `wqmon.supervision.supervise`: one that
fails unexpectedly is logged, counted (`wqmon_task_restarts_total`) and restarted, and the
batch it held is kept for its next run (the writer's in `_held`, the batcher's in `_gathering`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import psycopg

from wqmon.errors import RejectedReading
from wqmon.ingest.columns import ReadingBlock, validate_block
from wqmon.ingest.directory import Directory
from wqmon.ingest.envelope import (
    Envelope,
    Outcome,
    Prepared,
    Rejection,
    period_as_raw,
    reading_as_raw,
    utcnow,
)
from wqmon.ingest.metrics import IngestMetrics
from wqmon.ingest.spool_segments import Spool
from wqmon.ingest.spooler import Spooler
from wqmon.ingest.stored import ReadingBatch, StoredReadings
from wqmon.ingest.validate import Context, Limits, validate_period
from wqmon.model import DeadLetter, PeriodRecord, Reading
from wqmon.settings import Settings, spool_folder
from wqmon.store.writer import ReadingWriter, StoredHook, WriteResult
from wqmon.supervision import PermanentHandler, backoff, restart_counter, start_supervised

log = logging.getLogger(__name__)

ConnectFn = Callable[[], Awaitable[psycopg.AsyncConnection[Any]]]
CommitListener = Callable[[StoredReadings, list[PeriodRecord]], None]


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """Bounds and timings of the pipeline (from Settings)."""

    queue_size: int = 256
    batch_size: int = 10_000
    batch_linger_s: float = 0.1
    writers: int = 1
    future_tolerance_s: float = 300.0
    retry_base_s: float = 0.2
    retry_cap_s: float = 5.0
    spool_dir: Path | None = None  # None: no spool, writers retry in place while the DB is down
    spool_max_bytes: int = 1024**3


class Pipeline:
    """Validate, batch and store envelopes; resolve each envelope's outcome after commit."""

    def __init__(
        self,
        connect: ConnectFn,
        directory: Directory,
        config: PipelineConfig | None = None,
        metrics: IngestMetrics | None = None,
        clock: Callable[[], datetime] = utcnow,
        *,
        on_stored: StoredHook | None = None,
    ) -> None:
        """`on_stored(conn, readings, periods)` runs in each storing transaction (new rows)."""
        self.config = config or PipelineConfig()
        self.directory = directory
        self.metrics = metrics or IngestMetrics()
        self._connect = connect
        self._clock = clock
        self._limits = Limits(future_tolerance=timedelta(seconds=self.config.future_tolerance_s))
        self._queue: asyncio.Queue[Prepared] = asyncio.Queue(self.config.queue_size)
        self._batches: asyncio.Queue[list[Prepared]] = asyncio.Queue(self.config.writers)
        self._tasks: list[asyncio.Task[None]] = []
        self._listeners: list[CommitListener] = []
        self._writer = ReadingWriter(on_stored)
        self._held: dict[int, list[Prepared]] = {}  # writer n's batch, kept across a restart
        self._gathering: list[Prepared] = []  # the batcher's batch, kept across a restart
        self._idle_writers = 0  # writers waiting for a batch (group commit, `_gather`)
        self._wake = asyncio.Event()  # an envelope arrived or a writer went idle
        self.spool: Spooler | None = None
        if self.config.spool_dir is not None:
            self.spool = Spooler(
                Spool(self.config.spool_dir, self.config.spool_max_bytes), self, self.metrics
            )

    # -- driver side ---------------------------------------------------------------------------

    async def put(self, envelope: Envelope) -> asyncio.Future[Outcome]:
        """Validate and enqueue an envelope; blocks while the pipeline is full.

        Returns a future that resolves after the envelope's records are committed.
        """
        prepared = self._prepare(envelope)
        self.metrics.received.labels(envelope.source).inc(len(envelope.readings))
        self.metrics.inflight.inc()
        await self._queue.put(prepared)
        self._wake.set()
        return prepared.done

    async def submit(self, envelope: Envelope) -> Outcome:
        """Put an envelope and wait until it is committed."""
        return await (await self.put(envelope))

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Call `listener(readings, periods)` with the newly stored rows after each commit.

        Side branches (alarms, rollups) must not block: they queue with their own drop policy.
        """
        self._listeners.append(listener)

    def _prepare(self, envelope: Envelope) -> Prepared:
        ctx = Context(
            self.directory,
            self._clock(),
            envelope.source,
            envelope.received_at,
            self._limits,
            envelope.allowed_sites,
        )
        outcome = Outcome()
        dead = list(envelope.rejected)
        outcome.rejected.extend(Rejection(-1, d.reason, d.detail) for d in envelope.rejected)
        block, refusals = validate_block(envelope.readings, ctx)
        for index, exc in refusals:
            outcome.rejected.append(Rejection(index, exc.reason, exc.detail))
            dead.append(self._dead(envelope, reading_as_raw(envelope.readings[index]), exc))
        periods: list[PeriodRecord] = []
        for raw_period in envelope.periods:
            try:
                periods.append(validate_period(raw_period, ctx))
            except RejectedReading as exc:
                outcome.rejected.append(Rejection(-1, exc.reason, exc.detail))
                dead.append(self._dead(envelope, period_as_raw(raw_period), exc))
        for rejection in outcome.rejected:
            self.metrics.rejected.labels(envelope.source, rejection.reason).inc()
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        return Prepared(envelope.source, block, periods, dead, outcome, done)

    @staticmethod
    def _dead(envelope: Envelope, raw: bytes, exc: RejectedReading) -> DeadLetter:
        return DeadLetter(
            envelope.source, envelope.peer, raw, exc.reason, exc.detail, envelope.received_at
        )

    def dead_letter(self, letter: DeadLetter) -> asyncio.Future[Outcome]:
        """Record input refused before it became an envelope (a broken frame, bad JSON).

        Never blocks: a dead letter waits in the queue like any envelope if there is room, and
        is otherwise counted and logged, so a flood of garbage cannot stall the good sources.
        """
        self.metrics.rejected.labels(letter.source, letter.reason).inc()
        outcome = Outcome(rejected=[Rejection(-1, letter.reason, letter.detail)])
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        prepared = Prepared(
            letter.source,
            ReadingBlock.empty(letter.source, letter.received_at),
            [],
            [letter],
            outcome,
            done,
        )
        try:
            self._queue.put_nowait(prepared)
            self._wake.set()
            self.metrics.inflight.inc()
        except asyncio.QueueFull:
            log.warning(
                "pipeline full: dead letter from %s not stored (%s)", letter.peer, letter.reason
            )
            done.set_result(outcome)
        return done

    async def connect_store(self) -> psycopg.AsyncConnection[Any]:
        """A new connection to the database (for the spool's replayer)."""
        return await self._connect()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, on_permanent: PermanentHandler | None = None) -> None:
        """Start the batcher, the writers and the spool replayer as supervised tasks."""
        options: dict[str, Any] = {
            "restarts": restart_counter(self.metrics.registry),
            "base_s": self.config.retry_base_s,
            "cap_s": self.config.retry_cap_s,
            "on_permanent": on_permanent,
        }
        self._tasks.append(start_supervised("ingest:batcher", self._batch_loop, **options))
        for n in range(self.config.writers):
            self._tasks.append(
                start_supervised(f"ingest:writer:{n}", partial(self._write_loop, n), **options)
            )
        if self.spool is not None:
            self._tasks.append(start_supervised("ingest:spool", self.spool.replay_loop, **options))

    @property
    def store_available(self) -> bool:
        """False while batches go to the spool because the database failed (readiness)."""
        return self.spool is None or not self.spool.active

    async def drain(self, limit_s: float | None = None) -> None:
        """Wait until everything put so far is committed (sources must be stopped first)."""
        async with asyncio.timeout(limit_s):
            await self._queue.join()
            await self._batches.join()

    async def stop(self, drain_timeout: float | None = 30.0) -> None:
        """Drain what was accepted, then stop the batcher and writers."""
        with contextlib.suppress(TimeoutError):
            await self.drain(drain_timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- batcher and writers -------------------------------------------------------------------

    async def _batch_loop(self) -> None:
        batch = self._gathering  # not empty after a restart: that batch goes out first
        while True:
            if not batch:
                batch.append(await self._queue.get())
            await self._gather(batch)
            await self._hand_over(list(batch))
            for _ in batch:
                self._queue.task_done()
            batch.clear()

    async def _gather(self, batch: list[Prepared]) -> None:
        """Add envelopes to `batch` until it is full, a writer is idle, or the linger is over.

        Group commit: a writer with nothing to do takes what is there at once, and what arrives
        during its commit makes the next batch. Under load the writers are busy and batches
        fill up to `batch_size`; with a few waiting clients (HTTP, HJ 212 loggers awaiting their
        9014) nobody waits out the linger for envelopes that are not coming.
        """
        size = sum(len(p.block) + 1 for p in batch)
        deadline = time.monotonic() + self.config.batch_linger_s
        while size < self.config.batch_size:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if self._writer_waiting() or remaining <= 0:
                    return
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), remaining)
                except TimeoutError:
                    return
                continue
            batch.append(item)
            size += len(item.block) + 1

    def _writer_waiting(self) -> bool:
        """A writer waits for a batch and none is queued for it."""
        return self._idle_writers > self._batches.qsize()

    async def _hand_over(self, batch: list[Prepared]) -> None:
        await self._batches.put(batch)

    async def _next_batch(self) -> list[Prepared]:
        self._idle_writers += 1
        self._wake.set()  # the batcher hands over what it has gathered
        try:
            return await self._batches.get()
        finally:
            self._idle_writers -= 1

    async def _write_loop(self, n: int) -> None:
        conn: psycopg.AsyncConnection[Any] | None = None
        try:
            while True:
                # A batch held from a run that failed is committed before anything new.
                batch = self._held.get(n) or await self._next_batch()
                self._held[n] = batch
                conn = await self._commit_with_retry(conn, batch, n)
                del self._held[n]
                self._batches.task_done()
        finally:
            # Closed on any exit: after an unexpected error the session may be mid-transaction.
            if conn is not None:
                await conn.close()

    async def _commit_with_retry(
        self, conn: psycopg.AsyncConnection[Any] | None, batch: list[Prepared], n: int
    ) -> psycopg.AsyncConnection[Any] | None:
        attempt = 0
        while True:
            if self.spool is not None and self.spool.active and await self.spool.take(batch):
                return conn
            try:
                if conn is None or conn.closed:
                    conn = await self._connect()
                started = time.monotonic()
                result = await self._write(conn, batch)
            except psycopg.OperationalError as exc:
                attempt += 1
                self.metrics.store_errors.labels("unavailable").inc()
                level = logging.WARNING if attempt == 1 else logging.DEBUG
                log.log(level, "writer %d: database unavailable (%s); retrying", n, exc)
                if conn is not None:
                    await conn.close()
                conn = None
                if self.spool is not None and not self.spool.full:
                    self.spool.active = True  # this batch and those after it go to the spool
                    continue
                cfg = self.config
                await asyncio.sleep(
                    backoff(attempt, base_s=cfg.retry_base_s, cap_s=cfg.retry_cap_s)
                )
            except BaseException:
                # Unexpected (the supervisor restarts the writer) or cancelled: this connection
                # may be mid-transaction, and the caller never sees it; close it here.
                if conn is not None:
                    await conn.close()
                raise
            else:
                self.metrics.batch_seconds.observe(time.monotonic() - started)
                self._settle(batch, result)
                return conn

    async def _write(
        self, conn: psycopg.AsyncConnection[Any], batch: list[Prepared]
    ) -> WriteResult:
        readings = ReadingBatch([p.block for p in batch])
        periods = [r for p in batch for r in p.periods]
        dead = [d for p in batch for d in p.dead_letters]
        return await self._writer.write(conn, readings, periods, dead)

    async def write_rows(
        self,
        conn: psycopg.AsyncConnection[Any],
        readings: list[Reading],
        periods: list[PeriodRecord],
        dead: list[DeadLetter],
    ) -> None:
        """Commit rows replayed from the spool and tell the commit listeners what was new."""
        result = await self._writer.write(conn, readings, periods, dead)
        new = result.new_reading_keys
        refused = {id(p) for p, _ in result.refused_periods}
        self._notify(
            StoredReadings.of_rows(
                [r for r in readings if new is None or (r.channel_id, r.ts) in new]
            ),
            [p for p in periods if id(p) not in refused],
        )

    def settle_spooled(self, batch: list[Prepared]) -> None:
        """Acknowledge envelopes whose rows are safe in the spool (counts are what was accepted)."""
        for prepared in batch:
            prepared.outcome.stored = len(prepared.block)
            prepared.outcome.periods_stored = len(prepared.periods)
            prepared.outcome.spooled = True
            self.metrics.inflight.dec()
            if not prepared.done.done():
                prepared.done.set_result(prepared.outcome)

    def _settle(self, batch: list[Prepared], result: WriteResult) -> None:
        """Fill each envelope's outcome from what the commit stored, then wake its driver."""
        refused_readings = {id(r): err for r, err in result.refused_readings}
        refused_periods = {id(p): err for p, err in result.refused_periods}
        stored_blocks: list[ReadingBlock] = []
        stored_readings: list[Reading] = []
        stored_periods: list[PeriodRecord] = []
        all_new = result.new_reading_keys is None and not result.refused_readings
        for prepared in batch:
            outcome = prepared.outcome
            if all_new:  # the common case: no per-reading work (listeners read the columns)
                outcome.stored += len(prepared.block)
                stored_blocks.append(prepared.block)
            for reading in [] if all_new else prepared.readings:
                error = refused_readings.get(id(reading))
                if error is not None:
                    outcome.rejected.append(Rejection(-1, "store_refused", error))
                    self.metrics.rejected.labels(prepared.source, "store_refused").inc()
                elif (
                    result.new_reading_keys is None
                    or (reading.channel_id, reading.ts) in result.new_reading_keys
                ):
                    outcome.stored += 1
                    stored_readings.append(reading)
                else:
                    outcome.duplicates += 1
                    outcome.conflicts += (reading.channel_id, reading.ts) in result.conflicting_keys
            for period in prepared.periods:
                if id(period) in refused_periods:
                    outcome.rejected.append(
                        Rejection(-1, "store_refused", refused_periods[id(period)])
                    )
                else:
                    stored_periods.append(period)
            outcome.periods_stored = len(prepared.periods) - sum(
                1 for p in prepared.periods if id(p) in refused_periods
            )
            self.metrics.stored.labels(prepared.source).inc(outcome.stored)
            self.metrics.duplicates.labels(prepared.source).inc(outcome.duplicates)
            self.metrics.conflicts.labels(prepared.source).inc(outcome.conflicts)
            self.metrics.periods_stored.labels(prepared.source).inc(outcome.periods_stored)
            self.metrics.inflight.dec()
            if not prepared.done.done():
                prepared.done.set_result(outcome)
        stored = (
            StoredReadings(stored_blocks) if all_new else StoredReadings.of_rows(stored_readings)
        )
        self._notify(stored, stored_periods)

    def _notify(self, readings: StoredReadings, periods: list[PeriodRecord]) -> None:
        for listener in self._listeners:
            try:
                listener(readings, periods)
            except Exception:
                log.exception("commit listener failed")


if TYPE_CHECKING:
    from wqmon.ingest.contract import Sink

    _PIPELINE_IS_A_SINK: type[Sink] = Pipeline  # mypy proves the contract here


def pipeline_config(settings: Settings, role: str = "ingest") -> PipelineConfig:
    return PipelineConfig(
        spool_dir=spool_folder(settings, role),
        spool_max_bytes=settings.spool_max_bytes,
        queue_size=settings.queue_size,
        batch_size=settings.batch_size,
        batch_linger_s=settings.batch_linger_s,
        writers=settings.writers,
        future_tolerance_s=settings.future_tolerance_s,
    )
