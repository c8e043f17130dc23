"""`GET /api/v1/readings`: values with an invalid flag are gaps (null), never points.

A `B` (link down) or `D` (instrument fault) reading carries no measurement of the water, so
neither a raw series nor a bucket's mean, min or max may show it; its flag still says why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.fixtures.api import running_api
from tests.fixtures.api_data import insert_readings
from wqmon.api.keys import create_key
from wqmon.settings import Settings

T0 = datetime(2025, 6, 1, 8, tzinfo=UTC)
SAMPLES = [  # (minutes after T0, value, flag)
    (0, 300.0, "N"),
    (10, 0.0, "B"),
    (20, 0.0, "D"),
    (30, 310.0, "N"),
    (40, 320.0, "T"),  # over range: valid, a lower bound
    (70, 0.0, "B"),  # the next hour has nothing measured
]


@pytest.fixture
async def client(registry_db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    db = registry_db_url
    samples = [(T0 + timedelta(minutes=m), v, f) for m, v, f in SAMPLES]
    insert_readings(db, "WWTP-01", "inlet", "cod", samples)
    key = {"X-API-Key": create_key(db, name="op", role="operator")}
    async with (
        running_api(Settings(database_url=db)) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as c,
    ):
        yield c, key


def _query(bucket: str | None = None) -> dict[str, Any]:
    params = {
        "site": "WWTP-01",
        "point": "inlet",
        "parameter": "cod",
        "from": T0.isoformat(),
        "to": (T0 + timedelta(hours=2)).isoformat(),
    }
    return params | ({"bucket": bucket} if bucket else {})


async def test_raw_invalid_values_are_null(
    client: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    c, key = client
    body = (await c.get("/api/v1/readings", params=_query(), headers=key)).json()
    points = body["series"][0]["points"]
    assert [(p["value"], p["flag"]) for p in points] == [
        (300.0, "N"),
        (None, "B"),
        (None, "D"),
        (310.0, "N"),
        (320.0, "T"),
        (None, "B"),
    ]


async def test_buckets_aggregate_measured_values_only(
    client: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    c, key = client
    body = (await c.get("/api/v1/readings", params=_query("1h"), headers=key)).json()
    first, second = body["series"][0]["points"]
    valid = [v for _m, v, f in SAMPLES[:5] if f in ("N", "T")]
    assert first["value"] == pytest.approx(sum(valid) / len(valid))
    assert (first["min"], first["max"], first["count"]) == (min(valid), max(valid), len(valid))
    assert sorted(first["flag"]) == ["B", "D", "N", "T"]  # why the bucket has gaps
    assert (second["value"], second["min"], second["max"], second["count"]) == (None, None, None, 0)
    assert second["flag"] == "B"
