"""`wqmon simulate`'s field against a real ingest: HJ 212 loggers and an MQTT gateway backfill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.conftest import EXAMPLE_REGISTRY
from tests.fixtures.services import Mosquitto, free_port
from wqmon.registry.importer import import_file
from wqmon.services.drivers import build_drivers
from wqmon.services.ingest import IngestService
from wqmon.settings import Settings
from wqmon.simulators.field import FLOW
from wqmon.simulators.runner import FieldRunner, Targets, history_instants
from wqmon.simulators.scenarios import build
from wqmon.simulators.simulate import logger_keys

pytestmark = [pytest.mark.db, pytest.mark.mqtt]


def count(url: str, site: str, point: str, parameter: str, source: str) -> int:
    sql = """
        SELECT count(*) FROM reading r JOIN channel c ON c.id = r.channel_id
        JOIN point p ON p.id = c.point_id JOIN site s ON s.id = p.site_id
        WHERE s.code = %s AND p.code = %s AND c.parameter = %s AND r.source = %s
    """
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, (site, point, parameter, source)).fetchone()
    assert row is not None
    return int(row[0])


async def test_backfill_lands_once_per_instant_over_hj212_and_mqtt(
    db_url: str, mosquitto: Mosquitto
) -> None:
    import_file(db_url, EXAMPLE_REGISTRY)
    settings = Settings(
        database_url=db_url,
        hj212_host="127.0.0.1",
        hj212_port=free_port(),
        mqtt_url=mosquitto.url,
        mqtt_client_id="wqmon-test-simulate",
        modbus_enabled=False,
        batch_linger_s=0.02,
        hj212_gap_fill_after_s=0,
    )
    service = IngestService(settings, build_drivers(settings))
    await service.start()
    anchor = datetime.now(UTC).replace(second=0, microsecond=0)
    scenario = build("calm", seed=3, anchor=anchor)
    # As `wqmon simulate` does: the encrypting HJ 212-2025 loggers' keys go into the database.
    assert logger_keys(settings, scenario) == sum(1 for t in scenario.loggers if t.key)
    targets = Targets(hj212_port=settings.hj212_port, mqtt_url=mosquitto.url, modbus=False)
    runner = FieldRunner(scenario, targets)
    try:
        await runner.start()
        sent = await runner.backfill(0.25)  # 6 h at 10-min steps
        await runner.backfill(0.25)  # a replay stores nothing twice
    finally:
        await runner.stop()
        await service.stop()
    instants = history_instants(anchor, 0.25, timedelta(minutes=10))
    assert sent >= 9 * len(instants)
    # Flow is continuous: one reading per upload instant, whatever the protocol.
    assert count(db_url, "WWTP-01", "inlet", FLOW, "hj212") == len(instants)
    assert count(db_url, "ENT-01", "outfall", FLOW, "mqtt") == len(instants)
    assert count(db_url, "ENT-04", "outfall", FLOW, "mqtt") == 0  # gw-02 pushes over HTTP
