"""Keeping rollups current: mark dirty point-hours as batches commit, recompute them in a task.

Flow of work:

    pipeline commit ──listener (no I/O, no blocking)──▶ pending {channel: {hour}}
        ──maintainer task──▶ rollup_dirty (table, survives a restart)
        ──claim (DELETE … RETURNING, same transaction)──▶ recompute hours + days ──▶ commit

A sample at t changes the hours [floor(t), ceil(t + extent)): extent is `max_flow_gap` for flow
(its step reaches that far) and `max_hold_age` for a concentration (its hold does); a logger
period record changes only its own hour. Hours are recomputed once they have started, so a live
stream keeps the current hour fresh and the hours a hold reaches into wait until they begin.

Claiming deletes the dirty rows in the transaction that writes the results, so a crash between
the two loses nothing: the rows come back with the rollback. The pending set is bounded; past
`max_pending` marks the listener drops and counts (then `wqmon balance rebuild` repairs).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from wqmon.balance.records import DEFAULT_SETTINGS, FLOW, HOUR, RollupSettings
from wqmon.balance.store import Conn, PointChannels, ceil_hour, floor_hour, load_points, recompute
from wqmon.ingest.stored import StoredReadings
from wqmon.model import PeriodRecord, Reading
from wqmon.settings import libpq_url

log = logging.getLogger(__name__)


@dataclass(slots=True)
class MaintainerStats:
    """Counters of the maintainer, for logs, metrics and tests."""

    marked: int = 0  # (point, hour) marks written to rollup_dirty
    hours: int = 0  # point-hours recomputed
    dropped: int = 0  # marks dropped because the pending set was full
    errors: int = 0  # failed cycles (retried)


class RollupMaintainer:
    """Marks and recomputes dirty point-hours; attach `on_commit` to the pipeline.

    Args:
        database_url: The database to maintain.
        settings: Hold, gap and precedence settings of the rollups.
        interval_s: Pause between cycles when there is nothing to do.
        claim: Point-hours claimed per transaction.
        max_pending: Bound of the in-memory (channel, hour) set the listener fills.
        clock: Now, aware UTC (hours after it are not yet recomputed).
    """

    def __init__(
        self,
        database_url: str,
        *,
        settings: RollupSettings = DEFAULT_SETTINGS,
        interval_s: float = 1.0,
        claim: int = 2000,
        max_pending: int = 1_000_000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database_url = database_url
        self.settings = settings
        self.interval_s = interval_s
        self.claim = claim
        self.max_pending = max_pending
        self.clock = clock
        self.stats = MaintainerStats()
        self._pending: dict[tuple[int, str], set[datetime]] = {}
        self._pending_count = 0
        self._points: dict[int, PointChannels] = {}
        self._channel_point: dict[int, tuple[int, str]] = {}

    # -- listener side: called in the writer's task, must not block -----------------------------

    def on_commit(self, readings: Sequence[Reading], periods: list[PeriodRecord]) -> None:
        """Remember the hours of newly stored rows (pipeline commit listener)."""
        for channel_id, kind, ts in changed_hours(readings, periods):
            self._note(channel_id, kind, ts)

    def _note(self, channel_id: int, kind: str, ts: datetime) -> None:
        hours = self._pending.setdefault((channel_id, kind), set())
        hour = ts.replace(minute=0, second=0, microsecond=0)
        if hour in hours:
            return
        if self._pending_count >= self.max_pending:
            self.stats.dropped += 1
            return
        hours.add(hour)
        self._pending_count += 1

    # -- the task ----------------------------------------------------------------------------

    async def run(self, *, recompute: bool = True) -> None:
        """Mark and recompute until cancelled; a failed cycle is logged and retried.

        With `recompute=False` it only writes the marks; a `wqmon.balance.worker` process
        recomputes (what `wqmon ingest` does, to keep the CPU-bound work off its GIL).
        """
        while True:
            try:
                done = await asyncio.to_thread(self.cycle if recompute else self._marks_only)
            except (psycopg.Error, OSError) as exc:
                self.stats.errors += 1
                log.warning("rollup cycle failed, retrying: %s", exc)
                done = 0
            if done == 0:
                await asyncio.sleep(self.interval_s)

    def cycle(self) -> int:
        """One round: write pending marks, then recompute one claim of due hours."""
        pending, self._pending, self._pending_count = self._pending, {}, 0
        with psycopg.connect(libpq_url(self.database_url)) as conn:
            try:
                self.mark(conn, pending)
                conn.commit()
            except BaseException:
                self._restore(pending)
                raise
            return self.process(conn)

    def _marks_only(self) -> int:
        self.flush_marks()
        return 0

    def flush_marks(self) -> int:
        """Write the pending marks without recomputing (at shutdown, after the last commit)."""
        pending, self._pending, self._pending_count = self._pending, {}, 0
        with psycopg.connect(libpq_url(self.database_url)) as conn:
            try:
                marked = self.mark(conn, pending)
                conn.commit()
            except BaseException:
                self._restore(pending)
                raise
        return marked

    def _restore(self, pending: dict[tuple[int, str], set[datetime]]) -> None:
        for key, hours in pending.items():
            for hour in hours:
                self._note(key[0], key[1], hour)

    def mark(self, conn: Conn, pending: dict[tuple[int, str], set[datetime]]) -> int:
        """Write the dirty (point, hour) ranges of the pending channel-hours."""
        unknown = {cid for cid, _ in pending if cid not in self._channel_point}
        if unknown:
            self._load_channels(conn)
        marks: set[tuple[int, datetime]] = set()
        for (cid, kind), hours in pending.items():
            located = self._channel_point.get(cid)
            if located is None:
                continue  # a channel deleted since: nothing to roll up
            point_id, code = located
            for hour in hours:
                marks.update((point_id, h) for h in self._affected(code, kind, hour))
        return self._insert_marks(conn, marks)

    def _affected(self, code: str, kind: str, hour: datetime) -> Iterator[datetime]:
        return affected_hours(code, kind, hour, self.settings)

    def _insert_marks(self, conn: Conn, marks: set[tuple[int, datetime]]) -> int:
        if not marks:
            return 0
        conn.execute(INSERT_MARKS_SQL, marks_columns(marks))
        self.stats.marked += len(marks)
        return len(marks)

    def _load_channels(self, conn: Conn) -> None:
        rows = conn.execute("SELECT id, point_id, parameter FROM channel")
        self._channel_point = {cid: (pid, code) for cid, pid, code in rows}
        self._points = load_points(conn)

    def process(self, conn: Conn) -> int:
        """Claim up to `claim` due dirty hours, recompute them and commit; returns the hours."""
        claimed = conn.execute(
            "WITH c AS (SELECT point_id, hour FROM rollup_dirty WHERE hour <= %s "
            "ORDER BY point_id, hour LIMIT %s FOR UPDATE SKIP LOCKED) "
            "DELETE FROM rollup_dirty d USING c WHERE d.point_id = c.point_id "
            "AND d.hour = c.hour RETURNING d.point_id, d.hour",
            (self.clock(), self.claim),
        ).fetchall()
        if not claimed:
            conn.commit()
            return 0
        if any(pid not in self._points for pid, _ in claimed):
            self._load_channels(conn)
        hours = 0
        for point_id, start, end in runs(claimed):
            point = self._points.get(point_id)
            if point is not None:
                hours += recompute(conn, point, start, end, self.settings)
        conn.commit()
        self.stats.hours += hours
        return hours

    def drain(self) -> int:
        """Run cycles until nothing is due (tests, `rebuild`); returns the hours recomputed."""
        total = 0
        while (done := self.cycle()) > 0:
            total += done
        return total


INSERT_MARKS_SQL = (
    "INSERT INTO rollup_dirty (point_id, hour) "
    "SELECT * FROM unnest(%s::int[], %s::timestamptz[]) ON CONFLICT DO NOTHING"
)


def marks_columns(marks: set[tuple[int, datetime]]) -> tuple[list[int], list[datetime]]:
    """The (point ids, hours) arrays of INSERT_MARKS_SQL, in key order (fewer lock waits)."""
    points, hours = zip(*sorted(marks), strict=True)
    return list(points), list(hours)


def changed_hours(
    readings: Iterable[Reading], periods: Iterable[PeriodRecord]
) -> Iterator[tuple[int, str, datetime]]:
    """(channel, kind, time) once per channel-hour of newly stored rows; kind sample|period."""
    if isinstance(readings, StoredReadings):  # the pipeline's: one numpy pass over columns
        for channel_id, hour in readings.channel_hours():
            yield channel_id, "sample", hour
        readings = ()
    seen: set[tuple[int, int, int, int, int]] = set()
    for reading in readings:
        ts = reading.ts
        key = (reading.channel_id, ts.hour, ts.day, ts.month, ts.year)
        if key not in seen:  # a batch holds many readings per channel-hour: note each once
            seen.add(key)
            yield reading.channel_id, "sample", ts
    for period in periods:
        if period.period in ("hour", "minute"):
            yield period.channel_id, "period", period.ts


def affected_hours(
    code: str, kind: str, hour: datetime, settings: RollupSettings = DEFAULT_SETTINGS
) -> Iterator[datetime]:
    """The UTC hours a new row at `hour` (floored) changes: its own, plus hold or gap reach."""
    if kind == "period":
        yield hour
        return
    extent = settings.max_flow_gap if code == FLOW else settings.max_hold_age
    end = ceil_hour(hour + HOUR + extent)
    while hour < end:
        yield hour
        hour += HOUR


def runs(marks: Iterable[tuple[int, datetime]]) -> list[tuple[int, datetime, datetime]]:
    """Group (point, hour) marks into per-point runs of consecutive hours [start, end)."""
    result: list[tuple[int, datetime, datetime]] = []
    for point_id, hour in sorted(marks):
        if result and result[-1][0] == point_id and result[-1][2] == hour:
            result[-1] = (point_id, result[-1][1], hour + HOUR)
        else:
            result.append((point_id, hour, hour + HOUR))
    return result


def rebuild(
    conn: Conn,
    start: datetime,
    end: datetime,
    *,
    site: str | None = None,
    settings: RollupSettings = DEFAULT_SETTINGS,
    chunk: int = 24 * 7,
) -> int:
    """Recompute every point (of one site, or all) over [start, end), a week per transaction.

    Returns the point-hours recomputed.
    """
    sql = "SELECT p.id FROM point p JOIN site s ON s.id = p.site_id"
    params: tuple[Any, ...] = ()
    if site is not None:
        sql += " WHERE s.code = %s"
        params = (site,)
    ids = [row[0] for row in conn.execute(sql, params)]
    points = load_points(conn, ids)
    hours = 0
    start, end = floor_hour(start), ceil_hour(end)
    for point in points.values():
        lo = start
        while lo < end:
            hi = min(lo + chunk * HOUR, end)
            hours += recompute(conn, point, lo, hi, settings)
            conn.commit()
            lo = hi
    return hours
