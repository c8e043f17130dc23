"""Audit marks and corrections against a real TimescaleDB: the rollups, plant accounts,
validity figures and histories honour them, and revoking restores the figures.

Every expected figure is computed here from the raw readings with the minute-by-minute rules of
`balance_series.independent`, not with the engine's own functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.conftest import EXAMPLE_REGISTRY
from tests.fixtures.api_data import insert_readings
from tests.integration.balance_series import independent
from wqmon.audit.store import (
    Target,
    create_correction,
    create_mark,
    reading_history,
    revoke_mark,
)
from wqmon.audit.validity import channel_validity, scope_channels
from wqmon.balance.job import RollupMaintainer, rebuild
from wqmon.balance.queries import plant_balance
from wqmon.balance.records import DEFAULT_SETTINGS
from wqmon.registry.importer import import_file

DAY = date(2025, 3, 1)  # local day, Asia/Shanghai
DAY_START = datetime(2025, 2, 28, 16, tzinfo=UTC)
DAY_END = DAY_START + timedelta(days=1)
Sample = tuple[datetime, float, str]


def at(hour: int, minute: int = 0) -> datetime:
    """A time of the local day, given as UTC hours after its start."""
    return DAY_START + timedelta(hours=hour, minutes=minute)


def _flow(base: float) -> list[Sample]:
    """Every 5 min, from an hour before the day to its end, values varying."""
    count = 26 * 12
    return [(at(-1) + i * timedelta(minutes=5), base + (i % 24) * 40.0, "N") for i in range(count)]


def _cod(base: float, step: float) -> list[Sample]:
    """Hourly results on the hour, from 4 h before the day."""
    return [(at(h), base + step * (h % 7), "N") for h in range(-4, 24)]


SERIES: dict[tuple[str, str], list[Sample]] = {
    ("inlet", "flow"): _flow(3500.0),
    ("inlet", "cod"): _cod(300.0, 10.0),
    ("outlet", "flow"): _flow(3400.0),
    ("outlet", "cod"): _cod(25.0, 1.0),
}


@pytest.fixture
def db(db_url: str) -> Iterator[str]:
    import_file(db_url, EXAMPLE_REGISTRY)
    for (point, parameter), samples in SERIES.items():
        insert_readings(db_url, "WWTP-01", point, parameter, samples)
    with psycopg.connect(db_url) as conn:
        rebuild(conn, at(-4), DAY_END + timedelta(hours=5), site="WWTP-01")
    return db_url


def _account(db_url: str) -> dict[str, Any]:
    with psycopg.connect(db_url) as conn:
        body = plant_balance(conn, "WWTP-01", DAY, DAY + timedelta(days=1), "day")
    periods = body["periods"]
    assert isinstance(periods, list)
    assert len(periods) == 1
    account: dict[str, Any] = periods[0]
    return account


def _drain(db_url: str) -> None:
    assert RollupMaintainer(db_url).drain() > 0


def _write(db_url: str, work: Any) -> Any:
    with psycopg.connect(db_url) as conn:
        result = work(conn)
        conn.commit()
    return result


def test_a_mark_removes_exactly_its_range_and_revoking_restores(db: str) -> None:
    before = _account(db)
    inlet = SERIES[("inlet", "flow")], SERIES[("inlet", "cod")]
    outlet = SERIES[("outlet", "flow")], SERIES[("outlet", "cod")]
    assert before["inlet"]["load_kg"] == pytest.approx(independent(*inlet, DAY_START, DAY_END)[1])
    # Inlet COD in maintenance 02:00–05:00 (the three results inside are invalid, the next one
    # at 05:00 stands for itself), and the whole outlet point off 14:00–15:30.
    cod_mark = _write(
        db,
        lambda c: create_mark(
            c,
            Target("WWTP-01", "inlet", "cod"),
            start=at(2),
            end=at(5),
            validity="invalid",
            reason="maintenance",
            comment="analyser reagent change",
            user="op-zhang",
        ),
    )
    point_mark = _write(
        db,
        lambda c: create_mark(
            c,
            Target("WWTP-01", "outlet"),
            start=at(14),
            end=at(15, 30),
            validity="invalid",
            reason="power_cut",
            comment="",
            user="op-li",
        ),
    )
    _drain(db)
    marked = _account(db)
    inlet_part = independent(*inlet, at(2), at(5))[1]
    outlet_part = independent(*outlet, at(14), at(15, 30))[1]
    assert inlet_part > 0
    assert outlet_part > 0
    assert marked["inlet"]["load_kg"] == pytest.approx(before["inlet"]["load_kg"] - inlet_part)
    assert marked["outlet"]["load_kg"] == pytest.approx(before["outlet"]["load_kg"] - outlet_part)
    assert marked["reduced_kg"] == pytest.approx(before["reduced_kg"] - inlet_part + outlet_part)
    outlet_volume = independent(*outlet, at(14), at(15, 30))[0]
    assert marked["outlet"]["volume_m3"] == pytest.approx(
        before["outlet"]["volume_m3"] - outlet_volume
    )
    # The trace: the hour rows the marks changed name them, and only those.
    with psycopg.connect(db) as conn:
        traced = conn.execute(
            "SELECT DISTINCT p.code, h.hour, h.marks FROM point_hour h JOIN point p "
            "ON p.id = h.point_id WHERE cardinality(h.marks) > 0 ORDER BY 1, 2"
        ).fetchall()
    assert {(p, h) for p, h, _ in traced} == {("inlet", at(h)) for h in (2, 3, 4)} | {
        ("outlet", at(14)),
        ("outlet", at(15)),
    }
    assert all(m in ([cod_mark], [point_mark]) for _, _, m in traced)

    _write(db, lambda c: revoke_mark(c, cod_mark, user="op-zhang", comment="wrong day"))
    _write(db, lambda c: revoke_mark(c, point_mark, user="op-li", comment="wrong day"))
    _drain(db)
    after = _account(db)
    for side in ("inlet", "outlet"):
        assert after[side]["load_kg"] == pytest.approx(before[side]["load_kg"])
        assert after[side]["volume_m3"] == pytest.approx(before[side]["volume_m3"])
    assert after["reduced_kg"] == pytest.approx(before["reduced_kg"])


def test_corrections_are_used_originals_kept_and_the_trail_lists_everything(db: str) -> None:
    before = _account(db)
    flow, cod = SERIES[("inlet", "flow")], SERIES[("inlet", "cod")]
    original_six = next(v for ts, v, _ in cod if ts == at(6))
    value_fix = _write(
        db,
        lambda c: create_correction(
            c,
            Target("WWTP-01", "inlet", "cod"),
            points=[(at(6), 150.0)],
            reason="lab_result",
            comment="lab re-test of the 06:00 sample",
            user="op-wang",
        ),
    )
    # A failed analyser 09:00–13:00: one lab result stands for the whole range.
    series_fix = _write(
        db,
        lambda c: create_correction(
            c,
            Target("WWTP-01", "inlet", "cod"),
            points=[(at(9), 280.0)],
            start=at(9),
            end=at(13),
            reason="lab_result",
            comment="composite sample",
            user="op-wang",
        ),
    )
    mark = _write(
        db,
        lambda c: create_mark(
            c,
            Target("WWTP-01", "inlet", "cod"),
            start=at(20),
            end=at(21),
            validity="invalid",
            reason="calibration",
            comment="",
            user="op-wang",
        ),
    )
    _drain(db)
    corrected = [(ts, 150.0 if ts == at(6) else v, f) for ts, v, f in cod]
    corrected = [s for s in corrected if not at(9) <= s[0] < at(13)] + [(at(9), 280.0, "N")]
    corrected.sort()
    expected = (
        independent(flow, corrected, DAY_START, at(20))[1]
        + independent(flow, corrected, at(21), DAY_END)[1]
    )
    after = _account(db)
    assert after["inlet"]["load_kg"] == pytest.approx(expected)
    assert after["inlet"]["load_kg"] != pytest.approx(before["inlet"]["load_kg"])
    with psycopg.connect(db) as conn:
        stored = conn.execute(
            "SELECT r.value, r.flag FROM reading r JOIN channel c ON c.id = r.channel_id "
            "JOIN point p ON p.id = c.point_id WHERE p.code = 'inlet' AND c.parameter = 'w01018' "
            "AND r.ts = %s",
            (at(6),),
        ).fetchone()
        history = reading_history(
            conn, Target("WWTP-01", "inlet", "cod"), at(5), at(22), DEFAULT_SETTINGS
        )
    assert stored == (original_six, "N")  # the reading itself never changes
    by_ts = {r["ts"]: r for r in history["readings"]}
    six = by_ts[at(6)]
    assert (six["original"]["value"], six["value"], six["corrections"]) == (
        original_six,
        150.0,
        [value_fix],
    )
    ten = by_ts[at(10)]  # replaced: original kept, not counted
    assert ten["original"]["value"] == next(v for ts, v, _ in cod if ts == at(10))
    assert ten["value"] is None
    assert ten["counts"] is False
    assert by_ts[at(9)]["value"] == 280.0
    assert by_ts[at(9)]["corrections"] == [series_fix]
    assert (by_ts[at(20)]["flag"], by_ts[at(20)]["mark"], by_ts[at(20)]["counts"]) == (
        "C",
        mark,
        False,
    )
    assert [m["id"] for m in history["marks"]] == [mark]
    assert history["marks"][0]["created_by"] == "op-wang"
    assert {c["id"] for c in history["corrections"]} == {value_fix, series_fix}
    assert all(c["reason"] == "lab_result" for c in history["corrections"])


def test_validity_counts_hours_by_the_rule(db: str) -> None:
    _write(
        db,
        lambda c: create_mark(
            c,
            Target("WWTP-01", "inlet", "cod"),
            start=at(2),
            end=at(4),
            validity="invalid",
            reason="instrument_fault",
            comment="",
            user="op",
        ),
    )
    _write(
        db,
        lambda c: create_mark(
            c,
            Target("WWTP-01", "inlet"),
            start=at(10),
            end=at(13),
            validity="invalid",
            reason="shutdown",
            comment="declared stop",
            user="op",
        ),
    )
    insert_readings(db, "WWTP-01", "inlet", "flow", [(at(20, 2), 3600.0, "D")])
    _drain(db)
    with psycopg.connect(db) as conn:  # the reading went around the pipeline: roll it up
        rebuild(conn, at(20), at(21), site="WWTP-01")
    with psycopg.connect(db) as conn:
        channels = [
            c for c in scope_channels(conn, site="WWTP-01", region=None) if c.point == "inlet"
        ]
        figures = {
            f.channel.parameter: f
            for f in channel_validity(conn, channels, DAY, DAY + timedelta(days=1))
        }
    cod, flow = figures["w01018"], figures["w00000"]
    # COD: 24 hourly results; 2 hours invalid (fault), 3 shutdown, 19 valid.
    assert (cod.expected_hours, cod.received_hours) == (24, 24)
    assert (cod.invalid_hours, cod.shutdown_hours, cod.valid_hours) == (2, 3, 19)
    assert cod.causes == {"instrument_fault": 2, "shutdown": 3}
    assert cod.valid_rate == pytest.approx(19 / (24 - 3))
    assert cod.transmission_rate == pytest.approx(1.0)
    # Flow: the hour with one D reading is invalid by HJ 212's rule; shutdown as for COD.
    assert (flow.invalid_hours, flow.shutdown_hours, flow.valid_hours) == (1, 3, 20)
    assert flow.causes == {"flag:D": 1, "shutdown": 3}
    # A channel without data counts its hours as missing, except those the shutdown covers.
    ph = figures["w01001"]
    assert (ph.received_hours, ph.shutdown_hours, ph.missing_hours) == (0, 3, 21)
    assert (ph.transmission_rate, ph.valid_rate) == (0.0, 0.0)
