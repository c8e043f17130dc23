"""Readings pushed over HTTP reach the rollups without `wqmon balance rebuild`.

The API process stores pushes through its own pipeline; it marks their hours in `rollup_dirty`
in the commit's own transaction, and ingest's rollup worker (here: a `RollupMaintainer` with
nothing of its own pending, as in `wqmon ingest`) recomputes them. The region's figures are
checked against the minute-by-minute calculation of `balance_series`.
"""

from __future__ import annotations

import asyncio
from datetime import date

import httpx
import pytest

from tests.fixtures.api import running_api
from tests.fixtures.api_data import rows
from tests.integration.balance_series import DAY, SERIES, independent
from wqmon.api.keys import create_key
from wqmon.balance.job import RollupMaintainer
from wqmon.settings import Settings

HZ_2025 = 862_000 * 70 / 1000 + 1200  # examples/registry.yaml: HZ domestic + other, kg per day


def _bodies(site: str) -> list[dict[str, object]]:
    bodies = []
    for (s, point, parameter), samples in SERIES.items():
        if s == site:
            readings = [
                {"point": point, "parameter": parameter, "ts": t.isoformat(), "value": v, "flag": f}
                for t, v, f in samples
            ]
            bodies.append({"site": site, "readings": readings})
    return bodies


async def test_http_pushes_appear_in_the_region_balance(registry_db_url: str) -> None:
    db = registry_db_url
    gateway = create_key(db, name="gw", role="gateway", sites=["ENT-01", "WWTP-01"])
    operator = create_key(db, name="op", role="operator")
    settings = Settings(database_url=db, batch_linger_s=0.02)
    async with running_api(settings) as base, httpx.AsyncClient(base_url=base, timeout=60) as c:
        for site in ("ENT-01", "WWTP-01"):
            for body in _bodies(site):
                resp = await c.post("/api/v1/readings", json=body, headers={"X-API-Key": gateway})
                assert resp.status_code == 200, resp.text
                assert not resp.json()["rejected"]
        assert rows(db, "SELECT count(*) FROM rollup_dirty")[0][0] > 0  # marked by the API
        hours = await asyncio.to_thread(RollupMaintainer(db).drain)  # ingest's worker
        assert hours > 0
        day = DAY.isoformat()
        nxt = date.fromordinal(DAY.toordinal() + 1).isoformat()
        resp = await c.get(
            "/api/v1/balance/regions/HZ",
            params={"from": day, "to": nxt},
            headers={"X-API-Key": operator},
        )
    assert resp.status_code == 200, resp.text
    account = resp.json()["periods"][0]["account"]
    _, industrial, _ = independent(
        SERIES[("ENT-01", "outfall", "flow")], SERIES[("ENT-01", "outfall", "cod")]
    )
    _, inlet, _ = independent(
        SERIES[("WWTP-01", "inlet", "flow")], SERIES[("WWTP-01", "inlet", "cod")]
    )
    _, outlet, _ = independent(
        SERIES[("WWTP-01", "outlet", "flow")], SERIES[("WWTP-01", "outlet", "cod")]
    )
    produced = HZ_2025 + industrial
    assert industrial > 300  # the enterprise is really there (about 390 kg)
    assert account["totals"]["industrial"]["load_kg"] == pytest.approx(industrial, rel=1e-3)
    assert account["produced_kg"] == pytest.approx(produced, rel=1e-4)
    assert account["collected_kg"] == pytest.approx(inlet, rel=1e-3)
    assert account["collection_rate"] == pytest.approx(inlet / produced, rel=1e-3)
    assert account["collection_reduction_rate"] == pytest.approx(
        (inlet - outlet) / produced, rel=1e-3
    )
