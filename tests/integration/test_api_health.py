"""Liveness, readiness (database, MQTT broker) and the API's Prometheus metrics."""

from __future__ import annotations

import httpx

from tests.conftest import EXAMPLE_REGISTRY
from tests.fixtures.api import running_api
from tests.fixtures.services import Mosquitto, PgCluster, free_port
from wqmon.api.keys import create_key
from wqmon.registry.importer import import_file
from wqmon.settings import Settings
from wqmon.store.migrate import migrate


async def test_ready_checks_the_database_and_the_broker(db_url: str, mosquitto: Mosquitto) -> None:
    closed = f"mqtt://127.0.0.1:{free_port()}"
    for mqtt_url, expected in ((None, 200), (mosquitto.url, 200), (closed, 503)):
        settings = Settings(database_url=db_url, mqtt_url=mqtt_url)
        async with running_api(settings) as base, httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/health")).json() == {"status": "ok"}
            ready = await client.get("/health/ready")
            assert ready.status_code == expected, ready.text
            checks = ready.json()["checks"]
            assert checks["database"]["ok"] is True
            assert ("mqtt" in checks) is (mqtt_url is not None)
            if mqtt_url == closed:
                assert checks["mqtt"]["ok"] is False
                assert ready.json()["status"] == "not_ready"


async def test_ready_turns_503_when_the_database_goes_away(own_pg: PgCluster) -> None:
    migrate(Settings(database_url=own_pg.url(), timescale="off"))
    settings = Settings(database_url=own_pg.url())
    async with running_api(settings) as base, httpx.AsyncClient(base_url=base, timeout=30) as c:
        assert (await c.get("/health/ready")).status_code == 200
        own_pg.stop()
        down = await c.get("/health/ready")
        assert down.status_code == 503
        assert down.json()["checks"]["database"]["ok"] is False
        assert (await c.get("/health")).status_code == 200  # the process is still up
        own_pg.start()


async def test_metrics_count_requests_by_route_template(db_url: str) -> None:
    import_file(db_url, EXAMPLE_REGISTRY)
    headers = {"X-API-Key": create_key(db_url, name="op", role="operator")}
    settings = Settings(database_url=db_url)
    async with running_api(settings) as base, httpx.AsyncClient(base_url=base) as client:
        for code in ("WWTP-01", "WWTP-02", "NOPE"):
            await client.get(f"/api/v1/sites/{code}", headers=headers)
        text = (await client.get("/metrics")).text
    assert (
        'wqmon_api_requests_total{method="GET",route="/api/v1/sites/{code}",status="200"} 2.0'
        in text
    )
    assert 'route="/api/v1/sites/{code}",status="404"} 1.0' in text
    assert "wqmon_api_request_duration_seconds_bucket" in text
    assert "wqmon_ingest_" in text  # the push pipeline's metrics are still there
