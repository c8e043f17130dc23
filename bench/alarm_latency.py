"""Benchmark: time from a reading's arrival to its alarm on the SSE stream, under ingest load.

    .venv/bin/python -m bench.alarm_latency --rate 20000 --probes 100

Starts a throwaway PostgreSQL + TimescaleDB (the test fixtures' `PgCluster`), migrates it and
imports `examples/registry.yaml`. In one process: `wqmon api` under uvicorn (the SSE stream, fed
by LISTEN/NOTIFY) and the ingest side (pipeline + alarm engine on its commits). A load task puts
envelopes of random plausible readings over the registry's channels at `--rate` readings/s. A
probe task puts one implausible reading (COD near its plausible bound) on a probe channel, waits for its
`raised` event on the SSE stream, then clears it with a normal reading; the latency is from just
before `pipeline.put()` to the event's arrival at the SSE client. Results go to
`bench/results/` (JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
from tests.conftest import EXAMPLE_REGISTRY
from tests.fixtures.alarms import ingest_with_alarms
from tests.fixtures.api import running_api
from tests.fixtures.services import PgCluster

from wqmon.alarms.config import DEFAULT_POLICIES, AlarmConfig, Rule
from wqmon.api.keys import create_key
from wqmon.ingest.envelope import Envelope
from wqmon.model import RawReading
from wqmon.registry.importer import import_file
from wqmon.services.ingest import IngestService
from wqmon.settings import Settings
from wqmon.store.migrate import migrate

RESULTS = Path(__file__).parent / "results"
PROBE = ("ENT-04", "outfall", "cod")
# Plausible values inside every preset limit, so the load itself raises (almost) no alarms and
# the probe's event is measured behind a normal stream, not an alarm storm.
VALUES = {
    "w00000": (100.0, 900.0),
    "w01001": (6.8, 7.6),
    "w01018": (20.0, 35.0),
    "w21003": (1.0, 3.0),
    "w21011": (0.1, 0.3),
    "w21001": (5.0, 10.0),
}


@dataclass
class Result:
    rate_target: float
    seconds: float
    readings_put: int
    readings_per_s: float
    probes: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    missed: int  # probes with no event within 10 s
    engine_dropped: int
    engine_lag_readings: int  # put but not yet evaluated at the end
    engine_readings_per_s: float  # readings the engine evaluated per second of the run
    started_at: str


def _channels(db_url: str) -> list[tuple[str, str, str]]:
    sql = (
        "SELECT s.code, p.code, c.parameter FROM channel c JOIN point p ON p.id = c.point_id "
        "JOIN site s ON s.id = p.site_id"
    )
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(sql).fetchall()
    return [(str(s), str(p), str(c)) for s, p, c in rows if (s, p) != PROBE[:2]]


async def _load(
    ingest: Any, channels: list[tuple[str, str, str]], rate: float, stop: asyncio.Event
) -> int:
    """Envelopes of 500 readings at `rate` readings/s; returns how many were put."""
    start_ts = datetime.now(UTC) - timedelta(days=20)
    per_envelope, put, second = 500, 0, 0
    began = time.perf_counter()
    while not stop.is_set():
        raws = []
        for _ in range(per_envelope):
            site, point, code = channels[put % len(channels)]
            if put % len(channels) == 0:
                second += 1
            low, high = VALUES.get(code, (1.0, 3.0))
            ts = start_ts + timedelta(seconds=second)
            raws.append(RawReading(site, point, code, ts, random.uniform(low, high)))
            put += 1
        await ingest.pipeline.put(Envelope("bench", "load", raws))
        ahead = put / rate - (time.perf_counter() - began)
        if ahead > 0:
            await asyncio.sleep(ahead)
    return put


async def _probe(
    ingest: Any, client: httpx.AsyncClient, headers: dict[str, str], n: int
) -> list[float]:
    latencies: list[float] = []
    target = "/".join((PROBE[0], PROBE[1], "cod"))
    # Recent enough to be live: `wqmon ingest`'s engine treats a COD result received more than
    # `WQMON_ALARM_LIVE_WINDOW_ANALYSER_S` (3 h) after its time as history, which raises nothing.
    base = datetime.now(UTC) - timedelta(minutes=n + 5)
    async with client.stream("GET", "/api/v1/alarms/stream", headers=headers) as stream:
        lines = stream.aiter_lines()
        for i in range(n):
            ts = base + timedelta(minutes=i)
            bad = RawReading(*PROBE, ts, 95_000.0)  # near the plausible bound
            started = time.perf_counter()
            await ingest.pipeline.put(Envelope("bench", "probe", [bad]))
            try:
                async with asyncio.timeout(10):
                    async for line in lines:
                        if (
                            line.startswith("data:")
                            and '"kind":"raised"' in line
                            and '"rule":"implausible"' in line  # not no-data etc. on the target
                            and target in line
                        ):
                            break
            except TimeoutError:
                latencies.append(float("inf"))  # a miss: counted, and it fails the p99
                break  # the line iterator is spent after the cancellation
            else:
                latencies.append(time.perf_counter() - started)
            good = msgspec.structs.replace(bad, ts=ts + timedelta(seconds=30), value=15.0)
            await ingest.pipeline.put(Envelope("bench", "probe", [good]))
            await asyncio.sleep(0.2)
    return latencies


async def run(rate: float, probes: int, mode: str = "process") -> Result:
    cluster = PgCluster()
    cluster.init()
    cluster.start()
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        url = cluster.url("bench")
        migrate(Settings(database_url=url, timescale="auto"))
        import_file(url, EXAMPLE_REGISTRY)
        token = create_key(url, name="bench", role="operator")
        # The probe clears at once so it can raise again; every other default stays.
        policies = dict(DEFAULT_POLICIES)
        policies[Rule.IMPLAUSIBLE] = replace(policies[Rule.IMPLAUSIBLE], clear_delay=timedelta(0))
        config = AlarmConfig(policies=policies)
        channels = _channels(url)
        started_at = datetime.now(UTC).isoformat()
        async with (
            running_api(Settings(database_url=url)) as base,
            httpx.AsyncClient(base_url=base, timeout=60) as client,
            _ingest(url, config, mode) as ingest,
        ):
            stop = asyncio.Event()
            began = time.perf_counter()
            load = asyncio.create_task(_load(ingest, channels, rate, stop))
            await asyncio.sleep(2)  # let the load settle before measuring
            latencies = await _probe(ingest, client, {"X-API-Key": token}, probes)
            stop.set()
            put = await load
            seconds = time.perf_counter() - began
            engine = getattr(ingest, "engine", None)  # in process mode the engine is a child
            dropped = engine.stats.dropped if engine else -1
            evaluated = engine.stats.readings if engine else put
            lag = put - evaluated - dropped if engine else -1
        ms = sorted(x * 1000 for x in latencies)
        return Result(
            rate_target=rate,
            seconds=round(seconds, 1),
            readings_put=put,
            readings_per_s=round(put / seconds),
            probes=len(ms),
            p50_ms=round(statistics.median(ms), 1),
            p99_ms=round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 1),
            max_ms=round(ms[-1], 1) if ms[-1] != float("inf") else -1,
            missed=sum(1 for x in ms if x == float("inf")),
            engine_dropped=dropped,
            engine_lag_readings=lag,
            engine_readings_per_s=round(evaluated / seconds),
            started_at=started_at,
        )
    finally:
        cluster.destroy()


@contextlib.asynccontextmanager
async def _ingest(url: str, config: AlarmConfig, mode: str) -> AsyncIterator[Any]:
    """Inline: pipeline and engine in this process. Process: `IngestService` as `wqmon ingest`
    runs it, with the engine in a child process (the default)."""
    if mode == "inline":
        async with ingest_with_alarms(url, config) as ingest:
            yield ingest
        return
    settings = Settings(
        database_url=url,
        alarm_mode="process",
        hj212_enabled=False,
        modbus_enabled=False,
        alarm_policy_overrides={"implausible": {"clear_delay_s": 0}},
    )
    service = IngestService(settings, [])
    await service.start()
    try:
        await asyncio.sleep(2)  # the child has loaded its state
        yield service
    finally:
        await service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20_000, help="background readings/s")
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument(
        "--mode",
        choices=["process", "inline"],
        default="process",
        help="alarm engine in a child of ingest (default) or in the same process",
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.rate, args.probes, args.mode))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"alarm_latency-{stamp}.json"
    out.write_text(json.dumps(asdict(result), indent=2))
    print(json.dumps(asdict(result), indent=2))
    print(f"target p99 < 1000 ms: {'met' if result.p99_ms < 1000 else 'NOT met'}; {out}")


if __name__ == "__main__":
    main()
