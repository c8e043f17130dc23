"""Readings pushed over HTTP (committed by the API process) reach ingest's alarm engine."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import psycopg

from tests.fixtures.api import running_api
from wqmon.api.keys import create_key
from wqmon.api.push_relay import notes_for
from wqmon.model import Reading
from wqmon.services.ingest import IngestService
from wqmon.settings import Settings


def test_notes_stay_under_the_notify_limit() -> None:
    now = datetime.now(UTC)
    readings = [Reading(c, now, 1.0, "N", "http", now) for c in range(1, 5_000)]
    notes = notes_for(readings)
    assert len(notes) > 1
    assert all(len(n.encode()) < 8000 for n in notes)
    assert notes_for([]) == []


def _body() -> dict[str, object]:
    reading = {
        "point": "outfall",
        "parameter": "cod",
        "ts": datetime.now(UTC).isoformat(),
        "value": 99_000.0,
    }
    return {"site": "ENT-01", "readings": [reading]}


def _alarms(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT a.rule, s.code FROM alarm a JOIN channel c ON c.id = a.channel_id "
            "JOIN point p ON p.id = c.point_id JOIN site s ON s.id = p.site_id"
        ).fetchall()


async def _push_until_alarmed(
    client: httpx.AsyncClient, token: str, url: str
) -> list[tuple[object, ...]]:
    """Push an implausible reading, again until the engine has one alarm for it.

    The engine's LISTEN starts in a child process whose start-up takes seconds on a loaded
    machine; a push before it listens is evaluated only by the hourly rules. Each retry pushes a
    new reading, so an alarm proves that a pushed commit reached the live engine.
    """
    for _ in range(20):
        resp = await client.post("/api/v1/readings", json=_body(), headers={"X-API-Key": token})
        assert resp.status_code == 200, resp.text
        assert resp.json()["stored"] == 1
        for _ in range(30):
            rows = _alarms(url)
            if rows:
                return rows
            await asyncio.sleep(0.1)
    return []


async def test_http_push_raises_an_alarm_in_ingest(registry_db_url: str) -> None:
    settings = Settings(
        database_url=registry_db_url,
        hj212_enabled=False,
        modbus_enabled=False,
        rollup_mode="off",
        batch_linger_s=0.02,
    )
    ingest = IngestService(settings, [])
    await ingest.start()
    try:
        token = create_key(registry_db_url, name="gw-01", role="gateway", gateway="gw-01")
        async with running_api(settings) as base, httpx.AsyncClient(base_url=base) as client:
            rows = await _push_until_alarmed(client, token, registry_db_url)
        assert ("implausible", "ENT-01") in rows
    finally:
        await ingest.stop()
