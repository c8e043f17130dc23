"""Benchmark: the rollup worker's CPU for one pass over stored readings.

    .venv/bin/python -m bench.rollup [--readings 500000]

`bench.ingest`'s rows are copied into a throwaway database (50 sites, 4 channels each, a reading
every 10 s of data time), every point-hour they touch is marked dirty, and one
`RollupMaintainer` recomputes them all in this process, as the worker would. Reported: wall and
CPU seconds of this process (the Python side) per stored reading, and the point-hours written.
Under live ingest an hour is recomputed more than once (docs/scaling.md §1.2); this is the cost
of one pass, the figure to compare between versions of the rollup code.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import psycopg
from tests.fixtures.services import PgCluster

from bench.ingest import COLUMNS, RESULTS, bench_database, bench_rows
from wqmon.balance.job import RollupMaintainer
from wqmon.store.copybin import encode_readings


def _load(url: str, readings: int, gateways: int) -> int:
    rows = bench_rows(url, readings, gateways)
    with psycopg.connect(url) as conn:
        for i in range(0, len(rows), 10_000):
            with conn.cursor().copy(f"COPY reading ({COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(encode_readings(rows[i : i + 10_000]))
        conn.execute(
            "INSERT INTO rollup_dirty (point_id, hour) SELECT DISTINCT c.point_id, "
            "date_trunc('hour', r.ts) FROM reading r JOIN channel c ON c.id = r.channel_id "
            "ON CONFLICT DO NOTHING"
        )
        conn.commit()
    return len(rows)


def one_pass(url: str) -> tuple[float, float, int]:
    """(wall s, CPU s of this process, point-hours) to recompute every dirty hour once."""
    maintainer = RollupMaintainer(url)
    wall, cpu = time.perf_counter(), time.process_time()
    hours = maintainer.drain()
    return time.perf_counter() - wall, time.process_time() - cpu, hours


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readings", type=int, default=500_000)
    parser.add_argument("--gateways", type=int, default=50)
    args = parser.parse_args()
    pg = PgCluster()
    pg.init()
    pg.start()
    try:
        url = bench_database(pg, args.gateways, Path(tempfile.mkdtemp(prefix="wqmon-rollup-")))
        stored = _load(url, args.readings, args.gateways)
        wall, cpu, hours = one_pass(url)
    finally:
        pg.destroy()
    result = {
        "readings": stored,
        "point_hours": hours,
        "wall_us_per_reading": round(wall * 1e6 / stored, 2),
        "worker_cpu_us_per_reading": round(cpu * 1e6 / stored, 2),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rollup.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
