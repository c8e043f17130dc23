"""Two `wqmon ingest` replicas sharing one MQTT subscription group (docs/contracts.md §3).

Each replica is a real process with its own client id (its own persistent MQTT 5 session), its
own spool folder and its own metrics port, in the shared group `$share/wqmon/...`, against one
Mosquitto and one database. Shown by counting rows and reading each replica's Prometheus metrics:

- every reading is stored exactly once, and each message went to exactly one replica, both of
  which did work;
- a replica killed mid-stream loses nothing: the survivor goes on storing its share, the broker
  keeps the dead member's share in that member's session (Mosquitto does not hand it to the
  others), and the replica restarted under the same client id — what `restart: unless-stopped`
  in docker-compose.yml does — drains it; replays are absorbed by the idempotent store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.gateways import Publisher, body, gateway_registry
from tests.fixtures.services import Mosquitto, free_port, wait_for_port
from wqmon.registry.importer import import_file

GATEWAYS = 8
PER_MESSAGE = 50
MESSAGES = 50  # per gateway
TOTAL = GATEWAYS * MESSAGES * PER_MESSAGE  # 20,000 readings
GROUP = "wqmon"


@pytest.fixture
def gateways_db(db_url: str, tmp_path: Path) -> str:
    path = tmp_path / "gateways.yaml"
    path.write_text(gateway_registry(GATEWAYS), encoding="utf-8")
    import_file(db_url, path)
    return db_url


@dataclass
class Replica:
    """One `wqmon ingest` process of the group; `start` again after a kill keeps its identity."""

    name: str
    db_url: str
    broker: Mosquitto
    root: Path
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def client_id(self) -> str:
        return f"wqmon-ingest-{self.name}"

    def start(self) -> None:
        env = {
            **os.environ,
            "WQMON_DATABASE_URL": self.db_url,
            "WQMON_MQTT_URL": self.broker.url,
            "WQMON_MQTT_CLIENT_ID": self.client_id,
            "WQMON_MQTT_SHARED_GROUP": GROUP,
            "WQMON_SPOOL_DIR": str(self.root / "spool"),
            "WQMON_METRICS_PORT": str(self.metrics_port),
            "WQMON_HJ212_ENABLED": "false",
            "WQMON_MODBUS_ENABLED": "false",
            # Storage is the subject here; alarm state is not shared between replicas yet.
            "WQMON_ALARM_ENABLED": "false",
            "WQMON_BATCH_LINGER_S": "0.05",
            "WQMON_LOG_LEVEL": "WARNING",
        }
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "ingest.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "wqmon.cli", "ingest"], env=env, stdout=log, stderr=log
            )
        wait_for_port(self.metrics_port, timeout=60)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def metric(self, name: str, **labels: str) -> float:
        """A sample of this process's metrics (counters start at 0 with each process)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        return 0.0

    def messages(self) -> int:
        return int(self.metric("wqmon_mqtt_messages_total"))

    def acks(self) -> int:
        return int(self.metric("wqmon_mqtt_acks_total"))

    def stored(self) -> int:
        return int(self.metric("wqmon_ingest_stored_readings_total", source="mqtt"))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture
def replicas(gateways_db: str, mosquitto: Mosquitto, tmp_path: Path) -> Iterator[list[Replica]]:
    made = [Replica(name, gateways_db, mosquitto, tmp_path / name) for name in ("a", "b")]
    yield made
    for replica in made:
        replica.stop()


@pytest.fixture
def publishers(mosquitto: Mosquitto) -> Iterator[list[Publisher]]:
    made = [Publisher(mosquitto, g) for g in range(GATEWAYS)]
    yield made
    for p in made:
        p.close()


def _count(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM reading").fetchone()
    assert row is not None
    return int(row[0])


def _wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _join_group(replicas: list[Replica], publisher: Publisher) -> int:
    """Until a replica has subscribed, the broker has no session of it to give messages to:
    publish the first message (idempotent: the same readings each time) until every replica
    has received one. Returns the number of probes published."""
    probes = 0
    deadline = time.monotonic() + 60
    while not all(r.messages() > 0 for r in replicas):
        assert time.monotonic() < deadline, "a replica never joined the shared subscription"
        publisher.publish(0, body(publisher.gateway, 0, PER_MESSAGE))
        probes += 1
        time.sleep(0.2)
    return probes


def _stream(publishers: list[Publisher], numbers: range) -> None:
    for n in numbers:
        for p in publishers:
            p.publish(n, body(p.gateway, n, PER_MESSAGE))
        if n % 10 == 0:
            time.sleep(0.02)


def _all_acked_by_broker(publishers: list[Publisher]) -> bool:
    return all(len(p.acked) == MESSAGES for p in publishers)


def _settled(replicas: list[Replica]) -> bool:
    """Every message a live replica received is committed and acknowledged."""
    return all(r.acks() == r.messages() for r in replicas if r.alive)


def test_two_replicas_share_the_load_and_store_every_reading_once(
    gateways_db: str, replicas: list[Replica], publishers: list[Publisher]
) -> None:
    for replica in replicas:
        replica.start()
    probes = _join_group(replicas, publishers[0])
    _stream(publishers, range(MESSAGES))
    _wait_until(lambda: _all_acked_by_broker(publishers), 60, "broker acks to the gateways")
    _wait_until(lambda: _count(gateways_db) >= TOTAL, 120, f"{TOTAL} rows")
    _wait_until(lambda: _settled(replicas), 30, "replicas acknowledging what they received")

    assert _count(gateways_db) == TOTAL
    a, b = replicas
    # Each message went to exactly one member of the group ...
    assert a.messages() + b.messages() == probes + GATEWAYS * MESSAGES
    # ... both members did work, and between them they stored every reading once.
    assert a.messages() > 0
    assert b.messages() > 0
    assert a.stored() > 0
    assert b.stored() > 0
    assert a.stored() + b.stored() == TOTAL
    assert a.alive
    assert b.alive


def test_a_replica_killed_mid_stream_loses_nothing(
    gateways_db: str, replicas: list[Replica], publishers: list[Publisher]
) -> None:
    a, b = replicas
    for replica in replicas:
        replica.start()
    _join_group(replicas, publishers[0])
    half = MESSAGES // 2
    _stream(publishers, range(half))
    a.kill()
    stored_by_b_at_kill = b.stored()
    _stream(publishers, range(half, MESSAGES))
    _wait_until(lambda: _all_acked_by_broker(publishers), 60, "broker acks to the gateways")

    # The survivor goes on storing its share of what was published after the kill ...
    _wait_until(lambda: b.stored() > stored_by_b_at_kill, 60, "the survivor storing more")
    # ... while the dead member's share waits in its session on the broker: not stored yet,
    # not lost either (the gateways have their PUBACKs).
    assert _count(gateways_db) < TOTAL

    a.start()  # the same client id: the broker hands the session and its queue back
    _wait_until(lambda: _count(gateways_db) >= TOTAL, 120, f"{TOTAL} rows")
    _wait_until(lambda: _settled(replicas), 30, "replicas acknowledging what they received")
    assert _count(gateways_db) == TOTAL  # every acknowledged reading, exactly once
    assert a.messages() > 0, "the restarted replica drained its session"
    assert b.alive
