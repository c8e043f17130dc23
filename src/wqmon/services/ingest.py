"""`wqmon ingest`: the pipeline, its drivers, a registry reloader and the metrics endpoint.

Shutdown is ordered (docs/ARCHITECTURE.md, Shutdown): stop the drivers (no new input), drain the pipeline (every
accepted envelope committed and acknowledged), then stop the writers.

Every long-running task, and the rollup and alarm child processes, runs under
`wqmon.supervision.supervise` (docs/ARCHITECTURE.md, Supervision): restarted with backoff and
counted in `wqmon_task_restarts_total{task}`. A permanent error (bad configuration) in any of them
stops the service: `run_until_signalled` raises it and `wqmon ingest` exits non-zero, one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import psycopg
from prometheus_client import start_http_server

from wqmon.alarms.engine import AlarmEngine
from wqmon.alarms.process import AlarmProcess
from wqmon.alarms.service import start_engine
from wqmon.balance.job import RollupMaintainer
from wqmon.balance.worker import PARENT_PID_ENV
from wqmon.drivers.base import supervise
from wqmon.ingest.contract import Driver, DriverContext
from wqmon.ingest.directory import Directory, load_directory
from wqmon.ingest.envelope import utcnow
from wqmon.ingest.pipeline import Pipeline, pipeline_config
from wqmon.settings import Settings, libpq_url
from wqmon.supervision import TaskEnded, TaskFailed, restart_counter, start_supervised
from wqmon.telemetry import AlarmCounts, Telemetry

log = logging.getLogger(__name__)

DriverFactory = Callable[[Settings], Sequence[Driver]]


class IngestService:
    """Owns the pipeline and the drivers for the lifetime of `wqmon ingest` (or the demo)."""

    def __init__(
        self, settings: Settings, drivers: Sequence[Driver], telemetry: Telemetry | None = None
    ) -> None:
        self.settings = settings
        self.drivers = list(drivers)
        # One registry for the pipeline, the drivers and the alarms, served on the metrics port.
        self.telemetry = telemetry or Telemetry()
        self.directory = Directory()
        self.pipeline: Pipeline | None = None
        self.rollups: RollupMaintainer | None = None
        self.alarms: AlarmEngine | None = None
        self._alarm_tasks: list[asyncio.Task[None]] = []
        self.alarm_process: AlarmProcess | None = None
        self._rollup_worker: asyncio.subprocess.Process | None = None
        self._rollup_worker_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.ready = asyncio.Event()
        self.failure: TaskFailed | None = None  # set when a task failed permanently
        self.failed = asyncio.Event()
        self._restarts = restart_counter(self.telemetry.registry)

    def _on_permanent(self, task: str, exc: BaseException) -> None:
        """A supervised task failed permanently: remember it and tell whoever waits."""
        if self.failure is None:
            self.failure = TaskFailed(task, exc)
            log.error("ingest stopping: %s", self.failure)
        self.failed.set()

    def _options(self) -> dict[str, Any]:
        return {"restarts": self._restarts, "on_permanent": self._on_permanent}

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            libpq_url(self.settings.database_url), connect_timeout=5
        )

    async def reload_directory(self) -> None:
        async with await self.connect() as conn:
            self.directory = await load_directory(conn)
        if self.pipeline is not None:
            self.pipeline.directory = self.directory

    async def _reload_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.registry_reload_s)
            try:
                await self.reload_directory()
            except psycopg.OperationalError as exc:
                log.debug("registry reload skipped: %s", exc)

    async def start(self) -> None:
        await self.reload_directory()
        self.pipeline = Pipeline(
            self.connect,
            self.directory,
            pipeline_config(self.settings),
            metrics=self.telemetry.ingest,
        )
        self.pipeline.start(on_permanent=self._on_permanent)
        await self._start_rollups(self.pipeline)
        if self.settings.alarm_enabled and self.settings.alarm_mode == "process":
            self.alarm_process = AlarmProcess(self.settings)
            await self.alarm_process.start(**self._options())
            self.pipeline.add_commit_listener(self.alarm_process.on_commit)
            self.telemetry.alarms.watch("alarms", self.alarm_process.counts)
        elif self.settings.alarm_enabled:
            # The engine loads its state before it listens: no commit meets an empty registry.
            self.alarms, self._alarm_tasks = await start_engine(self.settings, **self._options())
            self.pipeline.add_commit_listener(self.alarms.on_commit)
            stats = self.alarms.stats
            self.telemetry.alarms.watch(
                "alarms", lambda: AlarmCounts(stats.readings, stats.dropped)
            )
        ctx = DriverContext(self.pipeline, lambda: self.directory, utcnow, self.telemetry)
        self._tasks.append(
            start_supervised("ingest:registry-reload", self._reload_loop, **self._options())
        )
        for driver in self.drivers:
            run = supervise(driver, ctx, **self._options())
            self._tasks.append(asyncio.create_task(run, name=f"driver:{driver.name}"))
        if self.settings.metrics_port is not None:
            start_http_server(
                self.settings.metrics_port,
                self.settings.metrics_host,
                registry=self.telemetry.registry,
            )
        log.info("ingest running: drivers %s", ", ".join(d.name for d in self.drivers) or "none")
        self.ready.set()

    async def _start_rollups(self, pipeline: Pipeline) -> None:
        """Rollups follow every commit: the listener notes hours, the task marks them dirty,
        and the recomputation runs in a child process (or inline, or not at all)."""
        mode = self.settings.rollup_mode
        if mode == "off":
            return
        self.rollups = RollupMaintainer(self.settings.database_url)
        pipeline.add_commit_listener(self.rollups.on_commit)
        rollups = self.rollups
        self._tasks.append(
            start_supervised(
                "ingest:rollups",
                partial(rollups.run, recompute=mode == "inline"),
                **self._options(),
            )
        )
        if mode == "process":
            self._rollup_worker_task = start_supervised(
                "ingest:rollup-worker", self._run_rollup_worker, **self._options()
            )

    async def _run_rollup_worker(self) -> None:
        """One rollup worker's life: it runs until stopped; an exit of its own is an error."""
        env = {
            **os.environ,
            "WQMON_DATABASE_URL": self.settings.database_url,
            PARENT_PID_ENV: str(os.getpid()),
        }
        # Its own process group: a terminal's Ctrl-C reaches only us, even while the worker is
        # still importing (before it can ignore SIGINT); we stop it after our drain.
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wqmon.balance.worker", env=env, process_group=0
        )
        self._rollup_worker = worker
        try:
            code = await worker.wait()
        finally:
            await _terminate(worker)  # cancelled: we are stopping
        raise TaskEnded(f"rollup worker (PID {worker.pid}) exited with code {code}")

    async def _stop_rollup_worker(self) -> None:
        task, self._rollup_worker_task = self._rollup_worker_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.pipeline is not None:
            await self.pipeline.stop()
        if self.alarm_process is not None:
            await self.alarm_process.stop()  # evaluates the drained commits, then ends
        if self.alarms is not None:
            # The drained commits are evaluated before the engine stops.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.alarms.drain(), 10)
        for task in self._alarm_tasks:
            task.cancel()
        await asyncio.gather(*self._alarm_tasks, return_exceptions=True)
        if self.rollups is not None:
            # The drained commits' hours go to rollup_dirty; the next start recomputes them.
            try:
                await asyncio.to_thread(self.rollups.flush_marks)
            except psycopg.Error as exc:
                log.warning("rollup marks not saved (run wqmon balance rebuild): %s", exc)
        await self._stop_rollup_worker()
        log.info("ingest stopped")


async def _terminate(worker: asyncio.subprocess.Process) -> None:
    if worker.returncode is not None:
        return
    worker.terminate()
    try:
        await asyncio.wait_for(worker.wait(), 10)
    except TimeoutError:
        worker.kill()
        await worker.wait()


async def run_until_signalled(service: IngestService) -> None:
    """Start the service, wait for SIGINT, SIGTERM or a permanent task failure, then stop it
    in order; a failure is raised (`wqmon ingest` prints it as one line and exits non-zero)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await service.start()
        stopped = asyncio.ensure_future(stop.wait())
        failed = asyncio.ensure_future(service.failed.wait())
        await asyncio.wait([stopped, failed], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        failed.cancel()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        await service.stop()
    if service.failure is not None:
        raise service.failure
