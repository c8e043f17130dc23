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
        body = {
            "site": "ENT-01",
            "readings": [
                {
                    "point": "outfall",
                    "parameter": "cod",
                    "ts": datetime.now(UTC).isoformat(),
                    "value": 99_000.0,
                }
            ],
        }
        async with running_api(settings) as base, httpx.AsyncClient(base_url=base) as client:
            await asyncio.sleep(0.5)  # the engine's LISTEN is in place
            resp = await client.post("/api/v1/readings", json=body, headers={"X-API-Key": token})
            assert resp.status_code == 200, resp.text
            assert resp.json()["stored"] == 1
            rows: list[tuple[object, ...]] = []
            for _ in range(100):
                with psycopg.connect(registry_db_url) as conn:
                    rows = conn.execute(
                        "SELECT a.rule, s.code FROM alarm a JOIN channel c ON c.id = a.channel_id "
                        "JOIN point p ON p.id = c.point_id JOIN site s ON s.id = p.site_id"
                    ).fetchall()
                if rows:
                    break
                await asyncio.sleep(0.1)
        assert ("implausible", "ENT-01") in rows
    finally:
        await ingest.stop()
