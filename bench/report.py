"""The Markdown report of one `python -m bench` run (pure: JSON of the benchmarks in, text out)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any


def _ratio(rate: float | None, copy: float) -> str:
    return f"{rate / copy:.2f}" if rate and copy else "—"


def _cpu(cpu: dict[str, float] | None) -> str:
    if not cpu:
        return "—"
    parts = ", ".join(f"{name} {us}" for name, us in cpu.items())
    return f"{parts}; total {sum(cpu.values()):.1f}"


def _ingest_rows(ing: dict[str, Any]) -> list[str]:
    copy = ing.get("copy_rows_per_s", 0)
    rows = [
        f"| raw binary COPY into the hypertable, rows pre-encoded (the database's limit) | {copy:,} rows/s | 1.00 |",
        f"| the same COPY, psycopg `write_row` per row | {ing.get('copy_write_row_rows_per_s', 0):,} rows/s | {_ratio(ing.get('copy_write_row_rows_per_s'), copy)} |",
    ]
    for n, rate in ing.get("mqtt_by_replicas", {}).items():
        rows.append(
            f"| MQTT QoS 1, 100 readings a message → `wqmon ingest` ×{n} (rollups, alarms on) | {rate:,} readings/s | {_ratio(rate, copy)} |"
        )
    bare = ing.get("mqtt_bare_readings_per_s")
    if bare:
        rows.append(
            f"| the same ×{ing.get('replicas', 1)}, rollups and alarms off | {bare:,} readings/s | {_ratio(bare, copy)} |"
        )
    http = ing.get("http_readings_per_s", 0)
    rows += [
        f"| HTTP push, 500 readings a body → `wqmon api` | {http:,} readings/s | {_ratio(http, copy)} |",
        f"| naive INSERT per row, autocommit | {ing.get('naive_insert_rows_per_s', 0):,} rows/s | {_ratio(ing.get('naive_insert_rows_per_s'), copy)} |",
    ]
    return rows


def _province_rows(hj: dict[str, Any]) -> list[str]:
    if not hj:
        return ["| HJ 212 province | not run | |"]
    return [
        f"| HJ 212, {hj.get('loggers', 0):,} loggers (live mix) | 9014 p50 {hj.get('ack_p50_ms', 0):.0f} ms, p99 {hj.get('ack_p99_ms', 0):.0f} ms; dropped connections {hj.get('dropped_connections')}; ingest RSS {hj.get('ingest_peak_rss_mb')} MB, CPU {hj.get('ingest_cpu_share')}; generators ×{hj.get('generator_processes')} CPU {hj.get('generator_cpu_share')} | |",
        f"| HJ 212 reconnect storm | all reconnected in {hj.get('storm_seconds_to_reconnect')} s; uploads answered {hj.get('storm_answered')} of {hj.get('storm_uploads')}; rows {hj.get('storm_rows_stored')} stored of {hj.get('storm_rows_expected')} expected; 9014 p99 {hj.get('storm_ack_p99_ms')} ms | |",
    ]


def _sustained_rows(su: dict[str, Any]) -> list[str]:
    if not su:
        return ["| sustained ingest | not run | |"]
    return [
        f"| sustained MQTT ingest, {su.get('minutes')} min at a target of {su.get('target_rate', 0):,}/s | {su.get('achieved_readings_per_s', 0):,.0f} readings/s achieved; `rollup_dirty` start {su.get('rollup_dirty_start')}, max {su.get('rollup_dirty_max')}, end {su.get('rollup_dirty_end')}, slope over the second half {su.get('rollup_dirty_slope_second_half_per_min')}/min; alarm queue max {su.get('alarm_pending_max')}, dropped {su.get('alarm_dropped')}; RSS max {su.get('rss_max_mb')} MB | |",
        f"| `wqmon ingest` over {su.get('readings', 0):,} readings | peak RSS {su.get('peak_rss_mb')} MB at {su.get('readings_per_s', 0):,.0f} readings/s | |",
    ]


def render(r: dict[str, Any]) -> str:
    ing, al, bal = r.get("ingest", {}), r.get("alarms", {}), r.get("balance", {})
    lines = [
        "# wqmon benchmark report",
        "",
        "| path | figure | ratio to raw COPY |",
        "|---|---|---|",
        *_ingest_rows(ing),
        *_sustained_rows(r.get("sustained", {})),
        *_province_rows(r.get("province", {})),
        f"| alarm latency at {al.get('readings_per_s', '?')} readings/s | p50 {al.get('p50_ms')} ms, p99 {al.get('p99_ms')} ms, missed {al.get('missed')} | |",
        f"| balance region-year report, {bal.get('sites', '?')} sites | {bal.get('report', {}).get('build_report_s', 0):.2f} s (median of 5) | |",
        "",
        (
            f"Peak RSS: ingest {ing.get('ingest_peak_rss_mb')} MB, api"
            f" {ing.get('api_peak_rss_mb')} MB ({ing.get('readings', 0):,} readings)."
            f" {ing.get('machine', '')}."
        ),
        "",
        f"CPU µs per reading on the MQTT path: {_cpu(ing.get('mqtt_cpu_us_per_reading'))}.",
        f"The same with rollups and alarms off: {_cpu(ing.get('mqtt_bare_cpu_us_per_reading'))}.",
        "",
        "Seconds per benchmark: " + ", ".join(f"{k} {v}" for k, v in r.get("seconds", {}).items()),
        "",
    ]
    return "\n".join(lines)


def write_result(name: str, title: str, result: Any) -> None:
    """One benchmark's dataclass result as `bench/results/<name>-<started_at>.{json,md}`."""
    results = Path(__file__).parent / "results"
    results.mkdir(parents=True, exist_ok=True)
    stem = results / f"{name}-{result.started_at.replace(':', '')}"
    stem.with_suffix(".json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    lines = [
        f"# {title} ({result.started_at})",
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in asdict(result).items()),
        "",
    ]
    stem.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
