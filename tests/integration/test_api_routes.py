"""Sites, readings and balance routes through a real uvicorn server on a real database.

Each test runs against TimescaleDB (hypertables, `time_bucket`) and plain PostgreSQL
(`date_bin`); both must answer the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from statistics import fmean

import httpx
import psycopg
import pytest

from tests.fixtures.api import running_api
from tests.fixtures.api_data import insert_readings
from wqmon.api.keys import create_key
from wqmon.balance.job import rebuild
from wqmon.balance.queries import plant_balance
from wqmon.settings import Settings

T0 = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)


@dataclass
class Api:
    client: httpx.AsyncClient
    db: str
    operator: dict[str, str]
    gateway: dict[str, str]  # gw-01: ENT-01 and ENT-02


@pytest.fixture
async def api(registry_db_url: str) -> AsyncIterator[Api]:
    settings = Settings(database_url=registry_db_url, batch_linger_s=0.02)
    operator = create_key(registry_db_url, name="op", role="operator")
    gateway = create_key(registry_db_url, name="gw", role="gateway", gateway="gw-01")
    async with running_api(settings) as base, httpx.AsyncClient(base_url=base, timeout=30) as c:
        yield Api(c, registry_db_url, {"X-API-Key": operator}, {"X-API-Key": gateway})


async def test_sites_list_is_scoped_by_key(api: Api) -> None:
    everything = await api.client.get("/api/v1/sites", headers=api.operator)
    assert everything.status_code == 200
    codes = [s["code"] for s in everything.json()]
    assert codes == sorted(codes)
    assert {"WWTP-01", "WWTP-04", "ENT-01", "ENT-06"} <= set(codes)
    own = await api.client.get("/api/v1/sites", headers=api.gateway)
    assert [s["code"] for s in own.json()] == ["ENT-01", "ENT-02"]


async def test_site_detail_has_limits_latest_readings_and_connection(api: Api) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    insert_readings(api.db, "WWTP-01", "inlet", "cod", [(now - timedelta(minutes=10), 310.0, "N")])
    insert_readings(api.db, "WWTP-01", "inlet", "cod", [(now, 305.5, "D")])
    resp = await api.client.get("/api/v1/sites/WWTP-01", headers=api.operator)
    assert resp.status_code == 200, resp.text
    site = resp.json()
    assert (site["name"], site["region"], site["capacity_m3_per_day"]) == (
        "墟沟污水处理厂",
        "HZ",
        1e5,
    )
    points = {p["code"]: p for p in site["points"]}
    inlet_cod = next(c for c in points["inlet"]["channels"] if c["alias"] == "cod")
    assert inlet_cod["parameter"] == "w01018"
    assert inlet_cod["latest"]["value"] == 305.5
    assert inlet_cod["latest"]["flag"] == "D"
    assert datetime.fromisoformat(inlet_cod["latest"]["ts"]) == now
    assert points["inlet"]["connection"]["state"] == "online"
    assert points["outlet"]["connection"]["state"] == "never"
    outlet_cod = next(c for c in points["outlet"]["channels"] if c["alias"] == "cod")
    assert outlet_cod["limit_value"] == 50.0  # GB 18918-2002 class 1-A
    assert outlet_cod["latest"] is None


async def test_site_detail_refuses_other_sites_and_unknown_codes(api: Api) -> None:
    assert (await api.client.get("/api/v1/sites/ENT-01", headers=api.gateway)).status_code == 200
    other = await api.client.get("/api/v1/sites/WWTP-01", headers=api.gateway)
    assert other.status_code == 403
    assert other.json() == {
        "detail": "this key may not read site 'WWTP-01'",
        "status": 403,
        "code": "forbidden",
    }
    missing = await api.client.get("/api/v1/sites/NOPE", headers=api.operator)
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


def _cod_samples() -> list[tuple[datetime, float, str]]:
    """Every 5 min for 3 h from T0; one D flag in the second hour."""
    return [(T0 + timedelta(minutes=5 * i), 200.0 + i, "D" if i == 15 else "N") for i in range(36)]


async def test_readings_raw_and_bucketed(api: Api) -> None:
    samples = _cod_samples()
    insert_readings(api.db, "WWTP-01", "inlet", "cod", samples)
    insert_readings(api.db, "WWTP-01", "inlet", "flow", [(T0, 4000.0, "N")])
    query = {"site": "WWTP-01", "point": "inlet", "parameter": "cod"}
    window = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=3)).isoformat()}
    raw = await api.client.get("/api/v1/readings", params=query | window, headers=api.operator)
    assert raw.status_code == 200, raw.text
    body = raw.json()
    assert datetime.fromisoformat(body["from"]) == T0
    assert (body["bucket"], body["truncated"]) == (None, False)
    [series] = body["series"]
    assert (series["point"], series["parameter"], series["unit"]) == ("inlet", "w01018", "mg/L")
    # The D reading is a gap (null): it measured nothing of the water.
    assert [p["value"] for p in series["points"]] == [
        v if f == "N" else None for _, v, f in samples
    ]
    hourly = await api.client.get(
        "/api/v1/readings", params=query | window | {"bucket": "1h"}, headers=api.operator
    )
    buckets = hourly.json()["series"][0]["points"]
    assert len(buckets) == 3
    for k, bucket in enumerate(buckets):
        own = [s for s in samples[12 * k : 12 * (k + 1)] if s[2] == "N"]  # valid ones only
        assert datetime.fromisoformat(bucket["ts"]) == T0 + timedelta(hours=k)
        assert bucket["value"] == pytest.approx(fmean(v for _, v, _ in own))
        assert (bucket["min"], bucket["max"], bucket["count"]) == (own[0][1], own[-1][1], len(own))
    assert [b["flag"] for b in buckets] == ["N", "DN", "N"]
    both = await api.client.get(
        "/api/v1/readings", params={"site": "WWTP-01", **window}, headers=api.operator
    )
    found = {(s["point"], s["alias"]): len(s["points"]) for s in both.json()["series"]}
    assert found[("inlet", "cod")] == 36
    assert found[("inlet", "flow")] == 1
    assert found[("outlet", "cod")] == 0


async def test_readings_limit_and_bad_queries(api: Api) -> None:
    insert_readings(api.db, "WWTP-01", "inlet", "cod", _cod_samples())
    params = {"site": "WWTP-01", "from": T0.isoformat(), "limit": "10"}
    cut = await api.client.get("/api/v1/readings", params=params, headers=api.operator)
    assert cut.json()["truncated"] is True
    assert sum(len(s["points"]) for s in cut.json()["series"]) == 10
    cases = [
        ({"site": "WWTP-01", "bucket": "1y"}, 422),
        ({"site": "WWTP-01", "bucket": "40d"}, 422),
        ({"site": "WWTP-01", "parameter": "chlorophyll"}, 422),
        ({"site": "WWTP-01", "from": "2025-06-01T00:00:00"}, 422),  # no offset
        ({"site": "WWTP-01", "from": "2025-06-02T00:00:00Z", "to": "2025-06-01T00:00:00Z"}, 400),
        ({"site": "WWTP-01", "point": "nowhere"}, 404),
        ({}, 422),
    ]
    for params_, code in cases:
        resp = await api.client.get("/api/v1/readings", params=params_, headers=api.operator)
        assert resp.status_code == code, (params_, resp.text)
        assert set(resp.json()) >= {"detail", "status", "code"}
        assert isinstance(resp.json()["detail"], str)


def _plant_day(db: str) -> None:
    """Local day 2025-06-01 (Asia/Shanghai) of WWTP-01: inlet COD 300, outlet 20, 1000 m³/h."""
    start = datetime(2025, 5, 31, 15, tzinfo=UTC)  # an hour before local midnight
    minutes = range(0, 26 * 60, 5)
    for point, cod in (("inlet", 300.0), ("outlet", 20.0)):
        flow = [(start + timedelta(minutes=m), 1000.0, "N") for m in minutes]
        insert_readings(db, "WWTP-01", point, "flow", flow)
        conc = [(start + timedelta(minutes=m), cod, "N") for m in minutes if m % 60 == 0]
        insert_readings(db, "WWTP-01", point, "cod", conc)
    with psycopg.connect(db) as conn:
        rebuild(conn, start, start + timedelta(hours=26), site="WWTP-01")


async def test_plant_balance(api: Api) -> None:
    _plant_day(api.db)
    params = {"from": "2025-06-01", "to": "2025-06-02", "granularity": "day"}
    resp = await api.client.get(
        "/api/v1/balance/plants/WWTP-01", params=params, headers=api.operator
    )
    assert resp.status_code == 200, resp.text
    [day] = resp.json()["periods"]
    # Independent figures: 24 h × 1000 m³/h, at 300 and 20 mg/L.
    assert day["inlet"]["volume_m3"] == pytest.approx(24_000)
    assert day["inlet"]["load_kg"] == pytest.approx(7_200)
    assert day["outlet"]["load_kg"] == pytest.approx(480)
    assert day["reduced_kg"] == pytest.approx(6_720)
    assert day["capacity_utilisation"] == pytest.approx(0.24)
    with psycopg.connect(api.db) as conn:
        direct = plant_balance(conn, "WWTP-01", date(2025, 6, 1), date(2025, 6, 2), "day")
    assert resp.json()["periods"] == direct["periods"]
    hours = await api.client.get(
        "/api/v1/balance/plants/WWTP-01",
        params=params | {"granularity": "hour"},
        headers=api.operator,
    )
    assert len(hours.json()["periods"]) == 24
    assert hours.json()["periods"][0]["inlet_cod"]["load_kg"] == pytest.approx(300)
    gateway = await api.client.get("/api/v1/balance/plants/WWTP-01", headers=api.gateway)
    assert gateway.status_code == 403


async def test_region_balance(api: Api) -> None:
    _plant_day(api.db)
    resp = await api.client.get(
        "/api/v1/balance/regions/HZ", params={"year": 2025}, headers=api.operator
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["region"], body["start"], body["end"]) == ("HZ", "2025-01-01", "2026-01-01")
    account = body["periods"][0]["account"]
    # The year holds all 26 h of data: 26 × 1000 m³ at 300 and 20 mg/L.
    assert account["collected_kg"] == pytest.approx(7_800)
    assert account["reduced_kg"] == pytest.approx(7_280)
    # Domestic 862,000 people × 70 g/day + 1,200 kg/day other sources, over 365 days.
    produced = (862_000 * 70 / 1000 + 1_200) * 365
    assert account["produced_kg"] == pytest.approx(produced)
    assert account["collection_rate"] == pytest.approx(7_800 / produced)
    assert [t["rate"] for t in account["targets"]] == [0.8, 0.95]
    span = await api.client.get(
        "/api/v1/balance/regions/LYG",
        params={"from": "2025-06-01", "to": "2025-07-01", "granularity": "month"},
        headers=api.operator,
    )
    assert span.status_code == 200, span.text
    assert {c["code"] for c in span.json()["periods"][0]["account"]["children"]} == {
        "HZ",
        "GY",
        "KFQ",
    }
    both = await api.client.get(
        "/api/v1/balance/regions/HZ",
        params={"year": 2025, "from": "2025-01-01"},
        headers=api.operator,
    )
    assert both.status_code == 400
    unknown = await api.client.get("/api/v1/balance/regions/XX", headers=api.operator)
    assert unknown.status_code == 404
    gateway = await api.client.get("/api/v1/balance/regions/HZ", headers=api.gateway)
    assert gateway.status_code == 403
