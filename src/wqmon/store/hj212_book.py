"""What the HJ 212 server keeps in the database besides readings (HJ 212-2025, docs/hj212.md).

The server asks its `Hj212Book` for an MN's SM4 keys (the key in force first, then superseded
keys still inside the grace period), records keys it generated for a CN 1014, devices that
announced themselves with CN 1001, 2062 standard-check results, and which edition each logger
last spoke. `PgHj212Book` is the database one; `MemoryHj212Book` keeps the same in memory, for
a driver run without a database (unit tests with a `FakeSink`).

Keys are kept in memory per MN and read on a connection of their own; every `refresh_s` one
query looks for MNs whose keys changed elsewhere, and a packet that no cached key opens asks for
a reload (at most once a second per MN), so a key set with `wqmon hj212 key set` works at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import psycopg

from wqmon.protocol.hj212.sm4 import key_id
from wqmon.settings import libpq_url
from wqmon.store.hj212_keys import INSERT_KEY, SUPERSEDE_KEYS

log = logging.getLogger(__name__)
_RELOAD_MIN_S = 1.0


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SmKey:
    """One accepted key of an MN. `repr` never shows the key."""

    key: bytes = field(repr=False)
    key_id: str


@dataclass(frozen=True, slots=True)
class HardwareIdentity:
    """A CN 1001 upload: i23005 logger id, i23006 CPU id, i23007/i23008 MAC addresses."""

    hardware_id: str
    cpu_id: str | None = None
    mac1: str | None = None
    mac2: str | None = None
    reported_mn: str | None = None


@dataclass(frozen=True, slots=True)
class CheckRow:
    """One CN 2062 standard-sample check result of one channel."""

    channel_id: int
    ts: datetime
    measured: float | None
    standard: float | None
    passed: bool | None
    result_type: str | None
    late: bool
    received_at: datetime


@dataclass(frozen=True, slots=True)
class LoggerSeen:
    """The edition a logger last spoke and when it was last heard."""

    mn: str
    version: str
    encrypted: bool
    key_id: str | None
    peer: str
    last_seen_at: datetime
    last_heartbeat_at: datetime | None


class Hj212Book(Protocol):
    """The HJ 212 server's database beside the pipeline."""

    async def keys(self, mn: str, *, reload: bool = False) -> list[SmKey]:
        """Accepted keys of `mn`, the key in force first."""
        ...

    async def add_platform_key(self, mn: str, key: bytes, sk_create_time: str) -> str:
        """Record a key the platform generated (CN 1014) as the key in force; its id."""
        ...

    async def device_seen(self, device: HardwareIdentity, peer: str) -> str | None:
        """Record a 1001; the MN an admin assigned it and not yet sent, if any."""
        ...

    async def device_activated(self, hardware_id: str) -> None:
        """The 1002 with the assigned MN went out."""
        ...

    async def store_checks(self, rows: list[CheckRow]) -> None:
        """Store 2062 results (a repeat of one channel and time replaces it)."""
        ...

    async def loggers_seen(self, rows: list[LoggerSeen]) -> None:
        """Upsert the loggers' editions and last-heard times."""
        ...

    async def close(self) -> None:
        """Release the database connection (the driver stops)."""
        ...


@dataclass(frozen=True, slots=True)
class _Held:
    """A cached key and when it was superseded (None: in force), for the grace at lookup time."""

    key: SmKey
    superseded_at: datetime | None


class _Connection:
    """One autocommit connection, its statements one at a time, reopened after a failure."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    async def run(self, sql: str, params: Any = None, *, many: bool = False) -> list[Any]:
        async with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await psycopg.AsyncConnection.connect(
                        self.database_url, autocommit=True, connect_timeout=5
                    )
                if many:
                    async with self._conn.cursor() as cur:
                        await cur.executemany(sql, params)
                    return []
                cursor = await self._conn.execute(sql, params)
                return await cursor.fetchall() if cursor.description else []
            except psycopg.OperationalError:
                if self._conn is not None:
                    await self._conn.close()
                self._conn = None
                raise

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


class PgHj212Book:
    """`Hj212Book` on PostgreSQL: keys in memory, read on a connection of their own.

    Writes (editions, devices, 2062 results) share one connection; the keys have another, so
    a lookup never waits behind the 5-second write of up to 10,000 loggers' editions. An MN's
    keys are read once and then kept, with the time each was superseded, so a superseded key
    stops opening frames when its grace ends even while cached. Every `refresh_s` one query
    asks which MNs got keys since the last look (`wqmon hj212 key set` on another machine); only
    those are read again. A packet that no cached key opens asks for a reload, at most once a
    second per MN.
    """

    def __init__(
        self,
        database_url: str,
        *,
        grace: timedelta,
        refresh_s: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database_url = libpq_url(database_url)
        self.grace = grace
        self.refresh_s = refresh_s
        self.clock = clock
        self.monotonic = monotonic
        self._db = _Connection(self.database_url)
        self._keys_db = _Connection(self.database_url)
        self._keys: dict[str, list[_Held]] = {}
        self._reloads: dict[str, float] = {}  # MN -> monotonic time of the last reload on demand
        self._last_id: int | None = None  # the highest hj212_key id seen by the change check
        self._checked = -math.inf  # monotonic time of the last change check

    async def _run(self, sql: str, params: Any = None, *, many: bool = False) -> list[Any]:
        return await self._db.run(sql, params, many=many)

    async def keys(self, mn: str, *, reload: bool = False) -> list[SmKey]:
        now = self.monotonic()
        if now - self._checked >= self.refresh_s:
            self._checked = now
            await self._forget_changed()
        held = self._keys.get(mn)
        # A reload on demand at most once a second per MN: a flood of packets under a wrong key
        # must not become a flood of queries.
        due = reload and now - self._reloads.get(mn, -math.inf) >= _RELOAD_MIN_S
        if held is None or due:
            if reload:
                self._reloads[mn] = now
            try:
                loaded = await self._load(mn)
            except psycopg.Error as exc:
                log.warning(
                    "hj212 keys of MN %s not loaded (%s): using the cached ones",
                    mn,
                    type(exc).__name__,
                )
            else:
                self._keys[mn] = held = loaded
        return self._accepted(held) if held is not None else []

    def _accepted(self, held: list[_Held]) -> list[SmKey]:
        cutoff = self.clock() - self.grace
        return [h.key for h in held if h.superseded_at is None or h.superseded_at > cutoff]

    async def _load(self, mn: str) -> list[_Held]:
        rows = await self._keys_db.run(
            "SELECT key_hex, superseded_at FROM hj212_key WHERE mn = %s"
            " AND (superseded_at IS NULL OR superseded_at > %s) ORDER BY id DESC",
            (mn, self.clock() - self.grace),
        )
        return [_Held(SmKey(bytes.fromhex(h), key_id(bytes.fromhex(h))), s) for h, s in rows]

    async def _forget_changed(self) -> None:
        """Drop the cached keys of MNs that got a key since the last look (one query).

        Every change of an MN's keys inserts a row (`store_key`, `add_platform_key`: the new
        key, superseding the others in the same transaction), so new ids name the changed MNs.
        """
        try:
            if self._last_id is None:
                rows = await self._keys_db.run("SELECT coalesce(max(id), 0) FROM hj212_key")
                self._last_id = int(rows[0][0])
                return
            rows = await self._keys_db.run(
                "SELECT mn, max(id) FROM hj212_key WHERE id > %s GROUP BY mn", (self._last_id,)
            )
        except psycopg.Error as exc:
            log.warning("hj212 key changes not read (%s): keeping the cached keys", exc)
            return
        for mn, last in rows:
            self._keys.pop(mn, None)
            self._last_id = max(self._last_id, int(last))

    async def add_platform_key(self, mn: str, key: bytes, sk_create_time: str) -> str:
        # The same two statements as `store_key`, in one transaction.
        now = self.clock()
        async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
            row = await (
                await conn.execute(
                    INSERT_KEY,
                    (mn, key.hex().upper(), key_id(key), "platform", sk_create_time, now),
                )
            ).fetchone()
            assert row is not None  # noqa: S101 - INSERT ... RETURNING always returns the row
            await conn.execute(SUPERSEDE_KEYS, (now, mn, row[0]))
        self._keys.pop(mn, None)
        return key_id(key)

    async def device_seen(self, device: HardwareIdentity, peer: str) -> str | None:
        now = self.clock()
        rows = await self._run(
            "INSERT INTO hj212_device (hardware_id, cpu_id, mac1, mac2, reported_mn, peer,"
            " first_seen_at, last_seen_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (hardware_id) DO UPDATE SET cpu_id = excluded.cpu_id,"
            " mac1 = excluded.mac1, mac2 = excluded.mac2, reported_mn = excluded.reported_mn,"
            " peer = excluded.peer, last_seen_at = excluded.last_seen_at"
            " RETURNING state, mn",
            (
                device.hardware_id,
                device.cpu_id,
                device.mac1,
                device.mac2,
                device.reported_mn,
                peer,
                now,
                now,
            ),
        )
        state, mn = rows[0]
        return str(mn) if state == "assigned" and mn else None

    async def device_activated(self, hardware_id: str) -> None:
        await self._run(
            "UPDATE hj212_device SET state = 'activated', activated_at = %s WHERE hardware_id = %s",
            (self.clock(), hardware_id),
        )

    async def store_checks(self, rows: list[CheckRow]) -> None:
        await self._run(
            "INSERT INTO hj212_standard_check (channel_id, ts, measured, standard, passed,"
            " result_type, late, received_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (channel_id, ts) DO UPDATE SET measured = excluded.measured,"
            " standard = excluded.standard, passed = excluded.passed,"
            " result_type = excluded.result_type, received_at = excluded.received_at",
            [
                (
                    r.channel_id,
                    r.ts,
                    r.measured,
                    r.standard,
                    r.passed,
                    r.result_type,
                    r.late,
                    r.received_at,
                )
                for r in rows
            ],
            many=True,
        )

    async def loggers_seen(self, rows: list[LoggerSeen]) -> None:
        await self._run(
            "INSERT INTO hj212_logger (mn, version, encrypted, key_id, peer, last_seen_at,"
            " last_heartbeat_at) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (mn) DO UPDATE"
            " SET version = excluded.version, encrypted = excluded.encrypted,"
            " key_id = excluded.key_id, peer = excluded.peer,"
            " last_seen_at = excluded.last_seen_at,"
            " last_heartbeat_at = coalesce(excluded.last_heartbeat_at, hj212_logger.last_heartbeat_at)",
            [
                (
                    r.mn,
                    r.version,
                    r.encrypted,
                    r.key_id,
                    r.peer,
                    r.last_seen_at,
                    r.last_heartbeat_at,
                )
                for r in rows
            ],
            many=True,
        )

    async def close(self) -> None:
        await self._db.close()
        await self._keys_db.close()


@dataclass(slots=True)
class MemoryHj212Book:
    """`Hj212Book` in memory: keys set by the test, everything recorded in lists."""

    grace: timedelta = timedelta(days=7)
    clock: Callable[[], datetime] = utcnow
    history: dict[str, list[tuple[bytes, str, datetime | None]]] = field(default_factory=dict)
    devices: dict[str, tuple[HardwareIdentity, str, str | None, bool]] = field(default_factory=dict)
    checks: list[CheckRow] = field(default_factory=list)
    seen: dict[str, LoggerSeen] = field(default_factory=dict)

    def set_key(self, mn: str, key: bytes, origin: str = "cli") -> str:
        """Make `key` the MN's key in force; the previous one is superseded now."""
        now = self.clock()
        entries = self.history.setdefault(mn, [])
        entries[:] = [(k, o, s or now) for k, o, s in entries]
        entries.insert(0, (key, origin, None))
        return key_id(key)

    def assign(self, hardware_id: str, mn: str) -> None:
        """What `wqmon hj212 activate` does."""
        device, peer, _, _ = self.devices[hardware_id]
        self.devices[hardware_id] = (device, peer, mn, False)

    async def keys(self, mn: str, *, reload: bool = False) -> list[SmKey]:  # noqa: ARG002
        now = self.clock()
        return [
            SmKey(k, key_id(k))
            for k, _, superseded in self.history.get(mn, [])
            if superseded is None or now - superseded < self.grace
        ]

    async def add_platform_key(self, mn: str, key: bytes, sk_create_time: str) -> str:  # noqa: ARG002
        return self.set_key(mn, key, "platform")

    async def device_seen(self, device: HardwareIdentity, peer: str) -> str | None:
        _, _, mn, sent = self.devices.get(device.hardware_id, (device, peer, None, False))
        self.devices[device.hardware_id] = (device, peer, mn, sent)
        return mn if mn and not sent else None

    async def device_activated(self, hardware_id: str) -> None:
        device, peer, mn, _ = self.devices[hardware_id]
        self.devices[hardware_id] = (device, peer, mn, True)

    async def store_checks(self, rows: list[CheckRow]) -> None:
        self.checks.extend(rows)

    async def loggers_seen(self, rows: list[LoggerSeen]) -> None:
        for row in rows:
            self.seen[row.mn] = row

    async def close(self) -> None:
        """Nothing to release."""
