"""The MQTT driver against a real Mosquitto and a real TimescaleDB.

"Nothing acknowledged is lost, nothing is duplicated" is shown by counting rows after killing
the ingest process and restarting the broker in the middle of a stream.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest

from tests.fixtures.gateways import Publisher, body, gateway_registry
from tests.fixtures.services import Mosquitto
from wqmon.drivers.mqtt import driver as driver_module
from wqmon.drivers.mqtt.config import MqttConfig
from wqmon.drivers.mqtt.connection import make_client
from wqmon.drivers.mqtt.driver import MqttDriver, gateway_of
from wqmon.protocol.mqtt_url import BrokerAddress
from wqmon.registry.importer import import_file
from wqmon.services.ingest import IngestService
from wqmon.settings import Settings

GATEWAYS = 10
PER_MESSAGE = 100


@pytest.fixture
def gateways_db(db_url: str, tmp_path: Path) -> str:
    path = tmp_path / "gateways.yaml"
    path.write_text(gateway_registry(GATEWAYS), encoding="utf-8")
    import_file(db_url, path)
    return db_url


def _count(db_url: str, sql: str = "SELECT count(*) FROM reading") -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def _wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _settings(db_url: str, broker: Mosquitto, **extra: object) -> Settings:
    return Settings(
        database_url=db_url,
        mqtt_url=broker.url,
        hj212_enabled=False,
        mqtt_client_id="wqmon-test",
        batch_linger_s=0.05,
        **extra,
    )  # type: ignore[arg-type]


def test_gateway_of_topic() -> None:
    assert gateway_of("wqmon/v1/gw-01/readings") == "gw-01"
    assert gateway_of("wqmon/v1//readings") is None
    assert gateway_of("wqmon/v2/gw-01/readings") is None


async def test_ten_gateways_50k_readings_stored_exactly_once(
    gateways_db: str, mosquitto: Mosquitto
) -> None:
    settings = _settings(gateways_db, mosquitto)
    driver = MqttDriver(MqttConfig.from_settings(settings))
    service = IngestService(settings, [driver])
    await service.start()
    try:
        await asyncio.wait_for(driver.connected.wait(), 10)
        publishers = [Publisher(mosquitto, g) for g in range(GATEWAYS)]
        messages = 50_000 // PER_MESSAGE // GATEWAYS
        for n in range(messages):
            for p in publishers:
                p.publish(n, body(p.gateway, n, PER_MESSAGE))
        await asyncio.to_thread(_wait_until, lambda: _count(gateways_db) >= 50_000, 60, "50k rows")
        await asyncio.to_thread(
            _wait_until,
            lambda: all(len(p.acked) == messages for p in publishers),
            30,
            "publisher acks",
        )
        # Give duplicates, if any, the chance to show up before counting again.
        await asyncio.sleep(0.5)
        assert _count(gateways_db) == 50_000
        assert service.pipeline is not None
        metrics = service.pipeline.metrics
        assert metrics.value("wqmon_ingest_stored_readings_total", source="mqtt") == 50_000
        await asyncio.to_thread(
            _wait_until,
            lambda: metrics.value("wqmon_mqtt_acks_total", component="mqtt") == messages * GATEWAYS,
            10,
            "acks",
        )
        for p in publishers:
            p.close()
    finally:
        await service.stop()


async def test_bad_messages_are_dead_lettered_with_reasons(
    gateways_db: str, mosquitto: Mosquitto
) -> None:
    settings = _settings(gateways_db, mosquitto)
    driver = MqttDriver(MqttConfig.from_settings(settings))
    service = IngestService(settings, [driver])
    await service.start()
    try:
        await asyncio.wait_for(driver.connected.wait(), 10)
        pub = Publisher(mosquitto, 0)
        good = body(0, 0, 2)
        pub.publish_raw("wqmon/v1/gw-01/readings", good)  # gw-01 may not write ENT-00
        pub.publish_raw("wqmon/v1/gw-99/readings", good)  # unregistered gateway
        pub.publish_raw("wqmon/v1/gw-00/readings", b"{not json")
        pub.publish_raw("wqmon/v1/gw-00/readings", b'{"site": "ENT-00", "readings": 7}')
        pub.publish_raw(
            "wqmon/v1/gw-00/readings",
            b'{"site": "ENT-00", "readings": [{"point": "outfall", "parameter": "cod",'
            b' "ts": "2025-05-01T00:00:00Z", "value": "high"},'
            b' {"point": "outfall", "parameter": "chlorophyll", "ts": "2025-05-01T00:00:00Z", "value": 1},'
            b' {"point": "outfall", "parameter": "cod", "ts": "2999-01-01T00:00:00Z", "value": 1},'
            b' {"point": "outfall", "parameter": "cod", "ts": "2025-05-01T00:00:00Z", "value": 9}]}',
        )
        expected = {
            "site_not_allowed",
            "unknown_gateway",
            "malformed_json",
            "invalid_payload",
            "invalid_reading",
            "unknown_parameter",
            "future_time",
        }
        sql = "SELECT count(DISTINCT reason) FROM dead_letter"
        await asyncio.to_thread(
            _wait_until, lambda: _count(gateways_db, sql) == len(expected), 20, "dead letters"
        )
        with psycopg.connect(gateways_db) as conn:
            reasons = {r[0] for r in conn.execute("SELECT reason FROM dead_letter").fetchall()}
        assert reasons == expected
        assert _count(gateways_db) == 1  # the one good reading of the mixed message
        assert service.pipeline is not None
        m = service.pipeline.metrics
        assert (
            m.value("wqmon_ingest_rejected_records_total", source="mqtt", reason="unknown_gateway")
            == 1
        )
        # Every message, good or bad, is acknowledged once handled: nothing is redelivered forever.
        await asyncio.to_thread(
            _wait_until, lambda: m.value("wqmon_mqtt_acks_total", component="mqtt") == 5, 10, "acks"
        )
        pub.close()
    finally:
        await service.stop()


async def test_driver_restarted_after_a_crash_consumes_and_stores(
    gateways_db: str, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that raises is restarted by the supervisor, and the new run works: its metrics
    are not registered a second time (that raised "Duplicated timeseries" on every restart)."""
    calls = 0

    def make_client_failing_once(config: MqttConfig, address: BrokerAddress) -> mqtt.Client:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("simulated failure of the first run")
        return make_client(config, address)

    monkeypatch.setattr(driver_module, "make_client", make_client_failing_once)
    settings = _settings(gateways_db, mosquitto)
    driver = MqttDriver(MqttConfig.from_settings(settings))
    service = IngestService(settings, [driver])
    await service.start()
    try:
        try:
            await asyncio.wait_for(driver.connected.wait(), 15)
        except TimeoutError:
            pytest.fail(f"the restarted driver never connected ({calls} runs)")
        assert calls == 2
        pub = Publisher(mosquitto, 0)
        # The subscription may not be in place yet: resend message 0 until it is stored.
        await asyncio.to_thread(_wait_for_subscription, gateways_db, pub)
        for n in range(1, 5):
            pub.publish(n, body(0, n, PER_MESSAGE))
        total = 5 * PER_MESSAGE
        await asyncio.to_thread(_wait_until, lambda: _count(gateways_db) >= total, 20, "rows")
        await asyncio.to_thread(_wait_until, lambda: len(pub.acked) == 5, 10, "publisher acks")
        assert _count(gateways_db) == total
        telemetry = service.telemetry
        messages = telemetry.value("wqmon_mqtt_messages_total", component="mqtt")
        assert messages >= 5  # message 0 may have been sent more than once
        await asyncio.to_thread(
            _wait_until,
            lambda: telemetry.value("wqmon_mqtt_acks_total", component="mqtt") == messages,
            10,
            "acks",
        )
        assert telemetry.value("wqmon_mqtt_connects_total", component="mqtt") == 1
        pub.close()
    finally:
        await service.stop()


# -- failure tests with `wqmon ingest` as a real process -----------------------------------------


def _start_ingest(db_url: str, broker: Mosquitto) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "WQMON_DATABASE_URL": db_url,
        "WQMON_MQTT_URL": broker.url,
        "WQMON_HJ212_ENABLED": "false",
        "WQMON_MQTT_CLIENT_ID": "wqmon-kill-test",
        "WQMON_BATCH_LINGER_S": "0.05",
        "WQMON_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "wqmon.cli", "ingest"], env=env)


@pytest.fixture
def ingest_processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def _stream(publishers: list[Publisher], messages: int, pause_every: int = 10) -> None:
    for n in range(messages):
        for p in publishers:
            p.publish(n, body(p.gateway, n, PER_MESSAGE))
        if n % pause_every == 0:
            time.sleep(0.02)


def _wait_for_subscription(db_url: str, publisher: Publisher) -> None:
    """Until ingest has subscribed once, the broker has no session to queue messages in:
    publish the first message until it is stored."""
    deadline = time.monotonic() + 30
    while _count(db_url) == 0:
        assert time.monotonic() < deadline, "ingest never subscribed"
        publisher.publish(0, body(publisher.gateway, 0, PER_MESSAGE))
        time.sleep(0.3)


def _acked_readings(publishers: list[Publisher]) -> int:
    return sum(len(p.acked) for p in publishers) * PER_MESSAGE


def test_sigkill_of_ingest_mid_stream_loses_nothing_acknowledged(
    gateways_db: str, mosquitto: Mosquitto, ingest_processes: list[subprocess.Popen[bytes]]
) -> None:
    ingest_processes.append(_start_ingest(gateways_db, mosquitto))
    publishers = [Publisher(mosquitto, g) for g in range(GATEWAYS)]
    _wait_for_subscription(gateways_db, publishers[0])
    messages = 40
    _stream(publishers, messages // 2)
    ingest_processes[0].send_signal(signal.SIGKILL)
    ingest_processes[0].wait()
    stored_at_kill = _count(gateways_db)
    _stream(publishers, messages)  # the second half (and the first again: replays) while down
    ingest_processes.append(_start_ingest(gateways_db, mosquitto))
    total = messages * GATEWAYS * PER_MESSAGE
    _wait_until(lambda: _acked_readings(publishers) == total, 30, "broker acks")
    _wait_until(lambda: _count(gateways_db) >= total, 60, "all rows")
    time.sleep(0.5)
    assert stored_at_kill < total
    assert _count(gateways_db) == total  # every acknowledged reading, exactly once
    for p in publishers:
        p.close()


def test_broker_restart_mid_stream_loses_nothing(
    gateways_db: str, mosquitto: Mosquitto, ingest_processes: list[subprocess.Popen[bytes]]
) -> None:
    ingest_processes.append(_start_ingest(gateways_db, mosquitto))
    publishers = [Publisher(mosquitto, g) for g in range(GATEWAYS)]
    _wait_for_subscription(gateways_db, publishers[0])
    _stream(publishers, 20)
    acked_before = _acked_readings(publishers)
    mosquitto.stop()
    mosquitto.start()
    _stream(publishers, 40)  # messages 0-39: the first 20 again, then 20 new
    total = 40 * GATEWAYS * PER_MESSAGE
    _wait_until(lambda: _acked_readings(publishers) == total, 60, "broker acks after restart")
    _wait_until(lambda: _count(gateways_db) >= total, 60, "all rows")
    time.sleep(0.5)
    assert acked_before > 0
    assert _count(gateways_db) == total
    assert ingest_processes[0].poll() is None, "ingest must survive a broker restart"
    for p in publishers:
        p.close()
