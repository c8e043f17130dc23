"""Scenarios over examples/registry.yaml: routes per protocol and the scripted alarm episodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wqmon.errors import ConfigError
from wqmon.simulators.clock import SimClock
from wqmon.simulators.field import COD, FLOW
from wqmon.simulators.hj212_field import hour_objects, realtime_objects
from wqmon.simulators.runner import history_instants
from wqmon.simulators.scenarios import build

ANCHOR = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)


def test_city_routes_every_point_once() -> None:
    city = build("city", seed=1, anchor=ANCHOR)
    mns = {t.mn for t in city.loggers}
    assert len(mns) == 9  # 4 plants × inlet/outlet + ENT-06
    assert {g.id: g.transport for g in city.gateways} == {"gw-01": "mqtt", "gw-02": "http"}
    gateway_sites = {mp.site for g in city.gateways for mp in g.points}
    modbus_sites = {t.point.site for t in city.modbus}
    assert modbus_sites <= {"ENT-03"}
    # ENT-03 is polled over Modbus where the registry binds it, else it reports via gw-02.
    assert gateway_sites | modbus_sites == {"ENT-01", "ENT-02", "ENT-03", "ENT-04", "ENT-05"}
    assert not gateway_sites & modbus_sites


def test_city_scripts_a_low_influent_and_an_exceedance_before_the_anchor() -> None:
    city = build("city", seed=1, anchor=ANCHOR)
    model = city.field
    inlet = model.point("WWTP-03", "inlet")
    day = [ANCHOR - timedelta(minutes=10 * i) for i in range(1, 24 * 6 + 1)]
    flows = [model.sample(inlet, FLOW, t).value for t in day]
    cods = [model.sample(inlet, COD, t).value for t in day]
    weighted = sum(f * c for f, c in zip(flows, cods, strict=True)) / sum(flows)
    assert weighted < 260
    outlet = model.point("WWTP-01", "outlet")
    last_hours = [ANCHOR - timedelta(minutes=5 * i) for i in range(1, 25)]
    assert all(model.water(outlet, COD, t) > 50 for t in last_hours)


def test_calm_has_no_episodes_and_unknown_names_are_refused() -> None:
    assert build("calm", seed=1, anchor=ANCHOR).field.episodes == ()
    with pytest.raises(ConfigError, match="unknown scenario"):
        build("nowhere", seed=1, anchor=ANCHOR)


def test_hj212_objects_send_flow_in_litres_per_second_and_sample_times() -> None:
    city = build("city", seed=1, anchor=ANCHOR)
    mp = city.field.point("WWTP-01", "inlet")
    samples = city.field.snapshot(mp, ANCHOR)
    objects = realtime_objects(samples, mp, SimClock(ANCHOR))
    assert objects[FLOW]["Rtd"] == pytest.approx(samples[FLOW].value / 3.6, abs=1e-3)
    assert str(objects[COD]["SampleTime"]).startswith("20250601")
    hour = hour_objects(city.field, mp, ANCHOR - timedelta(hours=1))
    assert float(hour[FLOW]["Min"]) <= float(hour[FLOW]["Avg"]) <= float(hour[FLOW]["Max"])
    assert float(hour[COD]["Cou"]) > 0


def test_clock_accelerates_after_the_start_only() -> None:
    clock = SimClock(ANCHOR, speed=60)
    assert clock.model(ANCHOR - timedelta(hours=2)) == ANCHOR - timedelta(hours=2)
    assert clock.model(ANCHOR + timedelta(minutes=1)) == ANCHOR + timedelta(hours=1)
    assert clock.wall(ANCHOR + timedelta(hours=1)) == ANCHOR + timedelta(minutes=1)


def test_history_instants_are_aligned_and_end_before_the_anchor() -> None:
    end = ANCHOR + timedelta(minutes=7)
    walls = history_instants(end, 1, timedelta(minutes=10))
    assert walls[0] == ANCHOR - timedelta(days=1) + timedelta(minutes=10)
    assert walls[-1] == ANCHOR
    assert all(w.minute % 10 == 0 for w in walls)
