"""Flow-weighted mean concentrations of a point over a window, for the aggregate alarm rules.

Computed from the stored real-time readings with the balance engine's own hour integration
(`wqmon.balance.hourly.realtime_hours`: step flow × held concentration), so an alarm and the
balance report never disagree about a mean. The rollup tables are maintained asynchronously by
another task, so the alarm engine does not wait for them.

The integration is pure Python (tens of milliseconds for a day of second-by-second data); it runs
in a worker thread so the event loop, and the live alarms on it, get the interpreter back every
switch interval instead of waiting for the whole computation.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import psycopg

from wqmon.audit.load import channel_audits_async
from wqmon.balance.hourly import realtime_hours
from wqmon.balance.records import DEFAULT_SETTINGS, FLOW, RollupSettings, Sample

_SAMPLES = "SELECT ts, value, flag FROM reading WHERE channel_id = %s AND ts >= %s AND ts < %s"


async def _samples(
    conn: psycopg.AsyncConnection[Any], channel_id: int, start: datetime, end: datetime
) -> list[Sample]:
    cur = await conn.execute(_SAMPLES + " ORDER BY ts", (channel_id, start, end))
    return [(r[0], float(r[1]), str(r[2])) for r in await cur.fetchall()]


async def flow_weighted_means(
    conn: psycopg.AsyncConnection[Any],
    flow_channel: int,
    pollutants: dict[str, int],
    *,
    start: datetime,
    end: datetime,
    settings: RollupSettings = DEFAULT_SETTINGS,
) -> dict[str, tuple[float | None, float]]:
    """Per pollutant code: (flow-weighted mean mg/L or None, coverage 0–1) over [start, end).

    `start` and `end` are whole UTC hours. Coverage is the fraction of the window where valid
    flow and a valid held concentration overlap; the mean is None when no volume was covered.
    Audit marks and corrections count as in the balance (docs/audit.md).
    """
    flow = await _samples(conn, flow_channel, start - settings.max_flow_gap, end)
    series = {
        code: await _samples(conn, cid, start - settings.max_hold_age, end)
        for code, cid in pollutants.items()
    }
    lookback = max(settings.max_hold_age, settings.max_flow_gap)
    codes = {flow_channel: FLOW} | {cid: code for code, cid in pollutants.items()}
    audits = await channel_audits_async(conn, codes, start - lookback, end)
    rows = await asyncio.to_thread(
        realtime_hours, flow, series, start=start, end=end, settings=settings, audit=audits
    )
    sums: dict[str, list[float]] = {code: [0.0, 0.0, 0.0] for code in pollutants}
    for row in rows:
        if row.parameter == FLOW:
            continue
        acc = sums[row.parameter]
        acc[0] += row.load_kg or 0.0
        acc[1] += row.volume_m3
        acc[2] += row.coverage
    hours = max(1, len(rows) // (len(pollutants) + 1))
    return {
        code: ((load * 1000.0 / volume) if volume > 0 else None, covered / hours)
        for code, (load, volume, covered) in sums.items()
    }
