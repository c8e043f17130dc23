"""Authorisation on every route: no key → 401 everywhere; gateway keys confined to their sites.

Every operation of the OpenAPI spec under /api/v1 is called without a key, so a route added
later without authentication fails here.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from tests.fixtures.api import running_api
from tests.fixtures.api_data import rows
from wqmon.api.keys import create_key
from wqmon.settings import Settings

SAMPLE_PATH_VALUES = {
    "code": "WWTP-01",
    "site": "WWTP-01",
    "region": "HZ",
    "alarm_id": "1",
    "city": "LYG",
    "year": "2025",
    "version": "1",
    "kind": "urban_population",
    "fmt": "xlsx",
    "work_id": "1",
    "mark_id": "1",
    "correction_id": "1",
}
PUBLIC_PREFIX = "/api/v1/public/"  # published progress: no key by design (docs/accounting.md)


@dataclass
class Keys:
    client: httpx.AsyncClient
    db: str
    operator: dict[str, str]
    admin: dict[str, str]
    gateway: dict[str, str]  # gw-01: ENT-01 and ENT-02


@pytest.fixture
async def keys(registry_db_url: str) -> AsyncIterator[Keys]:
    db = registry_db_url
    settings = Settings(database_url=db, batch_linger_s=0.02)
    made = {
        role: {"X-API-Key": create_key(db, name=f"{role} key", role=role, **extra)}  # type: ignore[arg-type]
        for role, extra in (("operator", {}), ("admin", {}), ("gateway", {"gateway": "gw-01"}))
    }
    async with running_api(settings) as base, httpx.AsyncClient(base_url=base, timeout=30) as c:
        yield Keys(c, db, made["operator"], made["admin"], made["gateway"])


def _alarm(db: str, target: str) -> int:
    now = datetime.now(UTC)
    [(alarm_id,)] = rows(
        db,
        "INSERT INTO alarm (rule, target, severity, state, message, raised_at, last_notified_at) "
        "VALUES ('no_data', %s, 'major', 'active', 'silent', %s, %s) RETURNING id",
        (target, now, now),
    )
    return int(alarm_id)


async def test_no_key_is_401_on_every_data_route(keys: Keys) -> None:
    spec = (await keys.client.get("/openapi.json")).json()
    calls = [
        (method.upper(), re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PATH_VALUES[m[1]], path))
        for path, item in spec["paths"].items()
        if path.startswith("/api/v1/") and not path.startswith(PUBLIC_PREFIX)
        for method in item
    ]
    assert len(calls) >= 9  # sites, site, regions, readings ×2, balance ×2, alarms ×3
    for method, path in calls:
        resp = await keys.client.request(method, path, params={"site": "WWTP-01"}, json={})
        assert resp.status_code == 401, (method, path, resp.text)
        body = resp.json()
        assert (body["status"], body["code"]) == (401, "unauthorized")
        assert resp.headers["www-authenticate"] == "Bearer"
        bad = await keys.client.request(method, path, headers={"X-API-Key": "wqm_forged"})
        assert bad.status_code == 401, (method, path)


async def test_gateway_key_reads_and_writes_only_its_sites(keys: Keys) -> None:
    own = await keys.client.get("/api/v1/readings", params={"site": "ENT-01"}, headers=keys.gateway)
    assert own.status_code == 200
    for path, params in (
        ("/api/v1/readings", {"site": "WWTP-01"}),
        ("/api/v1/sites/ENT-03", {}),
        ("/api/v1/balance/plants/WWTP-01", {}),
        ("/api/v1/balance/regions/HZ", {}),
    ):
        resp = await keys.client.get(path, params=params, headers=keys.gateway)
        assert resp.status_code == 403, (path, resp.text)
    body = {
        "site": "ENT-03",
        "readings": [
            {"point": "outfall", "parameter": "cod", "ts": "2025-06-01T00:00:00Z", "value": 1}
        ],
    }
    other = await keys.client.post("/api/v1/readings", json=body, headers=keys.gateway)
    assert other.status_code == 403
    assert rows(keys.db, "SELECT count(*) FROM reading") == [(0,)]


async def test_operator_and_admin_read_everything_but_cannot_write_readings(keys: Keys) -> None:
    body = {
        "site": "ENT-01",
        "readings": [
            {"point": "outfall", "parameter": "cod", "ts": "2025-06-01T00:00:00Z", "value": 1}
        ],
    }
    for headers in (keys.operator, keys.admin):
        assert (await keys.client.get("/api/v1/sites/ENT-03", headers=headers)).status_code == 200
        assert (
            await keys.client.get("/api/v1/readings", params={"site": "WWTP-01"}, headers=headers)
        ).status_code == 200
        push = await keys.client.post("/api/v1/readings", json=body, headers=headers)
        assert push.status_code == 403
        assert push.json()["code"] == "forbidden"
    assert rows(keys.db, "SELECT count(*) FROM reading") == [(0,)]


async def test_gateway_key_cannot_acknowledge_even_its_own_sites_alarms(keys: Keys) -> None:
    own = _alarm(keys.db, "ENT-01/outfall/cod")
    other = _alarm(keys.db, "WWTP-01/inlet/cod")
    for alarm_id in (own, other):
        resp = await keys.client.post(
            f"/api/v1/alarms/{alarm_id}/ack", json={"comment": "x"}, headers=keys.gateway
        )
        assert resp.status_code == 403, resp.text
    assert rows(keys.db, "SELECT count(*) FROM alarm WHERE acked_at IS NOT NULL") == [(0,)]
    acked = await keys.client.post(
        f"/api/v1/alarms/{other}/ack", json={"comment": "seen"}, headers=keys.operator
    )
    assert acked.status_code == 200, acked.text
    assert rows(keys.db, "SELECT acked_by, ack_comment FROM alarm WHERE id = %s", (other,)) == [
        ("operator key", "seen")
    ]
