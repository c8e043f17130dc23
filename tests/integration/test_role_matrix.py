"""The role matrix of docs/api.md, route by route, against a real API and database.

`MATRIX` has one entry per route of the application (every method and path of `app.routes`,
mounts included). A route added without an entry fails `test_every_route_has_a_matrix_entry`;
each entry is called as every caller and must answer the documented status.

Callers: no key, a gateway key on its own site (ENT-01), the same key on another site
(WWTP-01), an operator and an admin key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount, Route

from tests.fixtures.api import running_api
from wqmon.api.app import create_app
from wqmon.api.keys import create_key
from wqmon.settings import Settings

CALLERS = ("anonymous", "gateway", "gateway_other", "operator", "admin")
PUBLIC = dict.fromkeys(CALLERS, 200)


def _push(site: str) -> dict[str, object]:
    reading = {"point": "outfall", "parameter": "cod", "ts": "2025-06-01T00:00:00Z", "value": 1}
    return {"site": site, "readings": [reading]}


@dataclass(frozen=True)
class Call:
    """How to call a route as its own site's gateway, and as a gateway on another site."""

    path: str
    other_path: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    other_params: dict[str, str] | None = None
    body: dict[str, object] | None = None
    other_body: dict[str, object] | None = None

    def request(self, caller: str) -> tuple[str, dict[str, str], dict[str, object] | None]:
        if caller == "gateway_other":
            return (
                self.other_path or self.path,
                self.params if self.other_params is None else self.other_params,
                self.body if self.other_body is None else self.other_body,
            )
        return self.path, self.params, self.body


def _reads_all(gateway: int, gateway_other: int | None = None) -> dict[str, int]:
    other = gateway if gateway_other is None else gateway_other
    return {
        "anonymous": 401,
        "gateway": gateway,
        "gateway_other": other,
        "operator": 200,
        "admin": 200,
    }


def _operators(past_the_role_check: int) -> dict[str, int]:
    """Writes for operators and admins only; what they get is the route's own answer."""
    return {
        "anonymous": 401,
        "gateway": 403,
        "gateway_other": 403,
        "operator": past_the_role_check,
        "admin": past_the_role_check,
    }


READS = {"anonymous": 401, "gateway": 403, "gateway_other": 403, "operator": 200, "admin": 200}
STEPS = {"anonymous": 401, "gateway": 403, "gateway_other": 403, "operator": 403, "admin": 403}
# Valid bodies: the accounting routes check the role after the body is validated.
REASON = {"reason": "x"}
COMMENTS = {"comments": [{"comment": "x"}]}
INPUT = {"value": 1, "source_department": "x", "document_ref": "x", "document_date": "2026-01-05"}
PLAN = {"measures": "x", "responsible_unit": "x", "deadline": "2026-06-30", "status": "planned"}
WORK = {"year": 2025, "name": "x", "kind": "other", "planned_completion": "2026-06-30"}
CHANNEL = {"point": "outfall", "parameter": "cod"}
SPAN = {"from": "2025-06-01T00:00:00Z", "to": "2025-06-02T00:00:00Z"}
DAYS = {"from": "2025-06-01", "to": "2025-06-02"}
NO_ALARM = "/api/v1/alarms/999999/ack"
MATRIX: dict[tuple[str, str], tuple[Call, dict[str, int]]] = {
    ("GET", "/api/v1/sites"): (Call("/api/v1/sites"), _reads_all(200)),
    ("GET", "/api/v1/sites/{code}"): (
        Call("/api/v1/sites/ENT-01", "/api/v1/sites/WWTP-01"),
        _reads_all(200, 403),
    ),
    ("GET", "/api/v1/regions"): (Call("/api/v1/regions"), _reads_all(403)),
    ("GET", "/api/v1/readings"): (
        Call("/api/v1/readings", params={"site": "ENT-01"}, other_params={"site": "WWTP-01"}),
        _reads_all(200, 403),
    ),
    ("POST", "/api/v1/readings"): (
        Call("/api/v1/readings", body=_push("ENT-01"), other_body=_push("WWTP-01")),
        {"anonymous": 401, "gateway": 200, "gateway_other": 403, "operator": 403, "admin": 403},
    ),
    ("GET", "/api/v1/balance/plants/{site}"): (
        Call("/api/v1/balance/plants/ENT-01", "/api/v1/balance/plants/WWTP-01"),
        _reads_all(200, 403),
    ),
    ("GET", "/api/v1/balance/regions/{region}"): (
        Call("/api/v1/balance/regions/HZ"),
        _reads_all(403),
    ),
    ("GET", "/api/v1/alarms"): (Call("/api/v1/alarms"), _reads_all(403)),
    ("POST", "/api/v1/alarms/{alarm_id}/ack"): (
        Call(NO_ALARM, body={"comment": "seen"}),
        # Past authorisation an unknown alarm is 404: the role check comes first.
        {"anonymous": 401, "gateway": 403, "gateway_other": 403, "operator": 404, "admin": 404},
    ),
    ("GET", "/api/v1/alarms/stream"): (Call("/api/v1/alarms/stream"), _reads_all(403)),
    # Data audit (docs/audit.md): operators and admins; gateways read validity and daily
    # reports of their own sites. Writes are called with an empty body or an unknown id: past
    # the role check that is a 422 or a 404.
    ("POST", "/api/v1/audit/marks"): (Call("/api/v1/audit/marks", body={}), _operators(422)),
    ("GET", "/api/v1/audit/marks"): (Call("/api/v1/audit/marks"), _reads_all(403)),
    ("POST", "/api/v1/audit/marks/{mark_id}/revoke"): (
        Call("/api/v1/audit/marks/999999/revoke", body={"comment": "x"}),
        _operators(404),
    ),
    ("POST", "/api/v1/audit/corrections"): (
        Call("/api/v1/audit/corrections", body={}),
        _operators(422),
    ),
    ("GET", "/api/v1/audit/corrections"): (Call("/api/v1/audit/corrections"), _reads_all(403)),
    ("POST", "/api/v1/audit/corrections/{correction_id}/revoke"): (
        Call("/api/v1/audit/corrections/999999/revoke", body={"comment": "x"}),
        _operators(404),
    ),
    ("GET", "/api/v1/audit/history"): (
        Call("/api/v1/audit/history", params={"site": "ENT-01", **CHANNEL, **SPAN}),
        _reads_all(403),
    ),
    ("GET", "/api/v1/audit/trace"): (
        Call("/api/v1/audit/trace", params={"site": "ENT-01", **DAYS}),
        _reads_all(403),
    ),
    ("GET", "/api/v1/validity"): (
        Call(
            "/api/v1/validity",
            params={"site": "ENT-01", **DAYS},
            other_params={"site": "WWTP-01", **DAYS},
        ),
        _reads_all(200, 403),
    ),
    ("GET", "/api/v1/compliance"): (Call("/api/v1/compliance"), _reads_all(403)),
    ("GET", "/api/v1/reports/daily/{site}"): (
        Call(
            "/api/v1/reports/daily/ENT-01",
            "/api/v1/reports/daily/WWTP-01",
            params={"date": "2025-06-01"},
        ),
        _reads_all(200, 403),
    ),
    # The accounting cycle (docs/accounting.md): gateways see none of it; operators and admins
    # read every account, report and result and take no step. The county, city and province
    # keys' own steps are tested state by state in test_accounting_roles.py.
    **{
        ("GET", f"/api/v1/accounting{path}"): (Call(f"/api/v1/accounting{call}", params=q), READS)
        for path, call, q in (
            ("/me", "/me", {}),
            ("/accounts", "/accounts", {"year": "2025"}),
            ("/accounts/{region}/{year}", "/accounts/HZ/2025", {}),
            ("/events", "/events", {"region": "HZ", "year": "2025"}),
            ("/reports/{city}/{year}", "/reports/LYG/2025", {}),
            ("/results/{region}/{year}", "/results/HZ/2025", {}),
        )
    },
    **{
        (method, f"/api/v1/accounting{path}"): (
            Call(f"/api/v1/accounting{call}", body=body),
            STEPS,
        )
        for method, path, call, body in (
            ("POST", "/accounts/{region}/{year}", "/accounts/HZ/2025", {}),
            ("POST", "/accounts/{region}/{year}/approve", "/accounts/HZ/2025/approve", {}),
            ("POST", "/accounts/{region}/{year}/reopen", "/accounts/HZ/2025/reopen", REASON),
            ("POST", "/accounts/{region}/{year}/return", "/accounts/HZ/2025/return", COMMENTS),
            ("POST", "/accounts/{region}/{year}/submit", "/accounts/HZ/2025/submit", {}),
            (
                "PUT",
                "/accounts/{region}/{year}/inputs/{kind}",
                "/accounts/HZ/2025/inputs/urban_population",
                INPUT,
            ),
            ("POST", "/reports/{city}/{year}", "/reports/LYG/2025", {}),
            (
                "POST",
                "/reports/{city}/{year}/{version}/findings",
                "/reports/LYG/2025/1/findings",
                {"finding": "x"},
            ),
            ("PUT", "/deadlines/{city}/{year}", "/deadlines/LYG/2025", {"due_on": "2026-03-31"}),
            ("PUT", "/rectifications/{site}/{year}", "/rectifications/WWTP-01/2025", PLAN),
            ("POST", "/works/{region}", "/works/HZ", WORK),
        )
    },
    # An unknown work is 404 for operators: the route looks the work up before the role check.
    ("PUT", "/api/v1/accounting/works/{work_id}"): (
        Call("/api/v1/accounting/works/999999", body=WORK),
        STEPS | {"operator": 404, "admin": 404},
    ),
    # No version 1 exists yet: past the role check that is a 404.
    ("GET", "/api/v1/accounting/accounts/{region}/{year}/versions/{version}"): (
        Call("/api/v1/accounting/accounts/HZ/2025/versions/1"),
        READS | {"operator": 404, "admin": 404},
    ),
    ("GET", "/api/v1/accounting/reports/{city}/{year}/{version}/{fmt}"): (
        Call("/api/v1/accounting/reports/LYG/2025/1/html"),
        READS | {"operator": 404, "admin": 404},
    ),
    # HJ 212 (docs/hj212.md): editions for operators and admins, pending devices for admins,
    # 2062 checks like readings (a gateway on its own sites).
    ("GET", "/api/v1/hj212/loggers"): (Call("/api/v1/hj212/loggers"), READS),
    ("GET", "/api/v1/hj212/devices"): (
        Call("/api/v1/hj212/devices"),
        READS | {"operator": 403},
    ),
    ("GET", "/api/v1/hj212/standard-checks"): (
        Call(
            "/api/v1/hj212/standard-checks",
            params={"site": "ENT-01", **SPAN},
            other_params={"site": "WWTP-01", **SPAN},
        ),
        _reads_all(200, 403),
    ),
    ("GET", "/api/v1/public/progress"): (Call("/api/v1/public/progress"), PUBLIC),
    ("GET", "/api/v1/public/progress.csv"): (Call("/api/v1/public/progress.csv"), PUBLIC),
    ("GET", "/accounts"): (Call("/accounts"), PUBLIC),
    ("GET", "/public"): (Call("/public"), PUBLIC),
    ("GET", "/favicon.ico"): (Call("/favicon.ico"), PUBLIC),
    ("GET", "/health"): (Call("/health"), PUBLIC),
    ("GET", "/health/ready"): (Call("/health/ready"), PUBLIC),
    ("GET", "/metrics"): (Call("/metrics"), PUBLIC),
    ("GET", "/openapi.json"): (Call("/openapi.json"), PUBLIC),
    ("GET", "/docs"): (Call("/docs"), PUBLIC),
    ("GET", "/docs/oauth2-redirect"): (Call("/docs/oauth2-redirect"), PUBLIC),
    ("GET", "/redoc"): (Call("/redoc"), PUBLIC),
    ("GET", "/"): (Call("/"), PUBLIC),
    ("GET", "/static"): (Call("/static/app.js"), PUBLIC),
}


def _walk(routes: Sequence[BaseRoute], prefix: str, found: set[tuple[str, str]]) -> None:
    for route in routes:
        if isinstance(route, APIRoute | Route):
            found.update((m, prefix + route.path) for m in route.methods or () if m != "HEAD")
        elif isinstance(route, Mount):
            found.add(("GET", prefix + route.path))
        elif hasattr(route, "original_router"):
            # FastAPI ≥ 0.16x keeps an included router as one entry (prefix in its context).
            context = route.include_context
            _walk(route.original_router.routes, prefix + context.prefix, found)
        else:
            raise AssertionError(f"unknown route type {route!r}: teach this test to read it")


def _routes() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    _walk(create_app(Settings(database_url="postgresql://unused/x")).routes, "", found)
    return found


def test_every_route_has_a_matrix_entry() -> None:
    routes = _routes()
    assert routes == set(MATRIX), {
        "without an entry": sorted(routes - set(MATRIX)),
        "no such route": sorted(set(MATRIX) - routes),
    }


@pytest.fixture
async def api(registry_db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    db = registry_db_url
    headers: dict[str, Any] = {"anonymous": {}}
    for role, extra in (("operator", {}), ("admin", {}), ("gateway", {"gateway": "gw-01"})):
        headers[role] = {"X-API-Key": create_key(db, name=f"{role} key", role=role, **extra)}  # type: ignore[arg-type]
    headers["gateway_other"] = headers["gateway"]
    settings = Settings(database_url=db, batch_linger_s=0.02)
    async with running_api(settings) as base, httpx.AsyncClient(base_url=base, timeout=30) as c:
        yield c, headers


async def _status(
    client: httpx.AsyncClient, method: str, call: Call, caller: str, headers: Any
) -> int:
    path, params, body = call.request(caller)
    # Streamed: the alarm stream never ends, its status line is the answer.
    async with client.stream(method, path, params=params, json=body, headers=headers) as resp:
        return resp.status_code


async def test_every_route_answers_each_caller_as_the_matrix_says(
    api: tuple[httpx.AsyncClient, dict[str, Any]],
) -> None:
    client, headers = api
    wrong = {}
    for route, (call, expected) in sorted(MATRIX.items()):
        got = {c: await _status(client, route[0], call, c, headers[c]) for c in CALLERS}
        if got != expected:
            wrong[route] = {c: (got[c], expected[c]) for c in CALLERS if got[c] != expected[c]}
    assert not wrong, f"(got, documented) per caller: {wrong}"
