"""Chaos: every source at once while the database stops, the broker restarts and ingest is killed.

HJ 212 loggers (TCP), MQTT gateways and HTTP pushers stream together into `wqmon ingest` and
`wqmon api` running as real processes with their spools. During the stream the database is
stopped for 30 s, Mosquitto is restarted, and ingest is SIGKILLed twice. Every source resends
what it did not see acknowledged until it is; at the end the stored rows must equal exactly the
readings the sources sent (and saw acknowledged), with no duplicates, and both spools are empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from tests.fixtures.gateways import Publisher, body
from tests.fixtures.services import Mosquitto, PgCluster, free_port, wait_for_port
from wqmon.api.keys import create_key
from wqmon.protocol.hj212.builder import build_frame, format_qn, upload_segments
from wqmon.protocol.hj212.framer import Frame, FrameReader
from wqmon.protocol.hj212.packet import parse_segment
from wqmon.registry.importer import import_file
from wqmon.settings import Settings
from wqmon.store.migrate import migrate

pytestmark = pytest.mark.slow

SHANGHAI = ZoneInfo("Asia/Shanghai")
MN, PW = "CHAOS0000000000000000001", "123456"
HJ_CODES = ("w00000", "w01018", "w21003", "w21011", "w21001", "w01001")
PER_MESSAGE = 20
T0 = datetime(2025, 5, 1, tzinfo=UTC)

REGISTRY = (
    f"""
regions:
  - {{code: R1, name: R1, kind: county}}
sites:
  - code: WWTP-C
    kind: wwtp
    region: R1
    points:
      - {{code: inlet, role: inlet, parameters: [flow, cod, nh3n, tp, tn, ph],
         hj212: {{mn: "{MN}", password: "{PW}"}}}}
"""
    + "".join(
        f"  - {{code: ENT-{g:02d}, kind: enterprise, region: R1, points: [{{code: outfall, role: discharge,"
        f" discharges_to: sewer, parameters: [flow, cod, nh3n, ph]}}]}}\n"
        for g in range(3)
    )
    + "gateways:\n"
    + "".join(f"  - {{id: gw-{g:02d}, sites: [ENT-{g:02d}]}}\n" for g in range(3))
)


@dataclass
class Stack:
    pg: PgCluster
    broker: Mosquitto
    db_url: str
    spool: Path
    hj212_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    ingest: subprocess.Popen[bytes] | None = None
    api: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "WQMON_DATABASE_URL": self.db_url,
            "WQMON_MQTT_URL": self.broker.url,
            "WQMON_MQTT_CLIENT_ID": "wqmon-chaos",
            "WQMON_HJ212_HOST": "127.0.0.1",
            "WQMON_HJ212_PORT": str(self.hj212_port),
            "WQMON_API_PORT": str(self.api_port),
            "WQMON_SPOOL_DIR": str(self.spool),
            "WQMON_MODBUS_ENABLED": "false",
            "WQMON_BATCH_LINGER_S": "0.05",
            "WQMON_LOG_LEVEL": "WARNING",
        }

    def start_ingest(self) -> None:
        self.ingest = subprocess.Popen(
            [sys.executable, "-m", "wqmon.cli", "ingest"], env=self.env()
        )
        wait_for_port(self.hj212_port, 60)

    def kill_ingest(self) -> None:
        assert self.ingest is not None
        self.ingest.send_signal(signal.SIGKILL)
        self.ingest.wait()

    def start_api(self) -> None:
        self.api = subprocess.Popen([sys.executable, "-m", "wqmon.cli", "api"], env=self.env())
        wait_for_port(self.api_port, 60)

    def stop(self) -> None:
        for proc in (self.ingest, self.api):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture
def stack(own_pg: PgCluster, mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Stack]:
    with psycopg.connect(own_pg.url(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE chaos")
    url = own_pg.url("chaos")
    migrate(Settings(database_url=url, timescale="require"))
    registry = tmp_path / "registry.yaml"
    registry.write_text(REGISTRY, encoding="utf-8")
    import_file(url, registry)
    s = Stack(own_pg, mosquitto, url, tmp_path / "spool")
    yield s
    s.stop()


# -- sources ------------------------------------------------------------------------------------


@dataclass
class Hj212Source:
    """A logger that resends each real-time packet (same QN) until its 9014 arrives."""

    port: int
    packets: int
    acked: int = 0

    def frame(self, n: int) -> tuple[bytes, str]:
        moment = T0 + timedelta(seconds=n)
        qn = format_qn(moment, SHANGHAI)
        objects = {code: {"Rtd": 1.0 + n % 5, "Flag": "N"} for code in HJ_CODES}
        (segment,) = upload_segments(
            cn="2011",
            mn=MN,
            pw=PW,
            data_time=moment,
            tz=SHANGHAI,
            objects=objects,
            qns=[qn],
            flag=5,
        )
        return build_frame(segment), qn

    async def run(self, pace_s: float) -> None:
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        for n in range(self.packets):
            frame, qn = self.frame(n)
            while True:
                try:
                    if conn is None:
                        conn = await asyncio.wait_for(
                            asyncio.open_connection("127.0.0.1", self.port), 2
                        )
                    if await self._send(conn, frame, qn):
                        break
                except (OSError, TimeoutError, asyncio.IncompleteReadError):
                    pass
                if conn is not None:
                    conn[1].close()
                    conn = None
                await asyncio.sleep(0.2)
            self.acked += 1
            await asyncio.sleep(pace_s)
        if conn is not None:
            conn[1].close()

    async def _send(
        self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], frame: bytes, qn: str
    ) -> bool:
        reader, writer = conn
        writer.write(frame)
        await writer.drain()
        frames = FrameReader()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            data = await asyncio.wait_for(reader.read(4096), deadline - time.monotonic())
            if not data:
                raise ConnectionResetError("closed")
            for item in frames.feed(data):
                if isinstance(item, Frame):
                    answer = parse_segment(item.segment)
                    if answer.cn == "9014" and answer.qn == qn:
                        return True
        return False


@dataclass
class HttpSource:
    """A pusher that retries each body until it gets a 200."""

    base: str
    token: str
    messages: int
    acked: int = 0

    async def run(self, pace_s: float) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=10) as client:
            for n in range(self.messages):
                payload = body(2, n, PER_MESSAGE)
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        resp = await client.post(
                            "/api/v1/readings",
                            content=payload,
                            headers={"X-API-Key": self.token, "Content-Type": "application/json"},
                        )
                        if resp.status_code == 200:
                            break
                    await asyncio.sleep(0.2)
                self.acked += 1
                await asyncio.sleep(pace_s)


async def _mqtt_stream(publishers: list[Publisher], messages: int, pace_s: float) -> None:
    for n in range(messages):
        for p in publishers:
            p.publish(n, body(p.gateway, n, PER_MESSAGE))
        await asyncio.sleep(pace_s)


@contextlib.asynccontextmanager
async def _sources(stack: Stack, token: str, seconds: float) -> AsyncIterator[dict[str, object]]:
    steps = int(seconds / 0.1)
    hj = Hj212Source(stack.hj212_port, steps)
    http = HttpSource(f"http://127.0.0.1:{stack.api_port}", token, steps // 2)
    publishers = [Publisher(stack.broker, g) for g in range(2)]
    tasks = [
        asyncio.create_task(hj.run(0.1)),
        asyncio.create_task(http.run(0.2)),
        asyncio.create_task(_mqtt_stream(publishers, steps // 2, 0.2)),
    ]
    try:
        yield {"hj": hj, "http": http, "mqtt": publishers, "tasks": tasks}
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for p in publishers:
            p.close()


def _count(db_url: str, sql: str = "SELECT count(*) FROM reading") -> int:
    with psycopg.connect(db_url, connect_timeout=5) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


async def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(psycopg.OperationalError):
            if await asyncio.to_thread(predicate):  # type: ignore[arg-type]
                return
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


async def test_chaos_every_acknowledged_reading_stored_exactly_once(stack: Stack) -> None:
    await asyncio.to_thread(stack.start_ingest)
    await asyncio.to_thread(stack.start_api)
    token = create_key(stack.db_url, name="gw-02 pusher", role="gateway", gateway="gw-02")
    # The first MQTT message creates ingest's persistent session on the broker before the stream.
    probe = Publisher(stack.broker, 0)
    await _wait(
        lambda: (probe.publish(0, body(0, 0, PER_MESSAGE)), _count(stack.db_url))[1] > 0,
        30,
        "MQTT subscription",
    )
    probe.close()

    seconds = 70.0
    async with _sources(stack, token, seconds) as src:
        await asyncio.sleep(4)
        await asyncio.to_thread(stack.kill_ingest)  # kill 1: mid-stream, database up
        await asyncio.to_thread(stack.start_ingest)
        await asyncio.sleep(3)
        await asyncio.to_thread(stack.pg.stop, "immediate")  # the database is gone for 30 s
        await asyncio.sleep(12)
        # Sources keep being acknowledged: their batches are in the spools, fsync'd.
        spooled = [p for p in stack.spool.rglob("*.seg") if p.stat().st_size > 0]
        assert {p.parent.name for p in spooled} == {"ingest", "api"}
        await asyncio.to_thread(stack.broker.stop)  # broker restart during the outage
        await asyncio.to_thread(stack.broker.start)
        await asyncio.sleep(18)
        await asyncio.to_thread(stack.pg.start)
        await asyncio.sleep(3)
        await asyncio.to_thread(stack.kill_ingest)  # kill 2: while the spool replays
        await asyncio.to_thread(stack.start_ingest)
        tasks: list[asyncio.Task[None]] = src["tasks"]  # type: ignore[assignment]
        await asyncio.wait_for(asyncio.gather(*tasks), seconds + 120)
        hj: Hj212Source = src["hj"]  # type: ignore[assignment]
        http: HttpSource = src["http"]  # type: ignore[assignment]
        publishers: list[Publisher] = src["mqtt"]  # type: ignore[assignment]
        mqtt_messages = int(seconds / 0.1) // 2
        await _wait(
            lambda: all(len(p.acked) == mqtt_messages for p in publishers), 120, "MQTT acks"
        )
        acknowledged = (
            hj.acked * len(HJ_CODES)
            + http.acked * PER_MESSAGE
            + sum(len(p.acked) for p in publishers) * PER_MESSAGE
        )
        expected = hj.packets * len(HJ_CODES) + (http.messages + 2 * mqtt_messages) * PER_MESSAGE
        assert acknowledged == expected  # every source saw every message acknowledged in the end
        await _wait(
            lambda: _count(stack.db_url) >= expected, 180, "all acknowledged readings stored"
        )
        await asyncio.sleep(2)
        assert _count(stack.db_url) == expected
    # No duplicates is the key's promise; no losses and no strays is the count's.
    assert (
        _count(stack.db_url, "SELECT count(*) FROM (SELECT DISTINCT channel_id, ts FROM reading) d")
        == expected
    )
    await _wait(
        lambda: all(p.stat().st_size == 0 for p in stack.spool.rglob("*.seg")), 60, "empty spools"
    )
