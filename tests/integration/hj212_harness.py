"""Shared pieces of the HJ 212 server tests: a running ingest service and database helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from wqmon.drivers.hj212.server import Hj212Driver, from_settings
from wqmon.protocol.hj212 import builder
from wqmon.services.ingest import IngestService
from wqmon.settings import Settings
from wqmon.simulators.hj212_logger import LoggerSimulator

TZ = ZoneInfo("Asia/Shanghai")
WWTP01_INLET = ("010000A8900016F000169DC0", "123456")
ENT06 = ("23040281003022", "123456")
WWTP04_INLET = ("LD130133000015", "000000")  # accept_modbus_crc: true
T0 = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)  # 08:00 in Asia/Shanghai

READINGS_SQL = """
SELECT s.code, p.code, c.parameter, r.ts, r.value, r.flag
FROM reading r JOIN channel c ON c.id = r.channel_id JOIN point p ON p.id = c.point_id
JOIN site s ON s.id = p.site_id ORDER BY s.code, p.code, c.parameter, r.ts
"""
PERIODS_SQL = """
SELECT s.code, p.code, c.parameter, l.period, l.ts, l.avg, l.min, l.max, l.cou, l.flag
FROM logger_period l JOIN channel c ON c.id = l.channel_id JOIN point p ON p.id = c.point_id
JOIN site s ON s.id = p.site_id ORDER BY l.period, l.ts, c.parameter
"""


class Server:
    """An ingest service running only the HJ 212 driver, on a free loopback port."""

    def __init__(self, db_url: str, service: IngestService, driver: Hj212Driver) -> None:
        self.db_url = db_url
        self.service = service
        self.driver = driver

    @property
    def port(self) -> int:
        assert self.driver.port is not None
        return self.driver.port

    def logger(self, mn_pw: tuple[str, str], **kwargs: Any) -> LoggerSimulator:
        mn, pw = mn_pw
        kwargs.setdefault("ack_timeout_s", 10.0)
        kwargs.setdefault("retries", 0)
        return LoggerSimulator("127.0.0.1", self.port, mn=mn, pw=pw, tz=TZ, **kwargs)

    async def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(self.db_url) as conn:
            return await (await conn.execute(sql, params or None)).fetchall()

    async def count(self, table: str) -> int:
        return int((await self.rows(f"SELECT count(*) FROM {table}"))[0][0])

    async def wait_rows(self, sql: str, n: int, timeout_s: float = 20.0) -> list[tuple[Any, ...]]:
        """Poll until `sql` returns at least `n` rows (for input that gets no 9014)."""
        async with asyncio.timeout(timeout_s):
            while len(rows := await self.rows(sql)) < n:
                await asyncio.sleep(0.05)
        return rows


@asynccontextmanager
async def running_server(db_url: str, **overrides: Any) -> AsyncIterator[Server]:
    settings = Settings(
        database_url=db_url,
        hj212_host="127.0.0.1",
        hj212_port=0,
        batch_linger_s=0.02,
        **overrides,
    )
    driver = from_settings(settings)  # as `wqmon ingest` builds it: keys etc. in the database
    service = IngestService(settings, [driver])
    await service.start()
    async with asyncio.timeout(10):
        await driver.ready.wait()
    try:
        yield Server(db_url, service, driver)
    finally:
        await service.stop()


def upload_frame(
    mn_pw: tuple[str, str],
    cn: str,
    data_time: datetime,
    objects: builder.CpObjects,
    *,
    qn: str = "20250301080000001",
    flag: int | None = 5,
    st: str = "32",
) -> tuple[bytes, str]:
    """A single-packet upload frame and its QN (`flag=None` leaves the Flag field out)."""
    segment = builder.upload_segments(
        cn=cn,
        mn=mn_pw[0],
        pw=mn_pw[1],
        data_time=data_time,
        tz=TZ,
        objects=objects,
        qns=[qn],
        flag=flag if flag is not None else 4,
        st=st,
    )[0]
    if flag is None:
        segment = segment.replace(";Flag=4", "")
    return builder.build_frame(segment), qn


def acked_qns(logger: LoggerSimulator) -> list[str]:
    return [p.qn or "" for p in logger.received if p.cn == builder.CN_DATA_ANSWER]


def has_ack(qn: str, times: int = 1) -> Callable[[LoggerSimulator], bool]:
    """A `wait_for` predicate: `qn` was answered with 9014 at least `times` times."""
    return lambda logger: acked_qns(logger).count(qn) >= times
