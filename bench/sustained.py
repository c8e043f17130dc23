"""Benchmark: do rollups and alarms keep up with ingest, and is ingest's memory bounded?

    .venv/bin/python -m bench.sustained                  # 10 min at 100k readings/s, then 10 M
    .venv/bin/python -m bench.sustained --quick          # 1 min, then 1 M readings

On a throwaway PostgreSQL + TimescaleDB and Mosquitto (as `bench.ingest`), `wqmon ingest` runs
as a real subprocess with its defaults: rollups recomputed by their worker process, alarms
evaluated by theirs. A publisher process feeds it over MQTT QoS 1, 100 readings per message.

1. Sustained: the publisher offers `--rate` readings/s for `--minutes`; it never runs more than
   a few seconds of readings ahead of what ingest has stored, so an ingest that cannot take the
   rate backpressures it and the achieved rate is reported. Every 5 s the bench samples the
   stored readings, `rollup_dirty` (point-hours waiting for their worker), the alarm hand-over
   queue and the ingest RSS.
2. Memory: `--readings` as fast as ingest takes them, sampling RSS; the peak (VmHWM) is reported.

Each gateway's site gets 4 readings every 10 s of data time (`bench.ingest.body`), so its hours
fill, end and are recomputed by the real path: the listener marks them, the worker claims
`rollup_dirty` rows whose hour has begun (all of them: the data time is in 2025) and recomputes
point-hours, days and months. Results go to `bench/results/sustained-{full,quick,custom}.json`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from tests.fixtures.services import Mosquitto, PgCluster, free_port, wait_for_port

from bench.cpu import command_line, cpu_seconds, descendants, py_spy_record
from bench.ingest import PER_MESSAGE, RESULTS, bench_database, body, env, peak_rss_mb, scrape
from bench.mqtt_raw import RawPublisher, packet_id, publish_packet

SAMPLE_S = 5.0
STORED = "wqmon_ingest_stored_readings_total"
ALARM_PENDING = "wqmon_alarm_pending_readings"
ALARM_DROPPED = "wqmon_alarm_dropped_readings_total"
AHEAD_S = 4.0  # the publisher runs at most this many seconds of readings ahead of storage
MIN_AHEAD = 400_000  # ... and never less: ingest holds 2,000 messages unacknowledged


@dataclass
class Sample:
    t: float  # seconds since the first publish
    stored: int
    rollup_dirty: int
    alarm_pending: int
    alarm_dropped: int
    rss_mb: float
    rollup_worker_cpu_s: float
    alarm_worker_cpu_s: float
    ingest_cpu_s: float


@dataclass
class Result:
    gateways: int
    minutes: float = 0.0
    target_rate: int = 0
    achieved_readings_per_s: float = 0.0
    rollup_dirty_start: int = 0
    rollup_dirty_mid: int = 0
    rollup_dirty_max: int = 0
    rollup_dirty_end: int = 0
    rollup_dirty_slope_second_half_per_min: float = 0.0
    rollup_catch_up_s: float | None = None  # after the publisher stopped, until rollup_dirty = 0
    point_hours_stored: int = 0
    alarm_pending_max: int = 0
    alarm_dropped: int = 0
    rss_max_mb: float = 0.0
    cpu_share: dict[str, float] = field(default_factory=dict)  # of one core, over the run
    readings: int = 0
    readings_per_s: float = 0.0
    peak_rss_mb: float = 0.0
    readings_rollup_dirty_max: int = 0
    readings_alarm_dropped: int = 0
    machine: str = ""
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


# -- the publisher (its own process) ------------------------------------------------------------


def publish_paced(
    port: int, gateways: int, *, rate: float, total: int, stored: Any, stop: Any, ready: Any
) -> None:
    """Publish `total` readings round-robin over the gateways at `rate` readings/s (0: as fast
    as possible), QoS 1, staying at most AHEAD_S of the rate ahead of `stored`."""
    publisher = RawPublisher(port, "bench-pub")
    ahead = max(MIN_AHEAD, int(AHEAD_S * rate)) if rate else MIN_AHEAD
    ready.wait()
    started = time.perf_counter()
    sent = 0
    while sent * PER_MESSAGE < total and not stop.is_set():
        due = int((time.perf_counter() - started) * rate / PER_MESSAGE) + 1 if rate else sent + 50
        if sent >= due or sent * PER_MESSAGE - stored.value > ahead or publisher.unacked() > 2000:
            time.sleep(0.002)
            continue
        if rate and due - sent > rate / PER_MESSAGE:  # backpressured for > 1 s: no catch-up burst
            started = time.perf_counter() - sent * PER_MESSAGE / rate
        g, m = sent % gateways, sent // gateways
        payload = body(g, m * PER_MESSAGE, PER_MESSAGE)
        publisher.send([publish_packet(f"wqmon/v1/g{g:04d}/readings", payload, packet_id(sent))])
        sent += 1
    publisher.wait_acked()
    publisher.close()


# -- the ingest process and its children --------------------------------------------------------


def start_ingest(url: str, broker: Mosquitto, spool: Path) -> tuple[subprocess.Popen[bytes], int]:
    metrics_port = free_port()
    environment = env(url, broker, spool, metrics_port, free_port())
    environment["WQMON_MQTT_CLIENT_ID"] = "bench-sustained"
    proc = subprocess.Popen([sys.executable, "-m", "wqmon.cli", "ingest"], env=environment)
    return proc, metrics_port


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process (0 when gone or never found)."""
    return 0.0 if pid is None else cpu_seconds(pid)


def child(pid: int, module: str) -> int | None:
    """The PID of the process under `pid` running `python -m module`."""
    return next((kid for kid in descendants(pid) if module in command_line(kid)), None)


class Probe:
    """Samples one ingest process, its two workers and the rollup queue."""

    def __init__(self, url: str, proc: subprocess.Popen[bytes], port: int) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.proc, self.port = proc, port
        self.started = time.perf_counter()
        self.rollup_pid = child(proc.pid, "wqmon.balance.worker")
        self.alarm_pid = child(proc.pid, "wqmon.alarms.worker")

    def stored(self) -> int:
        return int(scrape(self.port, STORED))

    def dirty(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0])  # type: ignore[index]

    def sample(self) -> Sample:
        return Sample(
            t=round(time.perf_counter() - self.started, 1),
            stored=self.stored(),
            rollup_dirty=self.dirty(),
            alarm_pending=int(scrape(self.port, ALARM_PENDING)),
            alarm_dropped=int(scrape(self.port, ALARM_DROPPED)),
            rss_mb=round(rss_mb(self.proc.pid), 1),
            rollup_worker_cpu_s=cpu_s(self.rollup_pid),
            alarm_worker_cpu_s=cpu_s(self.alarm_pid),
            ingest_cpu_s=cpu_s(self.proc.pid),
        )


def show(s: Sample) -> None:
    print(
        f"{s.t:7.1f} s  stored {s.stored:>11,}  rollup_dirty {s.rollup_dirty:>6,}  "
        f"alarm pending {s.alarm_pending:>7,} dropped {s.alarm_dropped:,}  RSS {s.rss_mb} MB",
        flush=True,
    )


def cpu_share(samples: list[Sample]) -> dict[str, float]:
    first, last = samples[0], samples[-1]
    span = max(last.t - first.t, 1e-9)
    return {
        "ingest": round((last.ingest_cpu_s - first.ingest_cpu_s) / span, 2),
        "rollup_worker": round((last.rollup_worker_cpu_s - first.rollup_worker_cpu_s) / span, 2),
        "alarm_worker": round((last.alarm_worker_cpu_s - first.alarm_worker_cpu_s) / span, 2),
    }


def slope_per_min(samples: list[Sample]) -> float:
    """Least-squares slope of rollup_dirty over the samples, in point-hours per minute."""
    if len(samples) < 2:
        return 0.0
    ts = [s.t for s in samples]
    ys = [s.rollup_dirty for s in samples]
    mt, my = sum(ts) / len(ts), sum(ys) / len(ys)
    var = sum((t - mt) ** 2 for t in ts)
    cov = sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True))
    return 60.0 * cov / var if var else 0.0


# -- the two phases -----------------------------------------------------------------------------


def feed(
    url: str,
    broker: Mosquitto,
    spool: Path,
    args: argparse.Namespace,
    *,
    rate: float,
    total: int,
    seconds: float | None,
) -> tuple[Probe, list[Sample], float, int]:
    """Run one ingest, publish into it until `seconds` pass or `total` readings are stored;
    returns the probe, the samples, the publishing time and the readings stored in it."""
    proc, port = start_ingest(url, broker, spool)
    try:
        wait_for_port(port, 60)
        time.sleep(1.0)  # the subscription is in place before publishing
        probe = Probe(url, proc, port)
        profiler = _profile(probe.rollup_pid) if args.profile and probe.rollup_pid else None
        stored, stop, ready = (
            multiprocessing.Value("q", 0),
            multiprocessing.Event(),
            multiprocessing.Event(),
        )
        pub = multiprocessing.Process(
            target=publish_paced,
            args=(broker.port, args.gateways),
            kwargs={"rate": rate, "total": total, "stored": stored, "stop": stop, "ready": ready},
        )
        pub.start()
        time.sleep(1.0)
        probe.started = time.perf_counter()
        samples = [probe.sample()]
        ready.set()
        deadline = None if seconds is None else probe.started + seconds
        next_sample = probe.started + SAMPLE_S
        while (deadline is None and stored.value < total) or (
            deadline is not None and time.perf_counter() < deadline
        ):
            time.sleep(1.0)  # the publisher's backpressure: one scrape a second is cheap
            stored.value = probe.stored()
            if time.perf_counter() >= next_sample:
                samples.append(probe.sample())
                show(samples[-1])
                next_sample += SAMPLE_S
        elapsed = time.perf_counter() - probe.started
        stop.set()
        samples.append(probe.sample())
        pub.join(120)
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
    except BaseException:
        stop_ingest(proc)
        raise
    return probe, samples, elapsed, samples[-1].stored


def _profile(pid: int) -> subprocess.Popen[bytes]:
    """py-spy the rollup worker for the publishing phase (raw stacks, for flame graphs)."""
    return py_spy_record(pid, RESULTS / "sustained-rollup-profile.txt")


def stop_ingest(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def catch_up(probe: Probe, samples: list[Sample], limit_s: float) -> float | None:
    """Seconds until rollup_dirty is empty after the publisher stopped (None past limit_s)."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        if probe.dirty() == 0:
            return round(time.perf_counter() - started, 1)
        time.sleep(SAMPLE_S)
        samples.append(probe.sample())
        show(samples[-1])
    return None


def run_sustained(
    url: str, broker: Mosquitto, spool: Path, args: argparse.Namespace, result: Result
) -> None:
    seconds = args.minutes * 60
    total = int(args.rate * seconds * 2)  # never the limit: the clock is
    probe, samples, elapsed, stored = feed(
        url, broker, spool, args, rate=args.rate, total=total, seconds=seconds
    )
    try:
        during = list(samples)
        result.rollup_catch_up_s = catch_up(probe, samples, args.catch_up_s)
        second_half = [s for s in during if s.t >= seconds / 2]
        result.minutes = args.minutes
        result.target_rate = args.rate
        result.achieved_readings_per_s = round(stored / elapsed)
        result.rollup_dirty_start = during[0].rollup_dirty
        result.rollup_dirty_mid = min(during, key=lambda s: abs(s.t - seconds / 2)).rollup_dirty
        result.rollup_dirty_max = max(s.rollup_dirty for s in during)
        result.rollup_dirty_end = during[-1].rollup_dirty
        result.rollup_dirty_slope_second_half_per_min = round(slope_per_min(second_half), 1)
        result.alarm_pending_max = max(s.alarm_pending for s in samples)
        result.alarm_dropped = samples[-1].alarm_dropped
        result.rss_max_mb = max(s.rss_mb for s in samples)
        result.cpu_share = cpu_share(during)
        result.point_hours_stored = int(
            probe.conn.execute(
                "SELECT count(DISTINCT (point_id, hour)) FROM point_hour"
            ).fetchone()[0]  # type: ignore[index]
        )
        result.samples["sustained"] = [asdict(s) for s in samples]
    finally:
        probe.conn.close()
        stop_ingest(probe.proc)


def run_readings(
    url: str, broker: Mosquitto, spool: Path, args: argparse.Namespace, result: Result
) -> None:
    total = args.readings - args.readings % (PER_MESSAGE * args.gateways)
    probe, samples, elapsed, _ = feed(url, broker, spool, args, rate=0, total=total, seconds=None)
    try:
        result.readings = total
        result.readings_per_s = round(total / elapsed)
        result.peak_rss_mb = round(peak_rss_mb(probe.proc.pid), 1)
        result.rss_max_mb = max(result.rss_max_mb, *(s.rss_mb for s in samples))
        result.readings_rollup_dirty_max = max(s.rollup_dirty for s in samples)
        result.readings_alarm_dropped = samples[-1].alarm_dropped
        result.cpu_share |= {f"readings_{k}": v for k, v in cpu_share(samples).items()}
        result.samples["readings"] = [asdict(s) for s in samples]
    finally:
        probe.conn.close()
        stop_ingest(probe.proc)


def reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE reading, rollup_dirty, point_hour, point_day, point_month, "
            "channel_hour, channel_day"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="sustained phase; 0 skips it")
    parser.add_argument("--rate", type=int, default=100_000, help="offered readings/s")
    parser.add_argument("--readings", type=int, default=10_000_000, help="memory phase; 0 skips")
    parser.add_argument("--gateways", type=int, default=50)
    parser.add_argument("--catch-up-s", type=float, default=300.0, help="wait for rollup_dirty=0")
    parser.add_argument("--profile", action="store_true", help="py-spy the rollup worker")
    parser.add_argument("--quick", action="store_true", help="1 minute, then 1 M readings")
    args = parser.parse_args()
    label = "full" if sys.argv[1:] == [] else "custom"
    if args.quick:
        args.minutes, args.readings, args.catch_up_s, label = 1.0, 1_000_000, 120.0, "quick"
    pg, broker = PgCluster(), Mosquitto()
    pg.init()
    pg.start()
    broker.start()
    work = Path(tempfile.mkdtemp(prefix="wqmon-sustained-"))
    try:
        url = bench_database(pg, args.gateways, work)
        result = Result(gateways=args.gateways)
        if args.minutes > 0:
            run_sustained(url, broker, work / "spool-1", args, result)
        if args.readings > 0:
            reset(url)
            run_readings(url, broker, work / "spool-2", args, result)
        result.machine = f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at end"
        write_report(result, label)
    finally:
        broker.destroy()
        pg.destroy()


def write_report(result: Result, label: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"sustained-{label}.json"
    path.write_text(json.dumps(asdict(result), indent=2))
    summary = {k: v for k, v in asdict(result).items() if k != "samples"}
    print(json.dumps(summary, indent=2))
    print(f"written {path}")


if __name__ == "__main__":
    main()
