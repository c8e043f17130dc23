"""The alarm engine: committed batches and a clock in, stored and published alarm events out.

    pipeline commit ──on_commit (put_nowait; full: drop + count)──▶ Queue[list[Reading]]
        ──run()──▶ live rules per reading ──▶ trackers ──▶ apply_changes (one transaction, NOTIFY)
    clock ──run_clock()──▶ no-data per channel, hours that ended, re-notify due alarms
                                                              └──▶ event listeners (webhooks)

Both loops take one lock, so the trackers change in one order. At start the open alarms are
read back into trackers, and each channel's newest reading time into its state: a restart
neither duplicates an open alarm (the partial unique index would refuse it anyway) nor forgets
a silence that began before it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from wqmon.alarms.aggregate import flow_weighted_means
from wqmon.alarms.channels import AlarmRegistry, PointSpec, last_times, load_registry
from wqmon.alarms.config import AlarmConfig, Rule
from wqmon.alarms.lifecycle import Tracker, Transition, Verdict
from wqmon.alarms.rules import COD, ChannelState, Finding, hour_exceedance, low_influent
from wqmon.alarms.rules import on_clock as no_data
from wqmon.alarms.rules import on_reading as live_rules
from wqmon.alarms.store import AlarmEvent, Change, apply_changes, open_alarms, renotify_due
from wqmon.model import PeriodRecord, Reading
from wqmon.settings import libpq_url

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MAX_CATCHUP_HOURS = 6  # a backfill evaluates at most this many past hours of a point at once
EventListener = Callable[[AlarmEvent], None]
_RULES = frozenset(r.value for r in Rule)


def utcnow() -> datetime:
    return datetime.now(UTC)


def floor_hour(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(slots=True)
class EngineStats:
    batches: int = 0
    readings: int = 0
    dropped: int = 0  # readings in batches dropped because the queue was full
    events: int = 0
    store_errors: int = 0


class AlarmEngine:
    """Evaluates the rules and keeps alarms in the database; attach `on_commit` to a pipeline."""

    def __init__(
        self,
        database_url: str,
        config: AlarmConfig | None = None,
        *,
        queue_size: int = 1000,
        tick_s: float = 5.0,
        reload_s: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database_url = libpq_url(database_url)
        self.config = config or AlarmConfig()
        self._policies = {rule: self.config.policy(rule) for rule in Rule}
        self.tick_s = tick_s
        self.reload_s = reload_s
        self.clock = clock
        self.stats = EngineStats()
        self.ready = asyncio.Event()
        self.registry = AlarmRegistry({}, {})
        self.states: dict[int, ChannelState] = {}
        self.trackers: dict[tuple[Rule, str], Tracker] = {}
        self._queue: asyncio.Queue[list[Reading]] = asyncio.Queue(queue_size)
        self._listeners: list[EventListener] = []
        self._evaluated: dict[tuple[str, str], datetime] = {}  # hours evaluated up to here
        self._point_last: dict[tuple[str, str], datetime] = {}
        self._lock = asyncio.Lock()
        self._conn: psycopg.AsyncConnection[Any] | None = None

    # -- wiring ---------------------------------------------------------------------------------

    def on_commit(self, readings: list[Reading], periods: list[PeriodRecord]) -> None:  # noqa: ARG002
        """Pipeline commit listener: never blocks; a full queue drops the batch and counts it."""
        if not readings:
            return
        try:
            self._queue.put_nowait(readings)
        except asyncio.QueueFull:
            self.stats.dropped += len(readings)

    def add_event_listener(self, listener: EventListener) -> None:
        """Call `listener(event)` for every event this engine stores (webhooks, benchmarks)."""
        self._listeners.append(listener)

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self.database_url, autocommit=True, connect_timeout=5
            )
        return self._conn

    async def start(self) -> None:
        """Load the registry, the open alarms and each channel's last reading time."""
        conn = await self._connection()
        self.registry = await load_registry(conn, self.config)
        now = self.clock()
        last = await last_times(conn)
        for cid in self.registry.channels:
            # A channel that never reported is silent since the engine started.
            self.states[cid] = ChannelState(last_ts=last.get(cid), watched_since=now)
        for alarm_id, rule, target in await open_alarms(conn):
            if rule in _RULES:
                self.trackers[(Rule(rule), target)] = Tracker(alarm_id=alarm_id, is_open=True)
        self.ready.set()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()

    async def reload(self) -> None:
        conn = await self._connection()
        registry = await load_registry(conn, self.config)
        async with self._lock:
            self.registry = registry

    # -- loops ------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Start, then consume committed batches until cancelled."""
        try:
            if not self.ready.is_set():
                await self.start()
            while True:
                batch = await self._queue.get()
                try:
                    await self.process(batch)
                except Exception:
                    log.exception("alarm engine: batch of %d readings not evaluated", len(batch))
                finally:
                    self._queue.task_done()
        finally:
            await self.close()

    async def run_clock(self) -> None:
        """The time-based rules every `tick_s`; the registry every `reload_s`."""
        await self.ready.wait()
        reloaded = self.clock()
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                if self.clock() - reloaded >= timedelta(seconds=self.reload_s):
                    await self.reload()
                    reloaded = self.clock()
                await self.tick()
            except Exception:
                log.exception("alarm engine: clock tick failed")

    async def drain(self) -> None:
        """Wait until every queued batch has been evaluated (tests, shutdown)."""
        await self._queue.join()

    # -- evaluation -----------------------------------------------------------------------------

    async def process(self, readings: list[Reading]) -> list[AlarmEvent]:
        """Evaluate one committed batch; returns the events it stored."""
        async with self._lock:
            self.stats.batches += 1
            self.stats.readings += len(readings)
            changes: list[Change] = []
            touched: dict[tuple[str, str], datetime] = {}
            for reading in sorted(readings, key=lambda r: r.ts):
                spec = self.registry.channels.get(reading.channel_id)
                if spec is None:
                    continue  # a channel added since the last reload
                state = self.states.setdefault(spec.id, ChannelState())
                for finding in live_rules(spec, state, reading, self.config):
                    self._observe(finding, changes)
                key = (spec.site, spec.point)
                if reading.ts > touched.get(key, reading.ts - HOUR):
                    touched[key] = reading.ts
            for key, newest in touched.items():
                if newest > self._point_last.get(key, newest - HOUR):
                    self._point_last[key] = newest
                await self._evaluate_hours(key, newest - self.config.hour_grace, changes)
            return await self._store(changes)

    async def tick(self, now: datetime | None = None) -> list[AlarmEvent]:
        """Clock-driven rules: no data, hours ended without newer data, re-notification."""
        now = now or self.clock()
        async with self._lock:
            changes: list[Change] = []
            for cid, spec in self.registry.channels.items():
                finding = no_data(
                    spec, self.states.setdefault(cid, ChannelState(watched_since=now)), now
                )
                if finding is not None:
                    self._observe(finding, changes)
            for key, last in self._point_last.items():
                upto = min(now - self.config.hour_grace, floor_hour(last) + HOUR)
                await self._evaluate_hours(key, upto, changes)
            events = await self._store(changes)
            conn = await self._connection()
            renotified = await renotify_due(conn, now, self.config.renotify)
            self._publish(renotified)
            return events + renotified

    def _observe(self, finding: Finding, changes: list[Change]) -> None:
        tracker = self.trackers.get((finding.rule, finding.target))
        if tracker is None:
            if finding.verdict is Verdict.CLEAR:
                return  # the common case: normal and staying normal, nothing to remember
            tracker = self.trackers[(finding.rule, finding.target)] = Tracker()
        policy = self._policies[finding.rule]
        transition = tracker.observe(finding.verdict, finding.at, policy)
        if transition is Transition.RAISED:
            changes.append(Change(finding, True, policy.severity.value))
        elif transition is Transition.CLEARED:
            changes.append(Change(finding, False, policy.severity.value))

    async def _evaluate_hours(
        self, key: tuple[str, str], upto: datetime, changes: list[Change]
    ) -> None:
        """Evaluate the point's hours that ended by `upto` and were not evaluated yet."""
        end = floor_hour(upto)
        done = self._evaluated.get(key)
        if done is None or end <= done:
            self._evaluated.setdefault(key, end)
            return
        self._evaluated[key] = end
        point = self.registry.points.get(key)
        if point is None or point.flow is None or not point.pollutants:
            return
        start = max(done, end - MAX_CATCHUP_HOURS * HOUR)
        hour = start
        while hour < end:
            for finding in await self._hour_findings(point, hour):
                self._observe(finding, changes)
            hour += HOUR

    async def _hour_findings(self, point: PointSpec, hour: datetime) -> list[Finding]:
        assert point.flow is not None  # noqa: S101 - checked by the caller
        conn = await self._connection()
        findings: list[Finding | None] = []
        limited = {s.parameter.code: s for s in point.pollutants if s.limited}
        if limited:
            means = await flow_weighted_means(
                conn, point.flow, {c: s.id for c, s in limited.items()}, start=hour, end=hour + HOUR
            )
            for code, spec in limited.items():
                mean, coverage = means[code]
                findings.append(hour_exceedance(spec, hour, mean, coverage, self.config))
        cod = next((s for s in point.pollutants if s.parameter.code == COD), None)
        if point.role == "inlet" and cod is not None:
            end = hour + HOUR
            means = await flow_weighted_means(
                conn, point.flow, {COD: cod.id}, start=end - DAY, end=end
            )
            mean, coverage = means[COD]
            findings.append(
                low_influent(
                    cod,
                    Rule.LOW_INFLUENT_24H,
                    end=end,
                    mean=mean,
                    coverage=coverage,
                    config=self.config,
                )
            )
            local_end = end.astimezone(point.timezone)
            if local_end.hour == 0 and local_end.minute == 0:
                day_start = (local_end - DAY).replace(hour=0).astimezone(UTC)
                if day_start != end - DAY:  # a day of daylight-saving change
                    means = await flow_weighted_means(
                        conn, point.flow, {COD: cod.id}, start=day_start, end=end
                    )
                    mean, coverage = means[COD]
                findings.append(
                    low_influent(
                        cod,
                        Rule.LOW_INFLUENT_DAY,
                        end=end,
                        mean=mean,
                        coverage=coverage,
                        config=self.config,
                    )
                )
        return [f for f in findings if f is not None]

    # -- storing ----------------------------------------------------------------------------------

    async def _store(self, changes: list[Change]) -> list[AlarmEvent]:
        """Store the transitions; retried until the database takes them (they are decided)."""
        if not changes:
            return []
        attempt = 0
        while True:
            try:
                conn = await self._connection()
                events = await apply_changes(conn, changes, self.clock())
            except psycopg.OperationalError as exc:
                attempt += 1
                self.stats.store_errors += 1
                log.warning("alarm engine: database unavailable (%s); retrying", exc)
                if self._conn is not None:
                    await self._conn.close()
                await asyncio.sleep(min(5.0, 0.2 * 2**attempt))
            else:
                self._publish(events)
                return events

    def _publish(self, events: list[AlarmEvent]) -> None:
        self.stats.events += len(events)
        for event in events:
            for listener in self._listeners:
                try:
                    listener(event)
                except Exception:
                    log.exception("alarm event listener failed")
