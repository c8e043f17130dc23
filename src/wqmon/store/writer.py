"""The idempotent writer: readings, logger period data and dead letters in one transaction.

Readings go by binary COPY. The fast path copies straight into `reading` inside a savepoint; a
batch that hits an existing key (a replay) falls back to COPY into a temporary staging table and
`INSERT … ON CONFLICT DO NOTHING`, which never duplicates. docs/performance-notes.md §3 records the staging path
at about half the speed of a plain COPY, so it is only taken when needed, and kept for a few
batches after a replay is detected (replays come in runs).

A row the database refuses (a check or range violation) does not sink its batch: the batch is
split until the bad rows are isolated, the good ones are stored and the bad ones dead-lettered.

First write wins, but not silently: a duplicate whose value or flag differs from the stored row
(a correction sent as a resend) is reported in `WriteResult.conflicting_keys`; the pipeline
counts it and tells the source. Corrections go through an audited path, never through a resend.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pgerrors

from wqmon.model import DeadLetter, PeriodRecord, Reading
from wqmon.store.copybin import BlockBatch, encode_blocks, encode_readings

T = TypeVar("T")
Key = tuple[int, Any]  # (channel_id, ts) for readings, (channel_id, period, ts) for periods

_READING_COLS = "channel_id, ts, value, flag, source, received_at"
_PERIOD_COLS = "channel_id, period, ts, avg, min, max, cou, flag, source, received_at"
_PERIOD_TYPES = [
    "int4",
    "text",
    "timestamptz",
    "float8",
    "float8",
    "float8",
    "float8",
    "text",
    "text",
    "timestamptz",
]
_DEAD_COLS = "source, peer, raw, reason, detail, received_at"
_DEAD_TYPES = ["text", "text", "bytea", "text", "text", "timestamptz"]
REPLAY_MODE_BATCHES = 8
# Called inside the storing transaction with the rows that were new (e.g. rollup marks).
StoredHook = Callable[
    [psycopg.AsyncConnection[Any], Sequence[Reading], list[PeriodRecord]], Awaitable[Any]
]


@dataclass
class WriteResult:
    """What one flush stored: the keys that were new, and the rows refused with their error."""

    new_reading_keys: set[tuple[int, Any]] | None = None  # None: every reading was new
    conflicting_keys: set[tuple[int, Any]] = field(default_factory=set)  # duplicates, other value
    readings_inserted: int = 0
    periods_inserted: int = 0
    refused_readings: list[tuple[Reading, str]] = field(default_factory=list)
    refused_periods: list[tuple[PeriodRecord, str]] = field(default_factory=list)


async def _copy(
    cur: psycopg.AsyncCursor[Any],
    table: str,
    cols: str,
    types: list[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    async with cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            await copy.write_row(row)


async def _copy_readings(
    cur: psycopg.AsyncCursor[Any], table: str, readings: list[Reading] | BlockBatch
) -> None:
    data = (
        encode_readings(readings) if isinstance(readings, list) else encode_blocks(readings.blocks)
    )
    async with cur.copy(f"COPY {table} ({_READING_COLS}) FROM STDIN (FORMAT BINARY)") as copy:
        await copy.write(data)


class ReadingWriter:
    """Writes batches on one connection it does not own (the caller reconnects on failure)."""

    def __init__(self, on_stored: StoredHook | None = None) -> None:
        self._on_stored = on_stored
        self._replay_batches = 0
        # Connections whose session has the staging tables. Held weakly, by the object itself:
        # a psycopg connection is one server session for its whole life, so a new connection
        # (after a reconnect) is never in the set, and a dropped one leaves it by itself. An
        # id() is not enough: CPython gives a new connection the id of a freed one, and the
        # writer then skipped creating the tables and died on UndefinedTable. Cheaper than
        # `CREATE TEMP TABLE IF NOT EXISTS` in every batch (two catalog lookups each time).
        self._prepared: weakref.WeakSet[psycopg.AsyncConnection[Any]] = weakref.WeakSet()

    async def _ensure_staging(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if conn in self._prepared:
            return
        await conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS reading_stage "
            "(LIKE reading INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        await conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS logger_period_stage "
            "(LIKE logger_period INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        await conn.commit()
        self._prepared.add(conn)

    async def write(
        self,
        conn: psycopg.AsyncConnection[Any],
        readings: Sequence[Reading] | BlockBatch,
        periods: Sequence[PeriodRecord],
        dead_letters: Sequence[DeadLetter],
    ) -> WriteResult:
        """Store everything in one transaction; returns what was new and what was refused.

        Readings given as blocks are encoded from their columns on the fast path; the replay
        and isolation paths use their tuples (`BlockBatch.rows()`), and report those.
        """
        await self._ensure_staging(conn)
        result = WriteResult()
        batch = list(readings) if isinstance(readings, Sequence) else readings
        async with conn.transaction():
            await self._store_readings(conn, batch, result)
            await self._store_periods(conn, list(periods), result)
            if self._on_stored is not None:
                await self._on_stored(conn, *_new_rows(batch, periods, result))
            dead = (
                list(dead_letters)
                + [
                    _store_refusal(r.source, r.received_at, _reading_raw(r), err)
                    for r, err in result.refused_readings
                ]
                + [
                    _store_refusal(p.source, p.received_at, _period_raw(p), err)
                    for p, err in result.refused_periods
                ]
            )
            if dead:
                async with conn.cursor() as cur:
                    await _copy(
                        cur, "dead_letter", _DEAD_COLS, _DEAD_TYPES, [d.as_row() for d in dead]
                    )
        return result

    async def _store_readings(
        self,
        conn: psycopg.AsyncConnection[Any],
        batch: list[Reading] | BlockBatch,
        result: WriteResult,
    ) -> None:
        if not len(batch):
            return
        if self._replay_batches == 0 and await self._copy_direct(conn, batch):
            result.readings_inserted = len(batch)
            return
        readings = batch if isinstance(batch, list) else batch.rows()
        self._replay_batches = max(0, self._replay_batches - 1)
        keys = await self._insert_isolating(
            conn, readings, self._insert_staged_readings, result.refused_readings
        )
        result.readings_inserted = len(keys)
        result.new_reading_keys = keys
        if len(keys) < len(readings) - len(result.refused_readings):
            self._replay_batches = REPLAY_MODE_BATCHES
            refused = {id(r) for r, _ in result.refused_readings}
            duplicates = [
                r for r in readings if (r.channel_id, r.ts) not in keys and id(r) not in refused
            ]
            result.conflicting_keys = await _conflicting(conn, duplicates)

    async def _copy_direct(
        self, conn: psycopg.AsyncConnection[Any], readings: list[Reading] | BlockBatch
    ) -> bool:
        """COPY straight into the hypertable; False when a key exists or a row is refused."""
        try:
            async with conn.transaction(), conn.cursor() as cur:
                await _copy_readings(cur, "reading", readings)
        except (pgerrors.IntegrityError, pgerrors.DataError):
            return False
        return True

    async def _insert_staged_readings(
        self, conn: psycopg.AsyncConnection[Any], readings: list[Reading]
    ) -> set[Key]:
        async with conn.cursor() as cur:
            await cur.execute("TRUNCATE reading_stage")
            await _copy_readings(cur, "reading_stage", readings)
            await cur.execute(
                f"INSERT INTO reading ({_READING_COLS}) SELECT {_READING_COLS} FROM reading_stage "
                "ON CONFLICT DO NOTHING RETURNING channel_id, ts"
            )
            return {(int(row[0]), row[1]) for row in await cur.fetchall()}

    async def _store_periods(
        self, conn: psycopg.AsyncConnection[Any], periods: list[PeriodRecord], result: WriteResult
    ) -> None:
        if not periods:
            return
        keys = await self._insert_isolating(
            conn, periods, self._insert_staged_periods, result.refused_periods
        )
        result.periods_inserted = len(keys)

    async def _insert_staged_periods(
        self, conn: psycopg.AsyncConnection[Any], periods: list[PeriodRecord]
    ) -> set[Key]:
        async with conn.cursor() as cur:
            await cur.execute("TRUNCATE logger_period_stage")
            await _copy(
                cur,
                "logger_period_stage",
                _PERIOD_COLS,
                _PERIOD_TYPES,
                [p.as_row() for p in periods],
            )
            await cur.execute(
                f"INSERT INTO logger_period ({_PERIOD_COLS}) SELECT {_PERIOD_COLS} "
                "FROM logger_period_stage ON CONFLICT DO NOTHING RETURNING channel_id, period, ts"
            )
            return {(int(row[0]), (row[1], row[2])) for row in await cur.fetchall()}

    async def _insert_isolating(
        self,
        conn: psycopg.AsyncConnection[Any],
        rows: list[T],
        insert: Any,
        refused: list[tuple[T, str]],
    ) -> set[Key]:
        """Insert rows in a savepoint; on a data error split the rows until the bad ones are alone."""
        try:
            async with conn.transaction():
                keys: set[Key] = await insert(conn, rows)
                return keys
        except (pgerrors.DataError, pgerrors.IntegrityError) as exc:
            if len(rows) == 1:
                refused.append((rows[0], _error_text(exc)))
                return set()
        middle = len(rows) // 2
        left = await self._insert_isolating(conn, rows[:middle], insert, refused)
        right = await self._insert_isolating(conn, rows[middle:], insert, refused)
        return left | right


def _new_rows(
    batch: list[Reading] | BlockBatch, periods: Sequence[PeriodRecord], result: WriteResult
) -> tuple[Sequence[Reading], list[PeriodRecord]]:
    refused_periods = {id(p) for p, _ in result.refused_periods}
    new_periods = [p for p in periods if id(p) not in refused_periods]
    new = result.new_reading_keys
    if new is None and not result.refused_readings and not isinstance(batch, list):
        return batch.stored(), new_periods  # the fast path: all new, columns kept
    readings = batch if isinstance(batch, list) else batch.rows()
    refused = {id(r) for r, _ in result.refused_readings}
    stored = [
        r for r in readings if id(r) not in refused and (new is None or (r.channel_id, r.ts) in new)
    ]
    return stored, new_periods


_CONFLICTING_SQL = """
SELECT r.channel_id, r.ts
FROM unnest(%s::int[], %s::timestamptz[], %s::float8[], %s::text[]) AS d(channel_id, ts, value, flag)
JOIN reading r ON r.channel_id = d.channel_id AND r.ts = d.ts
WHERE r.value IS DISTINCT FROM d.value OR r.flag IS DISTINCT FROM d.flag
"""


async def _conflicting(conn: psycopg.AsyncConnection[Any], duplicates: list[Reading]) -> set[Key]:
    """The keys of duplicates whose value or flag differs from the row stored (replays only)."""
    if not duplicates:
        return set()
    columns = [
        [r.channel_id for r in duplicates],
        [r.ts for r in duplicates],
        [r.value for r in duplicates],
        [r.flag for r in duplicates],
    ]
    cur = await conn.execute(_CONFLICTING_SQL, columns)
    return {(int(row[0]), row[1]) for row in await cur.fetchall()}


def _error_text(exc: psycopg.Error) -> str:
    diag = exc.diag
    return f"{diag.sqlstate}: {diag.message_primary}" + (
        f" ({diag.constraint_name})" if diag.constraint_name else ""
    )


def _reading_raw(r: Reading) -> bytes:
    return repr(tuple(r)).encode()


def _period_raw(p: PeriodRecord) -> bytes:
    return repr(p.as_row()).encode()


def _store_refusal(source: str, received_at: Any, raw: bytes, error: str) -> DeadLetter:
    return DeadLetter(source, "store", raw, "store_refused", error, received_at)
