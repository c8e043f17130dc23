"""`PgHj212Book.keys` against a real database: keys in memory, on a connection of their own.

A cached MN's lookup does not query; a key set by another connection (`wqmon hj212 key set`) is
picked up when a packet does not open (`reload=True`), at most once a second per MN, or by the
periodic look for changed MNs; a superseded key stops being offered when its grace ends, even
while cached; and a lookup does not wait for the connection the 5-second editions write uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from wqmon.protocol.hj212.sm4 import key_id
from wqmon.store.hj212_book import PgHj212Book
from wqmon.store.hj212_keys import store_key

MN = "88888880000001"
KEY_A, KEY_B, KEY_C = (bytes([n]) * 16 for n in (0xA1, 0xB2, 0xC3))
T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
GRACE = timedelta(days=7)


class Clocks:
    """The book's wall clock (grace) and monotonic clock (rate limit, refresh), set by the test."""

    def __init__(self) -> None:
        self.now = T0
        self.mono = 1000.0

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono


def set_key(db_url: str, key: bytes, at: datetime, mn: str = MN) -> None:
    """What `wqmon hj212 key set` does, on a connection other than the book's."""
    with psycopg.connect(db_url) as conn:
        store_key(conn, mn, key, at)


def count_queries(book: PgHj212Book) -> list[str]:
    """Record every statement of the book's key connection."""
    seen: list[str] = []
    conn = book._keys_db  # the test watches the keys connection
    run: Callable[..., Any] = conn.run

    async def spy(sql: str, params: Any = None, *, many: bool = False) -> list[Any]:
        seen.append(sql)
        result: list[Any] = await run(sql, params, many=many)
        return result

    conn.run = spy  # type: ignore[method-assign]
    return seen


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
async def book(db_url: str, clocks: Clocks) -> AsyncIterator[PgHj212Book]:
    b = PgHj212Book(
        db_url, grace=GRACE, refresh_s=30.0, clock=clocks.wall, monotonic=clocks.monotonic
    )
    yield b
    await b.close()


def ids(keys: list[Any]) -> list[str]:
    return [k.key_id for k in keys]


async def test_a_cached_mn_does_not_query(db_url: str, book: PgHj212Book, clocks: Clocks) -> None:
    set_key(db_url, KEY_A, T0)
    queries = count_queries(book)
    assert ids(await book.keys(MN)) == [key_id(KEY_A)]
    assert len(queries) == 2  # the change check's baseline, then the MN's keys
    for _ in range(50):
        clocks.mono += 0.5  # 25 s: inside the refresh interval
        assert ids(await book.keys(MN)) == [key_id(KEY_A)]
    assert len(queries) == 2


async def test_a_key_set_elsewhere_is_picked_up_after_a_decrypt_failure(
    db_url: str, book: PgHj212Book, clocks: Clocks
) -> None:
    set_key(db_url, KEY_A, T0)
    assert ids(await book.keys(MN)) == [key_id(KEY_A)]
    set_key(db_url, KEY_B, T0 + timedelta(minutes=1))
    clocks.mono += 0.1
    assert ids(await book.keys(MN)) == [key_id(KEY_A)]  # cached: the new key is not seen yet
    # The packet did not open: the session asks again with reload=True.
    assert ids(await book.keys(MN, reload=True)) == [key_id(KEY_B), key_id(KEY_A)]


async def test_reloads_on_demand_at_most_once_a_second_per_mn(
    db_url: str, book: PgHj212Book, clocks: Clocks
) -> None:
    other = "88888880000002"
    set_key(db_url, KEY_A, T0)
    set_key(db_url, KEY_A, T0, mn=other)
    await book.keys(MN)
    await book.keys(other)
    queries = count_queries(book)
    assert ids(await book.keys(MN, reload=True)) == [key_id(KEY_A)]
    assert len(queries) == 1
    set_key(db_url, KEY_B, T0 + timedelta(minutes=1))
    for _ in range(20):  # a flood of packets under a wrong key within the same second
        clocks.mono += 0.04
        assert ids(await book.keys(MN, reload=True)) == [key_id(KEY_A)]
    assert len(queries) == 1
    await book.keys(other, reload=True)  # the limit is per MN
    assert len(queries) == 2
    clocks.mono += 0.3  # a second after the first reload
    assert ids(await book.keys(MN, reload=True)) == [key_id(KEY_B), key_id(KEY_A)]
    assert len(queries) == 3


async def test_a_cached_superseded_key_expires_with_its_grace(
    db_url: str, book: PgHj212Book, clocks: Clocks
) -> None:
    set_key(db_url, KEY_A, T0)
    set_key(db_url, KEY_B, T0 + timedelta(hours=1))  # A superseded at T0 + 1 h
    clocks.now = T0 + timedelta(hours=2)
    assert ids(await book.keys(MN)) == [key_id(KEY_B), key_id(KEY_A)]
    queries = count_queries(book)
    clocks.mono += 1.0
    clocks.now = T0 + timedelta(hours=1) + GRACE - timedelta(seconds=1)
    assert ids(await book.keys(MN)) == [key_id(KEY_B), key_id(KEY_A)]
    clocks.now = T0 + timedelta(hours=1) + GRACE + timedelta(seconds=1)
    assert ids(await book.keys(MN)) == [key_id(KEY_B)]  # from the cache, without a query
    assert queries == []
    # Reloaded, the expired key is not read at all.
    assert ids(await book.keys(MN, reload=True)) == [key_id(KEY_B)]


async def test_keys_changed_elsewhere_are_found_by_the_periodic_look(
    db_url: str, book: PgHj212Book, clocks: Clocks
) -> None:
    other = "88888880000002"
    set_key(db_url, KEY_A, T0)
    set_key(db_url, KEY_C, T0, mn=other)
    await book.keys(MN)
    await book.keys(other)
    set_key(db_url, KEY_B, T0 + timedelta(minutes=1))  # rotated with the CLI, A in grace
    queries = count_queries(book)
    clocks.mono += 31.0  # past refresh_s: one query for all MNs, then only MN is read again
    assert ids(await book.keys(other)) == [key_id(KEY_C)]
    assert ids(await book.keys(MN)) == [key_id(KEY_B), key_id(KEY_A)]
    assert len(queries) == 2
    assert ids(await book.keys(other)) == [key_id(KEY_C)]
    assert len(queries) == 2


async def test_a_platform_key_is_used_at_once(book: PgHj212Book, db_url: str) -> None:
    set_key(db_url, KEY_A, T0)
    await book.keys(MN)
    kid = await book.add_platform_key(MN, KEY_B, "20261203080000")  # CN 1014
    assert ids(await book.keys(MN)) == [kid, key_id(KEY_A)]


async def test_a_key_lookup_does_not_wait_for_the_editions_write(
    db_url: str, book: PgHj212Book
) -> None:
    set_key(db_url, KEY_A, T0)
    await book.keys(MN)
    await book.keys(MN, reload=True)  # the key connection is open
    # Hold the write connection as a long flush_loggers would.
    hold = asyncio.create_task(book._run("SELECT pg_sleep(2)"))
    await asyncio.sleep(0.2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert ids(await book.keys("88888880000009")) == []  # a miss: a query on the keys connection
    assert loop.time() - start < 1.0
    assert not hold.done()
    await hold
