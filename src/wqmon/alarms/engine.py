"""The alarm engine: committed batches and a clock in, stored and published alarm events out.

    pipeline commit ──on_commit (put_nowait; full: drop + count)──▶ Queue[list[Reading]]
        ──run()──▶ live rules per reading ──▶ trackers ──▶ apply_changes (one transaction, NOTIFY)
                   └─ note the points' data time ──▶ HourBook ──hour task──▶ aggregate rules
    clock ──run_clock()──▶ no-data per channel, hours that ended, re-notify due alarms
                                                              └──▶ event listeners (webhooks)

Two paths, each in order: the live path (batches and the clock's no-data rule, one lock, one
connection) and the hour path (ended hours, its own lock and connection). Their rules are
disjoint, so every (rule, target) tracker is changed by one path only, in time order; an hour's
database reads and integration never delay a live alarm. At start the open alarms are read back
into trackers, and each channel's newest reading time into its state: a restart neither
duplicates an open alarm (the partial unique index would refuse it anyway) nor forgets a
silence that began before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

import psycopg

from wqmon.alarms.channels import AlarmRegistry, last_times, load_registry
from wqmon.alarms.config import AlarmConfig, Rule
from wqmon.alarms.hours import HourBook, PointKey, hour_findings
from wqmon.alarms.lifecycle import Tracker, Transition, Verdict
from wqmon.alarms.rules import LIVE_RULES, ChannelSpec, ChannelState, Finding
from wqmon.alarms.rules import on_clock as no_data
from wqmon.alarms.rules import on_reading as live_rules
from wqmon.alarms.store import AlarmEvent, Change, apply_changes, open_alarms, renotify_due
from wqmon.audit.load import invalid_spans
from wqmon.model import PeriodRecord, Reading
from wqmon.model import Source as _Source
from wqmon.settings import libpq_url
from wqmon.supervision import backoff, start_supervised

log = logging.getLogger(__name__)

EventListener = Callable[[AlarmEvent], None]
Conn = psycopg.AsyncConnection[Any]
_RULES = frozenset(r.value for r in Rule)
_BY_TIME = itemgetter(1)  # Reading.ts
LATE_SOURCE = _Source.HJ212_LATE.value


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class EngineStats:
    batches: int = 0
    readings: int = 0
    dropped: int = 0  # readings in batches dropped because the queue was full
    late: int = 0  # readings kept out of the live rules: received beyond their live window
    events: int = 0
    store_errors: int = 0
    hours: int = 0  # point-hours evaluated by the aggregate rules


def _inside(spans: list[tuple[datetime, datetime]], ts: datetime) -> bool:
    return any(start <= ts < end for start, end in spans)


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
        self.hours = HourBook(self.config.hour_grace)
        self._queue: asyncio.Queue[Sequence[Reading]] = asyncio.Queue(queue_size)
        self._listeners: list[EventListener] = []
        self._lock = asyncio.Lock()  # the live path: batches and no-data, on `_conn`
        self._hours_lock = asyncio.Lock()  # the hour path, on `_hours_conn`
        self._hours_wake = asyncio.Event()
        self._conn: Conn | None = None
        self._hours_conn: Conn | None = None
        # Per channel, the invalid audit marks in force (docs/audit.md): readings inside them
        # are left alone by the live rules; refreshed with the registry.
        self.marked: dict[int, list[tuple[datetime, datetime]]] = {}

    # -- wiring ---------------------------------------------------------------------------------

    def on_commit(self, readings: Sequence[Reading], periods: list[PeriodRecord]) -> None:  # noqa: ARG002
        """Pipeline commit listener: never blocks; a full queue drops the batch and counts it."""
        if not readings:
            return
        try:
            self._queue.put_nowait(readings)
        except asyncio.QueueFull:
            self.stats.dropped += len(readings)

    async def submit(self, readings: Sequence[Reading]) -> None:
        """Queue a batch, waiting for room: for a feeder that can itself wait (the alarm
        process's stdin), so the one place that drops and counts stays the parent's queue."""
        if readings:
            await self._queue.put(readings)

    def add_event_listener(self, listener: EventListener) -> None:
        """Call `listener(event)` for every event this engine stores (webhooks, benchmarks)."""
        self._listeners.append(listener)

    async def _connection(self) -> Conn:
        if self._conn is None or self._conn.closed:
            self._conn = await self._connect()
        return self._conn

    async def _hours_connection(self) -> Conn:
        if self._hours_conn is None or self._hours_conn.closed:
            self._hours_conn = await self._connect()
        return self._hours_conn

    async def _connect(self) -> Conn:
        return await psycopg.AsyncConnection.connect(
            self.database_url, autocommit=True, connect_timeout=5
        )

    async def start(self) -> None:
        """Load the registry, the open alarms and each channel's last reading time."""
        conn = await self._connection()
        self.registry = await load_registry(conn, self.config)
        now = self.clock()
        self.marked = await invalid_spans(conn)
        last = await last_times(conn)
        for alarm_id, rule, target in await open_alarms(conn):
            if rule in _RULES:
                self.trackers[(Rule(rule), target)] = Tracker(alarm_id=alarm_id, is_open=True)
        for cid, spec in self.registry.channels.items():
            # A channel that never reported is silent since the engine started.
            self.states[cid] = self._new_state(spec, last_ts=last.get(cid), watched_since=now)
        self.ready.set()

    def _new_state(
        self, spec: ChannelSpec, *, last_ts: datetime | None = None, watched_since: datetime | None
    ) -> ChannelState:
        """A channel's live state, knowing which of its live rules have a tracker (open alarms
        read back at start, or a channel that reappeared with a reload)."""
        tracked = {rule for rule in LIVE_RULES if (rule, spec.target) in self.trackers}
        return ChannelState(last_ts=last_ts, watched_since=watched_since, tracked=tracked)

    async def close(self) -> None:
        for conn in (self._conn, self._hours_conn):
            if conn is not None:
                await conn.close()

    async def reload(self) -> None:
        conn = await self._connection()
        registry = await load_registry(conn, self.config)
        marked = await invalid_spans(conn)
        async with self._lock:
            self.registry = registry
            self.marked = marked

    # -- loops ------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Start, then consume committed batches (and evaluate ended hours) until cancelled."""
        # Owned by this loop (cancelled below); supervised so it cannot die unnoticed.
        hours = start_supervised("alarms:hours", self._run_hours)
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
            hours.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hours
            await self.close()

    async def _run_hours(self) -> None:
        await self.ready.wait()
        while True:
            await self._hours_wake.wait()
            self._hours_wake.clear()
            try:
                await self.evaluate_hours()
            except Exception:
                log.exception("alarm engine: hour evaluation failed")

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
        """Wait until every queued batch and the hours it ended were evaluated (tests, stop)."""
        await self._queue.join()
        await self.evaluate_hours()

    # -- evaluation -----------------------------------------------------------------------------

    async def process(self, readings: Sequence[Reading]) -> list[AlarmEvent]:
        """Evaluate one committed batch with the live rules; returns the events it stored.

        The hours the batch ended are only noted here; the hour task evaluates them.
        """
        async with self._lock:
            self.stats.batches += 1
            self.stats.readings += len(readings)
            changes = self._evaluate_live(readings)
            events = await self._store(changes, self._connection)
        if self.hours.due or self.hours.revisits:
            self._hours_wake.set()
        return events

    def _evaluate_live(self, readings: Sequence[Reading]) -> list[Change]:
        """The live rules over a batch in time order; notes each point's newest data time.

        The hot path (every committed reading passes here): no allocation per reading beyond
        the rules' own, and the points are noted once per batch, not once per reading.
        """
        changes: list[Change] = []
        channels, states, config = self.registry.channels, self.states, self.config
        marked = self.marked
        newest: dict[int, datetime] = {}
        for reading in sorted(readings, key=_BY_TIME):
            cid = reading.channel_id
            spec = channels.get(cid)
            if spec is None:
                continue  # a channel added since the last reload
            newest[cid] = reading.ts  # sorted: the last one is the newest (hour rules)
            resent = reading.source == LATE_SOURCE  # HJ 212-2025 RF=1, whatever its age
            if resent or reading.late(spec.rules.live_window):
                self.stats.late += 1  # history: neither raises nor clears, nor ends a silence
                if resent:
                    # The logger re-sent an hour that may already be judged: judge it again
                    # with what is stored now (hour and day rules).
                    self.hours.revisit((spec.site, spec.point), reading.ts)
                continue
            state = states.get(cid)
            if state is None:
                state = states[cid] = self._new_state(spec, watched_since=None)
            if marked and cid in marked and _inside(marked[cid], reading.ts):
                # It arrived (no_data sees it), but says nothing about the water: an operator
                # declared the range invalid, so the value and state rules leave it alone.
                if state.last_ts is None or reading.ts > state.last_ts:
                    state.last_ts = reading.ts
                continue
            for finding in live_rules(spec, state, reading, config):
                self._observe(finding, changes)
        points: dict[PointKey, datetime] = {}
        for cid, ts in newest.items():
            spec = channels[cid]
            key = (spec.site, spec.point)
            if ts > points.get(key, ts - timedelta(hours=1)):
                points[key] = ts
        for key, ts in points.items():
            self.hours.note(key, ts)
        return changes

    async def tick(self, now: datetime | None = None) -> list[AlarmEvent]:
        """Clock-driven rules: no data, hours ended without newer data, re-notification."""
        now = now or self.clock()
        async with self._lock:
            changes: list[Change] = []
            for cid, spec in self.registry.channels.items():
                state = self.states.get(cid)
                if state is None:
                    state = self.states[cid] = self._new_state(spec, watched_since=now)
                finding = no_data(spec, state, now)
                if finding is not None:
                    self._observe(finding, changes)
            events = await self._store(changes, self._connection)
        self.hours.note_clock(now)
        events += await self.evaluate_hours()
        async with self._lock:
            conn = await self._connection()
            renotified = await renotify_due(conn, now, self.config.renotify)
            self._publish(renotified)
        return events + renotified

    async def evaluate_hours(self) -> list[AlarmEvent]:
        """Evaluate every due hour with the aggregate rules; returns the events stored."""
        async with self._hours_lock:
            changes: list[Change] = []
            for key, hours in self.hours.take():
                point = self.registry.points.get(key)
                if point is None:
                    continue
                for hour in hours:
                    conn = await self._hours_connection()
                    for finding in await hour_findings(conn, point, hour, self.config):
                        self._observe(finding, changes)
                    self.stats.hours += 1
            return await self._store(changes, self._hours_connection)

    def _observe(self, finding: Finding, changes: list[Change]) -> None:
        """Feed a finding to its tracker; a tracker exists only while it remembers something.

        Only RAISE starts a tracker (CLEAR or HOLD on a normal, idle one changes nothing), and a
        tracker back to normal and idle is dropped, so the live rules can skip the CLEAR
        findings of untracked rules (`ChannelState.tracked`): the common case stays cheap.
        """
        key = (finding.rule, finding.target)
        tracker = self.trackers.get(key)
        if tracker is None:
            if finding.verdict is not Verdict.RAISE:
                return
            tracker = self.trackers[key] = Tracker()
            self._track(finding, add=True)
        policy = self._policies[finding.rule]
        transition = tracker.observe(finding.verdict, finding.at, policy)
        if transition is Transition.RAISED:
            changes.append(Change(finding, True, policy.severity.value))
        elif transition is Transition.CLEARED:
            changes.append(Change(finding, False, policy.severity.value))
        if not tracker.is_open and tracker.pending_since is None:
            del self.trackers[key]
            self._track(finding, add=False)

    def _track(self, finding: Finding, *, add: bool) -> None:
        """Tell a channel's live rules whether `finding.rule` has a tracker for it."""
        if finding.rule not in LIVE_RULES or finding.channel_id is None:
            return
        state = self.states.get(finding.channel_id)
        if state is None or state.tracked is None:
            return
        if add:
            state.tracked.add(finding.rule)
        else:
            state.tracked.discard(finding.rule)

    # -- storing ----------------------------------------------------------------------------------

    async def _store(
        self, changes: list[Change], connection: Callable[[], Awaitable[Conn]]
    ) -> list[AlarmEvent]:
        """Store the transitions; retried until the database takes them (they are decided)."""
        if not changes:
            return []
        attempt = 0
        while True:
            conn: Conn | None = None
            try:
                conn = await connection()
                events = await apply_changes(conn, changes, self.clock())
            except psycopg.OperationalError as exc:
                attempt += 1
                self.stats.store_errors += 1
                log.warning("alarm engine: database unavailable (%s); retrying", exc)
                if conn is not None:
                    await conn.close()
                await asyncio.sleep(backoff(attempt, base_s=0.2, cap_s=5.0))
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
