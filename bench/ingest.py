"""Benchmark: end-to-end ingest against the physical limit, raw binary COPY, in one run.

    .venv/bin/python -m bench.ingest --readings 500000

On a throwaway PostgreSQL + TimescaleDB (the tests' `PgCluster`) it measures, on the same rows
into the same freshly truncated `reading` hypertable:

1. raw binary COPY in batches of 10k on one connection (the limit on this machine);
2. `wqmon ingest` (a real subprocess) fed by MQTT QoS 1 from gateway publishers in another
   process, batched 100 readings per message, until the last reading is stored;
3. `wqmon api` fed by HTTP pushes (bodies of 500 readings, `--http-clients` concurrent clients,
   by default one per gateway: each waits for its answer, which comes after the commit);
4. a naive per-row INSERT with autocommit (the "bridge" baseline), on a sample.

Each throughput is reported with its ratio to raw COPY, and the peak RSS of the ingest process.
Results go to `bench/results/ingest.{json,md}`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from tests.fixtures.services import Mosquitto, PgCluster, free_port, wait_for_port

from bench.cpu import CpuMeter, command_line, descendants, postmaster_pid, py_spy_record
from bench.mqtt_raw import RawPublisher, packet_id, publish_packet
from wqmon.api.keys import create_key
from wqmon.model import Reading
from wqmon.registry.importer import import_file
from wqmon.settings import Settings
from wqmon.store.copybin import encode_readings
from wqmon.store.migrate import migrate

RESULTS = Path(__file__).parent / "results"
PARAMS = ("flow", "cod", "nh3n", "ph")
CODES = {"flow": "w00000", "cod": "w01018", "nh3n": "w21003", "ph": "w01001"}
T0 = datetime(2025, 1, 1, tzinfo=UTC)
PER_MESSAGE = 100
COLUMNS = "channel_id, ts, value, flag, source, received_at"
HTTP_BODY = 500


@dataclass
class Result:
    readings: int
    gateways: int
    replicas: int
    mqtt_by_replicas: dict[int, float]
    mqtt_cpu_us_per_reading: dict[str, float]
    mqtt_bare_readings_per_s: float | None  # rollups and alarms off (`--bare`)
    mqtt_bare_cpu_us_per_reading: dict[str, float] | None
    copy_rows_per_s: float
    copy_write_row_rows_per_s: float
    mqtt_readings_per_s: float
    mqtt_ratio_to_copy: float
    http_readings_per_s: float
    http_ratio_to_copy: float
    naive_insert_rows_per_s: float
    naive_ratio_to_copy: float
    ingest_peak_rss_mb: float
    api_peak_rss_mb: float
    machine: str


def registry(gateways: int) -> str:
    sites = "".join(
        f"  - {{code: S{g:04d}, kind: enterprise, region: R1, points: [{{code: out, role: discharge,"
        f" discharges_to: sewer, parameters: [flow, cod, nh3n, ph]}}]}}\n"
        for g in range(gateways)
    )
    gws = "".join(f"  - {{id: g{g:04d}, sites: [S{g:04d}]}}\n" for g in range(gateways))
    return (
        "regions:\n  - {code: R1, name: R1, kind: county}\nsites:\n" + sites + "gateways:\n" + gws
    )


def reading_of(gateway: int, n: int) -> tuple[str, str, datetime, float]:
    """The n-th reading of a gateway's site: (site, parameter, ts, value), all distinct."""
    return (
        f"S{gateway:04d}",
        PARAMS[n % 4],
        T0 + timedelta(seconds=10 * (n // 4)),
        5.0 + (n % 50) / 10,
    )


def body(gateway: int, start: int, count: int) -> bytes:
    rows = [reading_of(gateway, n) for n in range(start, start + count)]
    return json.dumps(
        {
            "site": rows[0][0],
            "readings": [
                {"point": "out", "parameter": p, "ts": ts.isoformat(), "value": v}
                for _, p, ts, v in rows
            ],
        }
    ).encode()


def bench_database(pg: PgCluster, gateways: int, work: Path) -> str:
    """A migrated `bench` database on `pg` with the gateways' registry imported; its URL."""
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench")
    url = pg.url("bench")
    migrate(Settings(database_url=url, timescale="require"))
    (work / "registry.yaml").write_text(registry(gateways), encoding="utf-8")
    import_file(url, work / "registry.yaml")
    return url


def per_gateway(readings: int, gateways: int) -> int:
    return readings // gateways


# -- baselines ----------------------------------------------------------------------------------


def channel_ids(url: str) -> dict[tuple[str, str], int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT s.code, c.parameter, c.id FROM channel c JOIN point p ON p.id = c.point_id "
            "JOIN site s ON s.id = p.site_id"
        ).fetchall()
    return {(site, code): cid for site, code, cid in rows}


def bench_rows(url: str, readings: int, gateways: int) -> list[Reading]:
    """The rows every path stores, as the `reading` table's tuples."""
    ids = channel_ids(url)
    now = datetime.now(UTC)
    return [
        Reading(ids[(site, CODES[p])], ts, v, "N", "bench", now)
        for g in range(gateways)
        for site, p, ts, v in (reading_of(g, n) for n in range(per_gateway(readings, gateways)))
    ]


def copy_rows(url: str, rows: list[Reading]) -> float:
    """The database's limit: binary COPY of buffers encoded before the clock starts, 10k rows
    per COPY and commit on one connection (so the client costs nothing per row)."""
    buffers = [encode_readings(rows[i : i + 10_000]) for i in range(0, len(rows), 10_000)]
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        for data in buffers:
            with conn.cursor().copy(f"COPY reading ({COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(data)
            conn.commit()
        elapsed = time.perf_counter() - started
    return len(rows) / elapsed


def copy_rows_write_row(url: str, rows: list[Reading]) -> float:
    """The same COPY with psycopg formatting every row (`write_row`): a client-bound figure."""
    types = ["int4", "timestamptz", "float8", "text", "text", "timestamptz"]
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        for i in range(0, len(rows), 10_000):
            with conn.cursor().copy(f"COPY reading ({COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                for row in rows[i : i + 10_000]:
                    copy.write_row(row)
            conn.commit()
        elapsed = time.perf_counter() - started
    return len(rows) / elapsed


def naive_inserts(url: str, sample: int) -> float:
    ids = channel_ids(url)
    now = datetime.now(UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        for n in range(sample):
            site, p, ts, v = reading_of(0, n)
            conn.execute(
                "INSERT INTO reading (channel_id, ts, value, flag, source, received_at) "
                "VALUES (%s, %s, %s, 'N', 'bench', %s) ON CONFLICT DO NOTHING",
                (ids[(site, CODES[p])], ts, v, now),
            )
        return sample / (time.perf_counter() - started)


def truncate(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE reading")
        conn.execute("TRUNCATE dead_letter")


# -- processes ----------------------------------------------------------------------------------


def env(
    url: str, broker: Mosquitto, spool: Path, metrics_port: int, api_port: int
) -> dict[str, str]:
    return {
        **os.environ,
        "WQMON_DATABASE_URL": url,
        "WQMON_MQTT_URL": broker.url,
        "WQMON_HJ212_ENABLED": "false",
        "WQMON_MODBUS_ENABLED": "false",
        "WQMON_METRICS_PORT": str(metrics_port),
        "WQMON_API_PORT": str(api_port),
        "WQMON_SPOOL_DIR": str(spool),
        "WQMON_LOG_LEVEL": "WARNING",
    }


def scrape(port: int, name: str, path: str = "/metrics") -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def publish_all(port: int, gateways: int, each: int, built: Any, ready: Any) -> None:
    """In a separate process: QoS 1 on one connection, 1,000 in flight, until all are acked.
    Packets are encoded before the clock starts (`bench.mqtt_raw`: paho cost 1.5 µs/reading)."""
    messages = [(g, m) for m in range(each // PER_MESSAGE) for g in range(gateways)]
    packets = [
        publish_packet(
            f"wqmon/v1/g{g:04d}/readings", body(g, m * PER_MESSAGE, PER_MESSAGE), packet_id(n)
        )
        for n, (g, m) in enumerate(messages)
    ]
    publisher = RawPublisher(port, "bench-pub")
    built.set()
    ready.wait()
    publisher.send(packets)
    publisher.wait_acked()
    publisher.close()


BARE = {"WQMON_ROLLUP_MODE": "off", "WQMON_ALARM_ENABLED": "false"}


def _start_ingest(
    url: str, broker: Mosquitto, spool: Path, replica: int, replicas: int, *, bare: bool = False
) -> tuple[subprocess.Popen[bytes], int]:
    metrics_port = free_port()
    environment = env(url, broker, spool / str(replica), metrics_port, free_port())
    if bare:  # the pipeline alone: no rollup marks or worker, no alarm child
        environment.update(BARE)
    # A client id per run: a persistent session of an earlier run (its subscription kept on the
    # broker) would otherwise receive the messages a second time, as duplicates.
    run = f"x{replicas}{'-bare' if bare else ''}"
    environment["WQMON_MQTT_CLIENT_ID"] = f"bench-ingest-{run}-{replica}"
    if replicas > 1:
        environment["WQMON_MQTT_SHARED_GROUP"] = "bench"
    proc = subprocess.Popen([sys.executable, "-m", "wqmon.cli", "ingest"], env=environment)
    return proc, metrics_port


def _profile(pid: int, name: str = "ingest") -> subprocess.Popen[bytes]:
    return py_spy_record(pid, RESULTS / f"{name}-profile.txt")


CHILD_MODULES = {"alarm": "wqmon.alarms.worker", "rollup": "wqmon.balance.worker"}


def _profiled(ingest_pid: int, target: str) -> tuple[int, str]:
    """The pid and result name of what `--profile` names: ingest itself or one of its children."""
    if target == "ingest":
        return ingest_pid, "ingest"
    module = CHILD_MODULES[target]
    kid = next(k for k in descendants(ingest_pid) if module in command_line(k))
    return kid, f"ingest-{target}"


@dataclass
class MqttRun:
    readings_per_s: float
    peak_rss_mb: float
    cpu_us_per_reading: dict[str, float]  # per group of processes, from /proc


def run_mqtt(
    pg: PgCluster,
    broker: Mosquitto,
    args: argparse.Namespace,
    spool: Path,
    replicas: int,
    *,
    bare: bool = False,
) -> MqttRun:
    """Readings/s from the first publish to the last stored reading, the peak RSS of the
    (largest) ingest process, and the CPU each process group spent per reading; with
    `--replicas N` the ingest processes share one MQTT subscription group."""
    url = pg.url("bench")
    started_procs = [
        _start_ingest(url, broker, spool, i, replicas, bare=bare) for i in range(replicas)
    ]
    procs = [p for p, _ in started_procs]
    ports = [port for _, port in started_procs]
    try:
        for port in ports:
            wait_for_port(port, 60)
        time.sleep(1.0)  # the subscriptions are in place before publishing
        each = per_gateway(args.readings, args.gateways)
        total = each * args.gateways
        built, ready = multiprocessing.Event(), multiprocessing.Event()
        pub = multiprocessing.Process(
            target=publish_all,
            args=(broker.port, args.gateways, each, built, ready),
            daemon=True,  # a failed run must not wait at exit for a publisher still waiting
        )
        pub.start()
        built.wait(600)  # payloads are built before the clock starts
        profiler = _profile(*_profiled(procs[0].pid, args.profile)) if args.profile else None
        meter = _cpu_meter(pg, broker, procs, pub.pid or 0)
        meter.start()
        started = time.perf_counter()
        ready.set()
        # Rendering /metrics costs the ingest process milliseconds (8 % of its time at 10
        # scrapes/s, profiled): poll slowly until the end is near, then finely.
        while (
            stored := sum(scrape(p, "wqmon_ingest_stored_readings_total") for p in ports)
        ) < total:
            time.sleep(0.05 if stored > 0.97 * total else 0.5)
        elapsed = time.perf_counter() - started
        cpu = meter.stop()
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
        pub.join(30)
        return MqttRun(
            total / elapsed,
            max(peak_rss_mb(p.pid) for p in procs),
            {name: round(s * 1e6 / total, 2) for name, s in cpu.items()},
        )
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)


def _cpu_meter(
    pg: PgCluster, broker: Mosquitto, procs: list[subprocess.Popen[bytes]], publisher: int
) -> CpuMeter:
    postmaster = postmaster_pid(pg.datadir)
    assert broker.process is not None
    mosquitto = broker.process.pid

    def children(module: str) -> Callable[[], list[int]]:
        return lambda: [c for p in procs for c in descendants(p.pid) if module in command_line(c)]

    return CpuMeter(
        {
            "ingest": lambda: [p.pid for p in procs],
            "alarm child": children("wqmon.alarms.worker"),
            "rollup worker": children("wqmon.balance.worker"),
            "postgresql": lambda: [postmaster, *descendants(postmaster)],
            "mosquitto": lambda: [mosquitto],
            "publisher": lambda: [publisher],
        }
    )


async def _push(base: str, token: str, bodies: list[bytes], concurrency: int) -> None:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            data = queue.get_nowait()
            resp = await client.post(
                "/api/v1/readings",
                content=data,
                headers={"X-API-Key": token, "Content-Type": "application/json"},
            )
            resp.raise_for_status()

    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))


def run_http(
    url: str, broker: Mosquitto, args: argparse.Namespace, spool: Path
) -> tuple[float, float]:
    api_port = free_port()
    token = create_key(
        url, name="bench", role="gateway", sites=[f"S{g:04d}" for g in range(args.gateways)]
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "wqmon.cli", "api"],
        env=env(url, broker, spool, free_port(), api_port),
    )
    try:
        wait_for_port(api_port, 60)
        each = per_gateway(args.http_readings, args.gateways)
        size = min(HTTP_BODY, each)  # a small run still sends one body per gateway
        bodies = [
            body(g, m * size, size) for m in range(each // size) for g in range(args.gateways)
        ]
        profiler = _profile(proc.pid, "api") if args.profile == "ingest" else None
        started = time.perf_counter()
        asyncio.run(_push(f"http://127.0.0.1:{api_port}", token, bodies, args.http_clients))
        elapsed = time.perf_counter() - started
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
        return len(bodies) * size / elapsed, peak_rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readings", type=int, default=500_000)
    parser.add_argument("--http-readings", type=int, default=200_000)
    parser.add_argument("--gateways", type=int, default=50)
    parser.add_argument("--bare", action="store_true", help="also MQTT with rollups and alarms off")
    parser.add_argument("--http-clients", type=int, default=50, help="concurrent HTTP pushers")
    parser.add_argument("--naive-sample", type=int, default=10_000)
    parser.add_argument(
        "--replicas",
        default="1",
        help="ingest processes sharing MQTT; a list (1,2) measures each, the first is the headline",
    )
    parser.add_argument(
        "--profile",
        choices=["ingest", "alarm", "rollup"],
        help="py-spy the ingest process (and the API), or its alarm or rollup child (raw stacks)",
    )
    args = parser.parse_args()
    pg, broker = PgCluster(), Mosquitto()
    pg.init()
    pg.start()
    broker.start()
    work = Path(tempfile.mkdtemp(prefix="wqmon-bench-"))
    try:
        url = bench_database(pg, args.gateways, work)
        rows = bench_rows(url, args.readings, args.gateways)
        copy_rate = copy_rows(url, rows)
        truncate(url)
        write_row_rate = copy_rows_write_row(url, rows)
        del rows
        truncate(url)
        counts = [int(n) for n in str(args.replicas).split(",")]
        by_replicas: dict[int, MqttRun] = {}
        for n in counts:
            by_replicas[n] = run_mqtt(pg, broker, args, work / "spool" / f"x{n}", n)
            truncate(url)
        headline = by_replicas[counts[0]]
        bare = None
        if args.bare:
            bare = run_mqtt(pg, broker, args, work / "spool" / "bare", counts[0], bare=True)
            truncate(url)
        mqtt_rate, ingest_rss = headline.readings_per_s, headline.peak_rss_mb
        http_rate, api_rss = run_http(url, broker, args, work / "spool")
        truncate(url)
        naive = naive_inserts(url, args.naive_sample)
        result = Result(
            readings=args.readings,
            gateways=args.gateways,
            replicas=counts[0],
            mqtt_by_replicas={n: round(r.readings_per_s) for n, r in by_replicas.items()},
            mqtt_cpu_us_per_reading=headline.cpu_us_per_reading,
            mqtt_bare_readings_per_s=round(bare.readings_per_s) if bare else None,
            mqtt_bare_cpu_us_per_reading=bare.cpu_us_per_reading if bare else None,
            copy_rows_per_s=round(copy_rate),
            copy_write_row_rows_per_s=round(write_row_rate),
            mqtt_readings_per_s=round(mqtt_rate),
            mqtt_ratio_to_copy=round(mqtt_rate / copy_rate, 3),
            http_readings_per_s=round(http_rate),
            http_ratio_to_copy=round(http_rate / copy_rate, 3),
            naive_insert_rows_per_s=round(naive),
            naive_ratio_to_copy=round(naive / copy_rate, 3),
            ingest_peak_rss_mb=round(ingest_rss, 1),
            api_peak_rss_mb=round(api_rss, 1),
            machine=f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at end",
        )
        write_report(result)
    finally:
        broker.destroy()
        pg.destroy()


def write_report(result: Result) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(asdict(result), indent=2))
    lines = [
        "# Ingest benchmark",
        "",
        "| path | rate | ratio to raw COPY |",
        "|---|---|---|",
        f"| raw binary COPY into the hypertable, rows pre-encoded | {result.copy_rows_per_s:,} rows/s | 1.00 |",
        f"| the same COPY, psycopg `write_row` per row | {result.copy_write_row_rows_per_s:,} rows/s | {result.copy_write_row_rows_per_s / result.copy_rows_per_s:.2f} |",
        f"| MQTT QoS 1 → wqmon ingest ×{result.replicas} → hypertable | {result.mqtt_readings_per_s:,} readings/s | {result.mqtt_ratio_to_copy:.2f} |",
        *(
            f"| MQTT QoS 1 → wqmon ingest ×{n} → hypertable | {rate:,} readings/s | {rate / result.copy_rows_per_s:.2f} |"
            for n, rate in result.mqtt_by_replicas.items()
            if n != result.replicas
        ),
        *(
            [
                f"| MQTT, the same with rollups and alarms off | {result.mqtt_bare_readings_per_s:,} readings/s | {result.mqtt_bare_readings_per_s / result.copy_rows_per_s:.2f} |"
            ]
            if result.mqtt_bare_readings_per_s
            else []
        ),
        f"| HTTP push → wqmon api → hypertable | {result.http_readings_per_s:,} readings/s | {result.http_ratio_to_copy:.2f} |",
        f"| naive INSERT per row, autocommit | {result.naive_insert_rows_per_s:,} rows/s | {result.naive_ratio_to_copy:.3f} |",
        "",
        f"Peak RSS: ingest {result.ingest_peak_rss_mb} MB, api {result.api_peak_rss_mb} MB. {result.machine}.",
        "",
        f"CPU per reading on the MQTT path (µs, ×{result.replicas}): "
        + ", ".join(f"{k} {v}" for k, v in result.mqtt_cpu_us_per_reading.items())
        + f"; total {sum(result.mqtt_cpu_us_per_reading.values()):.1f}.",
        *(
            [
                "CPU per reading, rollups and alarms off (µs): "
                + ", ".join(f"{k} {v}" for k, v in result.mqtt_bare_cpu_us_per_reading.items())
                + f"; total {sum(result.mqtt_bare_cpu_us_per_reading.values()):.1f}."
            ]
            if result.mqtt_bare_cpu_us_per_reading
            else []
        ),
    ]
    (RESULTS / "ingest.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
