"""`POST /api/v1/readings` through a real uvicorn server into a real TimescaleDB."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest

from tests.fixtures.api import running_api
from wqmon.api.keys import create_key
from wqmon.settings import Settings


def _body(site: str = "ENT-01", n: int = 3, **override: object) -> dict[str, object]:
    readings = [
        {
            "point": "outfall",
            "parameter": "cod",
            "ts": f"2025-06-01T08:{i:02d}:00+08:00",
            "value": 120.0 + i,
        }
        for i in range(n)
    ]
    return {"site": site, "readings": readings, **override}


@pytest.fixture
async def api(registry_db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    settings = Settings(database_url=registry_db_url, batch_linger_s=0.02)
    async with (
        running_api(settings) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        yield client, registry_db_url


def _rows(db_url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql).fetchall()


async def test_push_answers_after_commit_with_counts(api: tuple[httpx.AsyncClient, str]) -> None:
    client, db = api
    token = create_key(db, name="gw-01 key", role="gateway", gateway="gw-01")
    headers = {"Authorization": f"Bearer {token}"}
    body = _body()
    body["readings"].append(  # type: ignore[union-attr]
        {"point": "outfall", "parameter": "chlorophyll", "ts": "2025-06-01T08:00:00Z", "value": 1.0}
    )
    resp = await client.post("/api/v1/readings", json=body, headers=headers)
    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert (result["stored"], result["duplicates"]) == (3, 0)
    assert [(r["index"], r["reason"]) for r in result["rejected"]] == [(3, "unknown_parameter")]
    # The 200 came after the commit: the rows are there now, in UTC.
    rows = _rows(db, "SELECT min(ts)::text, count(*) FROM reading")
    assert rows == [("2025-06-01 00:00:00+00", 3)]
    again = await client.post("/api/v1/readings", json=_body(), headers={"X-API-Key": token})
    assert (again.json()["stored"], again.json()["duplicates"]) == (0, 3)


async def test_authentication_and_authorisation(api: tuple[httpx.AsyncClient, str]) -> None:
    client, db = api
    gateway = create_key(db, name="gw-01", role="gateway", gateway="gw-01")
    operator = create_key(db, name="op", role="operator")
    assert (await client.post("/api/v1/readings", json=_body())).status_code == 401
    bad = await client.post("/api/v1/readings", json=_body(), headers={"X-API-Key": "wqm_nope"})
    assert bad.status_code == 401
    assert "unknown or revoked" in bad.json()["detail"]
    op = await client.post("/api/v1/readings", json=_body(), headers={"X-API-Key": operator})
    assert op.status_code == 403
    other_site = await client.post(
        "/api/v1/readings", json=_body("ENT-03"), headers={"X-API-Key": gateway}
    )
    assert other_site.status_code == 403
    assert "ENT-03" in other_site.json()["detail"]
    assert _rows(db, "SELECT reason FROM dead_letter") == [("site_not_allowed",)]
    assert _rows(db, "SELECT count(*) FROM reading") == [(0,)]


async def test_bad_bodies_get_clear_errors_and_dead_letters(
    api: tuple[httpx.AsyncClient, str],
) -> None:
    client, db = api
    headers = {"X-API-Key": create_key(db, name="k", role="gateway", sites=["ENT-01"])}
    malformed = await client.post("/api/v1/readings", content=b"{nope", headers=headers)
    assert malformed.status_code == 422
    assert "malformed JSON" in malformed.json()["detail"]
    wrong = await client.post(
        "/api/v1/readings", json={"site": "ENT-01", "readings": 3}, headers=headers
    )
    assert wrong.status_code == 422
    big = json.dumps(_body(n=1)).encode() + b" " * (9 * 1024 * 1024)
    too_large = await client.post("/api/v1/readings", content=big, headers=headers)
    assert too_large.status_code == 413
    reasons = sorted(r[0] for r in _rows(db, "SELECT reason FROM dead_letter"))
    assert reasons == ["invalid_payload", "malformed_json"]


async def test_openapi_documents_the_push_body(api: tuple[httpx.AsyncClient, str]) -> None:
    client, _ = api
    spec = (await client.get("/openapi.json")).json()
    assert "PushBody" in spec["components"]["schemas"]
    assert "ReadingIn" in spec["components"]["schemas"]
    assert "/api/v1/readings" in spec["paths"]
    assert (await client.get("/health")).json() == {"status": "ok"}


def _metric(text: str, name: str) -> float:
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + "{")]
    return sum(values)


async def test_a_changed_value_is_a_counted_conflict_not_a_store(
    api: tuple[httpx.AsyncClient, str],
) -> None:
    """First write wins; a resend with another value is a duplicate the source is told about."""
    client, db = api
    headers = {"X-API-Key": create_key(db, name="gw", role="gateway", gateway="gw-01")}
    first = await client.post("/api/v1/readings", json=_body(n=3), headers=headers)
    assert (first.json()["stored"], first.json()["duplicates"], first.json()["conflicts"]) == (
        3,
        0,
        0,
    )
    changed = _body(n=3)
    changed["readings"][1]["value"] = 999.0  # type: ignore[index]
    changed["readings"][2]["flag"] = "M"  # type: ignore[index]
    again = (await client.post("/api/v1/readings", json=changed, headers=headers)).json()
    assert (again["stored"], again["duplicates"], again["conflicts"]) == (0, 3, 2)
    # The stored values are the first ones.
    assert _rows(db, "SELECT value, flag FROM reading ORDER BY ts") == [
        (120.0, "N"),
        (121.0, "N"),
        (122.0, "N"),
    ]
    metrics = (await client.get("/metrics")).text
    assert _metric(metrics, "wqmon_ingest_duplicate_readings_total") == 3
    assert _metric(metrics, "wqmon_ingest_conflicting_readings_total") == 2
