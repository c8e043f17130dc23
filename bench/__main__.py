"""`python -m bench`: every benchmark in one run, then one report with the ratios.

    .venv/bin/python -m bench            # about 10 minutes on 2 cores
    .venv/bin/python -m bench --quick    # smaller sizes, for a smoke run

Each benchmark starts its own throwaway PostgreSQL + TimescaleDB (and Mosquitto where needed)
and writes its own JSON under `bench/results/`; this collects the newest of each into
`bench/results/report.{md,json}`. Figures are only comparable within one run: the machines are
shared and noisy, which is why the ingest paths are reported as ratios to raw COPY measured in
the same run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def _newest(pattern: str) -> dict[str, Any]:
    files = sorted(RESULTS.glob(pattern), key=lambda p: p.stat().st_mtime)
    return json.loads(files[-1].read_text()) if files else {}


def _run(module: str, *args: str) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", module, *args], check=True)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = parser.parse_args()
    q = args.quick
    _run(
        "bench.ingest",
        "--readings",
        "100000" if q else "500000",
        "--http-readings",
        "50000" if q else "200000",
    )
    _run(
        "bench.hj212_loggers", "--loggers", "100" if q else "1000", "--seconds", "5" if q else "20"
    )
    _run(
        "bench.alarm_latency", "--rate", "5000" if q else "10000", "--probes", "20" if q else "100"
    )
    _run("bench.balance_report", "--no-hours", *(["--sites", "100"] if q else []))
    report = {
        "ingest": _newest("ingest.json"),
        "hj212": _newest("hj212_loggers-*.json"),
        "alarms": _newest("alarm_latency-*.json"),
        "balance": _newest("balance_report-*.json"),
    }
    (RESULTS / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (RESULTS / "report.md").write_text(render(report))
    print(render(report))


def render(r: dict[str, Any]) -> str:
    ing, hj, al, bal = r["ingest"], r["hj212"], r["alarms"], r["balance"]
    return "\n".join(
        [
            "# wqmon benchmark report",
            "",
            "| path | figure | ratio to raw COPY |",
            "|---|---|---|",
            f"| raw binary COPY into the hypertable | {ing.get('copy_rows_per_s', 0):,} rows/s | 1.00 |",
            f"| MQTT → ingest → hypertable | {ing.get('mqtt_readings_per_s', 0):,} readings/s | {ing.get('mqtt_ratio_to_copy', 0):.2f} |",
            f"| HTTP push → api → hypertable | {ing.get('http_readings_per_s', 0):,} readings/s | {ing.get('http_ratio_to_copy', 0):.2f} |",
            f"| naive INSERT per row | {ing.get('naive_insert_rows_per_s', 0):,} rows/s | {ing.get('naive_ratio_to_copy', 0):.3f} |",
            f"| HJ 212, {hj.get('loggers', '?')} loggers | {hj.get('readings_acked_per_s', 0):,.0f} readings/s acked; 9014 p50 {hj.get('ack_p50_ms', 0):.0f} ms, p99 {hj.get('ack_p99_ms', 0):.0f} ms | |",
            f"| alarm latency at {al.get('readings_per_s', '?')} readings/s | p50 {al.get('p50_ms')} ms, p99 {al.get('p99_ms')} ms, missed {al.get('missed')} | |",
            f"| balance region-year report, {bal.get('sites', '?')} sites | {bal.get('report', {}).get('build_report_s', 0):.2f} s (median of 5) | |",
            "",
            f"Peak RSS: ingest {ing.get('ingest_peak_rss_mb')} MB, api {ing.get('api_peak_rss_mb')} MB.",
            "",
        ]
    )


if __name__ == "__main__":
    main()
