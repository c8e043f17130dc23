"""The role matrix of the accounting routes (docs/api.md), over HTTP against a real database:
which role may read and do what, scoped to its regions; the public routes need no key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import httpx
import psycopg
import pytest

from tests.fixtures.api import running_api
from tests.integration import accounting_scenario as sc
from wqmon.accounting import accounts
from wqmon.accounting.actor import Actor
from wqmon.accounting.config import config_from
from wqmon.accounting.inputs import InputKind
from wqmon.api.keys import create_key
from wqmon.cli import main
from wqmon.settings import Settings

Y = sc.YEAR
ROLES = ("none", "gateway", "operator", "admin", "hz", "gy", "city", "province")


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, dict[str, str]]]]:
    sc.load(db_url)
    hz = Actor("hz", "county", frozenset({"HZ"}))
    with psycopg.connect(db_url, autocommit=True) as conn:  # HZ has submitted; GY not opened
        accounts.open_account(conn, hz, "HZ", Y)
        for kind, value, dept, doc in sc.INPUTS["HZ"]:
            entry = accounts.InputEntry(InputKind(kind), value, dept, doc, date(2026, 2, 1))
            accounts.set_input(conn, hz, "HZ", Y, entry)
        accounts.submit(conn, hz, "HZ", Y, config_from("04-30", 0.0))

    def key(role: str, **kw: object) -> dict[str, str]:
        return {"X-API-Key": create_key(db_url, name=role, role=role, **kw)}  # type: ignore[arg-type]

    keys = {
        "none": {},
        "gateway": key("gateway", sites=["WWTP-A"]),
        "operator": key("operator"),
        "admin": key("admin"),
        "hz": key("county", regions=["HZ"]),
        "gy": key("county", regions=["GY"]),
        "city": key("city", regions=["LYG"]),
        "province": key("province", regions=["LYG"]),
    }
    settings = Settings(database_url=db_url, batch_linger_s=0.02)
    async with running_api(settings) as base, httpx.AsyncClient(base_url=base, timeout=60) as c:
        yield c, keys


# (method, path, body, {role: status}); a role not listed gets the row's default.
MATRIX: list[tuple[str, str, object, int, dict[str, int]]] = [
    ("GET", f"/api/v1/accounting/accounts?year={Y}", None, 200, {"none": 401, "gateway": 403}),
    (
        "GET",
        f"/api/v1/accounting/accounts/HZ/{Y}",
        None,
        200,
        {"none": 401, "gateway": 403, "gy": 403},
    ),
    (
        "GET",
        f"/api/v1/accounting/results/GY/{Y}",
        None,
        200,
        {"none": 401, "gateway": 403, "hz": 403},
    ),
    ("POST", f"/api/v1/accounting/accounts/KFQ/{Y}", None, 403, {"none": 401}),
    (
        "POST",
        f"/api/v1/accounting/accounts/HZ/{Y}/approve",
        {"comments": []},
        403,
        {"none": 401, "city": 200},
    ),
    ("POST", f"/api/v1/accounting/reports/LYG/{Y}", None, 403, {"none": 401, "city": 409}),
    (
        "POST",
        f"/api/v1/accounting/reports/LYG/{Y}/1/findings",
        {"finding": "x"},
        403,
        {"none": 401, "province": 404},
    ),
    (
        "PUT",
        f"/api/v1/accounting/deadlines/LYG/{Y}",
        {"due_on": f"{Y + 1}-05-15"},
        403,
        {"none": 401, "city": 200},
    ),
    (
        "PUT",
        f"/api/v1/accounting/rectifications/WWTP-B/{Y}",
        {
            "measures": "m",
            "responsible_unit": "u",
            "deadline": f"{Y + 1}-06-30",
            "status": "planned",
        },
        403,
        {"none": 401, "gy": 200},
    ),
    (
        "GET",
        f"/api/v1/balance/regions/GY?year={Y}",
        None,
        200,
        {"none": 401, "gateway": 403, "hz": 403},
    ),
    ("GET", "/api/v1/alarms", None, 403, {"none": 401, "operator": 200, "admin": 200}),
    ("GET", f"/api/v1/public/progress?year={Y}", None, 200, {}),
]


async def test_role_matrix(api: tuple[httpx.AsyncClient, dict[str, dict[str, str]]]) -> None:
    """Every row of MATRIX for every role, in order (later rows see earlier rows' effects)."""
    client, keys = api
    wrong = []
    for method, path, body, default, special in MATRIX:
        for role in ROLES:
            resp = await client.request(method, path, json=body, headers=keys[role])
            if resp.status_code >= 400:
                assert set(resp.json()) >= {"detail", "status", "code"}
            if resp.status_code != special.get(role, default):
                wrong.append((method, path, role, resp.status_code, resp.text[:120]))
    assert wrong == []


async def test_accounting_keys_see_only_their_regions(
    api: tuple[httpx.AsyncClient, dict[str, dict[str, str]]],
) -> None:
    client, keys = api
    listing = await client.get(
        "/api/v1/accounting/accounts", params={"year": Y}, headers=keys["hz"]
    )
    assert [r["region"] for r in listing.json()] == ["HZ"]
    listing = await client.get(
        "/api/v1/accounting/accounts", params={"year": Y}, headers=keys["city"]
    )
    assert {r["region"] for r in listing.json()} == {"HZ", "GY", "KFQ"}
    sites = await client.get("/api/v1/sites", headers=keys["hz"])
    assert sorted(s["code"] for s in sites.json()) == ["ENT-A", "WWTP-A"]
    me = await client.get("/api/v1/accounting/me", headers=keys["city"])
    assert me.json() == {"name": "city", "role": "city", "regions": ["GY", "HZ", "KFQ", "LYG"]}


def test_apikey_create_needs_regions_for_accounting_roles(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sc.load(db_url)
    monkeypatch.setenv("WQMON_DATABASE_URL", db_url)
    assert main(["apikey", "create", "--role", "county"]) == 2
    assert capsys.readouterr().err.strip() == "wqmon: error: a county key needs --region"
    assert main(["apikey", "create", "--role", "city", "--region", "NOPE"]) == 2
    assert "region 'NOPE' is not in the registry" in capsys.readouterr().err
    assert main(["apikey", "create", "--role", "county", "--region", "HZ"]) == 0
    assert capsys.readouterr().out.startswith("wqm_")
