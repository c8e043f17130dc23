"""Prometheus counters of the ingest pipeline (one registry per pipeline, so tests stay apart)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class IngestMetrics:
    """Counters named after Vector's component spec: received, stored, duplicate, rejected."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.received = Counter(
            "wqmon_ingest_received_readings",
            "Readings handed to the pipeline",
            ["source"],
            registry=r,
        )
        self.stored = Counter(
            "wqmon_ingest_stored_readings", "Readings newly stored", ["source"], registry=r
        )
        self.duplicates = Counter(
            "wqmon_ingest_duplicate_readings",
            "Readings already stored (replays)",
            ["source"],
            registry=r,
        )
        self.conflicts = Counter(
            "wqmon_ingest_conflicting_readings",
            "Duplicates whose value or flag differ from the stored reading (first write wins)",
            ["source"],
            registry=r,
        )
        self.rejected = Counter(
            "wqmon_ingest_rejected_records",
            "Records refused and dead-lettered",
            ["source", "reason"],
            registry=r,
        )
        self.periods_stored = Counter(
            "wqmon_ingest_stored_periods",
            "Logger period records newly stored",
            ["source"],
            registry=r,
        )
        self.inflight = Gauge(
            "wqmon_ingest_inflight_envelopes",
            "Envelopes accepted but not yet committed",
            registry=r,
        )
        self.store_errors = Counter(
            "wqmon_ingest_store_errors", "Failed store attempts", ["kind"], registry=r
        )
        self.batch_seconds = Histogram(
            "wqmon_ingest_batch_seconds",
            "Time to commit one batch",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    def value(self, name: str, **labels: str) -> float:
        """The current value of a sample, 0 when absent (for tests and the CLI)."""
        got = self.registry.get_sample_value(name, labels)
        return 0.0 if got is None else got
