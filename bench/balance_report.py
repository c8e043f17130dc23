"""Benchmark: a region-year balance report over 500 sites, and rollup throughput.

    .venv/bin/python -m bench.balance_report [--sites 500] [--year 2025] [--no-hours]

Starts a throwaway PostgreSQL + TimescaleDB (the test fixtures' `PgCluster`), migrates it,
imports a generated registry (a city, 5 counties, 80 % plants with inlet and outlet, 20 %
enterprises into the sewer), fills one year of `point_day` rows (and their `point_month` sums,
as the rollups keep them) and (unless `--no-hours`) one year of `point_hour` rows (flow + COD
per point and hour) in SQL, then

1. times the region-year report of the city (`build_report`: year and 12 months, nested
   regions, all plants and enterprise points) and writing it as HTML, XLSX and CSV (median of
   5 runs; target < 0.5 s for `build_report`);
2. measures rollup throughput: one day of real-time readings (flow every 30 s, COD hourly) for
   N inlet points is stored, the maintainer is told about them as the pipeline would
   (`on_commit`), and `drain()` marks and recomputes every dirty point-hour. Reported as
   point-hours per second and the readings per second that implies (compare with the ingest
   bar of 50,000 readings/s).

Results go to `bench/results/` (JSON + Markdown).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import yaml
from tests.fixtures.services import PgCluster

from wqmon.balance.job import RollupMaintainer
from wqmon.balance.report import build_report, to_csv, to_html
from wqmon.balance.report.tabular import write_xlsx
from wqmon.balance.store import refresh_months
from wqmon.model import Reading
from wqmon.registry.importer import import_file
from wqmon.settings import Settings
from wqmon.store.migrate import migrate

RESULTS = Path(__file__).parent / "results"
COUNTIES = 5


def registry(sites: int, year: int) -> dict[str, Any]:
    """A city with counties; 80 % plants (inlet, outlet), 20 % enterprises into the sewer."""
    city: dict[str, Any] = {"code": "CITY", "name": "基准市", "kind": "city"}
    counties = [
        {
            "code": f"C{c}",
            "name": f"县{c}",
            "kind": "county",
            "parent": "CITY",
            "years": {year: {"urban_population": 400_000 + 50_000 * c}},
        }
        for c in range(COUNTIES)
    ]
    regions = [city, *counties]
    entries = []
    for i in range(sites):
        region = f"C{i % COUNTIES}"
        if i % 5 != 4:
            points = [
                {"code": "inlet", "role": "inlet", "parameters": ["flow", "cod"]},
                {"code": "outlet", "role": "outlet", "parameters": ["flow", "cod"]},
            ]
            entries.append(
                {
                    "code": f"WWTP-{i:04d}",
                    "name": f"污水处理厂{i}",
                    "kind": "wwtp",
                    "region": region,
                    "capacity_m3_per_day": 20_000 + 1_000 * (i % 80),
                    "points": points,
                }
            )
        else:
            outfall = {"code": "outfall", "role": "discharge", "discharges_to": "sewer"}
            entries.append(
                {
                    "code": f"ENT-{i:04d}",
                    "name": f"企业{i}",
                    "kind": "enterprise",
                    "region": region,
                    "points": [outfall | {"parameters": ["flow", "cod"]}],
                }
            )
    return {"regions": regions, "sites": entries}


FILL_DAYS = """
INSERT INTO point_day (point_id, parameter, day, volume_m3, load_kg, load_volume_m3,
                       flow_hours, load_hours, expected_hours)
SELECT p.id, 'w01018', d::date, v, v * c / 1000, v * 0.97, 23.5, 23.0, 24
FROM point p JOIN site s ON s.id = p.site_id
CROSS JOIN generate_series(%(start)s::date, %(end)s::date - 1, '1 day') AS d
CROSS JOIN LATERAL (SELECT
    CASE WHEN p.role = 'discharge' THEN 500 + 2500 * random()
         ELSE coalesce(s.capacity_m3_per_day, 10000) * (0.7 + 0.3 * random()) END AS v,
    CASE p.role WHEN 'inlet' THEN 200 + 200 * random() WHEN 'outlet' THEN 20 + 20 * random()
         ELSE 300 + 200 * random() END AS c) AS r
"""

FILL_HOURS = """
INSERT INTO point_hour (point_id, parameter, hour, volume_m3, load_kg, conc_mg_l, coverage,
                        flag, n_samples, n_valid, source)
SELECT p.id, k.parameter, h, 1000, CASE WHEN k.parameter = 'w00000' THEN NULL ELSE 300 END,
       CASE WHEN k.parameter = 'w00000' THEN NULL ELSE 300 END, 1, 'N', 120, 120, 'realtime'
FROM point p
CROSS JOIN (VALUES ('w00000'), ('w01018')) AS k(parameter)
CROSS JOIN generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 hour',
                           '1 hour') AS h
"""


def timed(fn: Callable[[], object], runs: int = 5) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def fill(url: str, year: int, hours: bool) -> dict[str, float]:
    start, end = date(year, 1, 1), date(year + 1, 1, 1)
    figures = {}
    with psycopg.connect(url) as conn:
        t0 = time.perf_counter()
        conn.execute(FILL_DAYS, {"start": start, "end": end})
        conn.commit()
        figures["fill_point_day_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        refresh_months(conn, start, end)  # what the rollups do as they store days
        conn.commit()
        figures["fill_point_month_s"] = time.perf_counter() - t0
        if hours:
            t0 = time.perf_counter()
            lo = datetime(year, 1, 1, tzinfo=UTC)
            conn.execute(FILL_HOURS, {"start": lo, "end": lo.replace(year=year + 1)})
            conn.commit()
            figures["fill_point_hour_s"] = time.perf_counter() - t0
        conn.execute("ANALYZE")
        conn.commit()
        for table in ("point_day", "point_month", "point_hour"):
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            figures[f"{table}_rows"] = float(row[0]) if row else 0.0
    return figures


def report_times(url: str, year: int) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix="wqmon-bench-"))
    with psycopg.connect(url) as conn:
        build_report(conn, "CITY", year)  # warm caches and plans once
        build, runs = timed(lambda: build_report(conn, "CITY", year))
        report = build_report(conn, "CITY", year)
    html, _ = timed(lambda: (out / "r.html").write_text(to_html(report), encoding="utf-8"), 3)
    xlsx, _ = timed(lambda: write_xlsx(report, out / "r.xlsx"), 3)
    csv, _ = timed(lambda: (out / "r.csv").write_text(to_csv(report), encoding="utf-8"), 3)
    return {
        "build_report_s": build,
        "build_report_runs_s": runs,
        "html_s": html,
        "xlsx_s": xlsx,
        "csv_s": csv,
        "plants": len(report.plants),
        "enterprise_points": len(report.enterprises),
        "collection_rate": report.account.collection_rate,
    }


def readings_for(channels: list[tuple[int, str]], day: datetime) -> list[Reading]:
    """One day per point: flow every 30 s, COD every hour (what a plant's logger sends)."""
    now = datetime.now(UTC)
    result = []
    for cid, code in channels:
        step = timedelta(seconds=30) if code == "w00000" else timedelta(hours=1)
        value = 3000.0 if code == "w00000" else 300.0
        count = int(timedelta(days=1) / step)
        result += [Reading(cid, day + i * step, value, "N", "bench", now) for i in range(count)]
    return result


def rollup_throughput(url: str, year: int, points: int) -> dict[str, float]:
    day = datetime(year, 6, 1, tzinfo=UTC)
    with psycopg.connect(url) as conn:
        channels = conn.execute(
            "SELECT c.id, c.parameter FROM channel c JOIN point p ON p.id = c.point_id "
            "WHERE p.role = 'inlet' AND p.id IN (SELECT id FROM point WHERE role = 'inlet' "
            "ORDER BY id LIMIT %s)",
            (points,),
        ).fetchall()
        readings = readings_for([(int(c), str(p)) for c, p in channels], day)
        with conn.cursor() as cur, cur.copy("COPY reading FROM STDIN") as copy:
            for r in readings:
                copy.write_row((r.channel_id, r.ts, r.value, r.flag, r.source, r.received_at))
    maintainer = RollupMaintainer(url)
    t0 = time.perf_counter()
    maintainer.on_commit(readings, [])
    hours = maintainer.drain()
    elapsed = time.perf_counter() - t0
    return {
        "points": float(points),
        "readings": float(len(readings)),
        "point_hours": float(hours),
        "seconds": elapsed,
        "point_hours_per_s": hours / elapsed,
        "implied_readings_per_s": len(readings) / elapsed,
    }


def markdown(result: dict[str, Any]) -> str:
    r, t = result["report"], result["rollup"]
    return "\n".join(
        [
            f"# Balance benchmark ({result['when']})",
            "",
            f"{result['sites']} sites, year {result['year']}, {result['machine']}",
            (
                f"point_day rows: {result['fill']['point_day_rows']:,.0f}; "
                f"point_hour rows: {result['fill']['point_hour_rows']:,.0f}"
            ),
            "",
            "| measure | value |",
            "|---|---|",
            (
                f"| region-year report (build, median of 5) | {r['build_report_s'] * 1000:.0f} ms "
                "(target < 500 ms) |"
            ),
            (
                f"| render HTML / XLSX / CSV | {r['html_s'] * 1000:.0f} / {r['xlsx_s'] * 1000:.0f} "
                f"/ {r['csv_s'] * 1000:.0f} ms |"
            ),
            f"| rollup: point-hours recomputed per s | {t['point_hours_per_s']:,.0f} |",
            (
                f"| rollup: implied readings per s (flow 30 s + COD 1 h) | "
                f"{t['implied_readings_per_s']:,.0f} (ingest bar: 50,000) |"
            ),
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--rollup-points", type=int, default=50)
    parser.add_argument("--no-hours", dest="hours", action="store_false")
    args = parser.parse_args()
    cluster = PgCluster()
    cluster.init()
    cluster.start()
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        url = cluster.url("bench")
        migrate(Settings(database_url=url, timescale="require"))
        path = Path(tempfile.mkdtemp(prefix="wqmon-bench-")) / "registry.yaml"
        path.write_text(yaml.safe_dump(registry(args.sites, args.year), allow_unicode=True))
        import_file(url, path)
        result: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {platform.python_version()}",
            "sites": args.sites,
            "year": args.year,
            "fill": fill(url, args.year, args.hours),
            "report": report_times(url, args.year),
            "rollup": rollup_throughput(url, args.year, args.rollup_points),
        }
    finally:
        cluster.destroy()
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"balance_report-{stamp}.json").write_text(json.dumps(result, indent=2))
    text = markdown(result)
    (RESULTS / f"balance_report-{stamp}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
