"""The audit routes through a real uvicorn server on a real TimescaleDB: roles, the record
under the key's name, revocation, histories, validity, compliance and daily report downloads."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from openpyxl import load_workbook

from tests.conftest import EXAMPLE_REGISTRY
from tests.fixtures.api import running_api
from tests.fixtures.api_data import insert_readings, rows
from wqmon.api.keys import create_key
from wqmon.balance.job import RollupMaintainer
from wqmon.registry.importer import import_file
from wqmon.settings import Settings

T0 = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)


@dataclass
class Api:
    client: httpx.AsyncClient
    db: str
    operator: dict[str, str]
    gateway: dict[str, str]


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    import_file(db_url, EXAMPLE_REGISTRY)
    operator = create_key(db_url, name="op-zhang", role="operator")
    gateway = create_key(db_url, name="gw", role="gateway", gateway="gw-01")
    settings = Settings(database_url=db_url, batch_linger_s=0.02)
    async with running_api(settings) as base, httpx.AsyncClient(base_url=base, timeout=30) as c:
        yield Api(c, db_url, {"X-API-Key": operator}, {"X-API-Key": gateway})


def _mark(**extra: object) -> dict[str, object]:
    return {
        "site": "WWTP-01",
        "point": "inlet",
        "parameter": "cod",
        "start": T0.isoformat(),
        "end": (T0 + timedelta(hours=2)).isoformat(),
        "validity": "invalid",
        "reason": "maintenance",
        "comment": "pump overhaul",
    } | extra


async def test_marks_are_recorded_under_the_key_and_revocable(api: Api) -> None:
    refused = await api.client.post("/api/v1/audit/marks", json=_mark(), headers=api.gateway)
    assert refused.status_code == 403
    created = await api.client.post("/api/v1/audit/marks", json=_mark(), headers=api.operator)
    assert created.status_code == 201, created.text
    mark = created.json()
    assert (mark["created_by"], mark["alias"], mark["reason"]) == ("op-zhang", "cod", "maintenance")
    dirty = rows(api.db, "SELECT count(*) FROM rollup_dirty")[0][0]
    assert dirty >= 2  # the marked hours wait for the rollup maintainer
    listed = await api.client.get(
        "/api/v1/audit/marks", params={"site": "WWTP-01"}, headers=api.operator
    )
    assert [m["id"] for m in listed.json()] == [mark["id"]]
    revoked = await api.client.post(
        f"/api/v1/audit/marks/{mark['id']}/revoke", json={"comment": "wrong"}, headers=api.operator
    )
    assert revoked.status_code == 200
    assert revoked.json()["revoked_by"] == "op-zhang"
    again = await api.client.post(
        f"/api/v1/audit/marks/{mark['id']}/revoke", json={}, headers=api.operator
    )
    assert again.status_code == 400
    assert "already revoked" in again.json()["detail"]
    missing = await api.client.post("/api/v1/audit/marks/999/revoke", json={}, headers=api.operator)
    assert missing.status_code == 404
    still = await api.client.get(
        "/api/v1/audit/marks", params={"site": "WWTP-01", "revoked": "true"}, headers=api.operator
    )
    assert [m["id"] for m in still.json()] == [mark["id"]]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (_mark(reason="sunspots"), 422, "reason"),
        (_mark(reason="other", comment=""), 400, "comment"),
        (_mark(end=T0.isoformat()), 400, "after start"),
        (_mark(start="2025-06-01T00:00:00"), 422, "timezone"),
        (_mark(parameter="nosuch"), 404, "no channel"),
        (_mark(site="NOPE"), 404, "unknown point"),
    ],
)
async def test_bad_marks_get_one_clear_error(
    api: Api, body: dict[str, object], status: int, words: str
) -> None:
    resp = await api.client.post("/api/v1/audit/marks", json=body, headers=api.operator)
    assert resp.status_code == status, resp.text
    assert words in resp.json()["detail"]
    assert rows(api.db, "SELECT count(*) FROM audit_mark")[0][0] == 0


async def test_correction_history_and_validity(api: Api) -> None:
    samples = [(T0 + timedelta(hours=h), 300.0 + h, "N") for h in range(6)]
    insert_readings(api.db, "WWTP-01", "inlet", "cod", samples)
    fix = await api.client.post(
        "/api/v1/audit/corrections",
        json={
            "site": "WWTP-01",
            "point": "inlet",
            "parameter": "cod",
            "reason": "lab_result",
            "values": [{"ts": (T0 + timedelta(hours=2)).isoformat(), "value": 150.0}],
        },
        headers=api.operator,
    )
    assert fix.status_code == 201, fix.text
    nothing = await api.client.post(
        "/api/v1/audit/corrections",
        json={
            "site": "WWTP-01",
            "point": "inlet",
            "parameter": "cod",
            "reason": "lab_result",
            "values": [{"ts": (T0 + timedelta(minutes=7)).isoformat(), "value": 1.0}],
        },
        headers=api.operator,
    )
    assert nothing.status_code == 400
    assert "no reading" in nothing.json()["detail"]
    await api.client.post("/api/v1/audit/marks", json=_mark(), headers=api.operator)
    RollupMaintainer(api.db).drain()
    history = await api.client.get(
        "/api/v1/audit/history",
        params={
            "site": "WWTP-01",
            "point": "inlet",
            "parameter": "cod",
            "from": T0.isoformat(),
            "to": (T0 + timedelta(hours=6)).isoformat(),
        },
        headers=api.operator,
    )
    assert history.status_code == 200, history.text
    body = history.json()
    two = body["readings"][2]
    assert (two["original"]["value"], two["value"], two["corrections"]) == (
        302.0,
        150.0,
        [fix.json()["id"]],
    )
    assert [r["flag"] for r in body["readings"][:2]] == ["M", "M"]
    assert (len(body["marks"]), len(body["corrections"])) == (1, 1)
    validity = await api.client.get(
        "/api/v1/validity",
        params={"site": "WWTP-01", "from": "2025-06-01", "to": "2025-06-02"},
        headers=api.operator,
    )
    cod = next(
        c for c in validity.json()["channels"] if (c["point"], c["alias"]) == ("inlet", "cod")
    )
    # Local day 2025-06-01 (UTC+8) holds the readings of 00:00–06:00 UTC: 6 hours, 2 marked.
    assert (cod["received_hours"], cod["valid_hours"], cod["invalid_hours"]) == (6, 4, 2)
    assert cod["causes"]["maintenance"] == 2
    other_site = await api.client.get(
        "/api/v1/validity",
        params={"site": "WWTP-01", "from": "2025-06-01", "to": "2025-06-02"},
        headers=api.gateway,
    )
    assert other_site.status_code == 403


async def test_compliance_and_daily_report_downloads(api: Api) -> None:
    as_json = await api.client.get(
        "/api/v1/compliance", params={"region": "HZ", "date": "2025-06-01"}, headers=api.operator
    )
    assert as_json.status_code == 200, as_json.text
    facilities = {f["site"]: f for f in as_json.json()["facilities"]}
    assert facilities["WWTP-01"]["required"]
    assert {x["detail"] for x in facilities["WWTP-01"]["findings"]} >= {"never reported"}
    assert facilities["ENT-01"]["why"].startswith("key permit")
    as_csv = await api.client.get(
        "/api/v1/compliance",
        params={"region": "HZ", "date": "2025-06-01", "format": "csv"},
        headers=api.operator,
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.content.decode("utf-8-sig").startswith("site,name,kind")
    as_xlsx = await api.client.get(
        "/api/v1/compliance", params={"region": "HZ", "format": "xlsx"}, headers=api.operator
    )
    assert load_workbook(io.BytesIO(as_xlsx.content)).sheetnames == ["list"]
    unknown = await api.client.get(
        "/api/v1/compliance", params={"region": "ZZ"}, headers=api.operator
    )
    assert unknown.status_code == 404
    page = await api.client.get(
        "/api/v1/reports/daily/ENT-01",
        params={"date": "2025-06-01", "format": "html"},
        headers=api.gateway,  # its own site
    )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    foreign = await api.client.get(
        "/api/v1/reports/daily/WWTP-01", params={"date": "2025-06-01"}, headers=api.gateway
    )
    assert foreign.status_code == 403
