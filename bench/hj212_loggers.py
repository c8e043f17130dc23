"""Benchmark: many concurrent HJ 212 loggers against `wqmon ingest`.

    .venv/bin/python -m bench.hj212_loggers --loggers 1000 --seconds 20

Starts a throwaway PostgreSQL + TimescaleDB (the test fixtures' `PgCluster`), migrates it,
imports a generated registry of N enterprise outfalls (one MN each), runs `wqmon ingest` as a
subprocess on a free loopback port, then N `LoggerSimulator`s each upload a real-time packet
(flow, COD, NH3-N, pH; Flag=5) every interval, spread evenly over the interval. Reports readings
per second (acknowledged and stored) and the p50/p99 time from sending a packet to its `9014`,
which the server sends only after the commit. Results go to `bench/results/` (JSON + Markdown).

With `--encrypted-share F` (default 0.5) that share of the loggers speaks HJ 212-2025 with SM4
encryption (Flag=9, a key per MN set in the database before the run), the rest HJ 212-2017 in
plain text; the 9014 latency is reported for each group, so the cost of decryption shows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import yaml
from tests.fixtures.services import PgCluster, free_port, wait_for_port

from bench.report import write_result
from wqmon.protocol.hj212.builder import CpObjects
from wqmon.registry.importer import import_file
from wqmon.settings import Settings
from wqmon.simulators.hj212_logger import LoggerSimulator, SendResult
from wqmon.store.hj212_keys import ensure_keys
from wqmon.store.migrate import migrate

RESULTS = Path(__file__).parent / "results"
PASSWORD = "123456"  # noqa: S105 - the generated loggers' HJ 212 PW
CONNECT_BATCH = 100  # connections opened at once (the listen backlog is 100)


@dataclass
class Result:
    loggers: int
    seconds: float
    interval_s: float
    packets_sent: int
    packets_acked: int
    distinct_data_times: int  # (logger, DataTime second) pairs sent; x4 = readings expected
    readings_acked_per_s: float
    readings_stored: int
    readings_stored_per_s: float
    ack_p50_ms: float
    ack_p99_ms: float
    ack_max_ms: float
    encrypted_loggers: int  # HJ 212-2025 SM4-encrypted; the others are plain HJ 212-2017
    ack_plain_p50_ms: float
    ack_plain_p99_ms: float
    ack_encrypted_p50_ms: float
    ack_encrypted_p99_ms: float
    storage: str
    cpus: int
    started_at: str


def mn_of(n: int) -> str:
    return f"BENCH{n:09d}"


def key_of(n: int) -> bytes:
    """A bench logger's SM4 key (predictable: a benchmark, not a deployment)."""
    return n.to_bytes(16, "big")


def encrypted(n: int, share: float) -> bool:
    """Whether logger `n` is one of the encrypting HJ 212-2025 loggers (spread evenly)."""
    return int((n + 1) * share) > int(n * share)


def write_registry(path: Path, loggers: int) -> None:
    sites = [
        {
            "code": f"B{n:05d}",
            "name": f"bench enterprise {n}",
            "kind": "enterprise",
            "region": "BENCH",
            "points": [
                {
                    "code": "outfall",
                    "role": "discharge",
                    "discharges_to": "sewer",
                    "parameters": ["flow", "cod", "nh3n", "ph"],
                    "hj212": {"mn": mn_of(n), "password": PASSWORD},
                }
            ],
        }
        for n in range(loggers)
    ]
    registry = {"regions": [{"code": "BENCH", "name": "bench", "kind": "county"}], "sites": sites}
    path.write_text(yaml.safe_dump(registry, allow_unicode=True))


def objects(_now: datetime) -> CpObjects:
    return {
        "w00000": {"Rtd": round(random.uniform(5, 20), 2), "Flag": "N"},
        "w01018": {"Rtd": round(random.uniform(20, 300), 1), "Flag": "N"},
        "w21003": {"Rtd": round(random.uniform(0.5, 30), 2), "Flag": "N"},
        "w01001": {"Rtd": round(random.uniform(6, 9), 2), "Flag": "N"},
    }


def raise_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


@dataclass
class Latencies:
    plain: list[float]
    encrypted: list[float]

    @property
    def all(self) -> list[float]:
        return self.plain + self.encrypted


async def run_loggers(
    port: int, loggers: int, seconds: float, interval: float, share: float
) -> tuple[Latencies, int, int, int]:
    latencies = Latencies([], [])
    counts = {"sent": 0, "acked": 0}
    data_times: set[tuple[int, datetime]] = set()

    def on_sent_by(group: list[float]) -> Callable[[SendResult, float], None]:
        def on_sent(result: SendResult, elapsed: float) -> None:
            counts["sent"] += 1
            if result.acked:
                counts["acked"] += 1
                group.append(elapsed)

        return on_sent

    def simulator(n: int) -> LoggerSimulator:
        if encrypted(n, share):
            return LoggerSimulator(
                "127.0.0.1", port, mn=mn_of(n), pw=PASSWORD, retries=0, edition=2025, key=key_of(n)
            )
        return LoggerSimulator("127.0.0.1", port, mn=mn_of(n), pw=PASSWORD, retries=0)

    sims = [simulator(n) for n in range(loggers)]
    for i in range(0, loggers, CONNECT_BATCH):
        await asyncio.gather(*(s.connect() for s in sims[i : i + CONNECT_BATCH]))

    def objects_of(n: int) -> Callable[[datetime], CpObjects]:
        def make(now: datetime) -> CpObjects:
            # DataTime has whole seconds: a late tick can repeat the previous second, and the
            # repeat is (rightly) stored once. Count the distinct ones to compare with the DB.
            data_times.add((n, now.replace(microsecond=0)))
            return objects(now)

        return make

    async def one(n: int, sim: LoggerSimulator) -> None:
        await asyncio.sleep(interval * n / loggers)  # spread the uploads over the interval
        group = latencies.encrypted if encrypted(n, share) else latencies.plain
        await sim.run_periodic(interval, objects_of(n), on_sent=on_sent_by(group))

    tasks = [asyncio.create_task(one(n, s)) for n, s in enumerate(sims)]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*(s.close() for s in sims), return_exceptions=True)
    return latencies, counts["sent"], counts["acked"], len(data_times)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loggers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between uploads")
    parser.add_argument(
        "--encrypted-share",
        type=float,
        default=0.5,
        help="share of the loggers speaking HJ 212-2025 with SM4 (default 0.5; 0 = all 2017)",
    )
    args = parser.parse_args()
    raise_open_files(4 * args.loggers + 256)

    cluster = PgCluster()
    cluster.init()
    cluster.start()
    ingest: subprocess.Popen[bytes] | None = None
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE wqmon_bench")
        url = cluster.url("wqmon_bench")
        mode = migrate(Settings(database_url=url, timescale="auto"))
        with tempfile.TemporaryDirectory() as tmp:
            registry = Path(tmp) / "registry.yaml"
            write_registry(registry, args.loggers)
            import_file(url, registry)
        share = args.encrypted_share
        ensure_keys(
            url,
            {mn_of(n): key_of(n) for n in range(args.loggers) if encrypted(n, share)},
            datetime.now(UTC),
        )
        port = free_port()
        env = {
            **os.environ,
            "WQMON_DATABASE_URL": url,
            "WQMON_HJ212_HOST": "127.0.0.1",
            "WQMON_HJ212_PORT": str(port),
            # Every simulated logger comes from 127.0.0.1.
            "WQMON_HJ212_MAX_CONNECTIONS_PER_PEER": str(args.loggers + 10),
            "WQMON_LOG_LEVEL": "WARNING",
            "WQMON_MODBUS_ENABLED": "false",
        }
        env.pop("WQMON_MQTT_URL", None)
        ingest = subprocess.Popen([sys.executable, "-m", "wqmon.cli", "ingest"], env=env)
        wait_for_port(port, timeout=60)
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        began = time.monotonic()
        latencies, sent, acked, distinct = asyncio.run(
            run_loggers(port, args.loggers, args.seconds, args.interval, share)
        )
        both = latencies.all
        elapsed = time.monotonic() - began
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM reading").fetchone()
        stored = int(row[0]) if row else 0
        result = Result(
            loggers=args.loggers,
            seconds=round(elapsed, 2),
            interval_s=args.interval,
            packets_sent=sent,
            packets_acked=acked,
            distinct_data_times=distinct,
            readings_acked_per_s=round(acked * 4 / elapsed, 1),
            readings_stored=stored,
            readings_stored_per_s=round(stored / elapsed, 1),
            ack_p50_ms=round(1000 * percentile(both, 50), 1),
            ack_p99_ms=round(1000 * percentile(both, 99), 1),
            ack_max_ms=round(1000 * max(both, default=float("nan")), 1),
            encrypted_loggers=sum(1 for n in range(args.loggers) if encrypted(n, share)),
            ack_plain_p50_ms=round(1000 * percentile(latencies.plain, 50), 1),
            ack_plain_p99_ms=round(1000 * percentile(latencies.plain, 99), 1),
            ack_encrypted_p50_ms=round(1000 * percentile(latencies.encrypted, 50), 1),
            ack_encrypted_p99_ms=round(1000 * percentile(latencies.encrypted, 99), 1),
            storage=mode.describe(),
            cpus=os.cpu_count() or 0,
            started_at=started_at,
        )
        report(result)
    finally:
        if ingest is not None:
            ingest.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                ingest.wait(30)
        cluster.destroy()
    return 0


def report(result: Result) -> None:
    write_result("hj212_loggers", "HJ 212 loggers benchmark", result)


if __name__ == "__main__":
    sys.exit(main())
