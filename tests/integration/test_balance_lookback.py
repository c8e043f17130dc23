"""The narrow lookback read (`wqmon.balance.point_data`) gives the rows the whole lookback gives.

The reference is the same rollup fed every reading of the lookback (`read_point(audits=None)`):
random irregular series with gaps longer than the hold and the flow gap, invalid flags, negative
values and NaN, over many ranges, and with a correction that changes which result before a range
still holds.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tests.fixtures.api_data import insert_readings
from wqmon.audit.store import Target, create_correction
from wqmon.balance.point_data import read_point
from wqmon.balance.records import COD, FLOW
from wqmon.balance.store import PointChannels, compute_hours, load_points, point_audits

T0 = datetime(2025, 5, 1, tzinfo=UTC)
DAYS = 2


def _series(rng: random.Random, step_min: tuple[int, int], flags: str) -> list[Any]:
    """Irregular samples over DAYS days, with silent stretches of up to 6 h."""
    samples = []
    t = T0
    while t < T0 + timedelta(days=DAYS):
        if rng.random() < 0.03:
            t += timedelta(minutes=rng.randint(20, 360))  # the link is down
        value = rng.uniform(0, 500)
        if rng.random() < 0.05:
            value = -rng.uniform(1, 10)  # a broken analyser's negative result
        elif rng.random() < 0.02:
            value = float("nan")
        samples.append((t, value, rng.choice(flags)))
        t += timedelta(minutes=rng.randint(*step_min), seconds=rng.randint(0, 59))
    return samples


def _inlet(conn: psycopg.Connection[Any]) -> PointChannels:
    pid = conn.execute(
        "SELECT p.id FROM point p JOIN site s ON s.id = p.site_id "
        "WHERE s.code = 'WWTP-01' AND p.code = 'inlet'"
    ).fetchone()
    assert pid is not None
    return load_points(conn, [pid[0]])[pid[0]]


def _both(conn: psycopg.Connection[Any], point: PointChannels, start: datetime, hours: int) -> Any:
    end = start + timedelta(hours=hours)
    audits = point_audits(conn, point, start, end)
    whole = read_point(conn, point, start, end, audits=None)
    narrow = read_point(conn, point, start, end, audits=audits)
    rows = [
        compute_hours(conn, point, start, end, audits=audits, data=data) for data in (whole, narrow)
    ]
    return rows, whole, narrow


def _same(a: list[Any], b: list[Any]) -> bool:
    # NaN never enters a row, so rows compare by value; repr keeps -0.0 and 0.0 apart.
    return [repr(r) for r in a] == [repr(r) for r in b]


def test_narrow_lookback_rolls_up_like_the_whole_lookback(registry_db_url: str) -> None:
    rng = random.Random(20261202)
    insert_readings(registry_db_url, "WWTP-01", "inlet", "flow", _series(rng, (1, 20), "NNNNDC"))
    insert_readings(registry_db_url, "WWTP-01", "inlet", "cod", _series(rng, (30, 150), "NNNCMD"))
    checked = fewer = 0
    with psycopg.connect(registry_db_url) as conn:
        point = _inlet(conn)
        for _ in range(60):
            start = T0 + timedelta(hours=rng.randint(0, 24 * DAYS))
            (whole_rows, narrow_rows), whole, narrow = _both(conn, point, start, rng.randint(1, 8))
            assert _same(whole_rows, narrow_rows), start
            assert any(r.n_samples for r in whole_rows) or start > T0
            checked += len(whole_rows)
            fewer += whole.count() > narrow.count()
    assert checked > 500
    assert fewer > 40  # the narrow read really did read less


def test_a_corrected_channel_reads_the_whole_lookback(registry_db_url: str) -> None:
    """A value correction makes a check result (flag C, skipped by the hold) count as `N`: the
    last usable result before the range is then another than the stored data says."""
    start = T0 + timedelta(hours=10)
    checked = start - timedelta(minutes=30)
    cod = [
        (start - timedelta(hours=3), 400.0, "N"),
        (checked, 90.0, "C"),  # a check run: skipped until corrected
        (start + timedelta(minutes=40), 200.0, "N"),
    ]
    flow = [(start + timedelta(minutes=5 * (i - 1)), 1000.0, "N") for i in range(14)]
    insert_readings(registry_db_url, "WWTP-01", "inlet", "cod", cod)
    insert_readings(registry_db_url, "WWTP-01", "inlet", "flow", flow)
    with psycopg.connect(registry_db_url) as conn:
        point = _inlet(conn)
        (whole_rows, narrow_rows), _, _ = _both(conn, point, start, 1)
        assert _same(whole_rows, narrow_rows)
        before = _cod_load(narrow_rows)
        create_correction(
            conn,
            Target("WWTP-01", "inlet", "cod"),
            points=[(checked, 100.0)],
            reason="lab_result",
            comment="lab re-test of the sample",
            user="op-test",
        )
        (whole_rows, narrow_rows), _, narrow = _both(conn, point, start, 1)
        assert _same(whole_rows, narrow_rows)
        cod_id = next(c for c, code in point.pollutants.items() if code == COD)
        assert len(narrow.series[cod_id]) == 3  # the corrected channel: its whole lookback
        flow_id = point.flow_channel
        assert flow_id is not None
        assert len(narrow.series[flow_id]) == 13  # the one carried reading + 12 in the hour
    # Flow 1000 m³/h all hour. Before: 400 mg/L (3 h old, within the 4 h hold) for 40 min, then
    # 200; after the correction the 100 mg/L result holds for those 40 min instead.
    assert abs(before - (1000 * 40 / 60 * 400 + 1000 * 20 / 60 * 200) / 1000) < 1e-6
    after = _cod_load(narrow_rows)
    assert abs(after - (1000 * 40 / 60 * 100 + 1000 * 20 / 60 * 200) / 1000) < 1e-6
    assert FLOW in {r.parameter for r in narrow_rows}


def _cod_load(rows: list[Any]) -> float:
    return float(next(r.load_kg for r in rows if r.parameter == COD))
