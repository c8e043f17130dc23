"""Benchmark: a province's HJ 212 loggers on one `wqmon ingest`, then a reconnect storm.

    .venv/bin/python -m bench.hj212_province                  # 10,000 loggers, 1 h back-fill
    .venv/bin/python -m bench.hj212_province --backfill 120   # the same, 2 min back-fill
    .venv/bin/python -m bench.hj212_province --quick          # 500 loggers, ≈ 3 min

The hour's back-fill is 127 uploads per logger, 1.27 million for 10,000: on 2 shared cores at a
few hundred uploads/s that is an hour or more (docs/scaling.md §1.4); `--backfill` shortens it.

Starts a throwaway PostgreSQL + TimescaleDB, imports N enterprise outfalls (one MN each, four
parameters), sets SM4 keys for the encrypting loggers and runs `wqmon ingest` as a subprocess.
The loggers are spread over several generator processes (`bench.hj212_fleet`, asyncio, raw
sockets) so the load generator is not the bottleneck; each process's CPU is reported next to the
ingest process's.

1. Live, at real cadence: every logger sends 2011 every 30 s; after each 10-minute boundary a
   2051 and after the hour a 2061, each logger `--boundary-jitter` seconds (at most) late. The
   loggers' clock runs `clock_offset_s` behind the wall clock so that an hour boundary falls
   `--boundary-at` seconds into the live phase: the top-of-the-hour burst happens in the run.
2. Outage: every socket is aborted at once. After `--outage` seconds the loggers reconnect,
   spread over `--reconnect-window` seconds, and each back-fills the hour before the outage
   (its 2011s, 2051s and the last 2061, oldest first; HJ 212-2025 loggers mark them RF=1), one
   upload at a time, each waiting for its 9014. The back-fill repeats the live phase's uploads,
   so the database must hold each (logger, CN, DataTime) exactly once.

Written to `bench/results/hj212_province-<time>.{json,md}`.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

import psycopg
from tests.fixtures.services import PgCluster, free_port, wait_for_port

from bench.cpu import py_spy_record
from bench.hj212_fleet import HOUR_S, FleetPlan, LoggerSpec, child_main
from bench.hj212_loggers import (
    PASSWORD,
    key_of,
    mn_of,
    percentile,
    raise_open_files,
    write_registry,
)
from bench.report import write_result
from wqmon.registry.importer import import_file
from wqmon.settings import Settings
from wqmon.store.hj212_keys import ensure_keys
from wqmon.store.migrate import migrate

RESULTS = Path(__file__).parent / "results"
_CLK_TCK = os.sysconf("SC_CLK_TCK")
# Server-side closes (`wqmon.drivers.hj212`): idle, write timeout, faults, per-peer refusal.
# A write that fails because the peer is gone (ConnectionReset: the outage) is not one.
_SERVER_CLOSE = re.compile(r"idle for|faults, closing|refusing|write failed \(TimeoutError")
_ROWS_PER_UPLOAD = 4  # flow, COD, NH3-N, pH


@dataclass
class Result:
    loggers: int
    generator_processes: int
    editions: dict[str, int]  # loggers per group: 2017, 2025 plain, 2025 SM4
    clock_speed: float  # 1.0: real cadence (the loggers' clock is only offset)
    clock_offset_s: int
    live_seconds: float
    live_uploads: int
    live_answered: int
    live_uploads_per_s: float
    generator_cpu_share: float  # CPU seconds per wall second, all generator processes (live)
    ingest_cpu_share: float  # the same for the `wqmon ingest` process (live)
    ingest_peak_rss_mb: float
    ingest_rss_idle_mb: float  # before the first logger connected
    ingest_rss_connected_mb: float  # every logger connected, before the first upload
    ingest_kb_per_connection: float
    ack_p50_ms: float
    ack_p99_ms: float
    ack_max_ms: float
    ack_p99_ms_by_group: dict[str, float]
    dropped_connections: int  # both sides: lost by generators + closed/refused by the server
    dropped_generator_side: int
    drop_reasons: dict[str, int]  # generator side: the exception (or EOF) that ended it
    server_closes_logged: int
    connect_failures: int
    ack_timeouts: int
    resends: int  # uploads sent again after a lost connection (none expected)
    live_rows_expected: int
    live_rows_stored: int
    storm_outage_s: float
    storm_reconnect_window_s: float
    storm_seconds_to_reconnect: float  # outage end → last logger connected again
    storm_seconds: float  # outage end → last back-fill answered
    storm_uploads: int
    storm_answered: int
    storm_uploads_per_s: float
    storm_rows_expected: int  # distinct (logger, CN, DataTime) × 4, live and back-fill together
    storm_rows_stored: int  # reading + logger_period rows after the storm
    storm_ack_p50_ms: float
    storm_ack_p99_ms: float
    storm_generator_cpu_share: float
    storm_ingest_cpu_share: float
    server_connections_open_live: float | None  # the driver's gauge just before the outage
    storage: str
    cpus: int
    load_average_before: float
    started_at: str


def specs_for(loggers: int, share_2025: float, sm4_share: float) -> list[LoggerSpec]:
    """Editions spread evenly: a `share_2025` of 2025 loggers, `sm4_share` of those encrypted."""
    specs = []
    for n in range(loggers):
        is_2025 = int((n + 1) * share_2025) > int(n * share_2025)
        k = int(n * share_2025)  # the index among the 2025 loggers
        sm4 = is_2025 and int((k + 1) * sm4_share) > int(k * sm4_share)
        specs.append(LoggerSpec(n, mn_of(n), 2025 if is_2025 else 2017, key_of(n) if sm4 else None))
    return specs


def group_of(spec: LoggerSpec) -> str:
    return "2017" if spec.edition == 2017 else ("2025-sm4" if spec.key else "2025")


class Proc:
    """CPU and peak RSS of a process from /proc (utime + stime: all its threads)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def peak_rss_mb(self) -> float:
        return self._status_mb("VmHWM:")

    def rss_mb(self) -> float:
        return self._status_mb("VmRSS:")

    def _status_mb(self, name: str) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(name):
                return round(int(line.split()[1]) / 1024, 1)
        return 0.0


def gauge(metrics_port: int, name: str) -> float | None:
    with contextlib.suppress(OSError):
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read()
        for line in text.decode().splitlines():
            if line.startswith(name):
                return float(line.rsplit(" ", 1)[1])
    return None


def stored_rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM reading) + (SELECT count(*) FROM logger_period)"
        ).fetchone()
    return int(row[0]) if row else 0


def wait_stored(url: str, expected: int, limit_s: float) -> int:
    """The row count once it reaches `expected` or stops growing (commits may still be running)."""
    deadline, last = time.monotonic() + limit_s, -1
    while True:
        count = stored_rows(url)
        if count >= expected or time.monotonic() > deadline or count == last:
            return count
        last = count
        time.sleep(2)


def plan_for(args: argparse.Namespace, port: int) -> FleetPlan:
    now = time.time()
    connect_budget = max(10.0, args.loggers / 400)
    live_at = now + 5 + connect_budget
    boundary_real = live_at + args.boundary_at
    offset = int(boundary_real - boundary_real // HOUR_S * HOUR_S)
    outage_at = live_at + args.live_seconds
    return FleetPlan(
        port=port,
        password=PASSWORD,
        loggers_total=args.loggers,
        connect_at=now + 5,
        live_at=live_at,
        outage_at=outage_at,
        reconnect_at=outage_at + args.outage,
        reconnect_window_s=args.reconnect_window,
        clock_offset_s=offset,
        boundary_jitter_s=args.boundary_jitter,
        ack_timeout_s=args.ack_timeout,
        backfill_s=args.backfill,
    )


def start_generators(processes: int) -> list[tuple[SpawnProcess, Connection]]:
    """Generator processes waiting for their loggers and the plan (`bench.hj212_fleet`)."""
    ctx = multiprocessing.get_context("spawn")  # a clean interpreter: no fork of the bench
    started = []
    for _ in range(processes):
        ours, theirs = ctx.Pipe()
        proc = ctx.Process(target=child_main, args=(theirs,), daemon=True)
        proc.start()
        started.append((proc, ours))
    return started


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"live": [], "storm": [], "by_group": {}, "drop_reasons": {}}
    for r in results:
        for reason, count in r["drop_reasons"].items():
            merged["drop_reasons"][reason] = merged["drop_reasons"].get(reason, 0) + count
        merged["live"] += r["live_latencies"].tolist()
        merged["storm"] += r["storm_latencies"].tolist()
        for group, values in r["by_group"].items():
            merged["by_group"].setdefault(group, []).extend(values.tolist())
    for name in ("live_sent", "live_answered", "storm_sent", "storm_answered", "timeouts", "resends",
                 "dropped", "connect_failures", "cut_by_outage"):  # fmt: skip
        merged[name] = sum(r[name] for r in results)
    for name in ("reconnect_done_at", "storm_done_at"):
        merged[name] = max(r[name] for r in results)
    merged["cpu_live"] = sum(r["cpu_at_outage_s"] - r["cpu_at_live_s"] for r in results)
    merged["cpu_storm"] = sum(r["cpu_at_end_s"] - r["cpu_at_outage_s"] for r in results)
    merged["keys"] = sum(sum(r["keys"].values()) for r in results)
    merged["keys_live"] = sum(sum(r["keys_live"].values()) for r in results)
    return merged


def ms(value: float) -> float:
    return round(1000 * value, 1)


def run(args: argparse.Namespace, url: str, storage: str, workdir: Path) -> Result:
    specs = specs_for(args.loggers, args.share_2025, args.sm4_share)
    ensure_keys(url, {s.mn: s.key for s in specs if s.key is not None}, datetime.now(UTC))
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "WQMON_DATABASE_URL": url,
        "WQMON_HJ212_HOST": "127.0.0.1",
        "WQMON_HJ212_PORT": str(port),
        # All loggers come from 127.0.0.1, and after the outage their old sessions count until
        # the server has read each RST: room for both.
        "WQMON_HJ212_MAX_CONNECTIONS_PER_PEER": str(2 * args.loggers + 10),
        "WQMON_METRICS_PORT": str(metrics_port),
        "WQMON_LOG_LEVEL": "INFO",  # the driver's closes are INFO lines: counted below
        "WQMON_MODBUS_ENABLED": "false",
    }
    env.pop("WQMON_MQTT_URL", None)
    log_path = workdir / "ingest.log"
    load_before = os.getloadavg()[0]
    with log_path.open("wb") as log_file:
        ingest = subprocess.Popen(
            [sys.executable, "-m", "wqmon.cli", "ingest"], env=env, stderr=log_file, stdout=log_file
        )
    profiler: subprocess.Popen[bytes] | None = None
    try:
        wait_for_port(port, timeout=120)
        proc = Proc(ingest.pid)
        if args.profile:
            profiler = py_spy_record(ingest.pid, RESULTS / "hj212_province-profile.txt")
        rss_idle = proc.rss_mb()
        generators = start_generators(args.processes)
        plan = plan_for(args, port)
        for p, (_, pipe) in enumerate(generators):
            pipe.send((specs[p :: args.processes], plan))
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        time.sleep(max(0.0, plan.live_at - time.time()))
        cpu_live = proc.cpu_s()
        rss_connected = proc.rss_mb()
        time.sleep(max(0.0, plan.outage_at - 1 - time.time()))
        connections_open = gauge(metrics_port, "wqmon_hj212_connections_open{")
        time.sleep(max(0.0, plan.outage_at - time.time()))
        cpu_outage = proc.cpu_s()
        live_stored = stored_rows(url)  # every live upload was answered, so committed, by now
        results = [receive.recv() for _, receive in generators]
        cpu_end = proc.cpu_s()
        ended = time.time()
        for gen, _ in generators:
            gen.join(30)
        peak_rss = proc.peak_rss_mb()
    finally:
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(120)
        ingest.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            ingest.wait(60)
    m = merge(results)
    expected = m["keys"] * _ROWS_PER_UPLOAD
    stored = wait_stored(url, expected, 60)
    server_closes = sum(
        1 for line in log_path.read_text().splitlines() if _SERVER_CLOSE.search(line)
    )
    live_s = plan.outage_at - plan.live_at
    storm_s = m["storm_done_at"] - plan.reconnect_at
    editions: dict[str, int] = {}
    for spec in specs:
        editions[group_of(spec)] = editions.get(group_of(spec), 0) + 1
    return Result(
        loggers=args.loggers,
        generator_processes=args.processes,
        editions=editions,
        clock_speed=1.0,
        clock_offset_s=plan.clock_offset_s,
        live_seconds=round(live_s, 1),
        live_uploads=m["live_sent"],
        live_answered=m["live_answered"],
        live_uploads_per_s=round(m["live_sent"] / live_s, 1),
        generator_cpu_share=round(m["cpu_live"] / live_s, 3),
        ingest_cpu_share=round((cpu_outage - cpu_live) / live_s, 3),
        ingest_peak_rss_mb=peak_rss,
        ingest_rss_idle_mb=rss_idle,
        ingest_rss_connected_mb=rss_connected,
        ingest_kb_per_connection=round(1024 * (rss_connected - rss_idle) / args.loggers, 1),
        ack_p50_ms=ms(percentile(m["live"], 50)),
        ack_p99_ms=ms(percentile(m["live"], 99)),
        ack_max_ms=ms(max(m["live"], default=float("nan"))),
        ack_p99_ms_by_group={g: ms(percentile(v, 99)) for g, v in sorted(m["by_group"].items())},
        dropped_connections=m["dropped"] + server_closes,
        dropped_generator_side=m["dropped"],
        drop_reasons=m["drop_reasons"],
        server_closes_logged=server_closes,
        connect_failures=m["connect_failures"],
        ack_timeouts=m["timeouts"],
        resends=m["resends"],
        live_rows_expected=m["keys_live"] * _ROWS_PER_UPLOAD,
        live_rows_stored=live_stored,
        storm_outage_s=args.outage,
        storm_reconnect_window_s=args.reconnect_window,
        storm_seconds_to_reconnect=round(m["reconnect_done_at"] - plan.reconnect_at, 1),
        storm_seconds=round(storm_s, 1),
        storm_uploads=m["storm_sent"],
        storm_answered=m["storm_answered"],
        storm_uploads_per_s=round(m["storm_sent"] / storm_s, 1) if storm_s > 0 else 0.0,
        storm_rows_expected=expected,
        storm_rows_stored=stored,
        storm_ack_p50_ms=ms(percentile(m["storm"], 50)),
        storm_ack_p99_ms=ms(percentile(m["storm"], 99)),
        storm_generator_cpu_share=round(m["cpu_storm"] / (ended - plan.outage_at), 3),
        storm_ingest_cpu_share=round((cpu_end - cpu_outage) / (ended - plan.outage_at), 3),
        server_connections_open_live=connections_open,
        storage=storage,
        cpus=os.cpu_count() or 0,
        load_average_before=round(load_before, 2),
        started_at=started_at,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add(
        "--quick", action="store_true", help="500 loggers, 2 processes, 90 s live, 10 min back-fill"
    )
    add("--loggers", type=int, default=10_000)
    add("--processes", type=int, default=4, help="load-generator processes")
    add("--live-seconds", type=float, default=150.0)
    add("--boundary-at", type=float, default=30.0, help="hour boundary, s into the live phase")
    add("--boundary-jitter", type=float, default=60.0, help="2051/2061 at most this late")
    add("--outage", type=float, default=5.0, help="seconds with every socket gone")
    add("--reconnect-window", type=float, default=30.0, help="reconnects spread over this")
    add("--backfill", type=int, default=HOUR_S, help="seconds of data each logger re-sends")
    add("--share-2025", type=float, default=0.5, help="loggers speaking HJ 212-2025")
    add("--sm4-share", type=float, default=0.6, help="of those, the SM4-encrypting ones")
    add("--ack-timeout", type=float, default=60.0, help="a logger's wait for each 9014")
    add("--profile", action="store_true", help="py-spy the ingest process (raw stacks)")
    args = parser.parse_args(argv)
    if args.quick:
        args.loggers, args.processes, args.live_seconds, args.backfill = 500, 2, 90.0, 600
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_open_files(2 * args.loggers + 1024)  # the generators' sockets; the server raises its own
    cluster = PgCluster()
    cluster.init()
    cluster.start()
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE wqmon_bench")
        url = cluster.url("wqmon_bench")
        mode = migrate(Settings(database_url=url, timescale="auto"))
        with tempfile.TemporaryDirectory() as tmp:
            registry = Path(tmp) / "registry.yaml"
            write_registry(registry, args.loggers)
            import_file(url, registry)
            result = run(args, url, mode.describe(), Path(tmp))
        report(result)
    finally:
        cluster.destroy()
    return 0


def report(result: Result) -> None:
    write_result("hj212_province", "HJ 212 province benchmark", result)


if __name__ == "__main__":
    sys.exit(main())
