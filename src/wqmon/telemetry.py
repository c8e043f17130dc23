"""The Prometheus metrics of one process, registered once and handed to every component.

    telemetry = Telemetry()              # once per service (a test makes its own)
    Pipeline(..., metrics=telemetry.ingest)
    DriverContext(..., telemetry=telemetry)
    start_http_server(port, registry=telemetry.registry)

Metrics are created here and nowhere else: a component that registered its own on every start
would fail with "Duplicated timeseries" the second time (a driver restarted by the supervisor
did exactly that). Driver metrics carry a `component` label, the driver's name, so two
instances of one protocol stay apart on one registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from wqmon.ingest.metrics import IngestMetrics

_ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Hj212Metrics:
    """The HJ 212 server: open connections, packets by outcome, time from receipt to 9014."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.connections = Gauge(
            "wqmon_hj212_connections_open", "Open logger connections", ["component"], registry=r
        )
        self.packets = Counter(
            "wqmon_hj212_packets",
            "Frames received, by outcome (accepted or the dead-letter reason)",
            ["component", "outcome"],
            registry=r,
        )
        self.ack_seconds = Histogram(
            "wqmon_hj212_ack_seconds",
            "Time from an upload's arrival to its 9014 (includes the commit)",
            ["component"],
            registry=r,
            buckets=_ACK_BUCKETS,
        )


class ModbusMetrics:
    """The Modbus poller: polls and failed polls per device (`bus/device_id`)."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.polls = Counter(
            "wqmon_modbus_polls", "Device polls", ["component", "device"], registry=r
        )
        self.failures = Counter(
            "wqmon_modbus_poll_failures",
            "Polls the device did not answer",
            ["component", "device"],
            registry=r,
        )
        self.up = Gauge(
            "wqmon_modbus_device_up",
            "1 while the device answers its polls, 0 while its link is down (ADR 0011)",
            ["component", "device"],
            registry=r,
        )


class MqttMetrics:
    """The MQTT subscriber: messages, PUBACKs after commit, messages awaiting one, connects."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.messages = Counter(
            "wqmon_mqtt_messages", "MQTT messages received", ["component"], registry=r
        )
        self.acks = Counter(
            "wqmon_mqtt_acks", "PUBACKs sent after commit", ["component"], registry=r
        )
        self.unacked = Gauge(
            "wqmon_mqtt_unacknowledged_messages",
            "Messages awaiting commit",
            ["component"],
            registry=r,
        )
        self.connects = Counter(
            "wqmon_mqtt_connects", "Accepted broker connections", ["component"], registry=r
        )


@dataclass(frozen=True, slots=True)
class AlarmCounts:
    """What an alarm engine (or the hand-over to its process) has counted so far."""

    evaluated: int  # readings evaluated (or handed to the alarm process)
    dropped: int  # readings not evaluated live because the engine was behind
    pending: int = 0  # readings committed, waiting for the hand-over to the alarm process


class AlarmCollector(Collector):
    """Reads the alarm side's own counters at scrape time (it counts them without Prometheus,
    and may live in a child process that only reports totals)."""

    def __init__(self) -> None:
        self._sources: dict[str, Callable[[], AlarmCounts]] = {}

    def watch(self, component: str, counts: Callable[[], AlarmCounts]) -> None:
        """Report `counts()` under `component` from now on (replacing an earlier source)."""
        self._sources[component] = counts

    def collect(self) -> Iterator[Metric]:
        evaluated = CounterMetricFamily(
            "wqmon_alarm_evaluated_readings",
            "Readings evaluated by the alarm rules",
            labels=["component"],
        )
        dropped = CounterMetricFamily(
            "wqmon_alarm_dropped_readings",
            "Readings not evaluated live (the engine was behind)",
            labels=["component"],
        )
        pending = GaugeMetricFamily(
            "wqmon_alarm_pending_readings",
            "Readings committed and queued for the alarm process, not yet handed over "
            "(0 for the engine inside ingest)",
            labels=["component"],
        )
        for component, counts in self._sources.items():
            now = counts()
            evaluated.add_metric([component], now.evaluated)
            dropped.add_metric([component], now.dropped)
            pending.add_metric([component], now.pending)
        yield evaluated
        yield dropped
        yield pending


class Telemetry:
    """One registry with every metric of the process; create one per service."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.ingest = IngestMetrics(self.registry)
        self.hj212 = Hj212Metrics(self.registry)
        self.modbus = ModbusMetrics(self.registry)
        self.mqtt = MqttMetrics(self.registry)
        self.alarms = AlarmCollector()
        self.registry.register(self.alarms)

    def value(self, name: str, **labels: str) -> float:
        """The current value of a sample, 0 when absent (for tests and the CLI)."""
        got = self.registry.get_sample_value(name, labels)
        return 0.0 if got is None else got
