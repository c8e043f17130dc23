"""`python -m bench`: every benchmark in one run, then one report with the ratios.

    .venv/bin/python -m bench            # about 45 minutes on 2 cores (a shared machine)
    .venv/bin/python -m bench --quick    # smaller sizes and shorter runs, for a smoke run

Each benchmark starts its own throwaway PostgreSQL + TimescaleDB (and Mosquitto where needed)
and writes its own JSON under `bench/results/`; this collects the newest of each into
`bench/results/report.{md,json}`. Figures are only comparable within one run: the machines are
shared and noisy, which is why the ingest paths are reported as ratios to raw COPY measured in
the same run, and CPU per reading per process beside them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.report import render

RESULTS = Path(__file__).parent / "results"


def _newest(pattern: str) -> dict[str, Any]:
    files = sorted(RESULTS.glob(pattern), key=lambda p: p.stat().st_mtime)
    return json.loads(files[-1].read_text()) if files else {}


def _run(module: str, *args: str) -> str:
    """Run one benchmark; its seconds, or what went wrong (the others still run)."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", module, *args], check=False)
    seconds = round(time.monotonic() - started)
    return f"{seconds}" if done.returncode == 0 else f"{seconds} (failed, exit {done.returncode})"


def _steps(quick: bool) -> list[tuple[str, list[str]]]:
    """The benchmarks and their arguments, full or quick."""
    readings, http = ("100000", "50000") if quick else ("1000000", "500000")
    rate, probes = ("5000", "20") if quick else ("10000", "100")
    short = ["--quick"] if quick else []
    ingest = ["--readings", readings, "--http-readings", http, "--replicas", "1,2", "--bare"]
    return [
        ("bench.ingest", ingest),
        ("bench.sustained", short),
        # An hour's back-fill of 10,000 loggers is ≈ 1.3 M uploads, about an hour here: ten minutes.
        ("bench.hj212_province", short or ["--backfill", "600"]),
        ("bench.alarm_latency", ["--rate", rate, "--probes", probes]),
        ("bench.balance_report", ["--no-hours", *(["--sites", "100"] if quick else [])]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument(
        "--report-only", action="store_true", help="collect the newest results, run nothing"
    )
    args = parser.parse_args()
    steps = [] if args.report_only else _steps(args.quick)
    seconds = {module: _run(module, *argv) for module, argv in steps}
    report = {
        "ingest": _newest("ingest.json"),
        "sustained": _newest("sustained-*.json"),
        "province": _newest("hj212_province-*.json"),
        "alarms": _newest("alarm_latency-*.json"),
        "balance": _newest("balance_report-*.json"),
        "seconds": seconds,
    }
    (RESULTS / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (RESULTS / "report.md").write_text(render(report))
    print(render(report))


if __name__ == "__main__":
    main()
